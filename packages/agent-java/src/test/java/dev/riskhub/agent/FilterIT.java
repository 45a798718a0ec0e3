package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import dev.riskhub.agent.testapp.TestApp;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The filter in a real Jetty 12 app, from the BUILT JAR (failsafe runs after `package` with
 * target/risk-hub-agent-*.jar on the class path), against a fake relay.
 */
@SuppressWarnings("unchecked")
class FilterIT {
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private FakeRelay relay;
  private RiskHubAgent agent;
  private TestApp app;

  @AfterEach
  void tearDown() throws Exception {
    if (app != null) app.close();
    if (agent != null) agent.close(Duration.ofMillis(500));
    if (relay != null) relay.close();
  }

  private void start(RiskHubOptions extra) throws Exception {
    relay = new FakeRelay();
    agent = RiskHubAgent.start(extra.applicationId("shop").environment("test").token("t0ken").relayUrl(relay.url())
        .decisionsInterval(Duration.ofHours(1)).userResolver(TestApp::headerUser).skip(r -> r.getRequestURI().equals("/health")));
    app = TestApp.start(0, agent);
  }

  private void start() throws Exception {
    start(RiskHubOptions.builder());
  }

  private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
    return send(b, 1);
  }

  /**
   * Sends a request and waits (bounded) until its {@code events} arrived at the fake relay, so that the
   * events of successive requests arrive in order: the client can have its answer before the filter
   * queued the request's event (Jetty completes a response once its Content-Length is written).
   */
  private HttpResponse<String> send(HttpRequest.Builder b, int events) throws Exception {
    int before = relay == null ? 0 : relay.events().size();
    HttpResponse<String> r = http.send(b.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    if (relay != null) {
      for (int i = 0; i < 400 && relay.events().size() < before + events; i++) {
        agent.flush(Duration.ofMillis(50));
        Thread.sleep(5);
      }
    }
    return r;
  }

  private HttpRequest.Builder get(String path) {
    return HttpRequest.newBuilder(URI.create(app.url() + path));
  }

  private HttpRequest.Builder post(String path, String type, byte[] body) {
    return HttpRequest.newBuilder(URI.create(app.url() + path)).header("Content-Type", type).POST(HttpRequest.BodyPublishers.ofByteArray(body));
  }

  /**
   * The events once {@code n} arrived (bounded wait): the client can have its answer before the filter
   * queued the event (Jetty completes a response once its Content-Length is written).
   */
  private List<Map<String, Object>> events(int n) throws Exception {
    List<Map<String, Object>> events = relay.awaitEvents(n);
    Thread.sleep(50); // and nothing more came
    assertTrue(agent.flush(Duration.ofSeconds(10)));
    return relay.events();
  }

  private Map<String, Object> onlyRequest() throws Exception {
    List<Map<String, Object>> events = events(1);
    assertEquals(1, events.size(), events + " " + agent.stats());
    assertEquals("request", events.get(0).get("kind"));
    return events.get(0);
  }

  @Test
  void theAgentComesFromTheBuiltJar() {
    String where = RiskHubFilter.class.getProtectionDomain().getCodeSource().getLocation().toString();
    assertTrue(where.endsWith("/target/risk-hub-agent-0.1.0.jar"), where);
  }

  @Test
  void aRequestEventCarriesWhatTheProtocolSays() throws Exception {
    start();
    HttpResponse<String> r = send(get("/search?q=%27%20OR%201%3D1--&tag=a&tag=b")
        .header("User-Agent", "curl/8.5").header("Cookie", "sid=abc; pref=%3Cscript%3E").header("Authorization", "Bearer secret").header("X-Trace", "t1"));
    assertEquals(200, r.statusCode());
    assertEquals("results for ' OR 1=1--", r.body());
    Map<String, Object> e = onlyRequest();
    assertNull(e.get("user"), "anonymous: the relay keys it anon:<ip>");
    Map<String, Object> req = (Map<String, Object>) e.get("request");
    assertEquals("GET", req.get("method"));
    assertEquals("/search?q=%27%20OR%201%3D1--&tag=a&tag=b", req.get("uri"));
    assertEquals("127.0.0.1", req.get("ip"));
    Map<String, Object> headers = (Map<String, Object>) req.get("headers");
    assertEquals("curl/8.5", headers.get("user-agent"));
    assertEquals("t1", headers.get("x-trace"));
    assertFalse(headers.containsKey("cookie"));
    assertFalse(headers.containsKey("authorization"));
    assertEquals(Map.of("q", List.of("' OR 1=1--"), "tag", List.of("a", "b")), req.get("query"));
    assertEquals(Map.of("sid", "abc", "pref", "<script>"), req.get("cookies"));
    assertNull(req.get("body"));
    assertEquals(Map.of(), req.get("path_params"));
  }

  @Test
  void jsonBodiesAreParsedWhetherOrNotTheAppReadsThem() throws Exception {
    start();
    String json = "{\"comment\":\"<script>alert(1)</script>\",\"__proto__\":{\"x\":[1,2,{\"y\":null}]},\"n\":1.5}";
    assertEquals("read " + json.length(), send(post("/api/comments", "application/json", json.getBytes(StandardCharsets.UTF_8))).body());
    assertEquals("ok", send(post("/unread", "application/json; charset=utf-8", json.getBytes(StandardCharsets.UTF_8))).body());
    List<Map<String, Object>> events = events(2);
    assertEquals(2, events.size());
    for (Map<String, Object> e : events) {
      Map<String, Object> body = (Map<String, Object>) ((Map<String, Object>) e.get("request")).get("body");
      assertEquals("<script>alert(1)</script>", body.get("comment"));
      assertEquals(Map.of("x", List.of(1L, 2L, java.util.Collections.singletonMap("y", null))), body.get("__proto__"));
      assertEquals(1.5, body.get("n"));
    }
  }

  @Test
  void formsReadThroughGetParameterOrTheStream() throws Exception {
    start();
    byte[] form = "username=carol&password=wrong&next=%2F..%2F..%2Fetc%2Fpasswd".getBytes(StandardCharsets.UTF_8);
    assertEquals(401, send(post("/login?next=home", "application/x-www-form-urlencoded", form), 2).statusCode());
    assertEquals("read " + form.length, send(post("/raw-form", "application/x-www-form-urlencoded", form)).body());
    List<Map<String, Object>> events = events(3);
    assertEquals(3, events.size(), events.toString());
    Map<String, Object> login = events.get(0);
    assertEquals("login", login.get("kind"));
    assertEquals(false, login.get("success"));
    assertEquals("carol", ((Map<String, Object>) login.get("user")).get("key"));
    Map<String, Object> expected = Map.of("username", "carol", "password", "wrong", "next", "/../../etc/passwd");
    Map<String, Object> viaParams = (Map<String, Object>) events.get(1).get("request");
    assertEquals(expected, viaParams.get("body"), "the query's next=home is not part of the body");
    assertEquals(Map.of("next", List.of("home")), viaParams.get("query"));
    assertEquals(expected, ((Map<String, Object>) events.get(2).get("request")).get("body"));
  }

  @Test
  void hostileBodiesNeverCrashTheAppAndAreBounded() throws Exception {
    start();
    byte[] big = ("{\"a\":\"" + "x".repeat(100_000) + "\"}").getBytes(StandardCharsets.UTF_8);
    assertEquals(201, send(post("/api/comments", "application/json", big)).statusCode());
    byte[] deep = ("[".repeat(30_000) + "]".repeat(30_000)).getBytes(StandardCharsets.UTF_8);
    assertEquals(201, send(post("/api/comments", "application/json", deep)).statusCode());
    byte[] longString = ("{\"a\":\"" + "y".repeat(40_000) + "\"}").getBytes(StandardCharsets.UTF_8);
    assertEquals(201, send(post("/api/comments", "application/json", longString)).statusCode());
    byte[] badUtf8 = {'{', '"', 'a', '"', ':', '"', (byte) 0xff, (byte) 0xc3, '"', '}'};
    assertEquals(201, send(post("/api/comments", "application/json", badUtf8)).statusCode());
    assertEquals(201, send(post("/api/comments", "application/json", "{not json".getBytes(StandardCharsets.UTF_8))).statusCode());
    assertEquals(200, send(get("/other?q=%ff%25zz")).statusCode());
    assertEquals(500, send(get("/boom")).statusCode(), "the application's own exception passes through unchanged");
    List<Map<String, Object>> events = events(7);
    assertEquals(7, events.size());
    Object[] bodies = events.stream().map(e -> ((Map<String, Object>) e.get("request")).get("body")).toArray();
    assertNull(bodies[0], "over 64 KiB: not parsed");
    assertEquals(1L, agent.stats().get("bodiesTooLarge"));
    Object cur = bodies[1];
    int depth = 0;
    while (cur instanceof List<?> l && !l.isEmpty()) {
      cur = l.get(0);
      depth++;
    }
    assertEquals(20, depth, "nesting kept to depth 20");
    assertEquals(16 * 1024, ((String) ((Map<String, Object>) bodies[2]).get("a")).length());
    assertEquals("\ufffd\ufffd", ((Map<String, Object>) bodies[3]).get("a"));
    assertNull(bodies[4]);
    assertEquals(Map.of("q", List.of("\ufffd%zz")), ((Map<String, Object>) events.get(5).get("request")).get("query"));
    assertEquals(0L, agent.stats().get("errors"));
  }

  @Test
  void usersComeFromTheResolverOrFromIdentify() throws Exception {
    start();
    send(get("/search?q=x").header("X-User", "u-1001"));
    send(get("/profile?id=u-2002"));
    send(get("/orders/42;cat%20/etc/passwd"));
    send(get("/health"), 0);
    send(get("/async"));
    List<Map<String, Object>> events = events(4);
    assertEquals(4, events.size(), "the skipped health check is not reported");
    assertEquals("u-1001", ((Map<String, Object>) events.get(0).get("user")).get("key"));
    assertEquals(Map.of("key", "u-2002", "identifiers", Map.of("email", "u-2002@example.com")), events.get(1).get("user"));
    assertEquals(Map.of("id", "42;cat%20/etc/passwd"), ((Map<String, Object>) events.get(2).get("request")).get("path_params"));
    assertEquals("/async", ((Map<String, Object>) events.get(3).get("request")).get("uri"));
  }

  private void decisions(String json) throws Exception {
    relay.decisionsJson = "{\"version\":\"2\",\"decisions\":[" + json + "]}";
    relay.decisionsVersion = "2";
    agent.pollOnce();
  }

  private static String decision(String user, String action, boolean simulated) {
    return "{\"user_key\":\"" + user + "\",\"action\":\"" + action + "\",\"until\":" + (System.currentTimeMillis() + 3_600_000)
        + ",\"reason\":\"tier 3: +53 points in 24 h\",\"decision_id\":\"d-" + user + "\",\"simulated\":" + simulated + "}";
  }

  @Test
  void aBlockedUserGets403AndTheEnforcementIsReported() throws Exception {
    start();
    decisions(decision("u-bad", "BLOCK", false) + "," + decision("u-sim", "BLOCK", true) + "," + decision("u-mon", "MONITOR", false) + "," + decision("u-chal", "CHALLENGE", false));
    HttpResponse<String> blocked = send(get("/search?q=1").header("X-User", "u-bad"), 2);
    assertEquals(403, blocked.statusCode());
    assertEquals("{\"error\":\"blocked\",\"reason\":\"tier 3: +53 points in 24 h\"}", blocked.body());
    assertTrue(blocked.headers().firstValue("content-type").orElse("").startsWith("application/json"));
    assertEquals(200, send(get("/search?q=1").header("X-User", "u-sim")).statusCode(), "simulated: nothing visible");
    assertEquals(200, send(get("/search?q=1").header("X-User", "u-mon")).statusCode(), "monitor: nothing visible");
    assertEquals(200, send(get("/search?q=1").header("X-User", "u-chal")).statusCode(), "challenge without a hook: passes");
    assertEquals(200, send(get("/search?q=1").header("X-User", "u-good")).statusCode());
    List<Map<String, Object>> events = events(6);
    assertEquals("enforcement", events.get(0).get("kind"));
    assertEquals("BLOCK", events.get(0).get("action"));
    assertEquals("d-u-bad", events.get(0).get("decision_id"));
    assertEquals("u-bad", ((Map<String, Object>) events.get(0).get("user")).get("key"));
    assertEquals("/search?q=1", ((Map<String, Object>) events.get(0).get("request")).get("uri"));
    assertEquals("request", events.get(1).get("kind"), "the blocked request is still reported (an attack in it counts)");
    assertEquals(6, events.size());
    assertEquals(1L, agent.stats().get("enforced"));
  }

  @Test
  void challengeAndBlockHooks() throws Exception {
    start(RiskHubOptions.builder()
        .challengeHandler((req, res, d) -> {
          res.setStatus(401);
          res.getWriter().write("prove you are human");
          return true;
        })
        .blockHandler((req, res, d) -> {
          res.setStatus(429);
          res.getWriter().write("slow down");
        }));
    decisions(decision("u-chal", "CHALLENGE", false) + "," + decision("u-bad", "BLOCK", false));
    HttpResponse<String> c = send(get("/search?q=1").header("X-User", "u-chal"), 2);
    assertEquals(401, c.statusCode());
    assertEquals("prove you are human", c.body());
    HttpResponse<String> b = send(get("/search?q=1").header("X-User", "u-bad"), 2);
    assertEquals(429, b.statusCode());
    events(4);
    assertEquals(List.of("enforcement", "request", "enforcement", "request"), relay.events().stream().map(e -> e.get("kind")).toList());
    assertEquals("CHALLENGE", relay.events().get(0).get("action"));
  }

  @Test
  void anUnreachableRelayChangesNoAnswer() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    agent = RiskHubAgent.start(RiskHubOptions.builder().applicationId("shop").token("t").relayUrl("http://127.0.0.1:" + port).userResolver(TestApp::headerUser));
    app = TestApp.start(0, agent);
    for (int i = 0; i < 50; i++) {
      HttpResponse<String> r = send(get("/search?q=" + i).header("X-User", "u-" + i));
      assertEquals(200, r.statusCode());
      assertEquals("results for " + i, r.body());
    }
    assertEquals(false, agent.stats().get("relayReachable"));
  }
}
