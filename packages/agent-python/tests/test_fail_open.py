"""Never hurting the application: relay down, refusals, a full queue, shutdown."""

import socket
import time
import threading

from risk_hub_agent import Agent
from risk_hub_agent._sender import MAX_POST_BYTES

from apps import flask_app
from conftest import TOKEN


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_relay_down_changes_nothing_for_the_app_and_close_is_bounded():
    agent = Agent("shop", "test", closed_port(), TOKEN, linger=0.01, poll_interval=0.05, max_queue=50)
    client = flask_app(agent).test_client()
    for i in range(120):
        assert client.get(f"/search?q={i}", headers={"X-User": "alice"}).status_code == 200
    assert agent.decision_for("alice") is None
    for _ in range(300):  # bounded: until the sender has tried the relay
        if agent.stats()["relay_reachable"] == 0:
            break
        time.sleep(0.01)
    s = agent.stats()
    assert s["requests"] == 120 and s["queued"] <= 50 and s["dropped_queue_full"] >= 20  # (≤ 50 may be in flight)
    assert s["errors"] == 0 and s["relay_reachable"] == 0
    result = agent.close(timeout=0.3)
    assert result == {"sent": 0, "dropped": 120}  # every event accounted for
    assert agent.stats()["queued"] == 0


def test_the_queue_drops_the_oldest():
    agent = Agent("shop", "test", closed_port(), TOKEN, max_queue=10, start=False)
    ids = [agent.report("custom_thing", "LOW", user=f"u{i}") for i in range(25)]
    assert agent.stats()["dropped_queue_full"] == 15
    kept = [event["id"] for event, _ in agent._sender._queue]
    assert kept == ids[15:]
    agent.close(0)


def test_events_queued_while_the_relay_is_down_are_sent_once_it_is_back(relay):
    # the relay refuses the first POSTs as "busy" (one retry each), then answers normally
    relay.event_status = [503, 503]
    agent = Agent("shop", "test", relay.url, TOKEN, linger=0.01, decisions=False)
    agent.report("a", "LOW", user="u1")
    assert agent.flush(5)
    assert agent.stats()["dropped_relay_busy"] == 1  # a 503 is retried once, then dropped
    agent.report("b", "LOW", user="u1")
    assert agent.flush(5)
    assert [e["type"] for e in relay.events] == ["b"]
    agent.close(1)


def test_refused_batches_are_dropped_and_counted(relay):
    agent = Agent("shop", "test", relay.url, "wrong-token", linger=0.01, decisions=False)
    agent.report("a", "LOW", user="u1")
    assert agent.flush(5)
    assert agent.stats()["dropped_refused"] == 1 and relay.auth_failures >= 1
    agent.close(1)


def test_big_batches_are_split_under_the_relay_limit(relay, make_agent):
    agent = make_agent(linger=0.2, decisions=False)
    client = flask_app(agent).test_client()
    body = {k: "x" * 15_000 for k in "abcd"}  # strings are cut at 16 KiB: four of 15 KB
    for _ in range(40):  # ~2.4 MB of bodies
        client.put("/items/1", json=body)
    assert agent.flush(10)
    assert len(relay.events) == 40
    assert all(p["_bytes"] <= MAX_POST_BYTES for p in relay.posts) and len(relay.posts) >= 3


def test_close_sends_what_is_queued(relay):
    agent = Agent("shop", "test", relay.url, TOKEN, linger=5, decisions=False)  # long linger: nothing sent yet
    for i in range(30):
        agent.report("t", "LOW", user=f"u{i}")
    agent.close(timeout=2)
    assert len(relay.events) == 30


def test_a_blocked_user_is_let_through_when_the_agent_fails(relay, make_agent, monkeypatch):
    agent = make_agent()
    monkeypatch.setattr(agent._decisions, "get", lambda key: 1 / 0)
    client = flask_app(agent).test_client()
    assert client.get("/", headers={"X-User": "mallory"}).status_code == 200


def test_threads_share_one_agent(relay, make_agent):
    agent = make_agent(decisions=False)
    app = flask_app(agent)

    def work(n):
        c = app.test_client()
        for i in range(25):
            c.get("/", headers={"X-User": f"user-{n}"})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert agent.flush(10)
    events = relay.events
    assert len(events) == 200 and len({e["id"] for e in events}) == 200
    per_user = {}
    for e in events:
        per_user[e["user"]["key"]] = per_user.get(e["user"]["key"], 0) + 1
    assert per_user == {f"user-{n}": 25 for n in range(8)}  # each request kept its own user (context variables)


def test_a_forked_child_sends_with_its_own_thread(relay, make_agent):
    import os

    agent = make_agent(decisions=False)
    agent.report("parent", "LOW", user="p")
    assert agent.flush(5)
    pid = os.fork()
    if pid == 0:  # gunicorn --preload: the agent was made before the fork; its threads are not in the child
        code = 1
        try:
            agent.report("child", "LOW", user="c")
            code = 0 if agent.flush(5) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert sorted(e["type"] for e in relay.wait_events(2, "custom")) == ["child", "parent"]
