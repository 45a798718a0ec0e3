package dev.riskhub.agent;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON written straight to UTF-8 bytes in one growable buffer: the sender's POST body, with no
 * String copy, no second pass to count bytes, no encoding step in the HTTP client. Same output as
 * {@link Json#write} (control characters, U+2028/2029 and lone surrogates escaped).
 */
final class Utf8Json {
  byte[] buf;
  int len;

  Utf8Json(int capacity) {
    buf = new byte[capacity];
  }

  private void room(int n) {
    if (len + n > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
  }

  void raw(String ascii) {
    int n = ascii.length();
    room(n);
    for (int i = 0; i < n; i++) buf[len++] = (byte) ascii.charAt(i);
  }

  void raw(char c) {
    room(1);
    buf[len++] = (byte) c;
  }

  void append(byte[] b, int off, int n) {
    room(n);
    System.arraycopy(b, off, buf, len, n);
    len += n;
  }

  /**
   * The agent's own events are made of these exact classes: checking them first by class avoids
   * interface type checks (instanceof Map / Collection), which HotSpot resolves through a per-class
   * one-entry cache that threads checking other interfaces keep overwriting (JDK-8180450): that cost
   * more than the rest of the writing in a profile.
   */
  void value(Object v) {
    if (v == null) {
      raw("null");
      return;
    }
    Class<?> type = v.getClass();
    if (type == String.class) {
      string((String) v);
    } else if (type == LinkedHashMap.class) {
      map((Map<?, ?>) v);
    } else if (type == ArrayList.class) {
      list((List<?>) v);
    } else if (type == Long.class || type == Integer.class) {
      raw(v.toString());
    } else if (type == Boolean.class) {
      raw((Boolean) v ? "true" : "false");
    } else {
      any(v);
    }
  }

  private void map(Map<?, ?> m) {
    raw('{');
    boolean first = true;
    for (Map.Entry<?, ?> e : m.entrySet()) {
      if (!first) raw(',');
      first = false;
      Object k = e.getKey();
      string(k instanceof String s ? s : String.valueOf(k));
      raw(':');
      value(e.getValue());
    }
    raw('}');
  }

  private void list(List<?> l) {
    raw('[');
    for (int i = 0, n = l.size(); i < n; i++) {
      if (i > 0) raw(',');
      value(l.get(i));
    }
    raw(']');
  }

  private void any(Object v) {
    if (v == null) {
      raw("null");
    } else if (v instanceof String s) {
      string(s);
    } else if (v instanceof Boolean b) {
      raw(b ? "true" : "false");
    } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
      raw(v.toString());
    } else if (v instanceof Number) {
      StringBuilder sb = new StringBuilder();
      Json.write(sb, v);
      raw(sb.toString());
    } else if (v instanceof Map<?, ?> m) {
      map(m);
    } else if (v instanceof Collection<?> c) {
      raw('[');
      boolean first = true;
      for (Object o : c) {
        if (!first) raw(',');
        first = false;
        value(o);
      }
      raw(']');
    } else {
      string(v.toString());
    }
  }

  private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  void string(String s) {
    room(s.length() * 3 + 2); // worst case without escapes; escapes make room themselves
    buf[len++] = '"';
    chars(s, 1);
    buf[len++] = '"'; // reserved with the first room() call
  }

  /**
   * A JSON string of {@code a + sep + b} ({@code sep} a printable ASCII character other than '"' and
   * '\\') without making that string: the same bytes ({@code sep} between them, no surrogate pair can
   * form across the join).
   */
  void string(String a, char sep, String b) {
    room((a.length() + 1 + b.length()) * 3 + 2);
    buf[len++] = '"';
    chars(a, 3 * b.length() + 2);
    buf[len++] = (byte) sep;
    chars(b, 1);
    buf[len++] = '"';
  }

  /**
   * A JSON string of {@code s.toLowerCase(Locale.ROOT)} for a name of ASCII characters (header names),
   * lower-cased as it is written. False (nothing written) when {@code s} has a character beyond ASCII.
   * Two ASCII names equal but for case are written as the same bytes (the escapes are one-to-one).
   */
  boolean lowerAsciiString(String s) {
    int n = s.length();
    char[] cs = charsOf(s, n);
    int mark = len;
    room(n * 6 + 2);
    buf[len++] = '"';
    for (int i = 0; i < n; i++) {
      char c = cs[i];
      if (c >= 'A' && c <= 'Z') {
        buf[len++] = (byte) (c + 32);
      } else if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
        buf[len++] = (byte) c;
      } else if (c >= 0x80) {
        len = mark;
        return false;
      } else {
        switch (c) {
          case '"' -> esc('"');
          case '\\' -> esc('\\');
          case '\n' -> esc('n');
          case '\r' -> esc('r');
          case '\t' -> esc('t');
          default -> unicode(c);
        }
      }
    }
    buf[len++] = '"';
    return true;
  }

  /** Whether the bytes written at [a, aEnd) and [b, bEnd) are the same. */
  boolean same(int a, int aEnd, int b, int bEnd) {
    return Arrays.equals(buf, a, aEnd, buf, b, bEnd);
  }

  private int[] ints = new int[0];

  /** A scratch array of at least {@code n} ints for a caller on this writer's thread (reused). */
  int[] ints(int n) {
    if (ints.length < n) ints = new int[n];
    return ints;
  }

  /**
   * A UUID v4 as a JSON string from 128 random bits: what {@code new UUID(hi, lo).toString()} gives once
   * the version (4) and variant (IETF) bits are set, as UUID.randomUUID() sets them.
   */
  void uuid(long hi, long lo) {
    hi = (hi & ~0xf000L) | 0x4000L; // version 4
    lo = (lo & 0x3fffffffffffffffL) | 0x8000000000000000L; // IETF variant
    room(38);
    buf[len++] = '"';
    hex(hi >>> 32, 8);
    buf[len++] = '-';
    hex(hi >>> 16, 4);
    buf[len++] = '-';
    hex(hi, 4);
    buf[len++] = '-';
    hex(lo >>> 48, 4);
    buf[len++] = '-';
    hex(lo, 12);
    buf[len++] = '"';
  }

  private void hex(long v, int digits) {
    for (int i = digits - 1; i >= 0; i--) {
      buf[len + i] = HEX[(int) (v & 15)];
      v >>>= 4;
    }
    len += digits;
  }

  /** A long in decimal: what Long.toString gives, without the String. */
  void number(long v) {
    if (v < 0) {
      if (v == Long.MIN_VALUE) {
        raw(Long.toString(v));
        return;
      }
      raw('-');
      v = -v;
    }
    room(20);
    int digits = 1;
    for (long t = v; t >= 10; t /= 10) digits++;
    for (int i = len + digits - 1; i >= len; i--) {
      buf[i] = (byte) ('0' + (v % 10));
      v /= 10;
    }
    len += digits;
  }

  private final String[][] strings = new String[2][];

  /**
   * Scratch array {@code which} (0 or 1) of at least {@code n} strings, for a caller writing on this
   * writer's thread (it is reused by the next caller: hold nothing in it).
   */
  String[] strings(int which, int n) {
    String[] a = strings[which];
    if (a == null || a.length < n) strings[which] = a = new String[n];
    return a;
  }

  /** The characters of the string being written (String.getChars: one bulk copy, then plain array reads). */
  private char[] scratch = new char[256];

  private char[] charsOf(String s, int n) {
    char[] cs = scratch;
    if (cs.length < n) {
      cs = new char[Math.max(n, cs.length * 2)];
      if (n <= 64 * 1024) scratch = cs; // kept for the next strings; a larger one is not kept
    }
    s.getChars(0, n, cs, 0);
    return cs;
  }

  /**
   * The characters of a JSON string (no quotes). The caller made room for their worst case without
   * escapes and {@code tail} bytes after them; an escape makes room for itself, the rest and the tail.
   */
  private void chars(String s, int tail) {
    int n = s.length();
    char[] cs = charsOf(s, n);
    byte[] buf = this.buf;
    int len = this.len;
    int i = 0;
    for (; i < n; i++) { // the common run: printable ASCII without quote or backslash, in local variables
      char c = cs[i];
      if (c >= 0x80 || c < 0x20 || c == '"' || c == '\\') break;
      buf[len++] = (byte) c;
    }
    this.len = len;
    if (i < n) charsFrom(cs, i, n, tail);
  }

  private void charsFrom(char[] cs, int from, int n, int tail) {
    for (int i = from; i < n; i++) {
      char c = cs[i];
      if (c < 0x80) {
        if (c >= 0x20 && c != '"' && c != '\\') {
          buf[len++] = (byte) c;
          continue;
        }
        room(6 + 3 * (n - i) + tail); // an escape takes up to 6 bytes: keep the rest's worst case reserved
        switch (c) {
          case '"' -> esc('"');
          case '\\' -> esc('\\');
          case '\n' -> esc('n');
          case '\r' -> esc('r');
          case '\t' -> esc('t');
          default -> unicode(c);
        }
      } else if (c < 0x800) {
        buf[len++] = (byte) (0xc0 | (c >> 6));
        buf[len++] = (byte) (0x80 | (c & 0x3f));
      } else if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(cs[i + 1])) {
          int cp = Character.toCodePoint(c, cs[++i]);
          buf[len++] = (byte) (0xf0 | (cp >> 18));
          buf[len++] = (byte) (0x80 | ((cp >> 12) & 0x3f));
          buf[len++] = (byte) (0x80 | ((cp >> 6) & 0x3f));
          buf[len++] = (byte) (0x80 | (cp & 0x3f));
        } else {
          room(6 + 3 * (n - i) + tail);
          unicode(c);
        }
      } else if (c == 0x2028 || c == 0x2029) {
        room(6 + 3 * (n - i) + tail);
        unicode(c);
      } else {
        buf[len++] = (byte) (0xe0 | (c >> 12));
        buf[len++] = (byte) (0x80 | ((c >> 6) & 0x3f));
        buf[len++] = (byte) (0x80 | (c & 0x3f));
      }
    }
  }

  private void esc(char c) {
    buf[len++] = '\\';
    buf[len++] = (byte) c;
  }

  private void unicode(char c) {
    buf[len++] = '\\';
    buf[len++] = 'u';
    buf[len++] = HEX[(c >> 12) & 15];
    buf[len++] = HEX[(c >> 8) & 15];
    buf[len++] = HEX[(c >> 4) & 15];
    buf[len++] = HEX[c & 15];
  }
}
