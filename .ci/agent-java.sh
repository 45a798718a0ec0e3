#!/usr/bin/env bash
# The Java agent (packages/agent-java) on a clean Debian machine: installs a JDK 17+ and Maven when
# missing, then `mvn verify`: compiles, runs the unit tests (surefire, against a fake relay), builds
# target/risk-hub-agent-<version>.jar, and runs the integration tests FROM THAT JAR (failsafe) in a real
# Jetty 12 app; the end-to-end tests against the real relay too when RISK_HUB_RELAY_URL (with
# RISK_HUB_RELAY_TOKEN and RISK_HUB_APPLICATION; optionally RISK_HUB_SCORER_URL, RISK_HUB_E2E_BLOCKED_USER,
# RISK_HUB_VECTORS: docs/agents-java.md "Tests") names a running one. The first run downloads the
# plugins, JUnit, Jetty and Spring Boot's web starter from Maven Central (the agent itself has no runtime
# dependency). Profile `spring`: the Spring Boot auto-configuration booted in a minimal Spring Boot web
# app (SpringBootIT, ~15-20 s; ~15 s more to download Spring Boot on a cold ~/.m2).
# Usage: .ci/agent-java.sh
set -euo pipefail
cd "$(dirname "$0")/.."

java_major() { java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print v[1]; exit }'; }
if ! command -v mvn >/dev/null || ! command -v javac >/dev/null || [ "$(java_major)" -lt 17 ]; then
  echo "== apt-get install openjdk-17-jdk-headless maven"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi
echo "== $(java -version 2>&1 | head -1); $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"

cd packages/agent-java
echo "== mvn verify -Pspring${RISK_HUB_RELAY_URL:+ (with the end-to-end tests against $RISK_HUB_RELAY_URL)}"
status=0
mvn -B -q -Pspring verify || status=$?

# -q hides surefire's summary: count the reports (unit + integration) into one closing line.
summary=$(cat target/surefire-reports/TEST-*.xml target/failsafe-reports/TEST-*.xml 2>/dev/null | awk '
  /<testsuite / {
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=");
      gsub(/[">]/, "", kv[2]);
      if (kv[1] == "tests") t += kv[2]; else if (kv[1] == "failures") f += kv[2];
      else if (kv[1] == "errors") e += kv[2]; else if (kv[1] == "skipped") s += kv[2];
    }
  }
  END { printf "%d passed, %d failed, %d skipped", t - f - e - s, f + e, s }')
jar=$(ls target/risk-hub-agent-*.jar 2>/dev/null | head -1 || true)
[ -n "$jar" ] && echo "built $jar ($(jar tf "$jar" | wc -l) entries, $(wc -c < "$jar") bytes)"
echo "agent-java: $summary"
exit $status
