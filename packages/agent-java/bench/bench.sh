#!/usr/bin/env bash
# The agent's overhead on a small Jetty 12 app (src/test/java/dev/riskhub/agent/testapp/TestApp.java):
# requests/s and the server JVM's CPU per request, without and with the filter. Both apps run at once
# in their own JVMs (same flags), the agent sending to a fake relay in a third JVM (the relay's work is
# not charged to the app); rounds alternate which goes first so that drift on a shared machine hits
# both. Two kinds of request: a browser-like GET (query, cookie, user agent, signed-in user) and a POST
# with a JSON body, on handlers that do nearly nothing (the agent's cost shows whole); and a page that
# renders 200 rows (~0.3 ms of work, closer to a real handler). Load: wrk on loopback, 16 connections, bounded in time. On a 2-core machine the
# CPU per request is the steadier figure (requests/s also moves with whatever else runs).
# Usage: packages/agent-java/bench/bench.sh [seconds per run, default 10] [rounds, default 3]
# BENCH_AGENT_MODE=skip-all: the agent started with skip(r -> true) (its filter passes every request on).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }

mvn -B -q package -DskipTests
mvn -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-cp.txt >/dev/null
cp="target/risk-hub-agent-0.1.0.jar:target/test-classes:$(cat target/bench-cp.txt)"
jvm=(java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "$cp")
relay_port=${BENCH_RELAY_PORT:-28787}; plain_port=${BENCH_APP_PORT:-28080}; agent_port=$((plain_port + 1))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"${jvm[@]}" dev.riskhub.agent.FakeRelay "$relay_port" > target/bench-relay.log 2>&1 &
pids+=($!)
export RISK_HUB_APPLICATION=bench RISK_HUB_RELAY_TOKEN=bench RISK_HUB_RELAY_URL=http://127.0.0.1:$relay_port
"${jvm[@]}" dev.riskhub.agent.testapp.TestApp "$plain_port" plain > target/bench-plain.log 2>&1 &
plain=$!; pids+=($plain)
"${jvm[@]}" dev.riskhub.agent.testapp.TestApp "$agent_port" "${BENCH_AGENT_MODE:-with-agent}" > target/bench-agent.log 2>&1 &
agent=$!; pids+=($agent)
for port in "$plain_port" "$agent_port"; do
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
done

cat > target/bench-post.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"comment":"a nice laptop, would buy again","rating":5,"tags":["a","b"],"author":{"name":"Alice","id":1001}}'
wrk.headers["Content-Type"] = "application/json"
LUA
: > target/bench-empty.lua
common=(-t1 -c16 -H "X-User: u-1001" -H "Cookie: sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark"
  -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
  -H "Accept: text/html,application/xhtml+xml" -H "Accept-Language: en-GB,en;q=0.9")
get_path="/search?q=running+shoes&page=2&sort=price"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU of the agent's own threads (sender, decisions poller, the JDK HTTP client's): the part of the
# process's CPU that is not on the request threads, the JIT or the GC.
agent_ticks() {
  local s=0 t
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in risk-hub*|HttpClient*) s=$((s + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0))) ;; esac
  done
  echo "$s"
}
hz=$(getconf CLK_TCK)
results=target/bench-results.txt; : > "$results"

one() { # variant pid port kind path lua seconds
  local t0 t1 a0 a1 out n rps
  t0=$(ticks "$2"); a0=$(agent_ticks "$2")
  out=$(wrk "${common[@]}" -s "$6" -d"$7s" "http://127.0.0.1:$3$5")
  t1=$(ticks "$2"); a1=$(agent_ticks "$2")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  echo "$1 $4 $rps $(awk -v t=$((t1 - t0)) -v a=$((a1 - a0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.1f %.1f", t / hz * 1e6 / n, a / hz * 1e6 / n }')"
}

echo "warm-up (the JIT compilers need long on 2 shared cores)"
for kind in GET POST PAGE; do
  path=$get_path; lua=target/bench-empty.lua
  [ "$kind" = POST ] && { path=/api/comments; lua=target/bench-post.lua; }
  [ "$kind" = PAGE ] && path="/products?q=running+shoes"
  one plain "$plain" "$plain_port" "$kind" "$path" "$lua" 15 > /dev/null
  one agent "$agent" "$agent_port" "$kind" "$path" "$lua" 15 > /dev/null
done
for r in $(seq 1 "$rounds"); do
  for kind in GET POST PAGE; do
    path=$get_path; lua=target/bench-empty.lua
    [ "$kind" = POST ] && { path=/api/comments; lua=target/bench-post.lua; }
    [ "$kind" = PAGE ] && path="/products?q=running+shoes"
    if [ $((r % 2)) -eq 1 ]; then order="plain agent"; else order="agent plain"; fi
    for v in $order; do
      if [ "$v" = plain ]; then one plain "$plain" "$plain_port" "$kind" "$path" "$lua" "$secs"; else one agent "$agent" "$agent_port" "$kind" "$path" "$lua" "$secs"; fi
    done | tee -a "$results"
  done
done

echo
echo "median of $rounds rounds of ${secs}s:"
for kind in GET POST PAGE; do
  p_rps=$(awk -v k=$kind '$1=="plain" && $2==k {print $3}' "$results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  a_rps=$(awk -v k=$kind '$1=="agent" && $2==k {print $3}' "$results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  p_cpu=$(awk -v k=$kind '$1=="plain" && $2==k {print $4}' "$results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  a_cpu=$(awk -v k=$kind '$1=="agent" && $2==k {print $4}' "$results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  a_thr=$(awk -v k=$kind '$1=="agent" && $2==k {print $5}' "$results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v k=$kind -v pr="$p_rps" -v ar="$a_rps" -v pc="$p_cpu" -v ac="$a_cpu" -v at="$a_thr" 'BEGIN {
    printf "%-4s without: %9.0f req/s %6.1f us CPU/request | with: %9.0f req/s %6.1f us CPU/request (agent threads %.1f) | req/s %+.1f%%, CPU/request %+.1f%% (+%.1f us)\n",
      k, pr, pc, ar, ac, at, (ar / pr - 1) * 100, (ac / pc - 1) * 100, ac - pc }'
done
kill "$agent"; wait "$agent" 2>/dev/null || true
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
grep -o 'agent {.*' target/bench-agent.log || true
tail -1 target/bench-relay.log
