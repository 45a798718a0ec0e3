"""The small Flask and FastAPI apps the tests (and the benchmark) run with the agent."""


from typing import Any, Optional

USERS = {"alice": "wonderland", "bob": "builder"}


def flask_app(agent: Optional[Any]) -> Any:
    from flask import Flask, jsonify, request

    app = Flask("shop")
    if agent is not None:
        import risk_hub_agent.flask

        risk_hub_agent.flask.init_app(app, agent)

    @app.before_request
    def who() -> None:
        user = request.headers.get("X-User")  # stands in for a session
        if user and agent is not None:
            agent.identify({"key": user, "identifiers": {"email": f"{user}@example.com"}})

    @app.get("/")
    def index() -> Any:
        return "ok"

    @app.get("/search")
    def search() -> Any:
        return jsonify(q=request.args.getlist("q"))

    @app.route("/items/<item_id>", methods=["GET", "POST", "PUT"])
    def item(item_id: str) -> Any:
        return jsonify(id=item_id, body=request.get_json(silent=True) or request.form.to_dict())

    # The shared corpus's routes with path parameters (test/vectors/requests.json "route"), so the
    # route parameters reach the relay as path_params, as Express gives them to the Node agent.
    @app.get("/users/<user_id>")
    def user_page(user_id: str) -> Any:
        return jsonify(id=user_id)

    @app.get("/files/<path:name>")
    def file_page(name: str) -> Any:
        return jsonify(name=name)

    @app.post("/login")
    def login() -> Any:
        data = request.get_json(silent=True) or request.form
        name, password = data.get("username", ""), data.get("password", "")
        ok = USERS.get(name) == password
        if agent is not None:
            agent.track_login(ok, name)
        return (jsonify(ok=True), 200) if ok else (jsonify(ok=False), 401)

    @app.post("/pay")
    def pay() -> Any:
        if agent is not None:
            agent.report("payment_fraud", "HIGH")
        return "paid"

    return app


def fastapi_app(agent: Optional[Any]) -> Any:
    from fastapi import Depends, FastAPI, Header, Request

    app = FastAPI()
    if agent is not None:
        import risk_hub_agent.fastapi

        risk_hub_agent.fastapi.init_app(app, agent)

    def current_user(x_user: Optional[str] = Header(default=None)) -> Optional[str]:
        if x_user and agent is not None:
            agent.identify(x_user)
        return x_user

    @app.get("/")
    def index(user: Optional[str] = Depends(current_user)) -> Any:
        return {"ok": True, "user": user}

    @app.api_route("/items/{item_id}", methods=["GET", "POST"])
    async def item(item_id: str, request: Request, user: Optional[str] = Depends(current_user)) -> Any:
        body = await request.body()
        return {"id": item_id, "len": len(body)}

    @app.post("/login")
    async def login(request: Request) -> Any:
        data = await request.json()
        ok = USERS.get(data.get("username")) == data.get("password")
        if agent is not None:
            agent.track_login(ok, data.get("username"))
        return {"ok": ok}

    return app
