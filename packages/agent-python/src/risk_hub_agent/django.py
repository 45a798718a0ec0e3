"""Django: a middleware configured from settings.

    # settings.py
    RISK_HUB = {"application_id": "shop", "environment": "production",
                "relay_url": "http://127.0.0.1:8787", "token": os.environ["RISK_HUB_RELAY_TOKEN"]}
    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "risk_hub_agent.django.RiskHubMiddleware",   # after authentication: request.user is identified
        ...,
    ]

The signed-in user (``request.user.pk``, with ``username`` as an identifier) is identified and their
decision enforced before the view runs; ``RISK_HUB_IDENTIFY = False`` turns that off (then call
``risk_hub_agent.django.agent().identify(...)`` yourself). Views may call ``agent().track_login`` and
``agent().report``. A ``Blocked`` raised in a view is answered too. The agent is created once per
process from ``settings.RISK_HUB`` (or RISK_HUB_* environment variables).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ._extract import MAX_BODY_BYTES, wants_body
from .agent import Agent, Blocked
from .wsgi import raw_request

_agent: Optional[Agent] = None
_lock = threading.Lock()


def agent() -> Agent:
    """The process's agent, created from ``settings.RISK_HUB`` on first use (ConfigError if invalid)."""
    global _agent
    if _agent is None:
        with _lock:
            if _agent is None:
                from django.conf import settings

                _agent = Agent(**dict(getattr(settings, "RISK_HUB", {}) or {}))
    return _agent


def _refusal(refusal: Blocked) -> Any:
    from django.http import HttpResponse

    response = HttpResponse(refusal.body, status=refusal.status, content_type=refusal.headers[0][1])
    response["Cache-Control"] = "no-store"
    return response


class RiskHubMiddleware:
    def __init__(self, get_response: Callable) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.agent = agent()  # invalid options fail here, when Django loads its middleware
        self.identify = bool(getattr(settings, "RISK_HUB_IDENTIFY", True))

    def __call__(self, request: Any) -> Any:
        agent = self.agent
        try:
            raw = raw_request({k: v for k, v in request.META.items() if k != "wsgi.input"}, agent.options.trust_forwarded)
            ct = raw.content_type
            if ct and wants_body(ct):
                try:
                    n = int(request.META.get("CONTENT_LENGTH") or -1)
                except ValueError:
                    n = -1
                if 0 < n <= MAX_BODY_BYTES:
                    raw.body = request.body  # Django keeps it: the view still reads request.body / POST
            ctx, token = agent.begin(raw)
            request.risk_hub = ctx
        except Exception:  # noqa: BLE001 - fail open
            agent._c["errors"] += 1
            return self.get_response(request)
        try:
            if self.identify:
                user = getattr(request, "user", None)
                if user is not None and getattr(user, "is_authenticated", False):
                    agent.identify({"key": str(user.pk), "identifiers": {"username": user.get_username()}}, ctx)
            return self.get_response(request)
        except Blocked as refusal:
            return _refusal(refusal)
        finally:
            agent.end(ctx, token)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        ctx = getattr(request, "risk_hub", None)
        if ctx is not None and view_kwargs:
            ctx.raw.path_params = {k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in view_kwargs.items()}
        return None

    def process_exception(self, request: Any, exception: BaseException) -> Any:
        if isinstance(exception, Blocked):
            return _refusal(exception)
        return None
