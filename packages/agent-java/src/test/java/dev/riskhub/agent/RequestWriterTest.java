package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The sender writes a request event straight into the POST's bytes (RequestReader.Captured.write): the
 * bytes must be those of the maps the agent built before (Utf8Json.value(build())), for ordinary requests
 * and for every shape the direct writer hands back to the maps.
 */
class RequestWriterTest {
  static RequestReader.Captured captured(String method, String path, String query, String ip, String cookies, Object pathParams, Object body, String... headers) {
    RequestReader.Captured c = new RequestReader.Captured();
    c.method = method;
    c.path = path;
    c.queryString = query;
    c.remoteAddr = ip;
    c.cookieHeader = cookies;
    c.pathParams = pathParams;
    c.body = body;
    c.headers = new ArrayList<>(List.of(headers));
    return c;
  }

  static String direct(RequestReader.Captured c) {
    Utf8Json out = new Utf8Json(16);
    c.write(out);
    return new String(out.buf, 0, out.len, StandardCharsets.UTF_8);
  }

  static String viaMaps(RequestReader.Captured c) {
    Utf8Json out = new Utf8Json(16);
    out.value(c.build());
    return new String(out.buf, 0, out.len, StandardCharsets.UTF_8);
  }

  static void same(RequestReader.Captured c) {
    Utf8Json a = new Utf8Json(16);
    c.write(a);
    Utf8Json b = new Utf8Json(16);
    b.value(c.build());
    assertArrayEquals(java.util.Arrays.copyOf(b.buf, b.len), java.util.Arrays.copyOf(a.buf, a.len), () -> "maps: " + viaMaps(c) + "\ndirect: " + direct(c));
  }

  @Test
  void anOrdinaryRequestIsWrittenAsTheMapsWere() {
    RequestReader.Captured c = captured("GET", "/search", "q=red+running&page=2", "127.0.0.1", "theme=dark; sid=s1x7919", null, null,
        "Host", "127.0.0.1:8080", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "Accept", "text/html", "Referer", "http://127.0.0.1:8080/");
    same(c);
    Map<String, Object> m = (Map<String, Object>) Json.parse(direct(c));
    assertEquals("/search?q=red+running&page=2", m.get("uri"));
    assertEquals(Map.of("q", List.of("red running"), "page", List.of("2")), m.get("query"));
    assertEquals(Map.of("theme", "dark", "sid", "s1x7919"), m.get("cookies"));
    assertEquals("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", ((Map<?, ?>) m.get("headers")).get("user-agent"));
  }

