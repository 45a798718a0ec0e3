package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class AgentTest {
  private FakeRelay relay;
  private RiskHubAgent agent;

  @AfterEach
  void tearDown() {
    if (agent != null) agent.close(Duration.ofMillis(500));
    if (relay != null) relay.close();
  }

  private RiskHubOptions options(String url) {
    return RiskHubOptions.builder().applicationId("shop").environment("test").token("t0ken").relayUrl(url)
        .decisionsInterval(Duration.ofHours(1));
  }

  @Test
  void sendsBatchesOfAtMost500WithTheTokenAndTheAgent() throws Exception {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(options(relay.url()));
    for (int i = 0; i < 1200; i++) agent.report("custom_" + i, "LOW", RiskHubUser.of("u-" + (i % 7)), null, null);
    assertTrue(agent.flush(Duration.ofSeconds(10)));
    List<Map<String, Object>> events = relay.events();
    assertEquals(1200, events.size());
    for (Map<String, Object> post : relay.posts) {
      assertTrue(((List<?>) post.get("events")).size() <= 500);
      assertEquals("shop", post.get("application_id"));
      assertEquals("test", post.get("environment"));
      assertEquals(Map.of("name", "risk-hub-java", "version", "0.1.0", "language", "java"), post.get("agent"));
    }
    assertTrue(relay.authorizations.stream().allMatch("Bearer t0ken"::equals));
    Set<Object> ids = new HashSet<>();
    for (int i = 0; i < events.size(); i++) {
      Map<String, Object> e = events.get(i);
      assertEquals("custom_" + i, e.get("type"), "in order");
      assertTrue(((String) e.get("id")).matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"), "a UUID v4");
      ids.add(e.get("id"));
    }
    assertEquals(1200, ids.size());
    assertEquals(1200L, agent.stats().get("sent"));
  }

  @Test
  void postsStayUnderTheRelays1MiBLimit() throws Exception {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(options(relay.url()).lingerTime(Duration.ofMillis(500)));
    Map<String, Object> huge = agent.event("request", null);
    huge.put("request", Map.of("uri", "x".repeat(1_100_000)));
    agent.enqueue(huge);
    for (int i = 0; i < 500; i++) {
      Map<String, Object> e = agent.event("request", RiskHubUser.of("u"));
      e.put("request", Map.of("method", "POST", "uri", "/c", "body", Map.of("text", "é".repeat(2500))));
      agent.enqueue(e);
    }
    assertTrue(agent.flush(Duration.ofSeconds(10)));
    assertEquals(500, relay.events().size());
    assertTrue(relay.posts.size() >= 3, "split: " + relay.posts.size());
    for (Map<String, Object> post : relay.posts) assertTrue(Json.write(post).getBytes(java.nio.charset.StandardCharsets.UTF_8).length < 1_000_000);
    assertEquals(1L, agent.stats().get("droppedInvalid"), "an event over the limit on its own is dropped and counted");
  }

  @Test
  @SuppressWarnings("unchecked")
  void loginAndCustomEventsHaveTheProtocolsShape() throws Exception {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(options(relay.url()));
    agent.trackLogin(null, "  carol ", false);
    String id = agent.report("payment_fraud", "HIGH", RiskHubUser.of("u-1001", Map.of("email", "a@example.com")), null, 7);
    assertNotNull(id);
    assertNull(agent.report("x", "SEVERE", RiskHubUser.of("u"), null, null), "unknown severity refused");
    assertNull(agent.report("x", "LOW", RiskHubUser.of("   "), null, null), "blank user refused");
    agent.trackLogin(null, "", false);
    assertTrue(agent.flush(Duration.ofSeconds(5)));
    List<Map<String, Object>> events = relay.events();
    assertEquals(2, events.size());
    Map<String, Object> login = events.get(0);
    assertEquals("login", login.get("kind"));
    assertEquals(false, login.get("success"));
    assertEquals(Map.of("key", "carol", "identifiers", Map.of()), login.get("user"));
    assertTrue(login.get("at") instanceof Long);
    Map<String, Object> custom = events.get(1);
    assertEquals("custom", custom.get("kind"));
    assertEquals(id, custom.get("id"));
    assertEquals("HIGH", custom.get("severity"));
    assertEquals(7L, custom.get("points"));
    assertEquals("a@example.com", ((Map<String, Object>) ((Map<String, Object>) custom.get("user")).get("identifiers")).get("email"));
    assertEquals(3L, agent.stats().get("droppedInvalid"));
  }

  @Test
  @SuppressWarnings("unchecked")
  void longLoginsAreHashedNotRefused() throws Exception {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(options(relay.url()));
    agent.trackLogin(null, "a".repeat(300), false);
    assertTrue(agent.flush(Duration.ofSeconds(5)));
    Map<String, Object> user = (Map<String, Object>) relay.events().get(0).get("user");
    assertEquals(Identity.hashedUserKey("a".repeat(300)), user.get("key"));
    assertEquals(1L, agent.stats().get("userKeysHashed"));
  }

  @Test
  void aFullQueueDropsTheOldestAndCounts() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: connections are refused
    }
    agent = RiskHubAgent.start(options("http://127.0.0.1:" + port).maxQueue(100).batchSize(50));
    for (int i = 0; i < 1000; i++) agent.report("t" + i, "INFO", RiskHubUser.of("u"), null, null);
    Map<String, Object> s = agent.stats();
    assertTrue((int) s.get("queued") <= 100, s.toString());
    assertTrue((long) s.get("droppedQueueFull") >= 1000 - 100 - 50, s.toString());
  }

  @Test
  void aBusyRelayIsRetriedOnceThenTheBatchIsDropped() throws Exception {
    relay = new FakeRelay();
    relay.eventsStatus = 503;
    agent = RiskHubAgent.start(options(relay.url()));
    agent.report("a", "LOW", RiskHubUser.of("u"), null, null);
    assertTrue(agent.flush(Duration.ofSeconds(5)));
    assertEquals(1L, agent.stats().get("droppedRelay"));
    assertEquals(2, relay.authorizations.size(), "one retry");

    relay.eventsStatusTimes = 1; // one 503, then 202
    agent.report("b", "LOW", RiskHubUser.of("u"), null, null);
    assertTrue(agent.flush(Duration.ofSeconds(5)));
    assertEquals(1, relay.events().size());
  }

  @Test
  void closeIsBoundedWhenTheRelayNeverAnswers() throws Exception {
    try (ServerSocket blackhole = new ServerSocket(0, 50)) { // accepts connections (backlog), never answers
      agent = RiskHubAgent.start(options("http://127.0.0.1:" + blackhole.getLocalPort()).shutdownTimeout(Duration.ofMillis(1500)));
      for (int i = 0; i < 2000; i++) agent.report("t", "INFO", RiskHubUser.of("u"), null, null);
      long t0 = System.nanoTime();
      agent.close();
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertTrue(ms < 10_000, "close took " + ms + " ms"); // bounded (1.5 s configured; generous for a loaded CI)
      Map<String, Object> s = agent.stats();
      assertEquals(0, s.get("queued"));
      assertEquals(2000L, (long) s.get("droppedShutdown") + (long) s.get("droppedQueueFull"), s.toString());
      agent = null;
    }
  }

  @Test
  void decisionsArePolledWithETagsAndKeptWhenTheRelayGoesAway() throws Exception {
    relay = new FakeRelay();
    long future = System.currentTimeMillis() + 3_600_000;
    relay.decisionsJson = "{\"version\":\"7\",\"decisions\":["
        + "{\"user_key\":\"u-block\",\"action\":\"BLOCK\",\"until\":" + future + ",\"reason\":\"tier 3\",\"decision_id\":\"d1\",\"simulated\":false},"
        + "{\"user_key\":\"u-chal\",\"action\":\"CHALLENGE\",\"until\":" + future + ",\"reason\":\"r\",\"decision_id\":\"d2\",\"simulated\":false},"
        + "{\"user_key\":\"u-mon\",\"action\":\"MONITOR\",\"until\":" + future + ",\"reason\":\"r\",\"decision_id\":\"d3\",\"simulated\":false},"
        + "{\"user_key\":\"u-old\",\"action\":\"BLOCK\",\"until\":1000,\"reason\":\"r\",\"decision_id\":\"d4\",\"simulated\":false},"
        + "{\"user_key\":\"u-sim\",\"action\":\"BLOCK\",\"until\":" + future + ",\"reason\":\"r\",\"decision_id\":\"d5\",\"simulated\":true}]}";
    relay.decisionsVersion = "7";
    agent = RiskHubAgent.start(options(relay.url()));
    agent.pollOnce();
    long now = System.currentTimeMillis();
    assertEquals("BLOCK", agent.decisionFor("u-block").action());
    assertEquals("tier 3", agent.decisionFor("u-block").reason());
    assertTrue(agent.decisionFor("u-block").enforceableAt(now));
    assertTrue(agent.decisionFor("u-chal").enforceableAt(now));
    assertFalse(agent.decisionFor("u-mon").enforceableAt(now), "MONITOR is invisible");
    assertNull(agent.decisionFor("u-old"), "past until: ignored");
    assertFalse(agent.decisionFor("u-sim").enforceableAt(now), "simulated: never enforced");
    assertNull(agent.decisionFor("nobody"));

    agent.pollOnce();
    assertEquals("\"7\"", relay.ifNoneMatch.get(relay.ifNoneMatch.size() - 1), "If-None-Match sent");
    assertEquals("BLOCK", agent.decisionFor("u-block").action(), "304 keeps them");

    relay.close();
    relay = null;
    agent.pollOnce();
    assertEquals("BLOCK", agent.decisionFor("u-block").action(), "unreachable relay: kept");
  }

  @Test
  void reportingNeverThrowsEvenAfterClose() throws IOException {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(options(relay.url()));
    agent.close();
    assertDoesNotThrow(() -> agent.report("x", "LOW", RiskHubUser.of("u"), null, null));
    assertDoesNotThrow(() -> agent.trackLogin(null, null, false));
    assertDoesNotThrow(() -> agent.identify(null, null));
    agent = null;
  }
}
