package dev.riskhub.agent.testapp;

import dev.riskhub.agent.RiskHubAgent;
import dev.riskhub.agent.RiskHubFilter;
import dev.riskhub.agent.RiskHubOptions;
import dev.riskhub.agent.RiskHubUser;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * The benchmark's app: examples/express-app (the Node agent's benchmark app, bench/agent.ts) on embedded
 * Jetty 12, route for route and with the same work: the home page, a product search (HTML or JSON by the
 * Accept header), a file download, a profile with a route parameter, a login form (SHA-256 of the
 * password, a random session token in a cookie), sessions looked up from the sid cookie before the agent's
 * filter (which then enforces that user's decision), escaped HTML. Also the small handlers bench.sh used
 * to measure alone, under /micro/ (a GET that answers one line, a POST that reads a JSON body, a page of
 * 200 rows).
 *
 * <p>{@code java -cp … dev.riskhub.agent.testapp.ShopApp PORT [plain|with-agent|skip-all]}
 */
public final class ShopApp {
  private ShopApp() {}

  record DemoUser(String id, String email, String name, byte[] passwordSha256) {}

  static final Map<String, DemoUser> DEMO_USERS = Map.of(
      "alice", new DemoUser("u-1001", "alice@example.com", "Alice", sha256("wonderland")),
      "bob", new DemoUser("u-1002", "bob@example.com", "Bob", sha256("builder")),
      "carol", new DemoUser("u-1003", "carol@example.com", "Carol", sha256("singer")));
  static final List<String> PRODUCTS = List.of(
      "Red running shoes", "Blue rain jacket", "Green tea (loose leaf)", "Espresso machine", "Hiking backpack 40L",
      "Wool socks", "Cast iron skillet", "Noise-cancelling headphones", "Paperback: The Hobbit", "Yoga mat",
      "Stainless water bottle", "LED desk lamp", "Mechanical keyboard", "USB-C charger 65W", "Coffee grinder");
  record DemoFile(String type, String body) {}
  static final Map<String, DemoFile> FILES = Map.of(
      "report.pdf", new DemoFile("application/pdf", "%PDF-1.4 demo report"),
      "readme.txt", new DemoFile("text/plain", "Welcome to the demo shop."),
      "price-list.csv", new DemoFile("text/csv", "product,price\nwool socks,9.90\n"));
  static final int MAX_SESSIONS = 10_000;
  static final String LOGIN_ATTRIBUTE = "shop.login";
  private static final Pattern SID = Pattern.compile("(?:^|;\\s*)sid=([^;]+)");
  private static final Pattern SPACES = Pattern.compile("\\s+");

  static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String escapeHtml(String s) {
    StringBuilder sb = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      String r = switch (c) {
        case '&' -> "&amp;";
        case '<' -> "&lt;";
        case '>' -> "&gt;";
        case '"' -> "&quot;";
        case '\'' -> "&#39;";
        default -> null;
      };
      if (r == null) {
        if (sb != null) sb.append(c);
        continue;
      }
      if (sb == null) sb = new StringBuilder(s.length() + 16).append(s, 0, i);
      sb.append(r);
    }
    return sb == null ? s : sb.toString();
  }

  static String page(String title, String body) {
    return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + escapeHtml(title) + "</title></head><body>" + body + "</body></html>";
  }

  /** JSON string literal (the app's few JSON answers). */
  static String js(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    return sb.append('"').toString();
  }

  public static Server start(int port, RiskHubAgent agent) throws Exception {
    Server server = new Server();
    ServerConnector c = new ServerConnector(server);
    c.setHost("127.0.0.1");
    c.setPort(port);
    server.addConnector(c);
    ServletContextHandler ctx = new ServletContextHandler();
    ctx.setContextPath("/");
    Sessions sessions = new Sessions();
    // the app's authentication first (the session cookie), then the agent's filter (README: after your authentication)
    ctx.addFilter(new FilterHolder(sessions), "/*", EnumSet.of(DispatcherType.REQUEST));
    if (agent != null) ctx.addFilter(new FilterHolder(new RiskHubFilter(agent)), "/*", EnumSet.of(DispatcherType.REQUEST));
    ctx.addServlet(new ServletHolder(new Shop(agent, sessions)), "/*");
    ctx.addServlet(new ServletHolder(new Micro()), "/micro/*");
    server.setHandler(ctx);
    server.start();
    return server;
  }

  /** The agent's user: the session's (the app's authentication), else an upstream X-User header (/micro). */
  static RiskHubUser user(HttpServletRequest r) {
    if (r.getAttribute(LOGIN_ATTRIBUTE) instanceof String login) {
      DemoUser u = DEMO_USERS.get(login);
      return RiskHubUser.of(u.id(), Map.of("login", login, "email", u.email()));
    }
    String u = r.getHeader("x-user");
    return u == null ? null : RiskHubUser.of(u);
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    String mode = args.length > 1 ? args[1] : "plain";
    RiskHubAgent agent = switch (mode) {
      case "with-agent" -> RiskHubAgent.start(RiskHubOptions.fromEnvironment().userResolver(ShopApp::user));
      case "skip-all" -> RiskHubAgent.start(RiskHubOptions.fromEnvironment().userResolver(ShopApp::user).skip(r -> true));
      default -> null;
    };
    start(port, agent);
    System.out.println("shop on http://127.0.0.1:" + port + (agent != null ? " with the agent" : " without the agent"));
    RiskHubAgent a = agent;
    if (a != null && System.getenv("SHOP_WATCH_QUEUE") != null) { // prints the queue when it passes half its bound
      Thread w = new Thread(() -> {
        long seen = 0;
        while (true) {
          try {
            Thread.sleep(50);
          } catch (InterruptedException e) {
            return;
          }
          Map<String, Object> st = a.stats();
          long dropped = (long) st.get("droppedQueueFull");
          if ((int) st.get("queued") > 5000 || dropped != seen) System.out.println(System.currentTimeMillis() + " queue " + st.get("queued") + " inFlight " + st.get("inFlight") + " droppedQueueFull " + dropped);
          seen = dropped;
        }
      }, "shop-watch");
      w.setDaemon(true);
      w.start();
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (a != null) System.out.println("agent " + a.stats());
    }));
    Thread.currentThread().join();
  }

  /** Sessions: an opaque token in the sid cookie (or a bearer token) → login, at most MAX_SESSIONS. */
  static final class Sessions implements Filter {
    private final Map<String, String> byToken = new LinkedHashMap<>();

    synchronized String get(String token) {
      return byToken.get(token);
    }

    synchronized void put(String token, String login) {
      if (byToken.size() >= MAX_SESSIONS) {
        Iterator<String> it = byToken.keySet().iterator();
        it.next();
        it.remove();
      }
      byToken.put(token, login);
    }

    synchronized void remove(String token) {
      byToken.remove(token);
    }

    static String cookieToken(HttpServletRequest r) {
      String cookie = r.getHeader("cookie");
      if (cookie == null) return null;
      Matcher m = SID.matcher(cookie);
      return m.find() ? m.group(1) : null;
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
      HttpServletRequest r = (HttpServletRequest) req;
      String auth = r.getHeader("authorization");
      String token = auth != null && auth.startsWith("Bearer ") ? auth.substring(7) : null;
      if (token == null) token = cookieToken(r);
      String login = token == null ? null : get(token);
      if (login != null && DEMO_USERS.containsKey(login)) r.setAttribute(LOGIN_ATTRIBUTE, login);
      chain.doFilter(req, res);
    }
  }

  static final class Shop extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private final transient RiskHubAgent agent;
    private final transient Sessions sessions;
    private final transient SecureRandom random = new SecureRandom();

    Shop(RiskHubAgent agent, Sessions sessions) {
      this.agent = agent;
      this.sessions = sessions;
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String path = req.getRequestURI();
      String method = req.getMethod();
      if (method.equals("GET") && path.equals("/")) {
        home(req, res);
      } else if (method.equals("GET") && path.equals("/search")) {
        search(req, res);
      } else if (method.equals("GET") && path.equals("/files")) {
        files(req, res);
      } else if (method.equals("GET") && path.startsWith("/users/") && path.indexOf('/', 7) < 0 && path.length() > 7) {
        profile(req, res, path.substring(7));
      } else if (method.equals("POST") && path.equals("/login")) {
        login(req, res);
      } else if (method.equals("POST") && path.equals("/logout")) {
        String token = Sessions.cookieToken(req);
        if (token != null) sessions.remove(token);
        res.addHeader("Set-Cookie", "sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        send(res, 200, "application/json", "{\"ok\":true}");
      } else if (method.equals("GET") && path.equals("/healthz")) {
        send(res, 200, "application/json", "{\"ok\":true}");
      } else {
        send(res, 404, "text/html", "<!DOCTYPE html><html><body><pre>Cannot " + escapeHtml(method) + " " + escapeHtml(path) + "</pre></body></html>");
      }
    }

    private void home(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String who = (String) req.getAttribute(LOGIN_ATTRIBUTE);
      send(res, 200, "text/html", page("Demo shop", "<h1>Demo shop</h1>" + (who != null ? "<p>Signed in as " + escapeHtml(who) + "</p>" : "") + "\n"
          + "<form method=\"post\" action=\"/login\"><input name=\"username\" placeholder=\"username\"><input name=\"password\" type=\"password\" placeholder=\"password\"><button>Sign in</button></form>\n"
          + "<form method=\"get\" action=\"/search\"><input name=\"q\" placeholder=\"search products\"><button>Search</button></form>\n"
          + "<p><a href=\"/files?name=readme.txt\">readme.txt</a> · <a href=\"/files?name=report.pdf\">report.pdf</a></p>"));
    }

    private void search(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String q = req.getParameter("q");
      if (q == null) q = "";
      if (q.length() > 200) q = q.substring(0, 200);
      List<String> hits = new ArrayList<>();
      List<String> terms = new ArrayList<>();
      for (String t : SPACES.split(q.toLowerCase(Locale.ROOT))) if (!t.isEmpty()) terms.add(t);
      if (!terms.isEmpty()) {
        for (String p : PRODUCTS) {
          String lower = p.toLowerCase(Locale.ROOT);
          boolean all = true;
          for (String t : terms) all &= lower.contains(t);
          if (all) hits.add(p);
        }
      }
      if (prefersJson(req.getHeader("accept"))) {
        StringBuilder sb = new StringBuilder("{\"q\":").append(js(q)).append(",\"results\":[");
        for (int i = 0; i < hits.size(); i++) sb.append(i > 0 ? "," : "").append(js(hits.get(i)));
        send(res, 200, "application/json", sb.append("]}").toString());
        return;
      }
      StringBuilder items = new StringBuilder();
      for (String h : hits) items.append("<li>").append(escapeHtml(h)).append("</li>");
      send(res, 200, "text/html", page("Search: " + q, "<h1>Results for “" + escapeHtml(q) + "”</h1><ul>" + items + "</ul>"));
    }

    /** req.accepts(['html', 'json']) === 'json': the Accept header ranks JSON above HTML (no header: HTML). */
    static boolean prefersJson(String accept) {
      if (accept == null || accept.isEmpty()) return false;
      double html = -1, json = -1;
      int htmlAt = Integer.MAX_VALUE, jsonAt = Integer.MAX_VALUE, i = 0;
      for (String part : accept.split(",")) {
        String[] p = part.trim().split(";");
        String type = p[0].trim().toLowerCase(Locale.ROOT);
        double qv = 1;
        for (int k = 1; k < p.length; k++) {
          String param = p[k].trim();
          if (param.startsWith("q=")) {
            try {
              qv = Double.parseDouble(param.substring(2));
            } catch (NumberFormatException e) {
              qv = 0;
            }
          }
        }
        boolean any = type.equals("*/*");
        if ((type.equals("text/html") || type.equals("text/*") || any) && qv > html) {
          html = qv;
          htmlAt = Math.min(htmlAt, i);
        }
        if ((type.equals("application/json") || type.equals("application/*") || any) && qv > json) {
          json = qv;
          jsonAt = Math.min(jsonAt, i);
        }
        i++;
      }
      return json > 0 && (json > html || (json == html && jsonAt < htmlAt));
    }

    private void files(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String name = req.getParameter("name");
      DemoFile f = name == null ? null : FILES.get(name);
      if (f == null) {
        send(res, 404, "application/json", "{\"error\":\"no such file\"}");
        return;
      }
      send(res, 200, f.type(), f.body());
    }

    private void profile(HttpServletRequest req, HttpServletResponse res, String rawId) throws IOException {
      String id = java.net.URLDecoder.decode(rawId.replace("+", "%2B"), StandardCharsets.UTF_8);
      if (agent != null) agent.pathParams(req, Map.of("id", id));
      DemoUser found = null;
      for (DemoUser u : DEMO_USERS.values()) if (u.id().equals(id)) found = u;
      if (found == null) {
        send(res, 404, "application/json", "{\"error\":\"no such user\"}");
        return;
      }
      send(res, 200, "application/json", "{\"id\":" + js(id) + ",\"name\":" + js(found.name()) + "}");
    }

    private void login(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String username = req.getParameter("username");
      String password = req.getParameter("password");
      if (username == null) username = "";
      if (password == null) password = "";
      DemoUser user = DEMO_USERS.get(username);
      boolean ok = user != null && MessageDigest.isEqual(sha256(password), user.passwordSha256());
      if (!ok) {
        if (agent != null) agent.trackLogin(req, user != null ? user.id() : username.isEmpty() ? "unknown" : username, false);
        send(res, 401, "application/json", "{\"ok\":false,\"error\":\"invalid username or password\"}");
        return;
      }
      if (agent != null) {
        agent.trackLogin(req, user.id(), true);
        agent.identify(req, RiskHubUser.of(user.id(), Map.of("login", username, "email", user.email())));
      }
      byte[] t = new byte[18];
      random.nextBytes(t);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(t);
      sessions.put(token, username);
      Cookie c = new Cookie("sid", token);
      c.setHttpOnly(true);
      c.setPath("/");
      c.setAttribute("SameSite", "Lax");
      res.addCookie(c);
      send(res, 200, "application/json", "{\"ok\":true,\"user\":" + js(username) + ",\"token\":" + js(token) + "}");
    }
  }

  static void send(HttpServletResponse res, int status, String type, String body) throws IOException {
    res.setStatus(status);
    res.setContentType(type + "; charset=utf-8");
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    res.setContentLength(b.length);
    res.getOutputStream().write(b);
  }

  /** The small handlers bench.sh measured before the shop (its secondary figures). */
  static final class Micro extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
      String path = req.getPathInfo() == null ? "" : req.getPathInfo();
      if (path.equals("/search")) {
        send(res, 200, "text/plain", "results for " + req.getParameter("q"));
      } else if (path.equals("/api/comments")) {
        String body = req.getReader().lines().reduce("", String::concat);
        send(res, 201, "text/plain", "read " + body.length());
      } else if (path.equals("/products")) { // 200 rows rendered (bench.sh's former "page")
        String q = String.valueOf(req.getParameter("q"));
        StringBuilder html = new StringBuilder(32 * 1024).append("<html><body><h1>Results for ").append(q.replace("<", "&lt;")).append("</h1><table>");
        for (int i = 0; i < 200; i++) {
          html.append(String.format("<tr><td>%s %d</td><td>%.2f EUR</td><td>%s</td></tr>", q.replace("<", "&lt;"), i, 9.99 + i * 1.37, Integer.toHexString((q.hashCode() * 31 + i) * 0x9e3779b9)));
        }
        send(res, 200, "text/html", html.append("</table></body></html>").toString());
      } else {
        send(res, 200, "text/plain", "ok");
      }
    }
  }
}
