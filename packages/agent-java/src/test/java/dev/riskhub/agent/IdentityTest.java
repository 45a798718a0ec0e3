package dev.riskhub.agent;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class IdentityTest {
  @Test
  void identifiers() {
    for (String ok : new String[] {"shop", "a", "A.b_c-9", "x".repeat(64), "0abc"}) assertTrue(Identity.validIdentifier(ok), ok);
    for (String bad : new String[] {"", "a/b", "-a", ".a", "_a", "x".repeat(65), "a b", "é", "a\n"}) assertFalse(Identity.validIdentifier(bad), bad);
  }

  @Test
  void problemsInTheServersWords() {
    assertNull(Identity.problem("shop", "production", "u-1"));
    assertTrue(Identity.problem("a/b", "production", "u").startsWith("application_id \"a/b\" must match"));
    assertTrue(Identity.problem("shop", "", "u").startsWith("environment \"\" must match"));
    assertEquals("user.key must be a non-blank string", Identity.problem("shop", "prod", "  "));
    assertEquals("user.key is 257 bytes of UTF-8, above the limit of 256", Identity.problem("shop", "prod", "a".repeat(257)));
    assertNull(Identity.problem("shop", "prod", "é".repeat(128)));
  }

  @Test
  void utf8LengthsAndCuts() {
    assertEquals(4, Identity.utf8Length("😀"));
    assertEquals(3, Identity.utf8Length("\ud800"));
    assertEquals("a", Identity.truncateUtf8("a😀", 4));
    assertEquals("aé", Identity.truncateUtf8("aéé", 4));
  }

  /** The same hashed form as the Node agent (values printed by packages/agent/src/user.ts). */
  @Test
  void longKeysAreHashedLikeTheNodeAgent() {
    assertEquals("a".repeat(128) + "…sha256:e8d95cc2b4bc198c54b40bd214df958afb65f5e73d2c2eafe0593cf5c635c1f0", Identity.hashedUserKey("a".repeat(257)));
    assertEquals("é".repeat(64) + "…sha256:b6898c60bd479141bf532586268565a5e8707cb771343cc2c673f22b1062f343", Identity.hashedUserKey("é".repeat(100) + "x".repeat(100)));
    assertEquals("a".repeat(256), Identity.hashedUserKey("a".repeat(256)));
  }

  /** test/vectors/identity.json (shared by every agent): [{application_id, environment, user_key, valid, problem?}]. */
  @Test
  @SuppressWarnings("unchecked")
  void sharedIdentityVectors() throws Exception {
    Path file = Vectors.file("identity.json");
    Assumptions.assumeTrue(file != null, "test/vectors/identity.json is not in this checkout yet");
    List<Map<String, Object>> vectors = (List<Map<String, Object>>) Json.parse(Files.readString(file));
    assertFalse(vectors.isEmpty());
    for (Map<String, Object> v : vectors) {
      String problem = Identity.problem((String) v.get("application_id"), (String) v.get("environment"), (String) v.get("user_key"));
      boolean valid = Boolean.TRUE.equals(v.get("valid"));
      assertEquals(valid, problem == null, () -> "vector " + Json.write(v) + " gave " + problem);
      if (!valid && v.get("problem") instanceof String expected) {
        assertEquals(expected, problem, () -> "vector " + Json.write(v));
      }
    }
  }
}
