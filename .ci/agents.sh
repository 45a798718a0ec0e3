#!/usr/bin/env bash
# The Python, Java, Ruby and PHP agents (issue 16), each with its ecosystem's tools: built as its
# package, installed from the built file, its own suite run (.ci/agent-<lang>.sh), the end-to-end part
# against a real relay and scorer on the local stack started by .ci/run. A block decided by hand for
# user `e2e-blocked` in each language's environment must refuse that user in every agent's app, and each
# suite sends the traffic of test/vectors/e2e-traffic.json for a fresh user and compares what the scorer
# (RISK_HUB_SCORER_URL) holds for that user with the vector's `expect`: the Node agent's result.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=.ci/agents-e2e.yaml
rh() { node bin/risk-hub.js --config "$cfg" "$@"; }

# The local stack's addresses (idempotent: it is already up).
eval "$(node bin/risk-hub.js local up 2>/dev/null | grep -E '^(KAFKA_BROKERS|SCHEMA_REGISTRY_URL)=' | sed 's/^/export /')"
export RISK_HUB_RELAY_TOKEN="ci-$RANDOM-$RANDOM-$RANDOM"
rm -rf .ci/agents-state
rh topics apply >/dev/null
rh schemas register >/dev/null
# Not through rh(): $! must be node's own pid for the trap to stop it.
node bin/risk-hub.js --config "$cfg" scorer >.ci/agents-scorer.log 2>&1 &
scorer=$!
node bin/risk-hub.js --config "$cfg" relay >.ci/agents-relay.log 2>&1 &
relay=$!
trap 'kill $scorer $relay 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for i in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:18787/healthz >/dev/null 2>&1 && curl -fsS http://127.0.0.1:19465/readyz >/dev/null 2>&1; then break; fi
  if [ "$i" = 120 ]; then echo "relay or scorer not ready in 60 s"; tail -20 .ci/agents-relay.log .ci/agents-scorer.log; exit 1; fi
  sleep 0.5
done
echo "relay and scorer ready"

export RISK_HUB_RELAY_URL=http://127.0.0.1:18787
export RISK_HUB_RELAY_APPLICATION=agents-e2e RISK_HUB_APPLICATION=agents-e2e
export RISK_HUB_E2E_BLOCKED_USER=e2e-blocked RISK_HUB_SCORER_URL=http://127.0.0.1:19465
for lang in python java ruby php; do
  [ -f ".ci/agent-$lang.sh" ] || continue
  rh decisions add --app agents-e2e --env "$lang" --user e2e-blocked --action block --for 1h --reason "CI end-to-end" --by ci --force >/dev/null
  # The relay follows the decisions topic (one Node agent per environment, made on first use): wait,
  # bounded, until it serves the block, so the suite's check does not race the relay's rebuild.
  for i in $(seq 1 60); do
    if curl -fsS -H "Authorization: Bearer $RISK_HUB_RELAY_TOKEN" "$RISK_HUB_RELAY_URL/v1/decisions?environment=$lang" | grep -q '"e2e-blocked"'; then break; fi
    if [ "$i" = 60 ]; then echo "the relay never served the block of e2e-blocked in $lang"; exit 1; fi
    sleep 0.5
  done
  start=$(date +%s)
  echo "== agent-$lang"
  RISK_HUB_RELAY_ENVIRONMENT="$lang" RISK_HUB_ENVIRONMENT="$lang" bash ".ci/agent-$lang.sh"
  echo "agent-$lang in $(( $(date +%s) - start )) s"
done
