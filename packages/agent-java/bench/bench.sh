#!/usr/bin/env bash
# The agent's overhead on the shop (src/test/java/dev/riskhub/agent/testapp/ShopApp.java: examples/express-app
# on embedded Jetty 12, route for route) under the traffic of the Node agent's benchmark (bench/agent.ts,
# here bench/shop.lua: browser-like GETs on search, file download, profile and home page, session cookies,
# 12 user agents, 1 request in 50 an attack): requests/s and the server JVM's CPU per request (user +
# system, /proc), without and with the filter. Both apps run at once in their own JVMs (same flags), the
# agent sending to a fake relay in a third JVM (the relay's work is not charged to the app).
#
# Warm-up: alternated rounds until the JIT compiler threads take under 2% of both JVMs' CPU (at least 3
# rounds, at most BENCH_WARMUP_MAX), so that no measured round pays for compilation. Then rounds alternate
# which JVM goes first, so that drift on a shared machine hits both. Secondary figures: the small handlers
# (/micro/: a GET that answers one line, a POST that reads a small JSON body), where the agent's fixed cost
# per event shows whole. On a 2-core machine the CPU per request is the steadier figure (requests/s also
# moves with whatever else runs).
#
# Usage: packages/agent-java/bench/bench.sh [seconds per round, default 4] [rounds, default 5]
#   BENCH_MICRO="GET POST" (the secondary kinds; add PAGE for a 200-row page, "" for none),
#   BENCH_MICRO_SECONDS=2, BENCH_MICRO_ROUNDS=2, BENCH_WARMUP_MAX=8,
#   BENCH_AGENT_MODE=skip-all (the agent started with skip(r -> true): its filter passes every request on),
#   BENCH_AGENT_JAR=path/to/another/risk-hub-agent.jar (the agent JVM runs that build: before/after comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}; rounds=${2:-5}
micro=${BENCH_MICRO-GET POST}; micro_secs=${BENCH_MICRO_SECONDS:-2}; micro_rounds=${BENCH_MICRO_ROUNDS:-2}
warmup_max=${BENCH_WARMUP_MAX:-8}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }

mvn -B -q package -DskipTests
mvn -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-cp.txt >/dev/null
cp="target/risk-hub-agent-0.1.0.jar:target/test-classes:$(cat target/bench-cp.txt)"
jvm=(java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "$cp")
agent_jvm=(java -Xms256m -Xmx256m -XX:+UseParallelGC -cp "${BENCH_AGENT_JAR:-target/risk-hub-agent-0.1.0.jar}:${cp#*:}")
relay_port=${BENCH_RELAY_PORT:-28787}; plain_port=${BENCH_APP_PORT:-28080}; agent_port=$((plain_port + 1))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"${jvm[@]}" dev.riskhub.agent.FakeRelay "$relay_port" > target/bench-relay.log 2>&1 &
pids+=($!)
export RISK_HUB_APPLICATION=bench RISK_HUB_RELAY_TOKEN=bench RISK_HUB_RELAY_URL=http://127.0.0.1:$relay_port
"${jvm[@]}" dev.riskhub.agent.testapp.ShopApp "$plain_port" plain > target/bench-plain.log 2>&1 &
plain=$!; pids+=($plain)
"${agent_jvm[@]}" dev.riskhub.agent.testapp.ShopApp "$agent_port" "${BENCH_AGENT_MODE:-with-agent}" > target/bench-agent.log 2>&1 &
agent=$!; pids+=($agent)
for port in "$plain_port" "$agent_port"; do
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
done

cat > target/bench-post.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"comment":"a nice laptop, would buy again","rating":5,"tags":["a","b"],"author":{"name":"Alice","id":1001}}'
wrk.headers["Content-Type"] = "application/json"
LUA
: > target/bench-empty.lua
micro_headers=(-H "X-User: u-1001" -H "Cookie: sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark"
  -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
  -H "Accept: text/html,application/xhtml+xml" -H "Accept-Language: en-GB,en;q=0.9")

# CPU ticks of a JVM: the process (all its threads, exited ones too), the agent's own (sender, decisions poller), the JIT
# compilers', the GC's (and the VM thread's)
# (one awk over /proc/PID/task/*/stat; a thread's name is between the first '(' and the last ')').
ticks() {
  echo "$(awk '{print $14 + $15}' "/proc/$1/stat") $(awk '{ l = $0; o = index(l, "("); c = l; p = 0; while ((i = index(c, ")")) > 0) { p += i; c = substr(c, i + 1) }
         name = substr(l, o + 1, p - o - 1); split(substr(l, p + 2), f, " "); t = f[12] + f[13]
         if (name ~ /^risk-hub/) agent += t; else if (name ~ /^C[12] Compiler/) jit += t; else if (name ~ /^(GC Thread|VM Thread)/) gc += t }
       END { print agent + 0, jit + 0, gc + 0 }' /proc/"$1"/task/*/stat 2>/dev/null)"
}
hz=$(getconf CLK_TCK)
results=target/bench-results.txt; : > "$results"

