package dev.riskhub.agent;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal JSON writer and a bounded JSON reader, so that the agent brings no dependency into the
 * application (no Jackson version conflict to manage). Values: null, Boolean, Number, String, Map, List.
 */
public final class Json {
  private Json() {}

  /** Raised by {@link #parse} for text that is not JSON. */
  public static final class ParseException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ParseException(String message, int at) {
      super(message + " at offset " + at);
    }
  }

  // ---------------------------------------------------------------- writer

  public static String write(Object value) {
    StringBuilder sb = new StringBuilder(256);
    write(sb, value);
    return sb.toString();
  }

  @SuppressWarnings("unchecked")
  public static void write(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String s) {
      string(sb, s);
    } else if (v instanceof Boolean b) {
      sb.append(b.booleanValue());
    } else if (v instanceof Double d) {
      sb.append(d.isNaN() || d.isInfinite() ? "null" : (d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString(d.longValue()) : d.toString()));
    } else if (v instanceof Float f) {
      write(sb, f.doubleValue());
    } else if (v instanceof Number n) {
      sb.append(n.toString());
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) sb.append(',');
        first = false;
        string(sb, String.valueOf(e.getKey()));
        sb.append(':');
        write(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof Collection<?> c) {
      sb.append('[');
      boolean first = true;
      for (Object o : c) {
        if (!first) sb.append(',');
        first = false;
        write(sb, o);
      }
      sb.append(']');
    } else {
      string(sb, v.toString());
    }
  }

  private static final char[] HEX = "0123456789abcdef".toCharArray();

  /** A JSON string; control characters and lone surrogates escaped (the output stays valid UTF-8). */
  static void string(StringBuilder sb, String s) {
    sb.append('"');
    int n = s.length();
    int start = 0; // the run of characters that need no escape, appended in one piece
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c >= 0x20 && c != '"' && c != '\\' && c < 0xd800) {
        if (c != 0x2028 && c != 0x2029) continue; // else: escaped (JavaScript line separators)
      } else if (c > 0xdfff) {
        continue;
      } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
        continue;
      }
      sb.append(s, start, i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> unicode(sb, c);
      }
      start = i + 1;
    }
    sb.append(s, start, n).append('"');
  }

  private static void unicode(StringBuilder sb, char c) {
    sb.append("\\u").append(HEX[(c >> 12) & 15]).append(HEX[(c >> 8) & 15]).append(HEX[(c >> 4) & 15]).append(HEX[c & 15]);
  }

  // ---------------------------------------------------------------- reader

  /** Parses JSON with no bound on depth beyond the call stack's: for trusted input (the relay's answers). */
  public static Object parse(String text) {
    return parse(text, Integer.MAX_VALUE / 2, Integer.MAX_VALUE);
  }

  /**
   * Parses JSON from an outsider. Containers nested deeper than {@code maxDepth} are skipped (replaced by
   * null) without recursion, so a body of 60,000 '[' cannot exhaust the stack; strings are cut to
   * {@code maxString} bytes of UTF-8 at a character boundary.
   */
  public static Object parse(String text, int maxDepth, int maxString) {
    Reader r = new Reader(text, maxDepth, maxString);
    r.ws();
    Object v = r.value(0);
    r.ws();
    if (r.i != text.length()) throw new ParseException("trailing characters", r.i);
    return v;
  }

  private static final class Reader {
    final String s;
    final int maxDepth;
    final int maxString;
    int i;

    Reader(String s, int maxDepth, int maxString) {
      this.s = s;
      this.maxDepth = maxDepth;
      this.maxString = maxString;
    }

    void ws() {
      while (i < s.length()) {
        char c = s.charAt(i);
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') i++;
        else break;
      }
    }

    char peek() {
      if (i >= s.length()) throw new ParseException("unexpected end", i);
      return s.charAt(i);
    }

    Object value(int depth) {
      char c = peek();
      switch (c) {
        case '{':
        case '[':
          if (depth >= maxDepth) {
            skipContainer();
            return null;
          }
          return c == '{' ? object(depth + 1) : array(depth + 1);
        case '"':
          return str();
        case 't':
          lit("true");
          return Boolean.TRUE;
        case 'f':
          lit("false");
          return Boolean.FALSE;
        case 'n':
          lit("null");
          return null;
        default:
          return number();
      }
    }

    void lit(String w) {
      if (!s.startsWith(w, i)) throw new ParseException("unexpected character", i);
      i += w.length();
    }

    Map<String, Object> object(int depth) {
      i++; // {
      Map<String, Object> m = new LinkedHashMap<>();
      ws();
      if (peek() == '}') {
        i++;
        return m;
      }
      while (true) {
        ws();
        if (peek() != '"') throw new ParseException("expected a name", i);
        String k = str();
        ws();
        if (peek() != ':') throw new ParseException("expected ':'", i);
        i++;
        ws();
        m.put(k, value(depth));
        ws();
        char c = peek();
        i++;
        if (c == '}') return m;
        if (c != ',') throw new ParseException("expected ',' or '}'", i - 1);
      }
    }

    List<Object> array(int depth) {
      i++; // [
      List<Object> a = new ArrayList<>();
      ws();
      if (peek() == ']') {
        i++;
        return a;
      }
      while (true) {
        ws();
        a.add(value(depth));
        ws();
        char c = peek();
        i++;
        if (c == ']') return a;
        if (c != ',') throw new ParseException("expected ',' or ']'", i - 1);
      }
    }

    /** Skips a container iteratively (strings honoured); checks only the brackets balance. */
    void skipContainer() {
      int level = 0;
      while (i < s.length()) {
        char c = s.charAt(i);
        if (c == '"') {
          skipString();
          continue;
        }
        i++;
        if (c == '{' || c == '[') level++;
        else if (c == '}' || c == ']') {
          if (--level == 0) return;
        }
      }
      throw new ParseException("unexpected end", i);
    }

    void skipString() {
      i++;
      while (i < s.length()) {
        char c = s.charAt(i++);
        if (c == '\\') i++;
        else if (c == '"') return;
      }
      throw new ParseException("unterminated string", i);
    }

    String str() {
      i++; // opening quote
      StringBuilder sb = null;
      int start = i;
      while (true) {
        if (i >= s.length()) throw new ParseException("unterminated string", i);
        char c = s.charAt(i);
        if (c == '"') {
          String out = sb == null ? s.substring(start, i) : sb.append(s, start, i).toString();
          i++;
          return maxString == Integer.MAX_VALUE ? out : Identity.truncateUtf8(out, maxString);
        }
        if (c < 0x20) throw new ParseException("control character in string", i);
        if (c == '\\') {
          if (sb == null) sb = new StringBuilder();
          sb.append(s, start, i);
          if (i + 1 >= s.length()) throw new ParseException("unterminated string", i);
          char e = s.charAt(i + 1);
          i += 2;
          switch (e) {
            case '"' -> sb.append('"');
            case '\\' -> sb.append('\\');
            case '/' -> sb.append('/');
            case 'b' -> sb.append('\b');
            case 'f' -> sb.append('\f');
            case 'n' -> sb.append('\n');
            case 'r' -> sb.append('\r');
            case 't' -> sb.append('\t');
            case 'u' -> {
              if (i + 4 > s.length()) throw new ParseException("bad \\u escape", i);
              try {
                sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
              } catch (NumberFormatException x) {
                throw new ParseException("bad \\u escape", i);
              }
              i += 4;
            }
            default -> throw new ParseException("bad escape", i - 1);
          }
          start = i;
        } else {
          i++;
        }
      }
    }

    Object number() {
      int start = i;
      if (i < s.length() && s.charAt(i) == '-') i++;
      boolean fraction = false;
      while (i < s.length()) {
        char c = s.charAt(i);
        if (c >= '0' && c <= '9') i++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
          fraction = true;
          i++;
        } else break;
      }
      String t = s.substring(start, i);
      if (t.isEmpty() || t.equals("-")) throw new ParseException("unexpected character", start);
      try {
        if (!fraction && t.length() < 19) return Long.parseLong(t);
        double d = Double.parseDouble(t);
        return d;
      } catch (NumberFormatException x) {
        throw new ParseException("bad number", start);
      }
    }
  }

  /** Index at which to cut {@code s} to at most {@code max} chars without splitting a surrogate pair. */
  static int cutAt(String s, int max) {
    if (max > 0 && Character.isHighSurrogate(s.charAt(max - 1))) return max - 1;
    return max;
  }
}
