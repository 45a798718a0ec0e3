package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void writesAndReadsBack() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("s", "a\"b\\c\n\u0001é😀");
    m.put("n", 42L);
    m.put("d", 1.5);
    m.put("b", true);
    m.put("z", null);
    m.put("l", List.of(1L, "x"));
    m.put("__proto__", Map.of("k", "v"));
    String json = Json.write(m);
    assertEquals("{\"s\":\"a\\\"b\\\\c\\n\\u0001é😀\",\"n\":42,\"d\":1.5,\"b\":true,\"z\":null,\"l\":[1,\"x\"],\"__proto__\":{\"k\":\"v\"}}", json);
    assertEquals(m, Json.parse(json));
  }

  @Test
  void theSendersUtf8WriterWritesTheSameJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("s", "a\"b\\c\n\r\t\u0001\u001fé€😀\u2028\u2029\ud800x\udc00" + "\u0000".repeat(50) + "z".repeat(100));
    m.put("n", List.of(1L, -2, 1.5, 3.0, true, false));
    m.put("nested", Map.of("k", List.of(Map.of())));
    m.put("z", null);
    for (int cap : new int[] {1, 16, 4096}) { // growth at every point
      Utf8Json w = new Utf8Json(cap);
      w.raw("[");
      w.value(m);
      w.raw("]");
      assertEquals("[" + Json.write(m) + "]", new String(w.buf, 0, w.len, java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  @Test
  void escapesLoneSurrogatesSoTheOutputIsValidUtf8() {
    assertEquals("\"\\ud800x\\udc00\"", Json.write("\ud800x\udc00"));
  }

  @Test
  void boundsDepthWithoutRecursingIntoDeepInput() {
    String deep = "[".repeat(200_000) + "]".repeat(200_000);
    assertNull(Json.parse(deep, 20, 16384) instanceof List<?> l ? nested(l, 20) : "not a list");
    Object v = Json.parse("{\"a\":{\"b\":{\"c\":[1]}}}", 2, 100);
    @SuppressWarnings("unchecked") Map<String, Object> a = (Map<String, Object>) ((Map<String, Object>) v).get("a");
    assertTrue(a.containsKey("b"));
    assertNull(a.get("b"), "a container deeper than the bound becomes null");
  }

  private static Object nested(List<?> l, int levels) {
    Object cur = l;
    for (int i = 1; i < levels; i++) cur = ((List<?>) cur).get(0);
    return ((List<?>) cur).get(0);
  }

  @Test
  void cutsLongStringsAtACharacterBoundary() {
    String s = "é".repeat(10_000); // 20,000 bytes
    String cut = (String) Json.parse("\"" + s + "\"", 20, 16 * 1024);
    assertEquals(8192, cut.length());
    String emoji = (String) Json.parse("\"a😀\"", 20, 3);
    assertEquals("a", emoji);
  }

  @Test
  void rejectsWhatIsNotJson() {
    for (String bad : new String[] {"", "{", "{\"a\"}", "[1,]", "tru", "\"\\x\"", "1 2", "{\"a\":1,}", "\"\u0001\""}) {
      assertThrows(Json.ParseException.class, () -> Json.parse(bad, 20, 100), bad);
    }
  }
}
