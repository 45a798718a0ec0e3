package dev.riskhub.agent;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The request as the application sees it, keeping a copy of the first {@code limit + 1} bytes of the
 * body it reads (the body is never read ahead of the application, nor held beyond that bound).
 */
final class CapturingRequest extends HttpServletRequestWrapper {
  private final int limit;
  private ByteArrayOutputStream copy; // made with the stream: only if a body is read
  private TeeStream stream;
  private BufferedReader reader;
  private TeeReader teeReader;
  private boolean eof;

  CapturingRequest(HttpServletRequest request, int limit) {
    super(request);
    this.limit = limit;
  }

  @Override
  public ServletInputStream getInputStream() throws IOException {
    if (stream == null) {
      ServletInputStream in = super.getInputStream();
      copy = new ByteArrayOutputStream(0);
      stream = new TeeStream(in);
    }
    return stream;
  }

  @Override
  public BufferedReader getReader() throws IOException {
    if (reader == null) {
      // the container's own reader (its charset, its decoder), teed by characters; a small buffer, as the
      // container's reader buffers already
      teeReader = new TeeReader(super.getReader());
      reader = new BufferedReader(teeReader, 512);
    }
    return reader;
  }

  /** Whether the application opened the body (stream or reader, through this wrapper). */
  boolean streamUsed() {
    return stream != null || teeReader != null;
  }

  /**
   * The body's first {@code limit + 1} bytes (characters when the application used the reader), as
   * text: what the application read, completed from the stream once the application is done (so a
   * handler that ignores the body still has it inspected). Called after the handler returned;
   * synchronous requests only. Invalid UTF-8 becomes U+FFFD.
   */
  String body() throws IOException {
    if (teeReader != null) return teeReader.rest();
    ServletInputStream in = getInputStream();
    if (!eof && copy.size() <= limit) {
      byte[] buf = new byte[Math.min(8192, limit + 1)];
      while (copy.size() <= limit) {
        int n = in.read(buf, 0, Math.min(buf.length, limit + 1 - copy.size()));
        if (n < 0) break;
      }
    }
    return copy.toString(StandardCharsets.UTF_8);
  }

  private final class TeeReader extends java.io.Reader {
    private final BufferedReader in;
    private final StringBuilder chars = new StringBuilder();
    private boolean end;

    TeeReader(BufferedReader in) {
      this.in = in;
    }

    @Override
    public int read(char[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n < 0) end = true;
      else if (chars.length() <= limit) chars.append(b, off, Math.min(n, limit + 1 - chars.length()));
      return n;
    }

    /** What was read, completed up to {@code limit + 1} characters. */
    String rest() throws IOException {
      char[] b = new char[512];
      while (!end && chars.length() <= limit) {
        if (read(b, 0, Math.min(b.length, limit + 1 - chars.length())) < 0) break;
      }
      return chars.toString();
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  private final class TeeStream extends ServletInputStream {
    private final ServletInputStream in;

    TeeStream(ServletInputStream in) {
      this.in = in;
    }

    private void keep(byte[] b, int off, int n) {
      int room = limit + 1 - copy.size();
      if (room > 0 && n > 0) copy.write(b, off, Math.min(room, n));
    }

    @Override
    public int read() throws IOException {
      int c = in.read();
      if (c < 0) eof = true;
      else if (copy.size() <= limit) copy.write(c);
      return c;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n < 0) eof = true;
      else keep(b, off, n);
      return n;
    }

    @Override
    public boolean isFinished() {
      return in.isFinished();
    }

    @Override
    public boolean isReady() {
      return in.isReady();
    }

    @Override
    public void setReadListener(ReadListener listener) {
      in.setReadListener(listener);
    }

    @Override
    public int available() throws IOException {
      return in.available();
    }
  }
}
