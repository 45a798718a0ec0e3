"""The agent in a FastAPI app (ASGI), against the fake relay."""

from fastapi.testclient import TestClient

from apps import fastapi_app
from conftest import block


def test_requests_path_params_bodies_and_users(relay, make_agent):
    agent = make_agent()
    client = TestClient(fastapi_app(agent))
    client.cookies.set("sid", "s1")
    r = client.post("/items/7?q=1&q=%3Cscript%3E", json={"comment": "' OR 1=1--"},
                    headers={"X-User": "alice", "Authorization": "Bearer s", "User-Agent": "ua"})
    assert r.status_code == 200 and r.json() == {"id": "7", "len": len(b'{"comment":"\' OR 1=1--"}')}
    (e,) = relay.wait_events(1, "request")
    req = e["request"]
    assert e["user"] == {"key": "alice", "identifiers": {}}
    assert (req["method"], req["uri"], req["ip"]) == ("POST", "/items/7?q=1&q=%3Cscript%3E", "testclient")
    assert req["query"] == {"q": ["1", "<script>"]}
    assert req["body"] == {"comment": "' OR 1=1--"}
    assert req["path_params"] == {"item_id": "7"}
    assert req["cookies"] == {"sid": "s1"}
    assert "authorization" not in req["headers"] and "cookie" not in req["headers"]


def test_logins_and_block(relay, make_agent):
    relay.set_decisions([block("mallory")])
    agent = make_agent()
    agent.poll_decisions()
    client = TestClient(fastapi_app(agent))
    assert client.post("/login", json={"username": "carol", "password": "no"}).json() == {"ok": False}
    r = client.get("/", headers={"X-User": "mallory"})
    assert r.status_code == 403 and r.json()["error"] == "blocked"
    assert client.get("/items/1", headers={"X-User": "mallory"}).status_code == 403  # async route, sync dependency
    assert client.get("/", headers={"X-User": "alice"}).status_code == 200
    (login,) = relay.wait_events(1, "login")
    assert (login["user"]["key"], login["success"]) == ("carol", False)
    enforcement = relay.wait_events(2, "enforcement")
    assert [e["action"] for e in enforcement] == ["BLOCK", "BLOCK"]


def test_user_resolver_blocks_before_the_app(relay, make_agent):
    from fastapi import FastAPI

    from risk_hub_agent import RiskHubASGI

    relay.set_decisions([block("mallory")])
    agent = make_agent()
    agent.poll_decisions()
    reached = []
    app = FastAPI()

    @app.get("/")
    def index():
        reached.append(1)
        return {}

    def user(scope):
        return dict(scope["headers"]).get(b"x-user", b"").decode() or None

    client = TestClient(RiskHubASGI(app, agent, user=user))
    assert client.get("/", headers={"X-User": "mallory"}).status_code == 403
    assert reached == []
    assert client.get("/", headers={"X-User": "bob"}).status_code == 200
