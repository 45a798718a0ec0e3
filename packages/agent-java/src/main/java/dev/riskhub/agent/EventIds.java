package dev.riskhub.agent;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.SecureRandom;

/**
 * Random bits for the sender's event ids (UUID v4), read from the operating system's generator in
 * blocks of 4 KiB (256 ids) as Node's crypto.randomUUID() does: /dev/urandom where there is one (a read
 * of the kernel's CSPRNG), else, or if it fails, a {@link SecureRandom}. Per id that is ~50 ns against
 * ~300-900 ns for UUID.randomUUID() (the JDK's NativePRNG mixes every call with SHA1PRNG under a lock).
 * Used by the sender thread only.
 */
final class EventIds implements AutoCloseable {
  private final byte[] block = new byte[4096];
  private int used = block.length;
  private InputStream urandom;
  private SecureRandom fallback;

  EventIds() {
    try {
      urandom = new FileInputStream("/dev/urandom");
    } catch (IOException | SecurityException e) {
      urandom = null;
    }
  }

  /** Gives {@code c} its id, once: a request sent again after an outage keeps the id it was first sent with. */
  void assign(RequestReader.Captured c) {
    if (c.hasId) return;
    if (used == block.length) refill();
    c.idHi = long8(block, used);
    c.idLo = long8(block, used + 8);
    c.hasId = true;
    used += 16;
  }

  private void refill() {
    if (urandom != null) {
      try {
        if (urandom.readNBytes(block, 0, block.length) == block.length) {
          used = 0;
          return;
        }
      } catch (IOException e) {
        // fall through to SecureRandom
      }
      close();
    }
    if (fallback == null) fallback = new SecureRandom();
    fallback.nextBytes(block);
    used = 0;
  }

  private static long long8(byte[] b, int off) {
    long v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | (b[off + i] & 0xff);
    return v;
  }

  @Override
  public void close() {
    InputStream in = urandom;
    urandom = null;
    if (in != null) {
      try {
        in.close();
      } catch (IOException ignored) {
        // nothing to do
      }
    }
  }
}
