"""ASGI middleware: ``app.add_middleware(RiskHubASGI, agent=agent)`` (FastAPI / Starlette), or around any ASGI app.

Per HTTP request it captures method, URI, client address and headers, copies the body the app reads
(JSON or form, up to 64 KiB) as it passes, makes the request current for ``agent.identify()``, answers
a ``Blocked`` raised before the response started, and queues one ``request`` event when the app has
finished, with the route's ``path_params`` (Starlette puts them in the scope).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, List, Optional, Tuple

from ._extract import MAX_BODY_BYTES, RawRequest, client_ip, wants_body
from .agent import Agent, Blocked


def raw_request(scope: dict, trust_forwarded: bool) -> RawRequest:
    raw_path = scope.get("raw_path") or scope.get("path", "/").encode("utf-8", "replace")
    qs = scope.get("query_string") or b""
    path = raw_path.decode("latin-1")
    if "?" in path:  # some servers leave the query in raw_path
        path = path.split("?", 1)[0]
    qs_text = qs.decode("latin-1")
    uri = (path + ("?" + qs_text if qs_text else "")).encode("latin-1").decode("utf-8", "replace")
    headers: List[Tuple[str, str]] = []
    forwarded = None
    ct = ""
    for name, value in scope.get("headers") or ():
        n = name.decode("latin-1").lower()
        v = value.decode("utf-8", "replace")
        headers.append((n, v))
        if n == "content-type":
            ct = v
        elif n == "x-forwarded-for":
            forwarded = v
    client = scope.get("client")
    ip = client_ip(client[0] if client else None, forwarded, trust_forwarded)
    return RawRequest(scope.get("method", "GET"), uri, ip, headers, qs.decode("utf-8", "replace"), ct, None)


class RiskHubASGI:
    def __init__(self, app: Callable, agent: Agent, user: Optional[Callable[[dict], Any]] = None) -> None:
        self.app = app
        self.agent = agent
        self.user = user

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        agent = self.agent
        try:
            raw = raw_request(scope, agent.options.trust_forwarded)
            ctx, token = agent.begin(raw)
        except Exception:  # noqa: BLE001 - fail open
            agent._c["errors"] += 1
            await self.app(scope, receive, send)
            return
        chunks: List[bytes] = []
        size = [0, wants_body(raw.content_type)]
        started = [False]

        async def tee_receive() -> dict:
            message = await receive()
            if size[1] and message.get("type") == "http.request":
                body = message.get("body") or b""
                size[0] += len(body)
                if size[0] > MAX_BODY_BYTES:
                    size[1] = False  # too large to parse: not kept
                    chunks.clear()
                elif body:
                    chunks.append(body)
            return message

        async def watch_send(message: dict) -> None:
            if message.get("type") == "http.response.start":
                started[0] = True
            await send(message)

        try:
            if self.user is not None:
                try:
                    who = self.user(scope)
                except Exception:  # noqa: BLE001
                    agent._c["errors"] += 1
                    who = None
                if who is not None:
                    agent.identify(who, ctx)
            await self.app(scope, tee_receive, watch_send)
        except Blocked as refusal:
            if started[0]:
                raise
            await send({"type": "http.response.start", "status": refusal.status,
                        "headers": [(k.lower().encode(), v.encode()) for k, v in refusal.headers]})
            await send({"type": "http.response.body", "body": refusal.body})
        finally:
            if size[1] and chunks:
                raw.body = b"".join(chunks)
            params = scope.get("path_params")
            if params:
                raw.path_params = dict(params)
            agent.end(ctx, token)
