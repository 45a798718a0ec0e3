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

  @Test
  void attacksALoginBurstAndACustomEventReachTheRelay() throws Exception {
    RiskHubAgent agent = RiskHubAgent.start(options(RELAY));
    try (TestApp app = TestApp.start(0, agent)) {
      String user = "java-e2e-" + UUID.randomUUID().toString().substring(0, 8);
      Map<String, String> as = Map.of("X-User", user);
      assertEquals(200, send(app.url(), "GET", "/search?q=1%27%20OR%20%271%27%3D%271", as, null));
      assertEquals(200, send(app.url(), "GET", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", as, null));
      assertEquals(200, send(app.url(), "GET", "/search?q=..%2F..%2F..%2Fetc%2Fpasswd", as, null));
      assertEquals(200, send(app.url(), "GET", "/search?q=%3B%20cat%20%2Fetc%2Fpasswd", as, null));
      for (int i = 0; i < 10; i++) {
        assertEquals(401, send(app.url(), "POST", "/login", Map.of("Content-Type", "application/x-www-form-urlencoded"),
            ("username=" + user + "-victim&password=wrong").getBytes(StandardCharsets.UTF_8)));
      }
      assertNotNull(agent.report("payment_fraud", "HIGH", RiskHubUser.of(user), null, null));
      // 4 attack requests + 10 login requests + 10 login events + 1 custom; bounded wait for the last ones
      for (int i = 0; i < 200 && (long) agent.stats().get("sent") < 25; i++) {
        agent.flush(Duration.ofSeconds(1));
        Thread.sleep(20);
      }
      Map<String, Object> s = agent.stats();
      assertEquals(25L, s.get("sent"), s.toString());
      assertEquals(0L, s.get("rejected"), s.toString());
      assertEquals(0L, s.get("dropped"), s.toString());
      assertTrue((long) s.get("detections") >= 4, "sqli, xss, traversal, command injection (+ auth failures, stuffing): " + s);
      String scorer = System.getenv("RISK_HUB_SCORER_URL");
      if (scorer != null) { // the scorer counted this user's attacks (bounded wait: it consumes asynchronously)
        Map<String, Object> risk = Map.of();
        String url = scorer.replaceAll("/+$", "") + "/v1/users/" + agent.options().applicationId() + "/" + agent.options().environment() + "/" + user + "/risk";
        for (int i = 0; i < 120; i++) {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200) {
            risk = (Map<String, Object>) Json.parse(r.body());
            // all six contributions scored (they arrive in more than one batch)
            if (((Number) risk.get("increase_24h")).longValue() >= 37) break;
          }
          Thread.sleep(500);
        }
        System.out.println("scorer: " + Json.write(risk));
        TreeSet<String> types = new TreeSet<>();
        for (Object c : (List<Object>) risk.get("contributions")) types.add(String.valueOf(((Map<String, Object>) c).get("attack_type")));
        assertEquals(new TreeSet<>(List.of("command_injection", "path_traversal", "sql_injection", "xss", "payment_fraud")), types, Json.write(risk));
        // the Node agent's verdicts at the default points: sqli HIGH 6, xss MEDIUM 3, ../etc/passwd HIGH 6,
        // "; cat /etc/passwd" command_injection CRITICAL 10 + path_traversal HIGH 6, payment_fraud HIGH 6
        assertEquals(37L, ((Number) risk.get("increase_24h")).longValue(), Json.write(risk));
      }
      agent.pollOnce();
      assertTrue((long) agent.stats().get("decisionPolls") >= 1, "GET /v1/decisions answered");
    } finally {
      agent.close();
    }
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
