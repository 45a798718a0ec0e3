package dev.riskhub.agent;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The identity rules and size limits of the producer contract (docs/agents.md "Identity" and "Limits"),
 * ported from src/identity.ts and packages/agent/src/user.ts: the same pattern, the same bounds, the
 * same hashed form of a long user key, so that one user is one user whichever agent saw them.
 */
public final class Identity {
  private Identity() {}

  /** application_id and environment: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit. */
  public static final Pattern IDENTIFIER_PATTERN = Pattern.compile("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  /** Most UTF-8 bytes of a user key. */
  public static final int MAX_USER_KEY_BYTES = 256;
  /** UTF-8 bytes of a long key kept readable in front of its hash. */
  public static final int HASHED_KEY_PREFIX_BYTES = 128;
  /** What separates that prefix from the hash. */
  public static final String HASHED_KEY_MARK = "\u2026sha256:";
  public static final int MAX_IDENTIFIERS = 16;
  public static final int MAX_IDENTIFIER_NAME_BYTES = 64;
  public static final int MAX_IDENTIFIER_VALUE_BYTES = 256;
  /** Most UTF-8 bytes of a custom event's type. */
  public static final int MAX_TYPE_BYTES = 64;

  /** True when {@code s} may be an application_id or an environment. */
  public static boolean validIdentifier(String s) {
    return s != null && IDENTIFIER_PATTERN.matcher(s).matches();
  }

  /**
   * Why (application_id, environment, user key) is not a valid identity, in the words of src/identity.ts;
   * null when it is valid.
   */
  public static String problem(String applicationId, String environment, String userKey) {
    if (!validIdentifier(applicationId)) {
      return "application_id " + describe(applicationId) + " must match " + IDENTIFIER_PATTERN.pattern() + " (1-64 letters, digits, '.', '_', '-'; no '/')";
    }
    if (!validIdentifier(environment)) {
      return "environment " + describe(environment) + " must match " + IDENTIFIER_PATTERN.pattern() + " (1-64 letters, digits, '.', '_', '-'; no '/')";
    }
    if (userKey == null || userKey.isBlank()) return "user.key must be a non-blank string";
    int bytes = utf8Length(userKey);
    if (bytes > MAX_USER_KEY_BYTES) return "user.key is " + bytes + " bytes of UTF-8, above the limit of " + MAX_USER_KEY_BYTES;
    return null;
  }

  /** UTF-8 length; a lone surrogate counts 3 bytes (its U+FFFD replacement). */
  public static int utf8Length(String s) {
    int n = s.length();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) n += 1;
      else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 2;
        i++;
      } else n += 2;
    }
    return n;
  }

  /** {@code s} cut to at most {@code maxBytes} bytes of UTF-8, never inside a character. */
  public static String truncateUtf8(String s, int maxBytes) {
    if ((long) s.length() * 3 <= maxBytes) return s;
    int bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean pair = Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
      int n = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
      if (bytes + n > maxBytes) return s.substring(0, i);
      bytes += n;
      if (pair) i++;
    }
    return s;
  }

  /**
   * The key itself when it fits in 256 bytes; else its first 128 bytes + "…sha256:" + hex SHA-256 of
   * its UTF-8 (at most 202 bytes), as the Node agent does: never refused (an attacker chooses the login
   * tried), never cut (two long logins would merge).
   */
  public static String hashedUserKey(String key) {
    if (utf8Length(key) <= MAX_USER_KEY_BYTES) return key;
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
      return truncateUtf8(key, HASHED_KEY_PREFIX_BYTES) + HASHED_KEY_MARK + HexFormat.of().formatHex(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e); // every JDK has SHA-256
    }
  }

  private static String describe(String v) {
    if (v == null) return "null";
    StringBuilder sb = new StringBuilder();
    Json.string(sb, v.length() > 80 ? v.substring(0, 80) + "\u2026" : v);
    return sb.toString();
  }
}
