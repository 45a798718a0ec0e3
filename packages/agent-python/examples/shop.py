"""A small Flask shop wired to the Risk Hub agent, for the demo (the Python twin of examples/express-app).

    pip install flask packages/agent-python/dist/risk_hub_agent-0.1.0-py3-none-any.whl
    RISK_HUB_APPLICATION=shop-py RISK_HUB_RELAY_TOKEN=… python packages/agent-python/examples/shop.py --port 3001

Routes: POST /login (username, password: alice/wonderland, bob/builder), GET /search?q=, GET
/download?file=, GET /profile (the signed-in user), GET /healthz (not reported). The session is a
signed Flask cookie; the signed-in user is identified on every request, so decisions apply to them.
"""

import argparse
import os

from flask import Flask, jsonify, request, session

import risk_hub_agent.flask
from risk_hub_agent import Agent

USERS = {"alice": "wonderland", "bob": "builder"}
FILES = {"catalog.pdf": "the catalog", "terms.txt": "the terms"}


def create_app(agent: Agent) -> Flask:
    app = Flask("shop")
    app.secret_key = os.environ.get("SHOP_SECRET", "demo-only-secret")
    risk_hub_agent.flask.init_app(app, agent)

    @app.before_request
    def identify():
        if "user" in session:
            agent.identify({"key": session["user"], "identifiers": {"login": session["user"]}})

    @app.post("/login")
    def login():
        data = request.get_json(silent=True) or request.form
        name, password = str(data.get("username", "")), str(data.get("password", ""))
        ok = USERS.get(name) == password
        agent.track_login(ok, name)
        if not ok:
            return jsonify(error="invalid credentials"), 401
        session["user"] = name
        return jsonify(ok=True, user=name)

    @app.get("/search")
    def search():
        q = request.args.get("q", "")
        return jsonify(q=q, results=[f for f in FILES if q.lower() in f])

    @app.get("/download")
    def download():
        name = request.args.get("file", "")
        if name not in FILES:
            return jsonify(error="not found"), 404
        return FILES[name]

    @app.get("/profile")
    def profile():
        if "user" not in session:
            return jsonify(error="sign in"), 401
        return jsonify(user=session["user"])

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3001)
    a = p.parse_args()
    agent = Agent(skip=lambda uri: uri.startswith("/healthz"))  # options from RISK_HUB_* variables
    app = create_app(agent)
    print(f"shop (Flask + risk-hub-agent {risk_hub_agent.__version__}) on http://{a.host}:{a.port}", flush=True)
    app.run(host=a.host, port=a.port, threaded=True)


if __name__ == "__main__":
    main()