  @Test
  void unusualShapesAreWrittenAsTheMapsWere() {
    String big = "é".repeat(9000); // over 16 KiB of UTF-8: cut
    same(captured(null, "/", null, null, null, "not a map", null));
    same(captured("POST", "/c", "", "::ffff:203.0.113.9", "", Map.of("id", "42"), new RequestReader.JsonText("{\"a\":[1,2,{\"b\":null}]}", 20, 16384), "Content-Type", "application/json"));
    same(captured("POST", "/c", null, "[::1]", null, new LinkedHashMap<>(), new RequestReader.JsonText("not json", 20, 16384)));
    same(captured("POST", "/f", "a=1", "1.2.3.4", null, null, Map.of("a", "1", "b", List.of("2", "3"))));
    // headers: a name in two cases (merged), beyond ASCII, escapes, a long value, many headers
    same(captured("GET", "/", null, "1.2.3.4", null, null, null, "X-A", "1", "x-a", "2", "Host", "h"));
    same(captured("GET", "/", null, "1.2.3.4", null, null, null, "X-\u0130", "1", "Host", "h"));
    same(captured("GET", "/", null, "1.2.3.4", null, null, null, "X-\"Q\"\\\t", "v\u0001\u2028\ud800", "Big", big));
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      many.add("X-H" + i);
      many.add("v" + i);
    }
    RequestReader.Captured c = captured("GET", "/", null, "1.2.3.4", null, null, null);
    c.headers = many;
    same(c);
    // queries: repeated names, bad encodings, empty parts, '=' without a name, '+' with a lone surrogate, many parameters
    for (String q : new String[] {"a=1&a=2&b&c+d=e%20f&", "&&", "=x&a==b&%zz=%ff&%C3%A9=%e2%82%ac", "q=\ud800+x", "q=\ud83d\ude00+x",
        "q=" + big + "&q=" + big + "x", "a=1&b=2&a=3&c=4&b=5"}) {
      same(captured("GET", "/s", q, "1.2.3.4", null, null, null));
    }
    StringBuilder mq = new StringBuilder();
    for (int i = 0; i < 300; i++) mq.append("p").append(i % 40).append('=').append(i).append('&');
    same(captured("GET", "/s", mq.toString(), "1.2.3.4", null, null, null));
    // cookies: the first of a repeated name, quotes, blanks, percent-encoding, no '=', many cookies
    for (String k : new String[] {"sid=abc; q=%27%20OR%201%3D1;x=\"y\"; broken; sid=second", " = x; a=\"\"; b=\"; \t c \t= d \t", ";;;", "a=%ff%zz",
        "n=" + big + "; n=" + big + "z"}) {
      same(captured("GET", "/", null, "1.2.3.4", k, null, null));
    }
    StringBuilder mc = new StringBuilder();
    for (int i = 0; i < 300; i++) mc.append("c").append(i).append('=').append(i).append("; ");
    same(captured("GET", "/", null, "1.2.3.4", mc.toString(), null, null));
    // uris: long, multi-byte, a path ending in a high surrogate, a query of exactly the bound
    same(captured("GET", "/" + "é".repeat(1500), "q=1", "1.2.3.4", null, null, null));
    same(captured("GET", "/x\ud83d", "\ude00=1", "1.2.3.4", null, null, null));
    same(captured("GET", "/" + "a".repeat(340), "b".repeat(341), "1.2.3.4", null, null, null));
    same(captured("GET", "/" + "a".repeat(340), "b".repeat(342), "1.2.3.4", null, null, null));
  }

  @Test
  void randomRequestsAreWrittenAsTheMapsWere() {
    Random rnd = new Random(16);
    String[] pieces = {"a", "B", "=", "&", ";", "%", "%2", "%41", "%zz", "%c3%a9", "+", " ", "\t", "\"", "\\", "é", "\u2028", "\ud83d\ude00", "\ud800", "\u0001", "sid", "Q"};
    for (int n = 0; n < 2000; n++) {
      List<String> headers = new ArrayList<>();
      int h = rnd.nextInt(6);
      for (int i = 0; i < h; i++) {
        headers.add(random(rnd, pieces, 1 + rnd.nextInt(3)));
        headers.add(random(rnd, pieces, rnd.nextInt(6)));
      }
      RequestReader.Captured c = captured(rnd.nextBoolean() ? "GET" : random(rnd, pieces, 3), "/" + random(rnd, pieces, rnd.nextInt(5)),
          rnd.nextInt(4) == 0 ? null : random(rnd, pieces, rnd.nextInt(12)), "10.0.0." + n,
          rnd.nextInt(4) == 0 ? null : random(rnd, pieces, rnd.nextInt(12)), null, null);
      c.headers = headers;
      same(c);
    }
  }

  private static String random(Random rnd, String[] pieces, int n) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) sb.append(pieces[rnd.nextInt(pieces.length)]);
    return sb.toString();
  }

  @Test
  void usersAndIdsAreWrittenAsBefore() {
    for (RiskHubUser u : new RiskHubUser[] {RiskHubUser.of("u-1"), RiskHubUser.of("u-\u00e9\"", Map.of("email", "a@b.c", "login", "a\u2028"))}) {
      Utf8Json a = new Utf8Json(8);
      RiskHubAgent.writeUser(a, u);
      Utf8Json b = new Utf8Json(8);
      b.value(u.toJson());
      assertEquals(new String(b.buf, 0, b.len, StandardCharsets.UTF_8), new String(a.buf, 0, a.len, StandardCharsets.UTF_8));
    }
    Random rnd = new Random(4);
    for (int i = 0; i < 1000; i++) {
      long hi = rnd.nextLong(), lo = rnd.nextLong();
      Utf8Json out = new Utf8Json(8);
      out.uuid(hi, lo);
      String s = new String(out.buf, 0, out.len, StandardCharsets.US_ASCII);
      UUID expected = new UUID((hi & ~0xf000L) | 0x4000L, (lo & 0x3fffffffffffffffL) | 0x8000000000000000L);
      assertEquals("\"" + expected + "\"", s);
      assertEquals(4, expected.version());
      assertEquals(2, expected.variant());
    }
    for (long v : new long[] {0, 7, 10, 1764763200000L, -1, Long.MAX_VALUE, Long.MIN_VALUE}) {
      Utf8Json out = new Utf8Json(1);
      out.number(v);
      assertEquals(Long.toString(v), new String(out.buf, 0, out.len, StandardCharsets.US_ASCII));
    }
  }
}
