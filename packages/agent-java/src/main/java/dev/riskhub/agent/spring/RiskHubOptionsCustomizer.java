package dev.riskhub.agent.spring;

import dev.riskhub.agent.RiskHubOptions;

/**
 * A bean of this type adjusts the options the auto-configuration builds from {@code riskhub.*} before
 * the agent starts: what properties cannot say (user resolver, skip predicate, block and challenge
 * handlers).
 */
@FunctionalInterface
public interface RiskHubOptionsCustomizer {
  void customize(RiskHubOptions options);
}
