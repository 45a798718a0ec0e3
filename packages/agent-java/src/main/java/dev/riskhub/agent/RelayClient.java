package dev.riskhub.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The relay's HTTP API (docs/relay-protocol.md), with a short timeout on every call.
 *
 * <p>HttpURLConnection rather than java.net.http: the JDK's HTTP client runs on streams and
 * CompletableFutures shared with the application's code, and with it in the JVM the JIT compiled the
 * application's own hot code worse (docs/agents-java.md, "Where the page's extra goes"). Connections are
 * kept alive by the JDK's cache when a body is read whole; a POST uses fixed-length streaming, which
 * the JDK never re-sends on its own (so an event batch is not posted twice behind the agent's back).
 */
final class RelayClient {
  record Answer(int status, String body, Optional<String> etag) {}

  private final String base;
  private final String authorization;
  private final Duration timeout;

  RelayClient(RiskHubOptions o) {
    this.timeout = o.httpTimeout;
    this.base = o.baseUrl();
    this.authorization = "Bearer " + o.token;
  }

  /** POST /v1/events of {@code body[0..len)} (UTF-8 JSON; the array is not changed until this returns). */
  Answer postEvents(byte[] body, int len, Duration within) throws IOException, InterruptedException {
    return call("POST", "/v1/events", body, len, null, min(timeout, within));
  }

  Answer post(String path, String json, Duration within) throws IOException, InterruptedException {
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    return call("POST", path, b, b.length, null, min(timeout, within));
  }

  Answer getDecisions(String environment, String etag) throws IOException, InterruptedException {
    return call("GET", "/v1/decisions?environment=" + environment, null, 0, etag, min(timeout, timeout));
  }

  private Answer call(String method, String path, byte[] body, int len, String etag, Duration within)
      throws IOException, InterruptedException {
    if (Thread.currentThread().isInterrupted()) throw new InterruptedException();
    int ms = (int) Math.min(Integer.MAX_VALUE, within.toMillis());
    HttpURLConnection c = (HttpURLConnection) URI.create(base + path).toURL().openConnection(Proxy.NO_PROXY);
    c.setConnectTimeout(ms);
    c.setReadTimeout(ms);
    c.setInstanceFollowRedirects(false);
    c.setUseCaches(false);
    c.setRequestMethod(method);
    c.setRequestProperty("Authorization", authorization);
    if (etag != null) c.setRequestProperty("If-None-Match", etag);
    if (body != null) {
      c.setRequestProperty("Content-Type", "application/json");
      c.setDoOutput(true);
      c.setFixedLengthStreamingMode(len);
      try (OutputStream out = c.getOutputStream()) {
        out.write(body, 0, len);
      }
    }
    int status = c.getResponseCode();
    InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
    String text = "";
    if (in != null) {
      try (in) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
        in.transferTo(buf); // read whole: the connection goes back to the keep-alive cache
        text = buf.toString(StandardCharsets.UTF_8);
      }
    }
    return new Answer(status, text, Optional.ofNullable(c.getHeaderField("etag")));
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
