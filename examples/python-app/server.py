"""The demo shop in Python: the twin of examples/express-app, instrumented by the Python agent.

Standard library only (wsgiref, threaded) and the agent's WSGI middleware imported from its sources, so
nothing needs installing. `npm run demo` starts it beside the Express app, with an in-process
`risk-hub relay` the agent sends to:

    PYTHONPATH=packages/agent-python/src RISK_HUB_APPLICATION=demo-shop-py RISK_HUB_RELAY_TOKEN=... \\
      python3 examples/python-app/server.py --port 3001      # prints "listening on http://HOST:PORT"

Routes, answers and demo accounts are the Express app's (alice/wonderland u-1001, bob/builder u-1002,
carol/singer u-1003), so the same traffic driver (examples/express-app/attack.ts) plays against both:
POST /login (JSON or form; a bearer token and an `sid` cookie), POST /logout, GET /search?q=, GET
/files?name=, GET /users/<id>, GET /healthz (not reported). The signed-in user is identified on every
request: a user the policy blocked gets the agent's 403 before the route runs.
"""

import argparse
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import signal
import sys
import threading
from collections import OrderedDict
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from risk_hub_agent import Agent
from risk_hub_agent.wsgi import RiskHubWSGI


def _sha256(s: str) -> bytes:
    return hashlib.sha256(s.encode("utf-8")).digest()


# Demo accounts (SHA-256 for the sake of a small example; use a KDF in real life), as in the Express app.
USERS = {
    "alice": {"id": "u-1001", "email": "alice@example.com", "name": "Alice", "sha256": _sha256("wonderland")},
    "bob": {"id": "u-1002", "email": "bob@example.com", "name": "Bob", "sha256": _sha256("builder")},
    "carol": {"id": "u-1003", "email": "carol@example.com", "name": "Carol", "sha256": _sha256("singer")},
}
PRODUCTS = [
    "Red running shoes", "Blue rain jacket", "Green tea (loose leaf)", "Espresso machine", "Hiking backpack 40L",
    "Wool socks", "Cast iron skillet", "Noise-cancelling headphones", "Paperback: The Hobbit", "Yoga mat",
    "Stainless water bottle", "LED desk lamp", "Mechanical keyboard", "USB-C charger 65W", "Coffee grinder",
]
FILES = {
    "report.pdf": ("application/pdf", "%PDF-1.4 demo report"),
    "readme.txt": ("text/plain", "Welcome to the demo shop."),
    "price-list.csv": ("text/csv", "product,price\nwool socks,9.90\n"),
}
MAX_SESSIONS = 10_000
MAX_BODY = 32 * 1024  # bytes, as the Express app's body parsers
USER_PATH = re.compile(r"^/users/([^/]+)$")


class Shop:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.sessions: "OrderedDict[str, str]" = OrderedDict()  # token -> login; oldest dropped first
        self.lock = threading.Lock()

    def session_user(self, environ: dict):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if not token:
            morsel = SimpleCookie(environ.get("HTTP_COOKIE", "")).get("sid")
            token = morsel.value if morsel else None
        with self.lock:
            return self.sessions.get(token) if token else None

    def __call__(self, environ: dict, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        login = self.session_user(environ)
        user = USERS.get(login) if login else None
        if user:
            # the agent ties the request to the user and enforces their decision (raises Blocked: a 403)
            self.agent.identify({"key": user["id"], "identifiers": {"login": login, "email": user["email"]}})

        def send(status: str, body, content_type="application/json", headers=()):
            data = (json.dumps(body) if content_type == "application/json" else body).encode("utf-8")
            start_response(status, [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(data))), *headers])
            return [data]

        if method == "GET" and path == "/":
            who = f"<p>Signed in as {html.escape(login)}</p>" if user else ""
            return send("200 OK", f"<!doctype html><title>Demo shop</title><h1>Demo shop (Python)</h1>{who}", "text/html")
        if method == "POST" and path == "/login":
            return self.login(environ, send)
        if method == "POST" and path == "/logout":
            morsel = SimpleCookie(environ.get("HTTP_COOKIE", "")).get("sid")
            with self.lock:
                self.sessions.pop(morsel.value if morsel else "", None)
            return send("200 OK", {"ok": True}, headers=[("Set-Cookie", "sid=; Max-Age=0; Path=/")])
        if method == "GET" and path == "/search":
            q = (query.get("q") or [""])[0][:200]
            terms = q.lower().split()
            hits = [p for p in PRODUCTS if terms and all(t in p.lower() for t in terms)]
            return send("200 OK", {"q": q, "results": hits})
        if method == "GET" and path == "/files":
            name = (query.get("name") or [""])[0]
            if name not in FILES:
                return send("404 Not Found", {"error": "no such file"})
            ctype, body = FILES[name]
            return send("200 OK", body, ctype)
        m = USER_PATH.match(path)
        if method == "GET" and m:
            environ["risk_hub.path_params"] = {"id": m.group(1)}  # the route parameter, inspected as the Express app's
            found = next((u for u in USERS.values() if u["id"] == m.group(1)), None)
            if not found:
                return send("404 Not Found", {"error": "no such user"})
            return send("200 OK", {"id": found["id"], "name": found["name"]})
        if method == "GET" and path == "/healthz":
            return send("200 OK", {"ok": True})
        return send("404 Not Found", {"error": "not found"})

    def login(self, environ: dict, send):
        try:
            n = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        except ValueError:
            n = 0
        raw = environ["wsgi.input"].read(n).decode("utf-8", "replace") if n > 0 else ""
        if environ.get("CONTENT_TYPE", "").startswith("application/json"):
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {}
            data = data if isinstance(data, dict) else {}
        else:
            data = {k: v[0] for k, v in parse_qs(raw).items()}
        username = data.get("username") if isinstance(data.get("username"), str) else ""
        password = data.get("password") if isinstance(data.get("password"), str) else ""
        user = USERS.get(username)
        if not user or not hmac.compare_digest(_sha256(password), user["sha256"]):
            # unknown logins are reported under the name that was tried: that is who is being attacked
            self.agent.track_login(False, {"key": user["id"] if user else (username or "unknown"), "identifiers": {"login": username}})
            return send("401 Unauthorized", {"ok": False, "error": "invalid username or password"})
        self.agent.track_login(True, {"key": user["id"], "identifiers": {"login": username, "email": user["email"]}})
        token = secrets.token_urlsafe(18)
        with self.lock:
            if len(self.sessions) >= MAX_SESSIONS:
                self.sessions.popitem(last=False)
            self.sessions[token] = username
        return send("200 OK", {"ok": True, "user": username, "token": token},
                    headers=[("Set-Cookie", f"sid={token}; HttpOnly; SameSite=Lax; Path=/")])


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the demo's view counts requests; no access log
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3001")))
    a = p.parse_args()
    # options from RISK_HUB_APPLICATION, RISK_HUB_ENVIRONMENT, RISK_HUB_RELAY_URL, RISK_HUB_RELAY_TOKEN
    agent = Agent(skip=lambda uri: uri.startswith("/healthz"), poll_interval=0.5)
    server = make_server(a.host, a.port, RiskHubWSGI(Shop(agent), agent), server_class=ThreadingServer, handler_class=QuietHandler)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on http://{a.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        closed = agent.close(2)
        print(f"agent closed: {json.dumps({**agent.stats(), **closed}, default=str)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
