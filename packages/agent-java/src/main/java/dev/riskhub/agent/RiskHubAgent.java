package dev.riskhub.agent;

import jakarta.servlet.http.HttpServletRequest;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The Risk Hub agent of one application: a bounded queue of events, a background sender that posts them
 * to the relay in batches, and a background poller that keeps the application's active decisions in a
 * map. Every public method but {@link #start} catches its own errors: the agent never fails a request.
 *
 * <pre>
 * RiskHubAgent agent = RiskHubAgent.start(RiskHubOptions.builder()
 *     .applicationId("shop").environment("production").token(System.getenv("RISK_HUB_RELAY_TOKEN")));
 * </pre>
 */
public final class RiskHubAgent implements AutoCloseable {
  public static final String NAME = "risk-hub-java";
  public static final String VERSION = "0.1.0";
  /** Request attribute holding the {@link RiskHubUser} of the request. */
  public static final String USER_ATTRIBUTE = RiskHubAgent.class.getName() + ".user";
  /** Request attribute holding the route parameters (a Map of String to String) the application sets. */
  public static final String PATH_PARAMS_ATTRIBUTE = RiskHubAgent.class.getName() + ".pathParams";

  static final Logger LOG = Logger.getLogger("dev.riskhub.agent");
  private static final Set<String> SEVERITIES = Set.of("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL");

  final RiskHubOptions options;
  final RelayClient relay;
  private final EventQueue queue;
  private final Thread sender;
  private final Thread poller;
  private final Map<String, Object> agentInfo;
  private volatile boolean running = true;
  private volatile Map<String, Decision> decisions = Map.of();
  private volatile String decisionsEtag;
  private volatile boolean relayReachable = true;

  final AtomicLong sent = new AtomicLong();
  final AtomicLong rejected = new AtomicLong();
  final AtomicLong detections = new AtomicLong();
  final AtomicLong droppedInvalid = new AtomicLong();
  final AtomicLong droppedRelay = new AtomicLong();
  final AtomicLong droppedShutdown = new AtomicLong();
  final AtomicLong userKeysHashed = new AtomicLong();
  final AtomicLong bodiesTooLarge = new AtomicLong();
  final AtomicLong errors = new AtomicLong();
  final AtomicLong enforced = new AtomicLong();
  final AtomicLong decisionPolls = new AtomicLong();
  private final AtomicLong inFlight = new AtomicLong();
  private final AtomicBoolean challengeLogged = new AtomicBoolean();
  private final Object sentLock = new Object();

  private RiskHubAgent(RiskHubOptions options) {
    this.options = options;
    this.relay = new RelayClient(options);
    this.queue = new EventQueue(options.maxQueue, options.batchSize);
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("name", NAME);
    info.put("version", VERSION);
    info.put("language", "java");
    this.agentInfo = info;
    this.sender = new Thread(this::sendLoop, "risk-hub-sender");
    this.sender.setDaemon(true);
    this.poller = new Thread(this::pollLoop, "risk-hub-decisions");
    this.poller.setDaemon(true);
  }

  /** Validates the options (throws {@link RiskHubConfigException} with one line) and starts the agent. */
  public static RiskHubAgent start(RiskHubOptions options) {
    if (options == null) throw new RiskHubConfigException("options are required (RiskHubOptions.builder()…)");
    options.validate();
    RiskHubAgent a = new RiskHubAgent(options);
    a.sender.start();
    if (options.enforce) a.poller.start();
    return a;
  }

  public RiskHubOptions options() {
    return options;
  }

  // ------------------------------------------------------------------ the application's calls

  /**
   * Ties the request to a signed-in user: its request event is reported for that user. Returns the
   * user's enforceable decision (BLOCK or CHALLENGE, not simulated, in force) or null, for an
   * application that identifies users inside its handlers and enforces there.
   */
  public Decision identify(HttpServletRequest request, RiskHubUser user) {
    try {
      RiskHubUser u = normalize(user);
      if (u == null || request == null) return null;
      request.setAttribute(USER_ATTRIBUTE, u);
      Decision d = decisionFor(u.key());
      return d != null && d.enforceableAt(System.currentTimeMillis()) ? d : null;
    } catch (RuntimeException e) {
      error(e);
      return null;
    }
  }

  /** Sets the route parameters of a request (e.g. {id: "42"} for /orders/{id}); they are inspected. */
  public void pathParams(HttpServletRequest request, Map<String, String> params) {
    try {
      if (request != null && params != null) request.setAttribute(PATH_PARAMS_ATTRIBUTE, new LinkedHashMap<>(params));
    } catch (RuntimeException e) {
      error(e);
    }
  }

  /**
   * A login attempt for {@code login} (the account tried). Failures are auth_failure; the relay adds
   * credential_stuffing for bursts (5 in a minute MEDIUM, 10 HIGH). A success identifies the request.
   */
  public void trackLogin(HttpServletRequest request, String login, boolean success) {
    try {
      RiskHubUser u = normalize(RiskHubUser.of(login));
      if (u == null) {
        droppedInvalid.incrementAndGet();
        return;
      }
      if (success && request != null) request.setAttribute(USER_ATTRIBUTE, u);
      Map<String, Object> e = event("login", u);
      e.put("success", success);
      e.put("request", request == null ? null : RequestReader.summary(request));
      queue.offer(e);
    } catch (RuntimeException x) {
      error(x);
    }
  }

  /**
   * A custom event ({@code type} 1-64 bytes, {@code severity} INFO, LOW, MEDIUM, HIGH or CRITICAL,
   * {@code points} null for the policy's). Returns its event id, or null when it was not accepted.
   */
  public String report(String type, String severity, RiskHubUser user, HttpServletRequest request, Integer points) {
    try {
      RiskHubUser u = normalize(user);
      if (u == null && request != null) u = (RiskHubUser) request.getAttribute(USER_ATTRIBUTE);
      if (u == null || type == null || type.isBlank() || severity == null || !SEVERITIES.contains(severity)) {
        droppedInvalid.incrementAndGet();
        return null;
      }
      Map<String, Object> e = event("custom", u);
      e.put("type", Identity.truncateUtf8(type, Identity.MAX_TYPE_BYTES));
      e.put("severity", severity);
      e.put("points", points);
      if (request != null) e.put("request", RequestReader.summary(request));
      queue.offer(e);
      return (String) e.get("id");
    } catch (RuntimeException x) {
      error(x);
      return null;
    }
  }

  /** The user's decision in force (any action, simulated included), or null. A map lookup. */
  public Decision decisionFor(String userKey) {
    if (userKey == null) return null;
    Decision d = decisions.get(userKey);
    return d != null && d.activeAt(System.currentTimeMillis()) ? d : null;
  }

  /** Counters to export to your own metrics. */
  public Map<String, Object> stats() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("queued", queue.size());
    m.put("inFlight", inFlight.get());
    m.put("sent", sent.get());
    m.put("rejected", rejected.get());
    m.put("detections", detections.get());
    long dropped = queue.droppedQueueFull.get() + droppedInvalid.get() + droppedRelay.get() + droppedShutdown.get();
    m.put("dropped", dropped);
    m.put("droppedQueueFull", queue.droppedQueueFull.get());
    m.put("droppedInvalid", droppedInvalid.get());
    m.put("droppedRelay", droppedRelay.get());
    m.put("droppedShutdown", droppedShutdown.get());
    m.put("userKeysHashed", userKeysHashed.get());
    m.put("bodiesTooLarge", bodiesTooLarge.get());
    m.put("enforced", enforced.get());
    m.put("decisions", decisions.size());
    m.put("decisionPolls", decisionPolls.get());
    m.put("relayReachable", relayReachable);
    m.put("errors", errors.get());
    return m;
  }

  /** Waits until every queued event was sent (or dropped), at most {@code timeout}. True when empty. */
  public boolean flush(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      synchronized (sentLock) {
        while (queue.size() > 0 || inFlight.get() > 0) {
          long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
          if (left <= 0) return false;
          queue.wake();
          sentLock.wait(Math.min(left, 50));
        }
      }
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Stops the agent: sends what is queued within the shutdown timeout (default 2 s), drops the rest. */
  @Override
  public void close() {
    close(options.shutdownTimeout);
  }

  public void close(Duration timeout) {
    if (!running) return;
    running = false;
    poller.interrupt();
    long deadline = System.nanoTime() + timeout.toNanos();
    shutdownDeadline = deadline;
    queue.wake();
    try {
      sender.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (sender.isAlive()) {
      sender.interrupt(); // its request in flight is abandoned and counted as dropped at shutdown
      try {
        sender.join(250);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    int left = queue.drainAll().size();
    droppedShutdown.addAndGet(left);
    ids.close();
    notifySent();
  }

  // ------------------------------------------------------------------ used by the filter

  RiskHubUser normalize(RiskHubUser user) {
    RiskHubUser u = RiskHubUser.normalize(user);
    if (u != null && user != null && !u.key().equals(user.key().trim())) userKeysHashed.incrementAndGet();
    return u;
  }

  Map<String, Object> event(String kind, RiskHubUser user) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("kind", kind);
    e.put("id", UUID.randomUUID().toString());
    e.put("at", System.currentTimeMillis());
    e.put("user", user == null ? null : user.toJson());
    return e;
  }

  /**
   * Writes a queued event into the POST's body: a request event ({@link RequestReader.Captured}) straight
   * from what its thread kept, with its id drawn here (no SecureRandom on the request thread) and its
   * query, cookies and JSON body parsed here; any other event (a map) as it is. A request that cannot be
   * read is still reported with what is sure ({method, uri, ip}).
   */
  private void write(Utf8Json body, Object event) {
    if (!(event instanceof RequestReader.Captured c)) {
      @SuppressWarnings("unchecked")
      Map<String, Object> m = (Map<String, Object>) event;
      body.value(m);
      return;
    }
    body.raw("{\"kind\":\"request\",\"id\":");
    ids.assign(c);
    body.uuid(c.idHi, c.idLo);
    body.raw(",\"at\":");
    body.number(c.at);
    body.raw(",\"user\":");
    writeUser(body, c.user);
    body.raw(",\"request\":");
    int mark = body.len;
    try {
      c.write(body);
    } catch (RuntimeException ex) {
      error(ex);
      body.len = mark;
      body.value(c.summary());
    }
    body.raw('}');
  }

  /** {"key", "identifiers"}: what {@code RiskHubUser.toJson()} gives, written. */
  static void writeUser(Utf8Json body, RiskHubUser u) {
    if (u == null) {
      body.raw("null");
      return;
    }
    body.raw("{\"key\":");
    body.string(u.key());
    body.raw(",\"identifiers\":{");
    boolean first = true;
    for (Map.Entry<String, String> e : u.identifiers().entrySet()) {
      if (!first) body.raw(',');
      first = false;
      body.string(e.getKey());
      body.raw(':');
      body.value(e.getValue());
    }
    body.raw("}}");
  }

  /** The sender's event ids. */
  private final EventIds ids = new EventIds();

  /** Queues an event: a map of the protocol's fields, or a request event ({@link RequestReader.Captured}). */
  void enqueue(Object event) {
    queue.offer(event);
  }

  void enforcement(RiskHubUser user, Decision d, HttpServletRequest request) {
    enforced.incrementAndGet();
    Map<String, Object> e = event("enforcement", user);
    e.put("action", d.action());
    e.put("decision_id", d.decisionId());
    e.put("request", RequestReader.summary(request));
    queue.offer(e);
  }

  void challengeWithoutHandler(Decision d) {
    if (challengeLogged.compareAndSet(false, true)) {
      LOG.warning("risk-hub agent: a CHALLENGE decision applies (" + d.reason() + ") but no challengeHandler is configured: requests pass");
    }
  }

  void error(Throwable e) {
    errors.incrementAndGet();
    if (errors.get() <= 3) LOG.log(Level.WARNING, "risk-hub agent: internal error (the request is not affected)", e);
  }

  // ------------------------------------------------------------------ background threads

  private volatile long shutdownDeadline;

  private void sendLoop() {
    long backoffMs = 0;
    while (true) {
      List<Object> batch;
      try {
        if (!running && queue.size() == 0) break;
        if (!running && System.nanoTime() - shutdownDeadline > 0) break;
        batch = queue.take(options.batchSize, running ? 1000 : 0, running ? options.lingerTime.toMillis() : 0);
      } catch (InterruptedException e) {
        break;
      }
      if (batch.isEmpty()) {
        notifySent();
        continue;
      }
      inFlight.set(batch.size());
      List<Object> unsent = send(batch);
      inFlight.set(0);
      if (!unsent.isEmpty()) {
        if (!running) {
          droppedShutdown.addAndGet(unsent.size());
          continue;
        }
        queue.requeue(unsent);
        backoffMs = Math.min(5000, backoffMs == 0 ? 250 : backoffMs * 2);
        notifySent();
        if (!sleep(backoffMs)) break;
      } else {
        backoffMs = 0;
      }
      notifySent();
    }
    notifySent();
  }

  /** The relay refuses bodies over 1 MiB (413): a POST stays below this many bytes. */
  static final int MAX_POST_BYTES = 1_000_000;

  /**
   * Sends a batch, in POSTs below MAX_POST_BYTES. Returns the events to try again (the relay could not
   * be reached), empty when every event was sent or dropped.
   */
  private List<Object> send(List<Object> batch) {
    Utf8Json body = buffer; // the sender thread's own, reused: no growth per batch
    body.len = 0;
    body.raw("{\"agent\":");
    body.value(agentInfo);
    body.raw(",\"application_id\":");
    body.value(options.applicationId);
    body.raw(",\"environment\":");
    body.value(options.environment);
    body.raw(",\"events\":[");
    int headLength = body.len;
    int headBytes = headLength + 2; // plus the closing "]}"
    int first = 0; // index in batch of the first event in body
    int count = 0;
    for (int i = 0; i < batch.size(); i++) {
      int mark = body.len;
      if (count > 0) body.raw(',');
      try {
        write(body, batch.get(i));
      } catch (RuntimeException e) {
        error(e);
        body.len = mark;
        droppedInvalid.incrementAndGet();
        continue;
      }
      int n = body.len - mark;
      if (headBytes + n > MAX_POST_BYTES) { // cannot be sent at all
        body.len = mark;
        droppedInvalid.incrementAndGet();
        continue;
      }
      if (body.len + 2 > MAX_POST_BYTES) { // does not fit: send the ones before it, then start again with it
        byte[] event = java.util.Arrays.copyOfRange(body.buf, mark + 1, body.len);
        body.len = mark;
        body.raw("]}");
        if (!post(body, count)) return batch.subList(first, batch.size());
        body.len = headLength;
        body.append(event, 0, event.length);
        first = i;
        count = 1;
        continue;
      }
      if (count == 0) first = i;
      count++;
    }
    if (count > 0) {
      body.raw("]}");
      if (!post(body, count)) return batch.subList(first, batch.size());
    }
    if (body.buf.length > 4 * MAX_POST_BYTES) buffer = new Utf8Json(64 * 1024);
    return List.of();
  }

  private Utf8Json buffer = new Utf8Json(64 * 1024);

  /** One POST /v1/events; false when the relay could not be reached (the events are to be kept). */
  private boolean post(Utf8Json json, int events) {
    for (int attempt = 0; attempt < 2; attempt++) {
      Duration within = running ? options.httpTimeout : Duration.ofNanos(Math.max(1_000_000, shutdownDeadline - System.nanoTime()));
      try {
        RelayClient.Answer a = relay.postEvents(json.buf, json.len, within);
        relayReachable = true;
        if (a.status() == 202 || a.status() == 200) {
          sent.addAndGet(events);
          countAnswer(a.body());
          return true;
        }
        if (a.status() == 503 && attempt == 0) continue; // the relay's queue is full: once more, then drop
        droppedRelay.addAndGet(events);
        if (a.status() != 503) LOG.warning("risk-hub agent: the relay answered " + a.status() + " to " + events + " events (dropped): " + truncate(a.body()));
        return true;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      } catch (Exception e) {
        if (relayReachable) LOG.warning("risk-hub agent: relay unreachable (" + e + "); events wait in the queue");
        relayReachable = false;
        return false;
      }
    }
    droppedRelay.addAndGet(events);
    return true;
  }

  /** The relay's 202 {"accepted", "rejected", "detections"}: counted in stats(). */
  private void countAnswer(String body) {
    try {
      Object v = Json.parse(body);
      if (v instanceof Map<?, ?> m) {
        if (m.get("rejected") instanceof Number n) rejected.addAndGet(n.longValue());
        if (m.get("detections") instanceof Number n) detections.addAndGet(n.longValue());
      }
    } catch (RuntimeException ignored) {
      // an answer we do not understand changes nothing
    }
  }

  private void notifySent() {
    synchronized (sentLock) {
      sentLock.notifyAll();
    }
  }

  private void pollLoop() {
    while (running) {
      pollOnce();
      if (!sleep(options.decisionsInterval.toMillis())) return;
    }
  }

  /** One GET /v1/decisions; keeps what it has on any failure. */
  synchronized void pollOnce() {
    try {
      RelayClient.Answer a = relay.getDecisions(options.environment, decisionsEtag);
      decisionPolls.incrementAndGet();
      if (a.status() == 304) return;
      if (a.status() != 200) return;
      Object parsed = Json.parse(a.body());
      if (!(parsed instanceof Map<?, ?> root) || !(root.get("decisions") instanceof List<?> list)) return;
      Map<String, Decision> next = new java.util.HashMap<>();
      for (Object o : list) {
        if (!(o instanceof Map<?, ?> d)) continue;
        if (!(d.get("user_key") instanceof String key) || !(d.get("action") instanceof String action)) continue;
        long until = d.get("until") instanceof Number n ? n.longValue() : 0;
        String reason = d.get("reason") instanceof String r ? r : null;
        String id = d.get("decision_id") instanceof String s ? s : null;
        boolean simulated = Boolean.TRUE.equals(d.get("simulated"));
        next.put(key, new Decision(key, action, until, reason, id, simulated));
      }
      decisions = Map.copyOf(next);
      String etag = a.etag().orElse(null);
      if (etag == null && root.get("version") != null) etag = "\"" + root.get("version") + "\"";
      decisionsEtag = etag;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      // unreachable or garbled: keep the decisions we have until each one's `until`
    }
  }

  private boolean sleep(long ms) {
    try {
      Thread.sleep(ms);
      return true;
    } catch (InterruptedException e) {
      return running;
    }
  }

  private static String truncate(String s) {
    return s == null ? "" : s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }
}
