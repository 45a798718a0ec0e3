"""End to end against the real relay (in front of the real broker). Runs when RISK_HUB_RELAY_URL is set.

Needs RISK_HUB_RELAY_TOKEN and RISK_HUB_APPLICATION (an application the relay is configured for);
RISK_HUB_ENVIRONMENT defaults to "production". Start the relay with
``node --import tsx src/cli/main.ts relay --config <file>`` (see docs/agents-python.md).

- a real Flask app served by a real HTTP server (werkzeug, in a thread) sends the traffic of
  test/vectors/e2e-traffic.json (corpus attacks for one user, a login burst) through the agent; the relay
  accepts every event, and with RISK_HUB_SCORER_URL the scorer's score, tier and alert tier for that user
  must be the vector's ``expect`` (what the same traffic gives through the Node agent);
- the corpus (test/vectors/requests.json): each request is sent to the real app, the relay JSON the
  integration built for it is posted to POST /v1/inspect, and the attack types must equal ``expect``.
"""

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from risk_hub_agent import Agent
from risk_hub_agent._extract import request_json

from apps import flask_app

RELAY = os.environ.get("RISK_HUB_RELAY_URL")
pytestmark = pytest.mark.skipif(not RELAY, reason="RISK_HUB_RELAY_URL not set: no relay to test against")
VECTORS = Path(os.environ.get("RISK_HUB_VECTORS", Path(__file__).parent.parent.parent.parent / "test" / "vectors"))


def relay_call(method, path, payload=None):
    req = urllib.request.Request(RELAY.rstrip("/") + path, method=method,
                                 data=None if payload is None else json.dumps(payload).encode(),
                                 headers={"Authorization": f"Bearer {os.environ['RISK_HUB_RELAY_TOKEN']}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read() or b"null")


@pytest.fixture
def served_app():
    """A real Flask app on a real socket, with an agent that also keeps each request's relay JSON."""
    from werkzeug.serving import make_server

    agent = Agent(os.environ.get("RISK_HUB_APPLICATION"), os.environ.get("RISK_HUB_ENVIRONMENT"), RELAY,
                  linger=0.01)
    built = []
    put = agent._sender.put

    def keep(event, raw=None):  # what the integration extracted, as the relay receives it
        if raw is not None:
            built.append(request_json(raw))
        put(event, raw)

    agent._sender.put = keep
    server = make_server("127.0.0.1", 0, flask_app(agent), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield agent, f"http://127.0.0.1:{server.server_port}", built
    server.shutdown()
    agent.close(2)


def send(base, method, uri, headers=None, body=None):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, uri, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def test_relay_is_up():
    with urllib.request.urlopen(RELAY.rstrip("/") + "/healthz", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ok"


def test_attacks_and_a_login_burst_reach_the_relay(served_app):
    """test/vectors/e2e-traffic.json through the real Flask app: every event accepted; with
    RISK_HUB_SCORER_URL, the scorer holds for the user what the same traffic gives through the Node agent."""
    traffic = json.loads((VECTORS / "e2e-traffic.json").read_text("utf-8"))
    corpus = {c["name"]: c for c in json.loads((VECTORS / "requests.json").read_text("utf-8"))}
    agent, base, _ = served_app
    user = f"py-e2e-{uuid.uuid4().hex[:8]}"
    for name in traffic["attacks"]:
        case = corpus[name]
        headers = {**(case.get("headers") or {}), "X-User": user}
        if case.get("content_type"):
            headers["Content-Type"] = case["content_type"]
        body = case.get("body")
        send(base, case["method"], case["uri"], headers, body.encode("utf-8") if body else None)
    burst = traffic["login_burst"]
    for _ in range(burst["failures"]):
        assert send(base, "POST", burst["path"], {"Content-Type": "application/json"},
                    json.dumps({"username": user, "password": "wrong"})) == 401
    assert agent.flush(10)
    s = agent.stats()
    events = len(traffic["attacks"]) + 2 * burst["failures"]  # request events (the logins' too) + login events
    assert s["sent"] == events and s["accepted"] == events and s["rejected"] == 0, s
    assert s["detections"] >= len(traffic["attacks"]), s
    scorer = os.environ.get("RISK_HUB_SCORER_URL")
    if scorer:
        assert_scored_like_the_node_agent(scorer, agent.options.application_id, agent.options.environment, user, traffic["expect"])


def assert_scored_like_the_node_agent(scorer, app, env, user, expect):
    """The scorer's view of ``user`` equals e2e-traffic.json's ``expect`` (bounded wait: it consumes asynchronously)."""
    url = f"{scorer.rstrip('/')}/v1/users/{app}/{env}/{user}/risk"
    risk = {}
    for _ in range(120):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                risk = json.loads(resp.read())
        except urllib.error.HTTPError:
            risk = {}
        if len(risk.get("contributions", [])) + risk.get("contributions_truncated", 0) >= expect["contributions"]:
            break
        time.sleep(0.5)
    got = {"increase_24h": risk.get("increase_24h"), "risk_score": risk.get("risk_score"), "tier": risk.get("tier"),
           "alerted_tier": risk.get("alerted_tier"),
           "contributions": len(risk.get("contributions", [])) + risk.get("contributions_truncated", 0)}
    want = {k: expect[k] for k in got}
    assert got == want, json.dumps(risk, indent=1)


def test_the_corpus_gets_the_node_agents_verdicts(served_app):
    path = VECTORS / "requests.json"
    if not path.exists():
        pytest.skip(f"{path} not there yet")
    corpus = json.loads(path.read_text("utf-8"))
    agent, base, built = served_app
    mismatches = []
    for case in corpus:
        before = len(built)
        headers = dict(case.get("headers") or {})
        if case.get("content_type"):
            headers["Content-Type"] = case["content_type"]
        body = case.get("body")
        send(base, case["method"], case["uri"], headers, body.encode("utf-8") if isinstance(body, str) else None)
        for _ in range(200):  # the event is queued right after the response: bounded wait
            if len(built) > before:
                break
            time.sleep(0.01)
        assert len(built) == before + 1, case["name"]
        status, answer = relay_call("POST", "/v1/inspect", {"request": built[-1]})
        assert status == 200
        got = sorted({d["attack_type"] for d in answer["detections"]})
        if got != sorted(set(case["expect"])):
            mismatches.append((case["name"], case["expect"], got))
    assert not mismatches, mismatches
