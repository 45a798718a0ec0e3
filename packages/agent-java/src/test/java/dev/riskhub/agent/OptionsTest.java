package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OptionsTest {
  private static RiskHubOptions ok() {
    return RiskHubOptions.builder().applicationId("shop").token("t0ken");
  }

  private static String failure(RiskHubOptions o) {
    RiskHubConfigException e = assertThrows(RiskHubConfigException.class, o::validate);
    assertFalse(e.getMessage().contains("\n"), "one line");
    assertTrue(e.getMessage().startsWith("risk-hub agent: option "), e.getMessage());
    return e.getMessage();
  }

  @Test
  void validOptionsPass() {
    ok().validate();
    ok().relayUrl("https://relay.internal:8787/").environment("staging-2").validate();
  }

  @Test
  void invalidOptionsFailWithOneLineNamingTheOption() {
    assertEquals("risk-hub agent: option applicationId \"a/b\" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (1-64 letters, digits, '.', '_', '-'; no '/')",
        failure(ok().applicationId("a/b")));
    assertTrue(failure(RiskHubOptions.builder().token("x")).contains("option applicationId (missing)"));
    assertTrue(failure(ok().environment("prod env")).contains("option environment \"prod env\""));
    assertTrue(failure(ok().relayUrl("ftp://x")).contains("option relayUrl \"ftp://x\" must be an http:// or https:// URL"));
    assertTrue(failure(ok().relayUrl("not a url")).contains("option relayUrl"));
    assertTrue(failure(ok().token(null)).contains("option token"));
    assertTrue(failure(ok().token("has space")).contains("option token"));
    assertTrue(failure(ok().maxQueue(-5)).contains("option maxQueue must be a positive integer, got -5"));
    assertTrue(failure(ok().batchSize(501)).contains("option batchSize must be 1 to 500"));
    assertTrue(failure(ok().httpTimeout(Duration.ZERO)).contains("option httpTimeout"));
    assertTrue(failure(ok().userResolver(null)).contains("option userResolver"));
  }

  @Test
  void startRefusesInvalidOptions() {
    assertThrows(RiskHubConfigException.class, () -> RiskHubAgent.start(ok().applicationId("")));
    assertThrows(RiskHubConfigException.class, () -> RiskHubAgent.start(null));
  }

  @Test
  void fromTheEnvironment() {
    RiskHubOptions o = RiskHubOptions.fromMap(Map.of("RISK_HUB_APPLICATION", "shop", "RISK_HUB_RELAY_TOKEN", "t", "RISK_HUB_ENVIRONMENT", "qa", "RISK_HUB_RELAY_URL", "http://127.0.0.1:9"));
    o.validate();
    assertEquals("qa", o.environment());
    assertEquals("http://127.0.0.1:9", o.relayUrl());
    assertEquals("production", RiskHubOptions.fromMap(Map.of()).environment());
  }
}
