"""WSGI middleware: ``app.wsgi_app = RiskHubWSGI(app.wsgi_app, agent)`` (Flask), or around any WSGI app.

Per request it captures method, URI, client address, headers and (JSON or form bodies up to 64 KiB,
re-injected as ``wsgi.input``) the body, makes the request current for ``agent.identify()``, answers a
``Blocked`` raised inside the app with the refusal, and queues one ``request`` event when the app has
returned. ``user=`` may resolve the user from the environ before the app runs (then a blocked user
never reaches it).
"""

from __future__ import annotations

import io
import re
from typing import Any, Callable, Iterable, List, Optional, Tuple
from urllib.parse import quote

from ._extract import MAX_BODY_BYTES, RawRequest, client_ip, wants_body
from .agent import Agent, Blocked

ENVIRON_CONTEXT = "risk_hub.context"
ENVIRON_PATH_PARAMS = "risk_hub.path_params"
#: a path made only of these needs no quoting (the common case: skip urllib's quote)
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~!$&'()*+,;=:@%-]*")


def raw_request(environ: dict, trust_forwarded: bool) -> RawRequest:
    """The request's raw pieces from a WSGI environ; the body is read (and put back) when it is parsed."""
    qs = environ.get("QUERY_STRING", "")
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not uri:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if _PLAIN_PATH.fullmatch(path) is None:
            path = quote(path.encode("latin-1", "replace"), safe="/;:@&=+$,!~*'()%")
        uri = path + ("?" + qs if qs else "")
    else:
        uri = _text(uri)
    headers: List[Tuple[str, str]] = [(k, v) for k, v in environ.items() if k[:5] == "HTTP_"]  # named in the sender
    ct = environ.get("CONTENT_TYPE") or ""
    if ct:
        headers.append(("content-type", ct))
    cl = environ.get("CONTENT_LENGTH") or ""
    if cl:
        headers.append(("content-length", cl))
    body: Optional[bytes] = None
    if ct and wants_body(ct):
        try:
            n = int(cl) if cl else -1
        except ValueError:
            n = -1
        if 0 < n <= MAX_BODY_BYTES:
            stream = environ.get("wsgi.input")
            if stream is not None:
                body = stream.read(n)
                environ["wsgi.input"] = io.BytesIO(body)
    ip = client_ip(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), trust_forwarded)
    return RawRequest(environ.get("REQUEST_METHOD", "GET"), uri, ip, headers, _text(qs), ct, body)


def _text(s: str) -> str:
    """WSGI strings are bytes as latin-1: back to the UTF-8 the client sent (invalid bytes replaced)."""
    if s.isascii():
        return s
    try:
        return s.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return s


class RiskHubWSGI:
    def __init__(self, app: Callable, agent: Agent, user: Optional[Callable[[dict], Any]] = None) -> None:
        self.app = app
        self.agent = agent
        self.user = user

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        agent = self.agent
        try:
            raw = raw_request(environ, agent.options.trust_forwarded)
            ctx, token = agent.begin(raw)
            environ[ENVIRON_CONTEXT] = ctx
        except Exception:  # noqa: BLE001 - fail open: the app runs without the agent
            agent._c["errors"] += 1
            return self.app(environ, start_response)
        try:
            if self.user is not None:
                try:
                    who = self.user(environ)
                except Exception:  # noqa: BLE001
                    agent._c["errors"] += 1
                    who = None
                if who is not None:
                    agent.identify(who, ctx)
            return self.app(environ, start_response)
        except Blocked as refusal:
            start_response(f"{refusal.status} Forbidden" if refusal.status == 403 else str(refusal.status), refusal.headers)
            return [refusal.body]
        finally:
            params = environ.get(ENVIRON_PATH_PARAMS)
            if params:
                raw.path_params = params
            agent.end(ctx, token)