# one VARIANT KIND SECONDS: prints "variant kind req/s cpu_us agent_us jit_us gc_us" (µs per request)
one() {
  local v=$1 kind=$2 s=$3 pid port url out n rps t0 t1
  if [ "$v" = plain ]; then pid=$plain; port=$plain_port; else pid=$agent; port=$agent_port; fi
  url="http://127.0.0.1:$port"
  read -r -a t0 <<< "$(ticks "$pid")"
  case "$kind" in
    SHOP) out=$(wrk -t1 -c16 -d"${s}s" -s bench/shop.lua "$url") ;;
    GET) out=$(wrk -t1 -c16 -d"${s}s" "${micro_headers[@]}" -s target/bench-empty.lua "$url/micro/search?q=running+shoes&page=2&sort=price") ;;
    POST) out=$(wrk -t1 -c16 -d"${s}s" "${micro_headers[@]}" -s target/bench-post.lua "$url/micro/api/comments") ;;
    PAGE) out=$(wrk -t1 -c16 -d"${s}s" "${micro_headers[@]}" -s target/bench-empty.lua "$url/micro/products?q=running+shoes") ;;
  esac
  read -r -a t1 <<< "$(ticks "$pid")"
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  awk -v v="$v" -v k="$kind" -v rps="$rps" -v n="$n" -v hz="$hz" -v a=$((t1[0] - t0[0])) -v g=$((t1[1] - t0[1])) -v j=$((t1[2] - t0[2])) -v c=$((t1[3] - t0[3])) \
    'BEGIN { f = 1e6 / hz / n; printf "%s %s %.0f %.1f %.1f %.1f %.1f\n", v, k, rps, a * f, g * f, j * f, c * f }'
}

echo "agent: ${BENCH_AGENT_JAR:-target/risk-hub-agent-0.1.0.jar}; load: $(uptime | sed 's/.*load average: //')"
echo "warm-up: alternated rounds until the JIT takes < 2% of both JVMs' CPU (shop ${secs}s, each micro kind 1s)"
for w in $(seq 1 "$warmup_max"); do
  done_both=1
  for v in plain agent; do
    line=$(one "$v" SHOP "$secs")
    for k in $micro; do one "$v" "$k" 1 > /dev/null; done
    echo "  warm-up $w: $line" | awk '{ printf "%s (JIT %.1f%%)\n", $0, $8 / $6 * 100 }'
    echo "$line" | awk '{ exit !($6 / $4 < 0.02) }' || done_both=0
  done
  [ "$w" -ge 3 ] && [ "$done_both" = 1 ] && break
done

measure() { # kind seconds rounds
  local r order v
  for r in $(seq 1 "$3"); do
    if [ $((r % 2)) -eq 1 ]; then order="plain agent"; else order="agent plain"; fi
    for v in $order; do one "$v" "$1" "$2"; done | tee -a "$results"
  done
}
measure SHOP "$secs" "$rounds"
for k in $micro; do measure "$k" "$micro_secs" "$micro_rounds"; done

# median and range of column $3 for variant/kind
stat() { awk -v v="$1" -v k="$2" -v c="$3" '$1 == v && $2 == k { print $c }' "$results" | sort -n |
  awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%s %s %s", m, a[1], a[NR] }'; }
echo
echo "medians (ranges) of $rounds rounds of ${secs}s (shop) and $micro_rounds of ${micro_secs}s (micro); load: $(uptime | sed 's/.*load average: //')"
for kind in SHOP $micro; do
  read -r pr prl prh <<< "$(stat plain "$kind" 3)"; read -r ar arl arh <<< "$(stat agent "$kind" 3)"
  read -r pc pcl pch <<< "$(stat plain "$kind" 4)"; read -r ac acl ach <<< "$(stat agent "$kind" 4)"
  read -r at _ _ <<< "$(stat agent "$kind" 5)"; read -r pj _ _ <<< "$(stat plain "$kind" 6)"; read -r aj _ _ <<< "$(stat agent "$kind" 6)"
  read -r pg _ _ <<< "$(stat plain "$kind" 7)"; read -r ag _ _ <<< "$(stat agent "$kind" 7)"
  awk -v k="$kind" -v pr="$pr" -v prl="$prl" -v prh="$prh" -v ar="$ar" -v arl="$arl" -v arh="$arh" \
      -v pc="$pc" -v pcl="$pcl" -v pch="$pch" -v ac="$ac" -v acl="$acl" -v ach="$ach" -v at="$at" -v pj="$pj" -v aj="$aj" -v pg="$pg" -v ag="$ag" 'BEGIN {
    printf "%-4s without: %6.0f req/s (%.0f-%.0f) %6.1f us CPU/request (%.1f-%.1f) | with: %6.0f req/s (%.0f-%.0f) %6.1f us (%.1f-%.1f; agent threads %.1f) | req/s %+.1f%%, CPU/request %+.1f%% (%+.1f us) | JIT %.1f / %.1f, GC %.1f / %.1f us\n",
      k, pr, prl, prh, pc, pcl, pch, ar, arl, arh, ac, acl, ach, at, (ar / pr - 1) * 100, (ac / pc - 1) * 100, ac - pc, pj, aj, pg, ag }'
done
kill "$agent"; wait "$agent" 2>/dev/null || true
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
grep -o 'agent {.*' target/bench-agent.log || true
tail -1 target/bench-relay.log
