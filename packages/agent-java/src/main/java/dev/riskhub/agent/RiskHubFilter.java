package dev.riskhub.agent;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Jakarta Servlet filter: enforces the active decision of the signed-in user before the
 * application runs, and reports every request it saw (with its parsed query, body and cookies) to the
 * relay once the application is done. Map it to {@code /*}, after your authentication filter.
 *
 * <p>Construct it with an agent ({@code new RiskHubFilter(agent)}: Spring Boot registers a Filter bean
 * by itself), or declare it in web.xml with init-params {@code applicationId}, {@code environment},
 * {@code relayUrl}, {@code token} (or the RISK_HUB_* environment variables): it then starts its own
 * agent in {@code init} and closes it in {@code destroy}.
 */
public class RiskHubFilter implements Filter {
  private volatile RiskHubAgent agent;
  private boolean ownsAgent;

  /** For web.xml / {@code @WebFilter}: the agent is started from the init-params in {@link #init}. */
  public RiskHubFilter() {}

  public RiskHubFilter(RiskHubAgent agent) {
    this.agent = agent;
  }

  public RiskHubAgent agent() {
    return agent;
  }

  @Override
  public void init(FilterConfig config) {
    if (agent != null) return;
    RiskHubOptions o = RiskHubOptions.fromEnvironment();
    String v;
    if ((v = config.getInitParameter("applicationId")) != null) o.applicationId(v);
    if ((v = config.getInitParameter("environment")) != null) o.environment(v);
    if ((v = config.getInitParameter("relayUrl")) != null) o.relayUrl(v);
    if ((v = config.getInitParameter("token")) != null) o.token(v);
    agent = RiskHubAgent.start(o); // invalid options fail the deployment with one line
    ownsAgent = true;
  }

  @Override
  public void destroy() {
    if (ownsAgent && agent != null) agent.close();
  }

  @Override
  public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
    RiskHubAgent a = agent;
    if (a == null || !(req instanceof HttpServletRequest http) || !(res instanceof HttpServletResponse response)) {
      chain.doFilter(req, res);
      return;
    }
    HttpServletRequest wrapped;
    RiskHubUser resolved;
    try {
      if (a.options.skip.test(http)) {
        chain.doFilter(req, res);
        return;
      }
      // Only a body of a JSON or form type is reported (body()): a request without a content type (nearly
      // every GET) goes on as it came, without the wrapper that copies what the application reads.
      wrapped = http.getContentType() == null ? http : new CapturingRequest(http, a.options.maxBodyBytes);
      resolved = resolve(a, wrapped);
      if (resolved != null && enforce(a, resolved, wrapped, response)) {
        report(a, wrapped, resolved, false);
        return;
      }
    } catch (IOException e) {
      throw e; // writing the block answer failed: the client is gone
    } catch (RuntimeException e) {
      a.error(e);
      chain.doFilter(req, res);
      return;
    }
    try {
      chain.doFilter(wrapped, res);
    } finally {
      try {
        if (wrapped.isAsyncStarted()) {
          wrapped.getAsyncContext().addListener(new AsyncListener() {
            @Override public void onComplete(AsyncEvent event) { report(a, wrapped, resolved, false); }
            @Override public void onTimeout(AsyncEvent event) {}
            @Override public void onError(AsyncEvent event) {}
            @Override public void onStartAsync(AsyncEvent event) {}
          });
        } else {
          report(a, wrapped, resolved, true);
        }
      } catch (RuntimeException e) {
        a.error(e);
      }
    }
  }

  /** The resolver's user, within the contract's bounds; null when there is none or the resolver failed. */
  private static RiskHubUser resolve(RiskHubAgent a, HttpServletRequest req) {
    try {
      return a.normalize(a.options.userResolver.apply(req));
    } catch (RuntimeException e) {
      a.error(e); // the application's resolver failed: no user
      return null;
    }
  }

  /** True when the request was answered here (blocked, or challenged by the application's handler). */
  private boolean enforce(RiskHubAgent a, RiskHubUser user, HttpServletRequest req, HttpServletResponse res) throws IOException {
    if (!a.options.enforce) return false;
    Decision d = a.decisionFor(user.key());
    if (d == null || !d.enforceableAt(System.currentTimeMillis())) return false;
    if ("BLOCK".equals(d.action())) {
      a.enforcement(user, d, req);
      if (a.options.blockHandler != null) {
        a.options.blockHandler.block(req, res, d);
      } else if (!res.isCommitted()) {
        res.resetBuffer();
        res.setStatus(403);
        res.setContentType("application/json");
        res.setCharacterEncoding("UTF-8");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", "blocked");
        body.put("reason", d.reason());
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        res.setContentLength(bytes.length);
        res.getOutputStream().write(bytes);
      }
      return true;
    }
    // CHALLENGE
    if (a.options.challengeHandler == null) {
      a.challengeWithoutHandler(d);
      return false;
    }
    if (a.options.challengeHandler.challenge(req, res, d)) {
      a.enforcement(user, d, req);
      return true;
    }
    return false;
  }

  /** Queues the request event; {@code readBody}: complete the body from the stream (synchronous only). */
  private static void report(RiskHubAgent a, HttpServletRequest req, RiskHubUser resolved, boolean readBody) {
    try {
      Object body = readBody && req instanceof CapturingRequest c ? body(a, c) : null;
      // identify() or a successful trackLogin() in the application wins over the resolver's user
      RiskHubUser user = req.getAttribute(RiskHubAgent.USER_ATTRIBUTE) instanceof RiskHubUser u ? u : resolved;
      // The event's id and its request object are made on the sender thread (RiskHubAgent.write).
      RequestReader.Captured e = RequestReader.capture(req, body);
      e.at = System.currentTimeMillis();
      e.user = user;
      a.enqueue(e);
    } catch (RuntimeException e) {
      a.error(e);
    }
  }

  /** The parsed JSON or form body, bounded; null for other content types, empty or unreadable bodies. */
  static Object body(RiskHubAgent a, CapturingRequest req) {
    String type = req.getContentType();
    if (type == null) return null;
    type = type.toLowerCase(Locale.ROOT);
    int limit = a.options.maxBodyBytes;
    try {
      if (type.startsWith("application/x-www-form-urlencoded")) {
        if (!req.streamUsed()) return formFromParameters(req, limit);
        String text = req.body();
        if (text.length() > limit) {
          a.bodiesTooLarge.incrementAndGet();
          text = text.substring(0, Json.cutAt(text, limit));
        }
        return RequestReader.formBody(RequestReader.parseQuery(text));
      }
      if (type.startsWith("application/json") || (type.startsWith("application/") && type.contains("+json"))) {
        long declared = req.getContentLengthLong();
        if (declared > limit) {
          a.bodiesTooLarge.incrementAndGet();
          return null;
        }
        String text = req.body();
        if (text.isEmpty()) return null;
        if (text.length() > limit) {
          a.bodiesTooLarge.incrementAndGet();
          return null;
        }
        return new RequestReader.JsonText(text, a.options.maxDepth, a.options.maxStringBytes); // parsed on the sender
      }
    } catch (IOException | RuntimeException e) {
      return null; // the client went away, or the container refused the body: fail open
    }
    return null;
  }

  /**
   * A form the container parsed (the application called getParameter): the parameter map lists the
   * query's values of a name before the body's (Servlet spec 3.1.1), so the body's are what follows.
   */
  private static Object formFromParameters(CapturingRequest req, int limit) {
    Map<String, List<String>> query = RequestReader.parseQuery(req.getQueryString());
    Map<String, List<String>> fields = new LinkedHashMap<>();
    int bytes = 0;
    for (Map.Entry<String, String[]> e : req.getParameterMap().entrySet()) {
      List<String> q = query.get(e.getKey());
      String[] values = e.getValue();
      for (int i = q == null ? 0 : Math.min(q.size(), values.length); i < values.length; i++) {
        String v = RequestReader.bound(values[i] == null ? "" : values[i]);
        bytes += e.getKey().length() + v.length();
        if (bytes > limit || fields.size() >= RequestReader.MAX_ENTRIES) return RequestReader.formBody(fields);
        fields.computeIfAbsent(RequestReader.bound(e.getKey()), k -> new java.util.ArrayList<>()).add(v);
      }
    }
    return RequestReader.formBody(fields);
  }
}
