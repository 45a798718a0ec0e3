"""FastAPI / Starlette: ``risk_hub_agent.fastapi.init_app(app, agent)``.

Adds the ASGI middleware (inside Starlette's error middleware, so a ``Blocked`` raised in a dependency
or handler reaches it) and an exception handler for ``Blocked``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .agent import Agent, Blocked
from .asgi import RiskHubASGI


def init_app(app: Any, agent: Agent, user: Optional[Callable[[dict], Any]] = None) -> Any:
    from starlette.responses import Response

    app.add_middleware(RiskHubASGI, agent=agent, user=user)

    async def _risk_hub_blocked(_request: Any, refusal: Blocked) -> Any:
        headers = {k: v for k, v in refusal.headers if k.lower() not in ("content-type", "content-length")}
        return Response(refusal.body, status_code=refusal.status, headers=headers, media_type=refusal.headers[0][1])

    app.add_exception_handler(Blocked, _risk_hub_blocked)
    return app
