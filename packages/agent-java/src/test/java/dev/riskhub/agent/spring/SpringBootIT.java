package dev.riskhub.agent.spring;

import static org.junit.jupiter.api.Assertions.*;

import dev.riskhub.agent.FakeRelay;
import dev.riskhub.agent.RiskHubAgent;
import dev.riskhub.agent.RiskHubConfigException;
import dev.riskhub.agent.RiskHubUser;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.servlet.context.ServletWebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * A minimal Spring Boot web application (embedded Tomcat) with nothing but the agent's jar on its
 * class path: the auto-configuration starts the agent from {@code riskhub.*} and registers the filter,
 * which reports requests and enforces decisions. Runs with {@code mvn verify -Pspring}, from the built jar.
 */
@SuppressWarnings("unchecked")
class SpringBootIT {
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private FakeRelay relay;
  private ConfigurableApplicationContext ctx;

  @SpringBootApplication
  @RestController
  public static class ShopApp {
    @GetMapping("/search")
    public Map<String, Object> search(@RequestParam(name = "q", defaultValue = "") String q) {
      return Map.of("q", q, "results", List.of());
    }

    /** What properties cannot say: the user comes from a header in this test app. */
    @Bean
    RiskHubOptionsCustomizer users() {
      return o -> o.userResolver((HttpServletRequest r) -> r.getHeader("x-user") == null ? null : RiskHubUser.of(r.getHeader("x-user")));
    }
  }

  @AfterEach
  void tearDown() {
    if (ctx != null) ctx.close();
    if (relay != null) relay.close();
  }

  private ConfigurableApplicationContext boot(String... props) {
    SpringApplication app = new SpringApplication(ShopApp.class);
    app.setBannerMode(org.springframework.boot.Banner.Mode.OFF);
    app.setLogStartupInfo(false);
    String[] args = new String[props.length + 1];
    args[0] = "--server.port=0";
    System.arraycopy(props, 0, args, 1, props.length);
    return ctx = app.run(args);
  }

  private HttpResponse<String> get(String path, String user) throws Exception {
    int port = ((ServletWebServerApplicationContext) ctx).getWebServer().getPort();
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10));
    if (user != null) b.header("x-user", user);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void autoConfigurationReportsRequestsAndEnforcesDecisions() throws Exception {
    relay = new FakeRelay();
    relay.decisionsJson = "{\"version\":\"2\",\"decisions\":[{\"user_key\":\"mallory\",\"action\":\"BLOCK\",\"until\":"
        + (System.currentTimeMillis() + 3_600_000) + ",\"reason\":\"tier 3\",\"decision_id\":\"d-1\",\"simulated\":false}]}";
    relay.decisionsVersion = "2";
    boot("--riskhub.application-id=shop", "--riskhub.environment=spring", "--riskhub.token=t0ken",
        "--riskhub.relay-url=" + relay.url(), "--riskhub.linger-time=10ms");
    RiskHubAgent agent = ctx.getBean(RiskHubAgent.class);
    assertEquals("shop", agent.options().applicationId());

    HttpResponse<String> ok = get("/search?q=%27%20OR%201%3D1--", "alice");
    assertEquals(200, ok.statusCode());
    List<Map<String, Object>> events = relay.awaitEvents(1);
    Map<String, Object> e = events.get(0);
    assertEquals("request", e.get("kind"));
    assertEquals("alice", ((Map<String, Object>) e.get("user")).get("key"));
    Map<String, Object> req = (Map<String, Object>) e.get("request");
    assertEquals(Map.of("q", List.of("' OR 1=1--")), req.get("query"));

    // The decisions poller runs at start: bounded wait until mallory's block is known.
    for (int i = 0; i < 200 && agent.decisionFor("mallory") == null; i++) Thread.sleep(25);
    HttpResponse<String> blocked = get("/search?q=x", "mallory");
    assertEquals(403, blocked.statusCode());
    assertTrue(blocked.body().contains("\"blocked\""), blocked.body());
    assertEquals(200, get("/search?q=x", "alice").statusCode());
  }

  @Test
  void disabledMeansNoAgent() {
    boot("--riskhub.enabled=false");
    assertTrue(ctx.getBeansOfType(RiskHubAgent.class).isEmpty());
  }

  @Test
  void invalidOptionsStopTheApplicationWithOneLine() {
    Exception e = assertThrows(Exception.class, () -> boot("--riskhub.application-id=shop/eu", "--riskhub.token=t0ken"));
    Throwable root = e;
    while (root.getCause() != null) root = root.getCause();
    assertInstanceOf(RiskHubConfigException.class, root);
    assertTrue(root.getMessage().startsWith("risk-hub agent: option applicationId"), root.getMessage());
    assertFalse(root.getMessage().contains("\n"));
  }
}
