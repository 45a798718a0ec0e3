package dev.riskhub.agent;

import jakarta.servlet.http.HttpServletRequest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a request event carries (docs/relay-protocol.md): method, uri, ip, lower-cased headers without
 * cookie and authorization, the parsed query (name → list), the parsed JSON or form body (bounded), the
 * route parameters, the parsed cookies. Every part is bounded; malformed input is read as well as it
 * can be (invalid percent-encodings kept, invalid UTF-8 replaced), never thrown back at the application.
 */
final class RequestReader {
  private RequestReader() {}

  /** Most headers, query parameters, cookies and form fields kept per request. */
  static final int MAX_ENTRIES = 256;
  /** Most UTF-8 bytes of a header, query, cookie or form value (the body's strings too). */
  static final int MAX_VALUE_BYTES = 16 * 1024;

  /** {method, uri, ip}: the request of a login, custom or enforcement event. */
  static Map<String, Object> summary(HttpServletRequest r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("method", Identity.truncateUtf8(String.valueOf(r.getMethod()), 16));
    m.put("uri", Identity.truncateUtf8(uri(r), 2048));
    m.put("ip", ip(r.getRemoteAddr()));
    return m;
  }

  static String uri(HttpServletRequest r) {
    String q = r.getQueryString();
    String path = r.getRequestURI();
    if (path == null) path = "/";
    return q == null ? path : path + "?" + q;
  }

  /** The client address, IPv4-mapped IPv6 written as IPv4 and brackets removed (as the Node agent). */
  static String ip(String addr) {
    if (addr == null || addr.isEmpty()) return null;
    String a = addr;
    if (a.startsWith("[") && a.endsWith("]")) a = a.substring(1, a.length() - 1);
    if (a.regionMatches(true, 0, "::ffff:", 0, 7) && a.indexOf('.') > 0) a = a.substring(7);
    return Identity.truncateUtf8(a, 64);
  }

  /** The full request of a request event. {@code body} is the parsed body or null. */
  static Map<String, Object> full(HttpServletRequest r, Object body) {
    return capture(r, body).build();
  }

  /**
   * What the request thread keeps of a request for its event: the container's strings (references;
   * the request object is recycled after the response, its strings are not), nothing parsed. The
   * sender thread builds the event's request from it ({@link #build}).
   */
  static Captured capture(HttpServletRequest r, Object body) {
    Captured c = new Captured();
    c.method = r.getMethod();
    c.uri = uri(r);
    c.remoteAddr = r.getRemoteAddr();
    c.queryString = r.getQueryString();
    c.body = body;
    c.pathParams = r.getAttribute(RiskHubAgent.PATH_PARAMS_ATTRIBUTE);
    Enumeration<String> names = r.getHeaderNames();
    List<String> pairs = new ArrayList<>(32);
    while (names != null && names.hasMoreElements()) {
      String name = names.nextElement();
      if (name.equalsIgnoreCase("cookie")) {
        c.cookieHeader = join(r.getHeaders(name), "; ");
      } else if (!name.equalsIgnoreCase("authorization")) {
        pairs.add(name);
        pairs.add(join(r.getHeaders(name), ", "));
      }
    }
    c.headers = pairs;
    return c;
  }

  /** A request as its thread left it; {@link #build} makes the relay's request object (sender thread). */
  static final class Captured {
    String method;
    String uri;
    String remoteAddr;
    String queryString;
    String cookieHeader;
    /** name, value, name, value… in the container's order, without cookie and authorization */
    List<String> headers;
    Object pathParams;
    /** the parsed body, a {@link JsonText} to parse, or null */
    Object body;

