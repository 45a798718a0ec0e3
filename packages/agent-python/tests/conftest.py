"""Shared fixtures: a tiny fake relay (http.server in a thread) that records what the agent sends."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

import pytest

TOKEN = "test-token-1"


class FakeRelay:
    def __init__(self) -> None:
        self.posts: List[Dict[str, Any]] = []
        self.decisions: List[Dict[str, Any]] = []
        self.version = 1
        self.event_status: List[int] = []  # statuses to answer next POSTs with (then 202)
        self.decision_gets = 0
        self.not_modified = 0
        self.auth_failures = 0
        self.lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> None:
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    relay.auth_failures += 1
                    return self._answer(401, {"error": "token"})
                if self.path.startswith("/v1/decisions"):
                    with relay.lock:
                        relay.decision_gets += 1
                        version = str(relay.version)
                        if self.headers.get("If-None-Match") == f'"{version}"':
                            relay.not_modified += 1
                            return self._answer(304, None, {"ETag": f'"{version}"'})
                        return self._answer(200, {"version": version, "decisions": list(relay.decisions)}, {"ETag": f'"{version}"'})
                self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    relay.auth_failures += 1
                    return self._answer(401, {"error": "token"})
                with relay.lock:
                    status = relay.event_status.pop(0) if relay.event_status else 202
                    if status != 202:
                        return self._answer(status, {"error": "test"})
                    payload = json.loads(body)
                    payload["_bytes"] = len(body)
                    relay.posts.append(payload)
                self._answer(202, {"accepted": len(payload["events"]), "rejected": 0, "detections": 0})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [e for p in self.posts for e in p["events"]]

    def set_decisions(self, decisions: List[Dict[str, Any]]) -> None:
        with self.lock:
            self.decisions = decisions
            self.version += 1

    def wait_events(self, n: int, kind: Optional[str] = None, tries: int = 400) -> List[Dict[str, Any]]:
        """Bounded wait (tries × 10 ms) until at least n events (of a kind) arrived."""
        for _ in range(tries):
            found = [e for e in self.events if kind is None or e["kind"] == kind]
            if len(found) >= n:
                return found
            time.sleep(0.01)
        return [e for e in self.events if kind is None or e["kind"] == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relay():
    r = FakeRelay()
    yield r
    r.close()


@pytest.fixture
def make_agent(relay):
    from risk_hub_agent import Agent

    agents = []

    def make(**kw: Any) -> Agent:
        kw.setdefault("linger", 0.01)
        kw.setdefault("poll_interval", 0.05)
        a = Agent("shop", "test", relay.url, TOKEN, **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.close(timeout=0.5)


def block(user_key: str, action: str = "BLOCK", until_ms: Optional[int] = None, simulated: bool = False) -> Dict[str, Any]:
    return {"user_key": user_key, "action": action, "until": until_ms or int(time.time() * 1000) + 3_600_000,
            "reason": "tier 3: +53 points in 24 h (above 50)", "decision_id": f"d-{user_key}-{action}", "simulated": simulated}
