#!/usr/bin/env bash
# Images for the integration tests' testcontainers backend (RISK_HUB_TEST_BACKEND=testcontainers),
# built from the same Maven-resolved jars the local stack runs (~/.cache/risk-hub), no registry needed:
#
#   risk-hub-local/jre:<java>          the Debian base + a Java runtime made by jlink from a JDK 21+ on
#                                      this machine (Debian bookworm ships Java 17 only, and Apicurio
#                                      Registry 3.3 needs 21; Kafka 4.1 runs on it too)
#   risk-hub-local/kafka:<version>     that + the Kafka broker's jars and a console log4j2 configuration
#   risk-hub-local/apicurio:<version>  that + Apicurio Registry's Quarkus application
#
# How they run (server.properties, JVM flags) is decided by test/integration/testcontainers.ts, with the
# same code as the local stack (src/local/stack.ts). Idempotent: an image whose recipe label matches is
# kept. Called by that global setup with the resolved directories:
#   scripts/docker/test-images.sh KAFKA_VERSION KAFKA_LIBS_DIR APICURIO_VERSION APICURIO_APP_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
[ $# -eq 4 ] || die "usage: $0 KAFKA_VERSION KAFKA_LIBS_DIR APICURIO_VERSION APICURIO_APP_DIR"
kafka_version="$1" kafka_libs="$2" apicurio_version="$3" apicurio_app="$4"
RECIPE=2
LABEL=io.riskhub.local-base

require_docker
QUIET=1 "$here/local-bases.sh"
fresh() { [ "${FORCE:-0}" != 1 ] && [ "$(image_label "$1" "$LABEL")" = "$2" ]; }

# A JDK 21+ with jlink: RISK_HUB_JAVA_HOME, JAVA_HOME, then the newest under /usr/lib/jvm.
jdk=""
for home in "${RISK_HUB_JAVA_HOME:-}" "${JAVA_HOME:-}" $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
  home="${home%/}"
  [ -n "$home" ] && [ -x "$home/bin/jlink" ] || continue
  major=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ "${major:-0}" -ge 21 ]; then jdk="$home"; break; fi
done
[ -n "$jdk" ] || die "no JDK 21+ with jlink found (for Apicurio Registry 3.3): install one (e.g. Temurin 21) and set RISK_HUB_JAVA_HOME to it."
java_version=$("$jdk/bin/java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)
jre_image="risk-hub-local/jre:${java_version%%.*}"
stage="$DOCKER_CACHE/test-images.tmp"

build_in_stage() { # image recipe dockerfile
  docker_build -q -t "$1" --label "$LABEL=$2" --build-arg "JRE=$jre_image" -f "$here/$3" "$stage" >/dev/null
  rm -rf "$stage"
}
link_copy() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }

recipe="$RECIPE jre $java_version from $jdk"
if fresh "$jre_image" "$recipe"; then say "$jre_image is up to date"; else
  say "building $jre_image (jlink from $jdk)…"
  rm -rf "$stage" && mkdir -p "$stage"
  # Every Java SE module and the runtime jdk.* ones; development tools (compiler, jshell…) left out.
  mods=$("$jdk/bin/java" --list-modules | sed 's/@.*//' \
    | grep -v -E '^jdk\.(jshell|compiler|javadoc|jdeps|jlink|jpackage|jartool|jcmd|jconsole|jdi|jdwp\.agent|jstatd|hotspot\.agent|internal\.|editpad|random|graal|incubator)' | paste -sd,)
  "$jdk/bin/jlink" --add-modules "$mods" --strip-debug --no-man-pages --no-header-files --output "$stage/jre" >/dev/null
  build_in_stage "$jre_image" "$recipe" jre.Dockerfile
fi

recipe="$RECIPE kafka $kafka_version on $jre_image"
if fresh "risk-hub-local/kafka:$kafka_version" "$recipe"; then say "risk-hub-local/kafka:$kafka_version is up to date"; else
  say "building risk-hub-local/kafka:$kafka_version…"
  [ -d "$kafka_libs" ] || die "no Kafka jars in $kafka_libs"
  rm -rf "$stage" && mkdir -p "$stage"
  link_copy "$kafka_libs" "$stage/libs"
  build_in_stage "risk-hub-local/kafka:$kafka_version" "$recipe" kafka.Dockerfile
fi

recipe="$RECIPE apicurio $apicurio_version on $jre_image"
if fresh "risk-hub-local/apicurio:$apicurio_version" "$recipe"; then say "risk-hub-local/apicurio:$apicurio_version is up to date"; else
  say "building risk-hub-local/apicurio:$apicurio_version…"
  [ -f "$apicurio_app/quarkus-run.jar" ] || die "no quarkus-run.jar in $apicurio_app"
  rm -rf "$stage" && mkdir -p "$stage"
  link_copy "$apicurio_app" "$stage/app"
  build_in_stage "risk-hub-local/apicurio:$apicurio_version" "$recipe" apicurio.Dockerfile
fi
echo "$jre_image"
