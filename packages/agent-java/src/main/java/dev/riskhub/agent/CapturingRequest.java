package dev.riskhub.agent;

import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;

/**
 * The request as the application sees it, keeping a copy of the first {@code limit + 1} bytes of the
 * body it reads (the body is never read ahead of the application, nor held beyond that bound).
 */
final class CapturingRequest extends HttpServletRequestWrapper {
  private final int limit;
  private final ByteArrayOutputStream copy = new ByteArrayOutputStream(0); // grows only if a body is read
  private TeeStream stream;
  private BufferedReader reader;
  private boolean eof;

  CapturingRequest(HttpServletRequest request, int limit) {
    super(request);
    this.limit = limit;
  }

  @Override
  public ServletInputStream getInputStream() throws IOException {
    if (stream == null) stream = new TeeStream(super.getInputStream());
    return stream;
  }

  @Override
  public BufferedReader getReader() throws IOException {
    if (reader == null) {
      String enc = getCharacterEncoding();
      Charset cs;
      try {
        cs = enc == null ? StandardCharsets.UTF_8 : Charset.forName(enc);
      } catch (RuntimeException e) {
        cs = StandardCharsets.UTF_8;
      }
      reader = new BufferedReader(new InputStreamReader(getInputStream(), cs));
    }
    return reader;
  }

  /** Whether the application opened the body stream (through this wrapper). */
  boolean streamUsed() {
    return stream != null;
  }

  /**
   * The body's first {@code limit + 1} bytes: what the application read, completed from the stream once
   * the application is done (so a handler that ignores the body still has it inspected). Called after
   * the handler returned; synchronous requests only.
   */
  byte[] body() throws IOException {
    if (!eof && copy.size() <= limit) {
      ServletInputStream in = getInputStream();
      byte[] buf = new byte[8192];
      while (copy.size() <= limit) {
        int n = in.read(buf, 0, Math.min(buf.length, limit + 1 - copy.size()));
        if (n < 0) break;
      }
    }
    return copy.toByteArray();
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
