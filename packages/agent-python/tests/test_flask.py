"""The agent in a Flask app (WSGI), against the fake relay."""

import json
import time

from conftest import block
from apps import flask_app


def test_request_events_carry_what_the_relay_needs(relay, make_agent):
    agent = make_agent()
    client = flask_app(agent).test_client()
    client.set_cookie("sid", "s1")
    client.set_cookie("theme", "dark")
    r = client.post("/items/42?q=%27%20OR%201%3D1--&q=2", json={"comment": "<script>alert(1)</script>", "__proto__": {"a": 1}},
                    headers={"X-User": "alice", "Authorization": "Bearer secret", "User-Agent": "sqlmap/1.7"})
    assert r.status_code == 200 and r.get_json()["body"]["comment"] == "<script>alert(1)</script>"  # body still readable
    client.get("/")
    events = relay.wait_events(2, "request")
    assert len(events) == 2
    e = events[0]
    assert set(e) == {"kind", "id", "at", "user", "request"}
    assert len(e["id"]) == 36 and e["id"][14] == "4"  # UUID v4
    assert abs(e["at"] - time.time() * 1000) < 60_000
    assert e["user"] == {"key": "alice", "identifiers": {"email": "alice@example.com"}}
    req = e["request"]
    assert req["method"] == "POST" and req["uri"] == "/items/42?q=%27%20OR%201%3D1--&q=2"
    assert req["ip"] == "127.0.0.1"
    assert req["query"] == {"q": ["' OR 1=1--", "2"]}
    assert req["body"] == {"comment": "<script>alert(1)</script>", "__proto__": {"a": 1}}
    assert req["path_params"] == {"item_id": "42"}
    assert req["cookies"] == {"sid": "s1", "theme": "dark"}
    assert req["headers"]["user-agent"] == "sqlmap/1.7"
    assert "cookie" not in req["headers"] and "authorization" not in req["headers"]
    assert events[1]["user"] is None  # nobody identified: the relay uses anon:<ip>
    post = relay.posts[0]
    assert post["agent"] == {"name": "risk-hub-python", "version": "0.1.0", "language": "python"}
    assert (post["application_id"], post["environment"]) == ("shop", "test")
    assert agent.flush(5) and agent.stats()["accepted"] >= 2  # the 202 answers counted


def test_form_bodies_and_logins(relay, make_agent):
    agent = make_agent()
    client = flask_app(agent).test_client()
    for _ in range(3):
        assert client.post("/login", data={"username": "carol", "password": "x"}).status_code == 401
    assert client.post("/login", json={"username": "alice", "password": "wonderland"}).status_code == 200
    logins = relay.wait_events(4, "login")
    assert [e["success"] for e in logins] == [False, False, False, True]
    assert {e["user"]["key"] for e in logins} == {"carol", "alice"}
    assert logins[0]["request"] == {"method": "POST", "uri": "/login", "ip": "127.0.0.1"}
    requests = relay.wait_events(4, "request")
    assert requests[0]["request"]["body"] == {"username": "carol", "password": "x"}
    assert requests[3]["user"]["key"] == "alice"  # a successful login identifies the request


def test_custom_events(relay, make_agent):
    agent = make_agent()
    client = flask_app(agent).test_client()
    client.post("/pay", headers={"X-User": "bob"})
    (e,) = relay.wait_events(1, "custom")
    assert (e["user"]["key"], e["type"], e["severity"], e["points"]) == ("bob", "payment_fraud", "HIGH", None)
    assert agent.report("x" * 65, "HIGH", user="bob") is None
    assert agent.report("t", "SEVERE", user="bob") is None
    assert agent.report("t", "LOW") is None  # no user outside a request
    assert agent.stats()["dropped_invalid"] == 3
    assert agent.report("account_takeover", "CRITICAL", user="bob", points=25) is not None


def test_block_decision_refuses_the_user_and_reports_it(relay, make_agent):
    relay.set_decisions([block("mallory"), block("eve", until_ms=int(time.time() * 1000) - 1),
                         block("sim", simulated=True), block("watch", "MONITOR")])
    agent = make_agent()
    assert agent.poll_decisions()
    client = flask_app(agent).test_client()
    r = client.get("/", headers={"X-User": "mallory"})
    assert r.status_code == 403
    assert r.get_json() == {"error": "blocked", "reason": "tier 3: +53 points in 24 h (above 50)"}
    assert r.headers["Cache-Control"] == "no-store"
    for user in ("eve", "sim", "watch", "alice"):  # expired, simulated, monitor, none: let through
        assert client.get("/", headers={"X-User": user}).status_code == 200
    enforcement = relay.wait_events(3, "enforcement")
    assert [(e["user"]["key"], e["action"], e["simulated"]) for e in enforcement] == \
        [("mallory", "BLOCK", False), ("sim", "BLOCK", True), ("watch", "MONITOR", False)]
    assert enforcement[0]["decision_id"] == "d-mallory-BLOCK"
    assert enforcement[0]["request"]["uri"] == "/"
    s = agent.stats()
    assert (s["blocked"], s["monitored"], s["simulated"]) == (1, 1, 1)
    blocked_request = [e for e in relay.wait_events(5, "request") if e["user"] and e["user"]["key"] == "mallory"]
    assert len(blocked_request) == 1  # the refused request is still reported


