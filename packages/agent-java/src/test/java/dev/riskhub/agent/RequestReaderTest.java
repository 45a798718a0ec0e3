package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequestReaderTest {
  @Test
  void queriesAreParsedToLists() {
    assertEquals(Map.of("q", List.of("' OR 1=1--")), RequestReader.parseQuery("q=%27%20OR%201%3D1--"));
    assertEquals(Map.of("a", List.of("1", "2"), "b", List.of(""), "c d", List.of("e f")), RequestReader.parseQuery("a=1&a=2&b&c+d=e%20f&"));
    assertEquals(Map.of(), RequestReader.parseQuery(null));
  }

  @Test
  void badEncodingsAreReadNotThrown() {
    assertEquals("100%", RequestReader.decode("100%", true));
    assertEquals("%zz", RequestReader.decode("%zz", true));
    assertEquals("\ufffd", RequestReader.decode("%ff", true));
    assertEquals("é", RequestReader.decode("%C3%A9", true));
    assertEquals("é+", RequestReader.decode("é+", false));
  }

  @Test
  void formsBecomeStringsOrLists() {
    assertEquals(Map.of("a", "1", "b", List.of("2", "3")), RequestReader.formBody(RequestReader.parseQuery("a=1&b=2&b=3")));
  }

  @Test
  void cookies() {
    assertEquals(Map.of("sid", "abc", "q", "' OR 1=1", "x", "y"), RequestReader.parseCookies("sid=abc; q=%27%20OR%201%3D1;x=\"y\"; broken; sid=second"));
  }

  @Test
  void addresses() {
    assertEquals("203.0.113.9", RequestReader.ip("::ffff:203.0.113.9"));
    assertEquals("::1", RequestReader.ip("[::1]"));
    assertNull(RequestReader.ip(null));
  }
}
