#!/usr/bin/env bash
# The Python agent (packages/agent-python) on a clean Debian machine with python3: builds the wheel,
# installs it FROM THE BUILT FILE into a fresh venv under .ci/, and runs its pytest suite (unit tests
# against a fake relay; the end-to-end tests too when RISK_HUB_RELAY_URL, RISK_HUB_RELAY_TOKEN and
# RISK_HUB_APPLICATION name a running relay). Usage: .ci/agent-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "== apt-get install python3-venv"
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
echo "== $(python3 --version)"

venv=.ci/.venv-agent-python
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$py" -m pip install --quiet --disable-pip-version-check build pytest flask fastapi httpx uvicorn django

echo "== build the wheel"
rm -rf packages/agent-python/dist packages/agent-python/build
"$py" -m build --wheel --outdir packages/agent-python/dist packages/agent-python >/dev/null
wheel=$(ls packages/agent-python/dist/risk_hub_agent-*.whl)
echo "built $wheel"
# the wheel carries the package and requires nothing (standard library only)
"$py" - "$wheel" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert "risk_hub_agent/agent.py" in names and "risk_hub_agent/py.typed" in names, names
meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
required = [l for l in meta.splitlines() if l.startswith("Requires-Dist:") and "extra ==" not in l]
assert not required, required
PY

echo "== install from the built file"
"$py" -m pip install --quiet --disable-pip-version-check --force-reinstall "$wheel"
# the suite must import the installed wheel, not the sources
(cd packages/agent-python/tests && "../../../$py" -c 'import risk_hub_agent, sys; assert "site-packages" in risk_hub_agent.__file__, risk_hub_agent.__file__')

echo "== pytest${RISK_HUB_RELAY_URL:+ (with the end-to-end tests against $RISK_HUB_RELAY_URL)}"
cd packages/agent-python
"../../$py" -m pytest -q -p no:cacheprovider tests
