package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import dev.riskhub.agent.testapp.TestApp;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * End to end against the real relay (`risk-hub relay`, in front of the real broker), from the built jar
 * in a real Jetty app. Runs when RISK_HUB_RELAY_URL is set; needs RISK_HUB_RELAY_TOKEN and
 * RISK_HUB_APPLICATION (an application the relay is configured for), RISK_HUB_ENVIRONMENT (default
 * production).
 */
@EnabledIfEnvironmentVariable(named = "RISK_HUB_RELAY_URL", matches = ".+")
@SuppressWarnings("unchecked")
class RelayE2EIT {
  private static final String RELAY = System.getenv("RISK_HUB_RELAY_URL");
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private static RiskHubOptions options(String url) {
    RiskHubOptions o = RiskHubOptions.fromEnvironment().relayUrl(url).userResolver(TestApp::headerUser).lingerTime(Duration.ofMillis(10));
    if (System.getenv("RISK_HUB_APPLICATION") == null) o.applicationId("shop");
    return o;
  }

  private int send(String base, String method, String uri, Map<String, String> headers, byte[] body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + uri)).timeout(Duration.ofSeconds(10))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    headers.forEach(b::header);
    return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  @Test
  void theRelayIsUp() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(RELAY.replaceAll("/+$", "") + "/healthz")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode());
    assertEquals("ok", ((Map<String, Object>) Json.parse(r.body())).get("status"));
  }

  /**
   * test/vectors/e2e-traffic.json through the real Jetty app (corpus attacks for one user, a burst of
   * failed logins for that user) and a custom event for another user: every event accepted; with
   * RISK_HUB_SCORER_URL, the scorer holds for the user what the same traffic gives through the Node agent.
   */
  @Test
  void attacksALoginBurstAndACustomEventReachTheRelay() throws Exception {
    Path trafficFile = Vectors.file("e2e-traffic.json");
    Path corpusFile = Vectors.file("requests.json");
    Assumptions.assumeTrue(trafficFile != null && corpusFile != null, "test/vectors/e2e-traffic.json is not in this checkout");
    Map<String, Object> traffic = (Map<String, Object>) Json.parse(Files.readString(trafficFile));
    Map<String, Map<String, Object>> corpus = new java.util.HashMap<>();
    for (Object c : (List<Object>) Json.parse(Files.readString(corpusFile))) corpus.put((String) ((Map<String, Object>) c).get("name"), (Map<String, Object>) c);
    List<String> attacks = (List<String>) traffic.get("attacks");
    Map<String, Object> burst = (Map<String, Object>) traffic.get("login_burst");
    int failures = ((Number) burst.get("failures")).intValue();
    RiskHubAgent agent = RiskHubAgent.start(options(RELAY));
    try (TestApp app = TestApp.start(0, agent)) {
      String user = "java-e2e-" + UUID.randomUUID().toString().substring(0, 8);
      for (String name : attacks) {
        Map<String, Object> c = corpus.get(name);
        Map<String, String> headers = new java.util.LinkedHashMap<>();
        if (c.get("headers") instanceof Map<?, ?> h) h.forEach((k, v) -> {
          if (!List.of("host", "content-length", "connection", "expect", "upgrade").contains(String.valueOf(k).toLowerCase())) headers.put(String.valueOf(k), String.valueOf(v));
        });
        if (c.get("content_type") instanceof String ct) headers.put("Content-Type", ct);
        headers.put("X-User", user);
        byte[] body = c.get("body") instanceof String b && !b.isEmpty() ? b.getBytes(StandardCharsets.UTF_8) : null;
        send(app.url(), (String) c.get("method"), (String) c.get("uri"), headers, body);
      }
      for (int i = 0; i < failures; i++) {
        assertEquals(401, send(app.url(), "POST", (String) burst.get("path"), Map.of("Content-Type", "application/x-www-form-urlencoded"),
            ("username=" + user + "&password=wrong").getBytes(StandardCharsets.UTF_8)));
      }
      // another user's custom event: the test user's score stays the vector's
      assertNotNull(agent.report("payment_fraud", "HIGH", RiskHubUser.of(user + "-payer"), null, null));
      // attack requests + login requests + login events + 1 custom; bounded wait for the last ones
      long events = attacks.size() + 2L * failures + 1;
      for (int i = 0; i < 200 && (long) agent.stats().get("sent") < events; i++) {
        agent.flush(Duration.ofSeconds(1));
        Thread.sleep(20);
      }
      Map<String, Object> s = agent.stats();
      assertEquals(events, s.get("sent"), s.toString());
      assertEquals(0L, s.get("rejected"), s.toString());
      assertEquals(0L, s.get("dropped"), s.toString());
      assertTrue((long) s.get("detections") >= attacks.size(), "one detection per attack at least (+ auth failures, stuffing): " + s);
      String scorer = System.getenv("RISK_HUB_SCORER_URL");
      if (scorer != null) assertScoredLikeTheNodeAgent(scorer, agent, user, (Map<String, Object>) traffic.get("expect"));
      agent.pollOnce();
      assertTrue((long) agent.stats().get("decisionPolls") >= 1, "GET /v1/decisions answered");
    } finally {
      agent.close();
    }
  }

  /** The scorer's view of the user equals e2e-traffic.json's `expect` (bounded wait: it consumes asynchronously). */
  private void assertScoredLikeTheNodeAgent(String scorer, RiskHubAgent agent, String user, Map<String, Object> expect) throws Exception {
    String url = scorer.replaceAll("/+$", "") + "/v1/users/" + agent.options().applicationId() + "/" + agent.options().environment() + "/" + user + "/risk";
    long wanted = ((Number) expect.get("contributions")).longValue();
    Map<String, Object> risk = Map.of();
    for (int i = 0; i < 120; i++) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() == 200) {
        risk = (Map<String, Object>) Json.parse(r.body());
        if (contributions(risk) >= wanted) break; // every contribution scored (they arrive in more than one batch)
      }
      Thread.sleep(500);
    }
    System.out.println("scorer: " + Json.write(risk));
    Map<String, Object> got = new java.util.TreeMap<>();
    Map<String, Object> want = new java.util.TreeMap<>();
    for (String k : List.of("increase_24h", "risk_score", "tier", "alerted_tier")) {
      got.put(k, risk.get(k) instanceof Number n ? n.longValue() : null);
      want.put(k, ((Number) expect.get(k)).longValue());
    }
    got.put("contributions", risk.isEmpty() ? null : contributions(risk));
    want.put("contributions", wanted);
    assertEquals(want, got, Json.write(risk));
  }

  private static long contributions(Map<String, Object> risk) {
    Object shown = risk.get("contributions");
    Object truncated = risk.get("contributions_truncated");
    return (shown instanceof List<?> l ? l.size() : 0) + (truncated instanceof Number n ? n.longValue() : 0);
  }

  /**
   * A BLOCK decision made on the real stack (`risk-hub decisions add --action block --user <key>`, the
   * scorer writes it, the relay follows the decisions topic) refuses that user in the Jetty app with a
   * 403 and the enforcement is accepted by the relay. Runs when RISK_HUB_E2E_BLOCKED_USER names that user.
   */
  @Test
  @EnabledIfEnvironmentVariable(named = "RISK_HUB_E2E_BLOCKED_USER", matches = ".+")
  void aBlockDecisionRefusesThatUser() throws Exception {
    String blocked = System.getenv("RISK_HUB_E2E_BLOCKED_USER");
    RiskHubAgent agent = RiskHubAgent.start(options(RELAY));
    try (TestApp app = TestApp.start(0, agent)) {
      for (int i = 0; i < 100 && agent.decisionFor(blocked) == null; i++) Thread.sleep(100); // polled every second
      Decision d = agent.decisionFor(blocked);
      assertNotNull(d, "the relay gives the decision of " + blocked);
      assertEquals("BLOCK", d.action());
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(app.url() + "/search?q=shoes")).header("X-User", blocked).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(403, r.statusCode());
      assertEquals(Map.of("error", "blocked", "reason", d.reason()), Json.parse(r.body()));
      assertEquals(200, send(app.url(), "GET", "/search?q=shoes", Map.of("X-User", blocked + "-someone-else"), null));
      for (int i = 0; i < 200 && (long) agent.stats().get("sent") < 3; i++) {
        agent.flush(Duration.ofSeconds(1));
        Thread.sleep(20);
      }
      Map<String, Object> s = agent.stats();
      assertEquals(1L, s.get("enforced"));
      assertEquals(3L, s.get("sent"), "enforcement + 2 requests: " + s);
      assertEquals(0L, s.get("rejected"), s.toString());
    } finally {
      agent.close();
    }
  }

  /** The request events (the app's /login also sends login events). */
  private static List<Map<String, Object>> requestEvents(FakeRelay relay) {
    return relay.events().stream().filter(e -> "request".equals(e.get("kind"))).toList();
  }

  /**
   * test/vectors/requests.json: each request sent to the real Jetty app, the relay JSON the filter built
   * for it (captured by a fake relay) posted to the real relay's POST /v1/inspect: the attack types must
   * be the corpus's `expect` (the Node agent's verdicts).
   */
  @Test
  void theCorpusGetsTheNodeAgentsVerdicts() throws Exception {
    Path file = Vectors.file("requests.json");
    Assumptions.assumeTrue(file != null, "test/vectors/requests.json is not in this checkout yet");
    List<Map<String, Object>> corpus = (List<Map<String, Object>>) Json.parse(Files.readString(file));
    RiskHubAgent real = RiskHubAgent.start(options(RELAY).enforce(false));
    List<String> mismatches = new ArrayList<>();
    try (FakeRelay capture = new FakeRelay()) {
      RiskHubAgent agent = RiskHubAgent.start(options(capture.url()).enforce(false).lingerTime(Duration.ofMillis(1)));
      try (TestApp app = TestApp.start(0, agent)) {
        for (Map<String, Object> c : corpus) {
          int before = requestEvents(capture).size();
          Map<String, String> headers = new java.util.LinkedHashMap<>();
          if (c.get("headers") instanceof Map<?, ?> h) h.forEach((k, v) -> {
            String name = String.valueOf(k);
            if (!List.of("host", "content-length", "connection", "expect", "upgrade").contains(name.toLowerCase())) headers.put(name, String.valueOf(v));
          });
          if (c.get("content_type") instanceof String ct) headers.put("Content-Type", ct);
          byte[] body = c.get("body") instanceof String b ? b.getBytes(StandardCharsets.UTF_8) : null;
          send(app.url(), (String) c.get("method"), (String) c.get("uri"), headers, body);
          List<Map<String, Object>> events = requestEvents(capture);
          for (int i = 0; i < 200 && events.size() <= before; i++) { // queued right after the response: bounded wait
            Thread.sleep(25);
            events = requestEvents(capture);
          }
          assertEquals(before + 1, events.size(), (String) c.get("name"));
          Map<String, Object> built = (Map<String, Object>) events.get(events.size() - 1).get("request");
          Map<String, Object> verdict = real.relay.inspect(built);
          TreeSet<String> got = new TreeSet<>();
          for (Object d : (List<Object>) verdict.get("detections")) got.add((String) ((Map<String, Object>) d).get("attack_type"));
          TreeSet<String> expected = new TreeSet<>((List<String>) c.get("expect"));
          if (!got.equals(expected)) mismatches.add(c.get("name") + ": expected " + expected + ", got " + got + " for " + Json.write(built));
        }
      } finally {
        agent.close();
      }
    } finally {
      real.close();
    }
    assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
  }
}
