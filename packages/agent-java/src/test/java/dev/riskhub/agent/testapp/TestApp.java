package dev.riskhub.agent.testapp;

import dev.riskhub.agent.RiskHubAgent;
import dev.riskhub.agent.RiskHubFilter;
import dev.riskhub.agent.RiskHubOptions;
import dev.riskhub.agent.RiskHubUser;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Map;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * A small shop on embedded Jetty 12 (Servlet 6), wired to the agent the way the README says: the filter
 * on /*, logins tracked, users identified. Used by the integration tests and the benchmark.
 */
public final class TestApp implements AutoCloseable {
  private final Server server;
  public final int port;

  private TestApp(Server server, int port) {
    this.server = server;
    this.port = port;
  }

  public String url() {
    return "http://127.0.0.1:" + port;
  }

  /** The app on {@code port} (0: any free one), with the filter when {@code agent} is not null. */
  public static TestApp start(int port, RiskHubAgent agent) throws Exception {
    Server server = new Server();
    // Like Express (the corpus's reference app): an encoded '/' in a route parameter (/files/..%2Fetc) reaches
    // the application. Jetty's defaults answer 400 to it before any filter runs.
    HttpConfiguration http = new HttpConfiguration();
    http.setUriCompliance(UriCompliance.LEGACY);
    ServerConnector c = new ServerConnector(server, new HttpConnectionFactory(http));
    c.setHost("127.0.0.1");
    c.setPort(port);
    server.addConnector(c);
    ServletContextHandler ctx = new ServletContextHandler();
    ctx.setContextPath("/");
    ctx.getServletHandler().setDecodeAmbiguousURIs(true);
    if (agent != null) {
      FilterHolder f = new FilterHolder(new RiskHubFilter(agent));
      f.setAsyncSupported(true);
      ctx.addFilter(f, "/*", EnumSet.of(DispatcherType.REQUEST));
    }
    ServletHolder s = new ServletHolder(new Shop(agent));
    s.setAsyncSupported(true);
    ctx.addServlet(s, "/*");
    server.setHandler(ctx);
    server.start();
    return new TestApp(server, c.getLocalPort());
  }

  /** The user resolver of the tests: an upstream auth layer put the user's id in X-User. */
  public static RiskHubUser headerUser(HttpServletRequest r) {
    String u = r.getHeader("x-user");
    return u == null ? null : RiskHubUser.of(u);
  }

  @Override
  public void close() throws Exception {
    server.stop();
  }

  /** java -cp … dev.riskhub.agent.testapp.TestApp PORT [with-agent|skip-all]: the benchmark's server. */
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    RiskHubAgent agent = null;
    if (args.length > 1 && args[1].equals("with-agent")) {
      agent = RiskHubAgent.start(RiskHubOptions.fromEnvironment().userResolver(TestApp::headerUser));
    } else if (args.length > 1 && args[1].equals("skip-all")) { // the agent's cost when its filter passes every request on
      agent = RiskHubAgent.start(RiskHubOptions.fromEnvironment().userResolver(TestApp::headerUser).skip(r -> true));
    } else if (args.length > 1 && args[1].equals("skip-all-no-poller")) { // the same without the decisions poller's HTTP client
      agent = RiskHubAgent.start(RiskHubOptions.fromEnvironment().userResolver(TestApp::headerUser).skip(r -> true).enforce(false));
    }
    TestApp app = start(port, agent);
    System.out.println("listening " + app.url() + (agent != null ? " with the agent" : " without the agent"));
    RiskHubAgent a = agent;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (a != null) System.out.println("agent " + a.stats());
    }));
    Thread.currentThread().join();
  }

  static final class Shop extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private final transient RiskHubAgent agent;

    Shop(RiskHubAgent agent) {
      this.agent = agent;
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String path = req.getRequestURI();
      res.setContentType("text/plain;charset=utf-8");
      if (path.equals("/search")) {
        text(res, 200, "results for " + req.getParameter("q"));
      } else if (path.equals("/products")) { // a page with some work in it: 200 rows rendered (the benchmark's "page")
        String q = String.valueOf(req.getParameter("q"));
        StringBuilder html = new StringBuilder(32 * 1024).append("<html><body><h1>Results for ").append(q.replace("<", "&lt;")).append("</h1><table>");
        for (int i = 0; i < 200; i++) {
          html.append(String.format("<tr><td>%s %d</td><td>%.2f EUR</td><td>%s</td></tr>", q.replace("<", "&lt;"), i, 9.99 + i * 1.37, Integer.toHexString((q.hashCode() * 31 + i) * 0x9e3779b9)));
        }
        res.setContentType("text/html;charset=utf-8");
        text(res, 200, html.append("</table></body></html>").toString());
      } else if (path.equals("/login")) {
        String user = req.getParameter("username");
        boolean ok = "secret".equals(req.getParameter("password"));
        if (agent != null) agent.trackLogin(req, user, ok);
        text(res, ok ? 200 : 401, ok ? "welcome" : "no");
      } else if (path.equals("/api/comments")) {
        String body = req.getReader().lines().reduce("", String::concat);
        text(res, 201, "read " + body.length());
      } else if (path.equals("/raw-form")) {
        byte[] body = req.getInputStream().readAllBytes();
        text(res, 200, "read " + body.length);
      } else if (path.equals("/profile")) {
        String id = req.getParameter("id");
        if (agent != null && id != null) agent.identify(req, RiskHubUser.of(id, Map.of("email", id + "@example.com")));
        text(res, 200, "profile");
      } else if (path.startsWith("/orders/")) {
        if (agent != null) agent.pathParams(req, Map.of("id", path.substring("/orders/".length())));
        text(res, 200, "order");
      } else if (path.startsWith("/users/") || path.startsWith("/files/")) { // the corpus's routes /users/{id}, /files/{name}
        String value = URLDecoder.decode(path.substring(7).replace("+", "%2B"), StandardCharsets.UTF_8);
        if (agent != null) agent.pathParams(req, Map.of(path.startsWith("/users/") ? "id" : "name", value));
        text(res, 200, "ok");
      } else if (path.equals("/async")) {
        AsyncContext ac = req.startAsync();
        ac.start(() -> {
          try {
            text((HttpServletResponse) ac.getResponse(), 200, "later");
          } catch (IOException ignored) {
            // the client went away
          }
          ac.complete();
        });
      } else if (path.equals("/boom")) {
        throw new IllegalStateException("the application failed");
      } else {
        text(res, 200, "ok"); // any other path (the conformance corpus, the health check): 200, body unread
      }
    }

    private static void text(HttpServletResponse res, int status, String s) throws IOException {
      res.setStatus(status);
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      res.setContentLength(b.length);
      res.getOutputStream().write(b);
    }
  }
}
