#!/usr/bin/env bash
# The agent's overhead on a small Jetty 12 app (src/test/java/dev/riskhub/agent/testapp/TestApp.java):
# requests/s and server CPU per request without and with the filter, each in its own JVM, for a GET
# with a query and a POST with a JSON body. The agent sends to a fake relay in a third JVM (so the
# relay's work is not charged to the app). Load: wrk on loopback, bounded in time.
# Usage: packages/agent-java/bench/bench.sh [seconds per run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }

mvn -B -q package -DskipTests
mvn -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-cp.txt >/dev/null
cp="target/risk-hub-agent-0.1.0.jar:target/test-classes:$(cat target/bench-cp.txt)"
jvm=(java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "$cp")
relay_port=${BENCH_RELAY_PORT:-28787}; app_port=${BENCH_APP_PORT:-28080}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"${jvm[@]}" dev.riskhub.agent.FakeRelay $relay_port > target/bench-relay.log 2>&1 &
pids+=($!)

cat > target/bench-post.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"comment":"a nice laptop, would buy again","rating":5,"tags":["a","b"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-User"] = "u-1001"
LUA

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

run() { # mode label path [lua]
  local mode=$1 label=$2 path=$3 lua=${4:-}
  local args=(-t1 -c16 -H "X-User: u-1001" -H "User-Agent: bench")
  [ -n "$lua" ] && args+=(-s "$lua")
  wrk "${args[@]}" -d20s "http://127.0.0.1:$app_port$path" > /dev/null # warm-up: C2 needs long on 2 cores
  local t0; t0=$(ticks "$app")
  local out; out=$(wrk "${args[@]}" -d"${secs}s" "http://127.0.0.1:$app_port$path")
  local t1; t1=$(ticks "$app")
  local n; n=$(echo "$out" | awk '/requests in/ {print $1}')
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local cpu; cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
  printf '%-14s %-6s %10s req/s %8s us CPU/request\n' "$mode" "$label" "$rps" "$cpu"
}

for mode in without-agent with-agent; do
  RISK_HUB_APPLICATION=bench RISK_HUB_RELAY_TOKEN=bench RISK_HUB_RELAY_URL=http://127.0.0.1:$relay_port \
    "${jvm[@]}" dev.riskhub.agent.testapp.TestApp $app_port "${mode/without-agent/plain}" > "target/bench-$mode.log" 2>&1 &
  app=$!; pids+=($app)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$app_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  run "$mode" GET "/search?q=laptop&page=2"
  run "$mode" POST "/api/comments" target/bench-post.lua
  kill "$app"; wait "$app" 2>/dev/null || true
done
sleep 0.5
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
cat target/bench-with-agent.log | grep -o 'agent {.*' || true
cat target/bench-relay.log | tail -1
