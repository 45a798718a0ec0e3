package dev.riskhub.agent;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** A stand-in for the relay (docs/relay-protocol.md) on a loopback port: records what agents send. */
public final class FakeRelay implements AutoCloseable {
  static {
    // Like Node's http server (the real relay): no Nagle, or each answer waits for a delayed ACK (~40 ms)
    System.setProperty("sun.net.httpserver.nodelay", "true");
  }

  public final HttpServer server;
  /** Every POST /v1/events body, parsed. */
  public final List<Map<String, Object>> posts = new CopyOnWriteArrayList<>();
  public final List<String> authorizations = new CopyOnWriteArrayList<>();
  public final List<String> ifNoneMatch = new CopyOnWriteArrayList<>();
  public final AtomicInteger decisionGets = new AtomicInteger();
  /** Status to answer to POST /v1/events (202 by default). */
  public volatile int eventsStatus = 202;
  public volatile int eventsStatusTimes = Integer.MAX_VALUE;
  public volatile String decisionsJson = "{\"version\":\"1\",\"decisions\":[]}";
  public volatile String decisionsVersion = "1";
  public final java.util.concurrent.atomic.AtomicLong received = new java.util.concurrent.atomic.AtomicLong();
  private final boolean keep;

  /** java -cp … dev.riskhub.agent.FakeRelay PORT: a relay that accepts and counts (benchmarks). */
  public static void main(String[] args) throws Exception {
    FakeRelay r = new FakeRelay(Integer.parseInt(args[0]), false);
    System.out.println("fake relay on " + r.url());
    Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("fake relay received " + r.received.get() + " events")));
    Thread.currentThread().join();
  }

  public FakeRelay() throws IOException {
    this(0, true);
  }

  /** {@code keep}: false to count events without keeping them (the benchmark's relay). */
  public FakeRelay(int port, boolean keep) throws IOException {
    this.keep = keep;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
    server.setExecutor(Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, "fake-relay");
      t.setDaemon(true);
      return t;
    }));
    server.createContext("/v1/events", this::events);
    server.createContext("/v1/decisions", this::decisions);
    server.createContext("/healthz", x -> answer(x, 200, "{\"status\":\"ok\"}", null));
    server.start();
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @SuppressWarnings("unchecked")
  private void events(HttpExchange x) throws IOException {
    String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    authorizations.add(x.getRequestHeaders().getFirst("Authorization"));
    int status = eventsStatus;
    if (status != 202 && eventsStatusTimes-- <= 0) status = 202;
    if (status == 202) {
      Map<String, Object> parsed = (Map<String, Object>) Json.parse(body);
      if (keep) posts.add(parsed);
      int n = ((List<Object>) parsed.get("events")).size();
      received.addAndGet(n);
      answer(x, 202, "{\"accepted\":" + n + ",\"rejected\":0,\"detections\":0}", null);
    } else {
      answer(x, status, "{\"error\":\"status " + status + "\"}", null);
    }
  }

  private void decisions(HttpExchange x) throws IOException {
    decisionGets.incrementAndGet();
    String inm = x.getRequestHeaders().getFirst("If-None-Match");
    ifNoneMatch.add(String.valueOf(inm));
    String etag = "\"" + decisionsVersion + "\"";
    if (etag.equals(inm)) {
      x.getResponseHeaders().add("ETag", etag);
      x.sendResponseHeaders(304, -1);
      x.close();
      return;
    }
    answer(x, 200, decisionsJson, etag);
  }

  private static void answer(HttpExchange x, int status, String body, String etag) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    x.getResponseHeaders().add("Content-Type", "application/json");
    if (etag != null) x.getResponseHeaders().add("ETag", etag);
    x.sendResponseHeaders(status, b.length);
    try (OutputStream o = x.getResponseBody()) {
      o.write(b);
    }
  }

  /** Every event received so far, in order. */
  @SuppressWarnings("unchecked")
  public List<Map<String, Object>> events() {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Map<String, Object> p : posts) out.addAll((List<Map<String, Object>>) p.get("events"));
    return out;
  }

  /** Waits (bounded: 200 × 25 ms) until at least {@code n} events arrived. */
  public List<Map<String, Object>> awaitEvents(int n) throws InterruptedException {
    for (int i = 0; i < 200 && events().size() < n; i++) Thread.sleep(25);
    return events();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
