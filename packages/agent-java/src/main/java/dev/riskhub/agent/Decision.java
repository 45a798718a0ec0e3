package dev.riskhub.agent;

/**
 * An active decision of the application about one user, as GET /v1/decisions gives it.
 * {@code action} is MONITOR, CHALLENGE or BLOCK; {@code until} epoch ms (0 = no end).
 */
public record Decision(String userKey, String action, long until, String reason, String decisionId, boolean simulated) {
  /** Whether it is still in force at {@code nowMs} (decisions past {@code until} are ignored). */
  public boolean activeAt(long nowMs) {
    return until <= 0 || until > nowMs;
  }

  /** Whether the agent acts on it visibly: a BLOCK or CHALLENGE, not simulated, still in force. */
  public boolean enforceableAt(long nowMs) {
    return !simulated && activeAt(nowMs) && ("BLOCK".equals(action) || "CHALLENGE".equals(action));
  }
}
