package dev.riskhub.agent;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository's shared test vectors (test/vectors/) from packages/agent-java. */
final class Vectors {
  private Vectors() {}

  /** test/vectors/NAME of this checkout (or of $RISK_HUB_VECTORS); null when it is not there. */
  static Path file(String name) {
    String override = System.getenv("RISK_HUB_VECTORS");
    if (override != null) {
      Path p = Path.of(override).resolve(name);
      return Files.isRegularFile(p) ? p : null;
    }
    Path dir = Path.of("").toAbsolutePath();
    for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
      Path p = dir.resolve("test").resolve("vectors").resolve(name);
      if (Files.isRegularFile(p)) return p;
    }
    return null;
  }
}
