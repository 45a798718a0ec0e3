package dev.riskhub.agent;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** The relay's HTTP API (docs/relay-protocol.md), with java.net.http and a short timeout on every call. */
final class RelayClient {
  record Answer(int status, String body, Optional<String> etag) {}

  private final HttpClient http;
  private final String base;
  private final String authorization;
  private final Duration timeout;

  RelayClient(RiskHubOptions o) {
    this.timeout = o.httpTimeout;
    this.http = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(o.httpTimeout)
        .followRedirects(HttpClient.Redirect.NEVER)
        .build();
    this.base = o.baseUrl();
    this.authorization = "Bearer " + o.token;
  }

  /** POST /v1/events of {@code body[0..len)} (UTF-8 JSON; the array is not changed until this returns). */
  Answer postEvents(byte[] body, int len, Duration within) throws IOException, InterruptedException {
    return post("/v1/events", HttpRequest.BodyPublishers.ofByteArray(body, 0, len), within);
  }

  Answer post(String path, String json, Duration within) throws IOException, InterruptedException {
    return post(path, HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8), within);
  }

  private Answer post(String path, HttpRequest.BodyPublisher body, Duration within) throws IOException, InterruptedException {
    HttpRequest req = HttpRequest.newBuilder(URI.create(base + path))
        .timeout(min(timeout, within))
        .header("Authorization", authorization)
        .header("Content-Type", "application/json")
        .POST(body)
        .build();
    HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    return new Answer(r.statusCode(), r.body(), r.headers().firstValue("etag"));
  }

  Answer getDecisions(String environment, String etag) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v1/decisions?environment=" + environment))
        .timeout(timeout)
        .header("Authorization", authorization)
        .GET();
    if (etag != null) b.header("If-None-Match", etag);
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    return new Answer(r.statusCode(), r.body(), r.headers().firstValue("etag"));
  }

  /** POST /v1/inspect: the relay's WAF verdict on one request (conformance tests). */
  @SuppressWarnings("unchecked")
  Map<String, Object> inspect(Map<String, Object> request) throws IOException, InterruptedException {
    Answer a = post("/v1/inspect", Json.write(Map.of("request", request)), Duration.ofSeconds(10));
    if (a.status() != 200) throw new IOException("relay answered " + a.status() + " to /v1/inspect: " + a.body());
    return (Map<String, Object>) Json.parse(a.body());
  }

  private static Duration min(Duration a, Duration b) {
    Duration d = a.compareTo(b) <= 0 ? a : b;
    return d.toMillis() < 1 ? Duration.ofMillis(1) : d;
  }
}