    Map<String, Object> build() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", Identity.truncateUtf8(String.valueOf(method), 16));
      m.put("uri", Identity.truncateUtf8(uri, 2048));
      m.put("ip", ip(remoteAddr));
      Map<String, Object> h = new LinkedHashMap<>();
      for (int i = 0; i < headers.size(); i += 2) {
        if (h.size() >= MAX_ENTRIES) continue;
        h.merge(headers.get(i).toLowerCase(Locale.ROOT), bound(headers.get(i + 1)), (a, b) -> a + ", " + b);
      }
      m.put("headers", h);
      m.put("query", parseQuery(queryString));
      m.put("body", body instanceof JsonText t ? t.parse() : body);
      m.put("path_params", pathParams instanceof Map<?, ?> p ? p : new LinkedHashMap<>());
      m.put("cookies", parseCookies(cookieHeader));
      return m;
    }
  }

  /** A JSON body kept as text on the request thread and parsed on the sender (null when it is not JSON). */
  record JsonText(String text, int maxDepth, int maxString) {
    Object parse() {
      try {
        return Json.parse(text, maxDepth, maxString);
      } catch (Json.ParseException e) {
        return null; // not JSON: nothing to inspect in it
      }
    }
  }

  private static String join(Enumeration<String> values, String sep) {
    if (values == null || !values.hasMoreElements()) return "";
    String first = values.nextElement();
    if (first != null && !values.hasMoreElements()) return first; // one value (nearly every header): no copy
    StringBuilder sb = new StringBuilder();
    sb.append(first);
    while (values.hasMoreElements()) {
      if (sb.length() > 0) sb.append(sep);
      sb.append(values.nextElement());
    }
    return sb.toString();
  }

  static String bound(String s) {
    return Identity.truncateUtf8(s, MAX_VALUE_BYTES);
  }

  /** a=1&a=2&b → {a: [1, 2], b: [""]}; '+' is a space; at most MAX_ENTRIES values. */
  static Map<String, List<String>> parseQuery(String q) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    if (q == null || q.isEmpty()) return out;
    int count = 0;
    for (String part : q.split("&", -1)) {
      if (part.isEmpty()) continue;
      if (++count > MAX_ENTRIES) break;
      int eq = part.indexOf('=');
      String name = decode(eq < 0 ? part : part.substring(0, eq), true);
      String value = eq < 0 ? "" : decode(part.substring(eq + 1), true);
      out.computeIfAbsent(bound(name), k -> new ArrayList<>()).add(bound(value));
    }
    return out;
  }

  /** A form body as Express's urlencoded parser gives it: a repeated name becomes a list. */
  static Map<String, Object> formBody(Map<String, List<String>> fields) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, List<String>> e : fields.entrySet()) {
      List<String> v = e.getValue();
      out.put(e.getKey(), v.size() == 1 ? v.get(0) : v);
    }
    return out;
  }

  /** Cookie: a=1; b="2" → {a: "1", b: "2"} (the first of a repeated name, as the cookie package). */
  static Map<String, String> parseCookies(String header) {
    Map<String, String> out = new LinkedHashMap<>();
    if (header == null || header.isEmpty()) return out;
    for (String part : header.split(";")) {
      if (out.size() >= MAX_ENTRIES) break;
      int eq = part.indexOf('=');
      if (eq < 0) continue;
      String name = part.substring(0, eq).trim();
      String value = part.substring(eq + 1).trim();
      if (name.isEmpty()) continue;
      if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) value = value.substring(1, value.length() - 1);
      out.putIfAbsent(bound(name), bound(value.indexOf('%') >= 0 ? decode(value, false) : value));
    }
    return out;
  }

  /**
   * Percent-decoding that never throws: a '%' not followed by two hex digits stays as it is, bytes that
   * are not UTF-8 become U+FFFD.
   */
  static String decode(String s, boolean plusIsSpace) {
    if (s.indexOf('%') < 0 && (!plusIsSpace || s.indexOf('+') < 0)) return s;
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%' && i + 2 < s.length() && hex(s.charAt(i + 1)) >= 0 && hex(s.charAt(i + 2)) >= 0) {
        bytes.write(hex(s.charAt(i + 1)) * 16 + hex(s.charAt(i + 2)));
        i += 2;
      } else if (c == '+' && plusIsSpace) {
        bytes.write(' ');
      } else if (c < 0x80) {
        bytes.write(c);
      } else {
        int end = i + 1;
        if (Character.isHighSurrogate(c) && end < s.length() && Character.isLowSurrogate(s.charAt(end))) end++;
        bytes.writeBytes(s.substring(i, end).getBytes(StandardCharsets.UTF_8));
        i = end - 1;
      }
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }

  private static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
}
