package dev.riskhub.agent;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the repository's shared test vectors (test/vectors/) from packages/agent-java. */
final class Vectors {
  private Vectors() {}

  static Path file(String name) {
    Path dir = Path.of("").toAbsolutePath();
    for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
      Path p = dir.resolve("test").resolve("vectors").resolve(name);
      if (Files.isRegularFile(p)) return p;
    }
    return null;
  }
}
