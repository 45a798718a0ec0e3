package dev.riskhub.agent;

/** Invalid agent options, thrown at start-up only, with one line naming the option. */
public class RiskHubConfigException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public RiskHubConfigException(String message) {
    super("risk-hub agent: " + message);
  }
}
