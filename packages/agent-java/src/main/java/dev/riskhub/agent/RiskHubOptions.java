package dev.riskhub.agent;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.security.Principal;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The agent's options, validated once by {@link #validate()} ({@link RiskHubAgent#start} calls it): the
 * only place the agent throws, with one line naming the option.
 */
public final class RiskHubOptions {
  /** Writes the answer to a blocked request (default: 403 {"error":"blocked","reason":…}). */
  @FunctionalInterface
  public interface BlockHandler {
    void block(HttpServletRequest request, HttpServletResponse response, Decision decision) throws IOException;
  }

  /** The application's challenge (a CAPTCHA, a second factor): true when it answered the request itself. */
  @FunctionalInterface
  public interface ChallengeHandler {
    boolean challenge(HttpServletRequest request, HttpServletResponse response, Decision decision) throws IOException;
  }

  public static final String DEFAULT_RELAY_URL = "http://127.0.0.1:8787";

  String applicationId;
  String environment = "production";
  String relayUrl = DEFAULT_RELAY_URL;
  String token;
  int maxQueue = 10_000;
  int batchSize = 500;
  Duration lingerTime = Duration.ofMillis(50);
  Duration httpTimeout = Duration.ofSeconds(1);
  Duration shutdownTimeout = Duration.ofSeconds(2);
  Duration decisionsInterval = Duration.ofSeconds(1);
  boolean enforce = true;
  int maxBodyBytes = 64 * 1024;
  int maxDepth = 20;
  int maxStringBytes = 16 * 1024;
  Function<HttpServletRequest, RiskHubUser> userResolver = RiskHubOptions::principalUser;
  Predicate<HttpServletRequest> skip = r -> false;
  BlockHandler blockHandler;
  ChallengeHandler challengeHandler;

  public static RiskHubOptions builder() {
    return new RiskHubOptions();
  }

  /**
   * Options from the environment: RISK_HUB_APPLICATION, RISK_HUB_ENVIRONMENT (default production),
   * RISK_HUB_RELAY_URL (default http://127.0.0.1:8787), RISK_HUB_RELAY_TOKEN.
   */
  public static RiskHubOptions fromEnvironment() {
    return fromMap(System.getenv());
  }

  static RiskHubOptions fromMap(Map<String, String> env) {
    RiskHubOptions o = new RiskHubOptions().applicationId(env.get("RISK_HUB_APPLICATION")).token(env.get("RISK_HUB_RELAY_TOKEN"));
    if (env.get("RISK_HUB_ENVIRONMENT") != null) o.environment(env.get("RISK_HUB_ENVIRONMENT"));
    if (env.get("RISK_HUB_RELAY_URL") != null) o.relayUrl(env.get("RISK_HUB_RELAY_URL"));
    return o;
  }

  /** The default user resolver: the container's authenticated principal (Spring Security, JAAS…). */
  public static RiskHubUser principalUser(HttpServletRequest request) {
    Principal p = request.getUserPrincipal();
    return p == null || p.getName() == null ? null : RiskHubUser.of(p.getName());
  }

  public RiskHubOptions applicationId(String v) { this.applicationId = v; return this; }
  public RiskHubOptions environment(String v) { this.environment = v; return this; }
  public RiskHubOptions relayUrl(String v) { this.relayUrl = v; return this; }
  public RiskHubOptions token(String v) { this.token = v; return this; }
  public RiskHubOptions maxQueue(int v) { this.maxQueue = v; return this; }
  public RiskHubOptions batchSize(int v) { this.batchSize = v; return this; }
  public RiskHubOptions lingerTime(Duration v) { this.lingerTime = v; return this; }
  public RiskHubOptions httpTimeout(Duration v) { this.httpTimeout = v; return this; }
  public RiskHubOptions shutdownTimeout(Duration v) { this.shutdownTimeout = v; return this; }
  public RiskHubOptions decisionsInterval(Duration v) { this.decisionsInterval = v; return this; }
  /** false: decisions are neither polled nor enforced (reporting only). */
  public RiskHubOptions enforce(boolean v) { this.enforce = v; return this; }
  /** Who is signed in, asked before the application runs (decisions are enforced on that user). */
  public RiskHubOptions userResolver(Function<HttpServletRequest, RiskHubUser> v) { this.userResolver = v; return this; }
  /** Requests not to report nor enforce on (health checks, static files). */
  public RiskHubOptions skip(Predicate<HttpServletRequest> v) { this.skip = v; return this; }
  public RiskHubOptions blockHandler(BlockHandler v) { this.blockHandler = v; return this; }
  public RiskHubOptions challengeHandler(ChallengeHandler v) { this.challengeHandler = v; return this; }

  public String applicationId() { return applicationId; }
  public String environment() { return environment; }
  public String relayUrl() { return relayUrl; }

  /** Checks every option; throws {@link RiskHubConfigException} naming the first bad one. */
  public RiskHubOptions validate() {
    if (applicationId == null || !Identity.validIdentifier(applicationId)) {
      throw new RiskHubConfigException("option applicationId " + quote(applicationId) + " must match " + Identity.IDENTIFIER_PATTERN.pattern() + " (1-64 letters, digits, '.', '_', '-'; no '/')");
    }
    if (environment == null || !Identity.validIdentifier(environment)) {
      throw new RiskHubConfigException("option environment " + quote(environment) + " must match " + Identity.IDENTIFIER_PATTERN.pattern() + " (1-64 letters, digits, '.', '_', '-'; no '/')");
    }
    URI uri;
    try {
      uri = relayUrl == null ? null : URI.create(relayUrl);
    } catch (IllegalArgumentException e) {
      uri = null;
    }
    if (uri == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
      throw new RiskHubConfigException("option relayUrl " + quote(relayUrl) + " must be an http:// or https:// URL, e.g. " + DEFAULT_RELAY_URL);
    }
    if (token == null || token.isBlank() || token.chars().anyMatch(c -> c <= 0x20 || c >= 0x7f)) {
      throw new RiskHubConfigException("option token must be the application's relay token (printable ASCII, no spaces; e.g. from RISK_HUB_RELAY_TOKEN), got " + (token == null ? "none" : "an invalid one"));
    }
    positive("maxQueue", maxQueue);
    if (batchSize < 1 || batchSize > 500) throw new RiskHubConfigException("option batchSize must be 1 to 500 (the relay's limit per request), got " + batchSize);
    duration("lingerTime", lingerTime);
    duration("httpTimeout", httpTimeout);
    duration("shutdownTimeout", shutdownTimeout);
    duration("decisionsInterval", decisionsInterval);
    if (userResolver == null) throw new RiskHubConfigException("option userResolver must not be null (use r -> null for none)");
    if (skip == null) throw new RiskHubConfigException("option skip must not be null");
    return this;
  }

  String baseUrl() {
    return relayUrl.endsWith("/") ? relayUrl.substring(0, relayUrl.length() - 1) : relayUrl;
  }

  private static void positive(String name, int v) {
    if (v < 1) throw new RiskHubConfigException("option " + name + " must be a positive integer, got " + v);
  }

  private static void duration(String name, Duration d) {
    if (d == null || d.isNegative() || d.isZero()) throw new RiskHubConfigException("option " + name + " must be a positive duration, got " + d);
  }

  private static String quote(String v) {
    if (v == null) return "(missing)";
    StringBuilder sb = new StringBuilder();
    Json.string(sb, v.length() > 80 ? v.substring(0, 80) + "\u2026" : v);
    return sb.toString();
  }
}
