#!/usr/bin/env bash
# Instructions per request (valgrind's callgrind: not moved by the machine's load) of one `php -S` process
# with opcache and the agent preloaded, serving bench/start-only.php: 20 requests, then N counted.
#   bench/instructions.sh AGENT_DIR STAGE [XOPTS_JSON] [N]
#   STAGE: none | options | start. XOPTS e.g. '{"linger_ms":3600000}' (nothing sent while counting).
# Prints instructions per request; subtract STAGE=none's for the agent's share.
set -euo pipefail
dir=$(realpath "$1"); stage=$2; xopts=${3:-}; n=${4:-200}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'kill -- -$pid -$sink 2>/dev/null || true; rm -rf "$work"' EXIT
free() { php -r '$s=stream_socket_server("tcp://127.0.0.1:0"); $n=stream_socket_get_name($s,false); echo substr($n,strrpos($n,":")+1);'; }
sport=$(free); setsid php -q -S 127.0.0.1:$sport "$here/sink.php" >/dev/null 2>&1 & sink=$!
port=$(free)
STAGE=$stage XOPTS=$xopts RELAY_URL=http://127.0.0.1:$sport STATE_DIR=$work/state setsid valgrind --tool=callgrind \
  --callgrind-out-file="$work/cg.out" php -q -d opcache.enable_cli=1 -d opcache.preload="$dir/preload.php" \
  -d opcache.preload_user="$(id -un)" -S 127.0.0.1:$port "$here/start-only.php" >/dev/null 2>&1 & pid=$!
for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
H=(-H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36'
   -H 'Accept: text/html,application/xhtml+xml' -H 'Accept-Language: en-US,en;q=0.9' -H 'Referer: http://127.0.0.1/' -H 'Cookie: theme=dark; sid=s1x2')
for _ in $(seq 1 20); do curl -s -o /dev/null "${H[@]}" "http://127.0.0.1:$port/search?q=red+shoes&page=2"; done
callgrind_control -z $pid >/dev/null 2>&1
for _ in $(seq 1 "$n"); do curl -s -o /dev/null "${H[@]}" "http://127.0.0.1:$port/search?q=red+shoes&page=2"; done
callgrind_control -d $pid >/dev/null 2>&1; sleep 0.5
total=$(callgrind_annotate "$work"/cg.out.1 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$stage $(basename "$dir"): $((total / n)) instructions per request"
