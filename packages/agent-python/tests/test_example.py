"""The demo app (examples/shop.py) works with the agent."""

import importlib.util
from pathlib import Path

from conftest import block


def load_shop():
    spec = importlib.util.spec_from_file_location("shop", Path(__file__).parent.parent / "examples" / "shop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shop_logins_sessions_and_blocks(relay, make_agent):
    relay.set_decisions([block("bob")])
    agent = make_agent(skip=lambda uri: uri.startswith("/healthz"))
    agent.poll_decisions()
    client = load_shop().create_app(agent).test_client()
    assert client.post("/login", data={"username": "alice", "password": "nope"}).status_code == 401
    assert client.post("/login", json={"username": "alice", "password": "wonderland"}).status_code == 200
    assert client.get("/profile").get_json() == {"user": "alice"}
    assert client.get("/download?file=../../etc/passwd").status_code == 404
    assert client.get("/healthz").status_code == 200
    bob = load_shop().create_app(agent).test_client()
    assert bob.post("/login", json={"username": "bob", "password": "builder"}).status_code == 403  # blocked at sign-in
    requests = relay.wait_events(5, "request")
    assert [e["request"]["uri"] for e in requests] == ["/login", "/login", "/profile", "/download?file=../../etc/passwd", "/login"]
    assert [e["user"] and e["user"]["key"] for e in requests] == [None, "alice", "alice", "alice", "bob"]
    assert [(e["user"]["key"], e["success"]) for e in relay.wait_events(3, "login")] == [("alice", False), ("alice", True), ("bob", True)]
