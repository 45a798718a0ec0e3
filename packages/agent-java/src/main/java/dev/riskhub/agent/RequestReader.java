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
   * sender thread writes the event's request from it ({@link Captured#write}).
   */
  static Captured capture(HttpServletRequest r, Object body) {
    Captured c = new Captured();
    c.method = r.getMethod();
    String path = r.getRequestURI();
    c.path = path == null ? "/" : path;
    c.queryString = r.getQueryString();
    c.remoteAddr = r.getRemoteAddr();
    c.body = body;
    c.pathParams = r.getAttribute(RiskHubAgent.PATH_PARAMS_ATTRIBUTE);
    Enumeration<String> names = r.getHeaderNames();
    List<String> pairs = new ArrayList<>(24);
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

  /**
   * A request event as its thread left it (queued as it is): when it happened, its user, and the
   * request's pieces. The sender thread writes the relay's request object from it, straight into the
   * POST's bytes ({@link #write}); {@link #build} makes the same object as maps.
   */
  static final class Captured {
    long at;
    /** the event id's bits, drawn by the sender when it first writes the event (EventIds) */
    long idHi, idLo;
    boolean hasId;
    RiskHubUser user;
    String method;
    String path;
    /** the raw query string, or null */
    String queryString;
    String remoteAddr;
    String cookieHeader;
    /** name, value, name, value… in the container's order, without cookie and authorization */
    List<String> headers;
    Object pathParams;
    /** the parsed body, a {@link JsonText} to parse, or null */
    Object body;

    String uri() {
      return queryString == null ? path : path + "?" + queryString;
    }

    Map<String, Object> build() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", Identity.truncateUtf8(String.valueOf(method), 16));
      m.put("uri", Identity.truncateUtf8(uri(), 2048));
      m.put("ip", ip(remoteAddr));
      m.put("headers", headerMap());
      m.put("query", parseQuery(queryString));
      m.put("body", body instanceof JsonText t ? t.parse() : body);
      m.put("path_params", pathParams instanceof Map<?, ?> p ? p : new LinkedHashMap<>());
      m.put("cookies", parseCookies(cookieHeader));
      return m;
    }

    /** {method, uri, ip}: what is sure when the request cannot be read. */
    Map<String, Object> summary() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("method", Identity.truncateUtf8(String.valueOf(method), 16));
      m.put("uri", Identity.truncateUtf8(String.valueOf(uri()), 2048));
      m.put("ip", ip(remoteAddr));
      return m;
    }

    private Map<String, Object> headerMap() {
      Map<String, Object> h = new LinkedHashMap<>();
      for (int i = 0; i < headers.size(); i += 2) {
        if (h.size() >= MAX_ENTRIES) continue;
        h.merge(headers.get(i).toLowerCase(Locale.ROOT), bound(headers.get(i + 1)), (a, b) -> a + ", " + b);
      }
      return h;
    }

    /**
     * The relay's request object written as JSON into {@code out}: the same bytes as
     * {@code out.value(build())}, without the maps, lists and copies (the common shapes are written as
     * they are read; a shape they do not cover, such as a header name repeated in another case or more
     * than {@link #FEW} query parameters or cookies, goes through the maps).
     */
    void write(Utf8Json out) {
      out.raw("{\"method\":");
      out.string(Identity.truncateUtf8(String.valueOf(method), 16));
      out.raw(",\"uri\":");
      if (queryString == null) out.string(Identity.truncateUtf8(path, 2048));
      else if ((long) (path.length() + 1 + queryString.length()) * 3 <= 2048) out.string(path, '?', queryString);
      else out.string(Identity.truncateUtf8(uri(), 2048));
      out.raw(",\"ip\":");
      out.value(ip(remoteAddr));
      out.raw(",\"headers\":");
      writeHeaders(out);
      out.raw(",\"query\":");
      writeQuery(out);
      out.raw(",\"body\":");
      out.value(body instanceof JsonText t ? t.parse() : body);
      out.raw(",\"path_params\":");
      if (pathParams instanceof Map<?, ?> p) out.value(p);
      else out.raw("{}");
      out.raw(",\"cookies\":");
      writeCookies(out);
      out.raw('}');
    }

    /** Most headers, query parameters or cookies written directly (duplicates are looked for pairwise). */
    static final int FEW = 32;

    private void writeHeaders(Utf8Json out) {
      int n = headers.size();
      if (n > 2 * FEW) {
        out.value(headerMap());
        return;
      }
      int start = out.len;
      int[] names = out.ints(2 * FEW); // where each name's bytes are in the buffer
      out.raw('{');
      for (int i = 0, k = 0; i < n; i += 2, k++) {
        if (i > 0) out.raw(',');
        int from = out.len;
        // lower-cased as it is written; beyond ASCII, or a name met before in another case (the maps merge
        // them): written again through the maps
        boolean ascii = out.lowerAsciiString(headers.get(i));
        int to = out.len;
        for (int j = 0; j < k && ascii; j++) ascii = !out.same(names[2 * j], names[2 * j + 1], from, to);
        if (!ascii) {
          out.len = start;
          out.value(headerMap());
          return;
        }
        names[2 * k] = from;
        names[2 * k + 1] = to;
        out.raw(':');
        out.string(bound(headers.get(i + 1)));
      }
      out.raw('}');
    }

    private void writeQuery(Utf8Json out) {
      String q = queryString;
      if (q == null || q.isEmpty()) {
        out.raw("{}");
        return;
      }
      String[] names = out.strings(0, FEW); // the writer's own arrays: nothing allocated per event
      String[] values = out.strings(1, FEW);
      int count = 0;
      int len = q.length();
      for (int start = 0; start <= len; ) {
        int end = q.indexOf('&', start);
        if (end < 0) end = len;
        if (end > start) {
          if (count == FEW) {
            out.value(parseQuery(q));
            return;
          }
          int eq = q.indexOf('=', start);
          if (eq < 0 || eq >= end) {
            names[count] = bound(decode(q.substring(start, end), true));
            values[count] = "";
          } else {
            names[count] = bound(decode(q.substring(start, eq), true));
            values[count] = bound(decode(q.substring(eq + 1, end), true));
          }
          count++;
        }
        start = end + 1;
      }
      // name → [values…] in the order names first appear (a LinkedHashMap of lists)
      out.raw('{');
      boolean firstName = true;
      for (int i = 0; i < count; i++) {
        String name = names[i];
        boolean seen = false;
        for (int j = 0; j < i && !seen; j++) seen = names[j].equals(name);
        if (seen) continue;
        if (!firstName) out.raw(',');
        firstName = false;
        out.string(name);
        out.raw(":[");
        out.string(values[i]);
        for (int k = i + 1; k < count; k++) {
          if (names[k].equals(name)) {
            out.raw(',');
            out.string(values[k]);
          }
        }
        out.raw(']');
      }
      out.raw('}');
    }

    private void writeCookies(Utf8Json out) {
      String h = cookieHeader;
      if (h == null || h.isEmpty()) {
        out.raw("{}");
        return;
      }
      String[] names = out.strings(0, FEW); // the writer's own arrays: nothing allocated per event
      String[] values = out.strings(1, FEW);
      int count = 0;
      int len = h.length();
      for (int start = 0; start < len; ) {
        int end = h.indexOf(';', start);
        if (end < 0) end = len;
        int eq = h.indexOf('=', start);
        if (eq >= 0 && eq < end) {
          // trim() of name and value: characters up to U+0020 at either end
          int ns = start, ne = eq, vs = eq + 1, ve = end;
          while (ns < ne && h.charAt(ns) <= ' ') ns++;
          while (ne > ns && h.charAt(ne - 1) <= ' ') ne--;
          while (vs < ve && h.charAt(vs) <= ' ') vs++;
          while (ve > vs && h.charAt(ve - 1) <= ' ') ve--;
          if (ne > ns) {
            if (ve - vs >= 2 && h.charAt(vs) == '"' && h.charAt(ve - 1) == '"') {
              vs++;
              ve--;
            }
            String name = bound(h.substring(ns, ne));
            boolean seen = false;
            for (int j = 0; j < count && !seen; j++) seen = names[j].equals(name);
            if (!seen) { // the first of a repeated name
              if (count == FEW) {
                out.value(parseCookies(h));
                return;
              }
              String value = h.substring(vs, ve);
              names[count] = name;
              values[count] = bound(value.indexOf('%') >= 0 ? decode(value, false) : value);
              count++;
            }
          }
        }
        start = end + 1;
      }
      out.raw('{');
      for (int i = 0; i < count; i++) {
        if (i > 0) out.raw(',');
        out.string(names[i]);
        out.raw(':');
        out.string(values[i]);
      }
      out.raw('}');
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
    if (s.indexOf('%') < 0) {
      if (!plusIsSpace || s.indexOf('+') < 0) return s;
      boolean surrogate = false;
      for (int i = 0; i < s.length() && !surrogate; i++) surrogate = Character.isSurrogate(s.charAt(i));
      if (!surrogate) return s.replace('+', ' '); // what the bytes below give back when no surrogate is in it
    }
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
