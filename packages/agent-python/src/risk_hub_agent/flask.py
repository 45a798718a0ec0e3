"""Flask: ``risk_hub_agent.flask.init_app(app, agent)``.

Wraps ``app.wsgi_app`` with the WSGI middleware, hands the route's ``view_args`` to the agent, and
answers ``Blocked`` (raised by ``agent.identify()`` for a blocked user) with the refusal.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .agent import Agent, Blocked
from .wsgi import ENVIRON_PATH_PARAMS, RiskHubWSGI


def init_app(app: Any, agent: Agent, user: Optional[Callable[[dict], Any]] = None) -> Any:
    from flask import request

    app.wsgi_app = RiskHubWSGI(app.wsgi_app, agent, user=user)

    @app.before_request
    def _risk_hub_path_params() -> None:
        if request.view_args:
            request.environ[ENVIRON_PATH_PARAMS] = dict(request.view_args)

    @app.errorhandler(Blocked)
    def _risk_hub_blocked(refusal: Blocked) -> Any:
        return app.response_class(refusal.body, status=refusal.status, headers=refusal.headers)

    app.extensions["risk_hub"] = agent
    return app