def test_decisions_follow_the_relay_with_etags(relay, make_agent):
    agent = make_agent(poll_interval=0.02)
    client = flask_app(agent).test_client()
    assert client.get("/", headers={"X-User": "mallory"}).status_code == 200
    relay.set_decisions([block("mallory")])
    for _ in range(300):  # bounded: the poller picks it up
        if agent.decision_for("mallory") is not None:
            break
        time.sleep(0.01)
    assert client.get("/", headers={"X-User": "mallory"}).status_code == 403
    for _ in range(300):
        if relay.not_modified:
            break
        time.sleep(0.01)
    assert relay.not_modified > 0  # If-None-Match answered 304
    relay.set_decisions([])  # lifted
    for _ in range(300):
        if agent.decision_for("mallory") is None:
            break
        time.sleep(0.01)
    assert client.get("/", headers={"X-User": "mallory"}).status_code == 200


def test_challenge_calls_the_hook_or_fails_open(relay, make_agent):
    from werkzeug.exceptions import Unauthorized

    relay.set_decisions([block("carol", "CHALLENGE")])
    agent = make_agent()
    agent.poll_decisions()
    client = flask_app(agent).test_client()
    assert client.get("/", headers={"X-User": "carol"}).status_code == 200  # no hook: through, logged once
    assert agent.stats()["challenge_unenforced"] == 1

    seen = []

    def challenge(decision):
        seen.append(decision.action)
        raise Unauthorized("please sign in again")

    agent2 = make_agent(on_challenge=challenge)
    agent2.poll_decisions()
    assert flask_app(agent2).test_client().get("/", headers={"X-User": "carol"}).status_code == 401
    assert seen == ["CHALLENGE"]


def test_configurable_block_response_and_handler(relay, make_agent):
    from werkzeug.exceptions import NotFound

    relay.set_decisions([block("mallory")])
    agent = make_agent(block_response="<h1>No</h1>", block_status=451)
    agent.poll_decisions()
    r = flask_app(agent).test_client().get("/", headers={"X-User": "mallory"})
    assert (r.status_code, r.data, r.headers["Content-Type"]) == (451, b"<h1>No</h1>", "text/html; charset=utf-8")

    def hide(decision):
        raise NotFound()

    agent2 = make_agent(on_block=hide)
    agent2.poll_decisions()
    assert flask_app(agent2).test_client().get("/", headers={"X-User": "mallory"}).status_code == 404


def test_hostile_requests_never_break_the_app(relay, make_agent):
    agent = make_agent()
    client = flask_app(agent).test_client()
    deep = "[" * 500 + "]" * 500  # deeper would break Flask's own get_json (RecursionError), not the agent
    cases = [
        dict(data=deep, content_type="application/json"),
        dict(data=b'{"a": "' + b"x" * 200_000 + b'"}', content_type="application/json"),
        dict(data=b"\xff\xfe\xfd", content_type="application/json"),
        dict(data=b"a=%ff%fe&b=\xff", content_type="application/x-www-form-urlencoded"),
        dict(data=json.dumps({"__proto__": {"polluted": True}, "constructor": {"prototype": 1}}), content_type="application/json"),
    ]
    for case in cases:
        assert client.put("/items/1", **case).status_code == 200
    from werkzeug.test import create_environ, run_wsgi_app

    environ = create_environ("/items/x", query_string="%ff=%fe")
    environ["HTTP_COOKIE"] = "a=%ff; \x00=\x01; =; ;;"
    environ["PATH_INFO"] = "/items/\xff\xfe"  # raw bytes as WSGI gives them (latin-1)
    _, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("200")
    events = relay.wait_events(6, "request")
    assert len(events) == 6
    assert "body" not in events[1]["request"]  # over 64 KiB: not parsed
    assert events[4]["request"]["body"]["__proto__"] == {"polluted": True}
    assert agent.stats()["errors"] == 0
