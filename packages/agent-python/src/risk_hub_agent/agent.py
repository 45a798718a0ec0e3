"""The public API: ``Agent`` (options, identify, track_login, report, enforcement, stats, close)."""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import os
import threading
import time
import weakref
from typing import Any, Dict, Optional

from ._decisions import Decision, DecisionPoller
from ._extract import RawRequest
from ._identity import MAX_ATTACK_TYPE_BYTES, normalize_user, utf8_length
from ._options import ConfigError, Options, resolve
from ._sender import Sender, new_event_id
from ._transport import RelayConnection

__version__ = "0.1.0"
AGENT_INFO = {"name": "risk-hub-python", "version": __version__, "language": "python"}
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
#: enforcement events per user per minute at most (the Node agent's budget)
ENFORCEMENT_EVENTS_PER_USER_PER_MINUTE = 60

log = logging.getLogger("risk_hub_agent")

__all__ = ["Agent", "Blocked", "ConfigError", "RequestContext", "current_request"]


class Blocked(Exception):
    """Raised by ``identify()`` when the user has a BLOCK decision; the middleware answers it.

    ``status``, ``headers`` and ``body`` are the refusal to send (403 and
    ``{"error":"blocked","reason":…}`` by default). The Flask and FastAPI integrations register a
    handler for it; the WSGI and ASGI middleware catch it when it reaches them.
    """

    def __init__(self, decision: Decision, status: int, content_type: str, body: bytes) -> None:
        super().__init__(f"risk-hub: user blocked ({decision.reason})")
        self.decision = decision
        self.status = status
        self.body = body
        self.headers = [("Content-Type", content_type), ("Cache-Control", "no-store"), ("Content-Length", str(len(body)))]


class RequestContext:
    """What the agent knows about the request being served (one per request, in a context variable)."""

    __slots__ = ("raw", "user", "enforced", "skip")

    def __init__(self, raw: RawRequest) -> None:
        self.raw = raw
        self.user: Optional[Dict[str, Any]] = None
        self.enforced = False
        self.skip = False


_current: contextvars.ContextVar[Optional[RequestContext]] = contextvars.ContextVar("risk_hub_request", default=None)


def current_request() -> Optional[RequestContext]:
    """The agent's view of the request being served, or None outside one."""
    return _current.get()


class Agent:
    """The Risk Hub agent of one application and environment, talking to the relay.

    ``Agent(application_id, environment="production", relay_url="http://127.0.0.1:8787", token=…)``;
    missing values come from RISK_HUB_APPLICATION, RISK_HUB_ENVIRONMENT, RISK_HUB_RELAY_URL and
    RISK_HUB_RELAY_TOKEN. Invalid options raise ``ConfigError`` (one line); nothing else raises.
    """

    def __init__(self, application_id: Optional[str] = None, environment: Optional[str] = None,
                 relay_url: Optional[str] = None, token: Optional[str] = None, **options: Any) -> None:
        unknown = set(options) - set(resolve.__kwdefaults__ or {})
        if unknown:
            raise ConfigError(f"risk-hub agent: unknown option {sorted(unknown)[0]!r}")
        self.options: Options = resolve(application_id, environment, relay_url, token, **options)
        o = self.options
        self._c: Dict[str, Any] = dict.fromkeys((
            "requests", "logins", "custom", "enforcement_events", "sent", "accepted", "rejected", "detections",
            "dropped_queue_full", "dropped_invalid", "dropped_shutdown", "dropped_refused", "dropped_relay_busy",
            "dropped_too_large", "user_keys_hashed", "enforcement_suppressed", "errors", "relay_errors",
            "decision_polls", "decision_poll_errors", "blocked", "challenged", "monitored", "simulated",
            "challenge_unenforced"), 0)
        self._c["relay_reachable"] = None
        self._c["last_error"] = None
        self._enforcement_budget: Dict[str, list] = {}
        self._warned_challenge = False
        self._closed = False
        self._pid = os.getpid()
        ua = f"risk-hub-python/{__version__}"
        connect = lambda: RelayConnection(o.relay_url, o.token, o.timeout, ua)  # noqa: E731
        self._sender = Sender(o, self._c, AGENT_INFO, connect)
        self._decisions = DecisionPoller(o, self._c, connect)
        self._lock = threading.Lock()
        if o.start:
            self._start()
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().close())  # type: ignore[union-attr]
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: ref() is not None and ref()._after_fork())  # type: ignore[union-attr]

    def _start(self) -> None:
        self._sender.start()
        if self.options.decisions:
            self._decisions.start()

    def _after_fork(self) -> None:
        # threads do not survive fork (gunicorn --preload, multiprocessing): the child starts its own
        self._pid = os.getpid()
        self._sender.reset_after_fork()
        self._decisions.reset_after_fork()
        self._lock = threading.Lock()
        if self.options.start and not self._closed:
            self._start()

    # --- middleware hooks (used by wsgi.py / asgi.py) ---------------------------------------------
    def begin(self, raw: RawRequest) -> tuple:
        """Starts a request: its context becomes current. Returns (context, token for end())."""
        ctx = RequestContext(raw)
        return ctx, _current.set(ctx)

    def end(self, ctx: RequestContext, token: Any) -> None:
        """Ends a request: queues its ``request`` event (parsed later, in the sender thread)."""
        try:
            _current.reset(token)
        except Exception:  # noqa: BLE001 - a token from another context: nothing to restore
            pass
        if ctx.skip:
            return
        try:
            skip = self.options.skip
            if skip is not None and skip(ctx.raw.uri):
                return
            self._c["requests"] += 1
            # the event id (a UUID v4) is drawn in the sender thread, once: a re-send keeps it
            self._sender.put({"kind": "request", "at": int(time.time() * 1000), "user": ctx.user}, ctx.raw)
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1

    # --- the application's calls --------------------------------------------------------------
    def identify(self, user: Any, request: Optional[RequestContext] = None) -> None:
        """Ties the current request to ``user`` (a key, or ``{"key": …, "identifiers": {…}}``) and enforces
        the user's decision: raises ``Blocked`` for a BLOCK (or what ``on_block`` raises), calls
        ``on_challenge`` for a CHALLENGE. Any other error is swallowed (fail open)."""
        ctx = request or _current.get()
        if ctx is None:
            return
        try:
            normalized, hashed = normalize_user(user)
            if normalized is None:
                return
            if hashed:
                self._c["user_keys_hashed"] += 1
            ctx.user = normalized
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1
            return
        self.enforce(ctx)

    def decision_for(self, user_key: str) -> Optional[Decision]:
        """The user's decision in force (not past its ``until``), or None. Reports nothing."""
        try:
            return self._decisions.get(user_key)
        except Exception:  # noqa: BLE001
            return None

    def enforce(self, ctx: Optional[RequestContext] = None) -> None:
        """Enforces the decision of the request's identified user (once per request); see identify()."""
        ctx = ctx or _current.get()
        if ctx is None or ctx.user is None or ctx.enforced:
            return
        decision = self.decision_for(ctx.user["key"])
        if decision is None:
            return
        ctx.enforced = True
        try:
            if decision.simulated:
                self._c["simulated"] += 1  # never enforced; reported (simulated: true) as the Node agent does
                self._report_enforcement(ctx, decision)
                return
            self._report_enforcement(ctx, decision)
            if decision.action == "MONITOR":
                self._c["monitored"] += 1
                return
            if decision.action == "CHALLENGE":
                hook = self.options.on_challenge
                if hook is None:
                    self._c["challenge_unenforced"] += 1
                    if not self._warned_challenge:
                        self._warned_challenge = True
                        log.warning("risk-hub agent: a CHALLENGE decision was not enforced: no on_challenge hook is configured (fail open)")
                    return
                self._c["challenged"] += 1
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1
            return
        if decision.action == "CHALLENGE":
            self.options.on_challenge(decision)  # type: ignore[misc]  # what it raises (a redirect…) is the app's answer
            return
        self._c["blocked"] += 1
        hook = self.options.on_block
        if hook is not None:
            hook(decision)  # raises the app's own answer; returning falls through to the default refusal
        raise self.blocked_error(decision)

    def blocked_error(self, decision: Decision) -> Blocked:
        o = self.options
        body = o.block_body or json.dumps({"error": "blocked", "reason": decision.reason}).encode("utf-8")
        return Blocked(decision, o.block_status, o.block_content_type, body)

    def track_login(self, success: bool, user: Any, request: Optional[RequestContext] = None) -> None:
        """A login attempt for ``user`` (the login tried). Failures are ``auth_failure``; the relay counts bursts
        as credential stuffing (5 in a minute MEDIUM, 10 HIGH). A success identifies the request."""
        try:
            normalized, hashed = normalize_user(user)
            if normalized is None:
                self._c["dropped_invalid"] += 1
                return
            if hashed:
                self._c["user_keys_hashed"] += 1
            ctx = request or _current.get()
            self._c["logins"] += 1
            event = {"kind": "login", "id": new_event_id(), "at": int(time.time() * 1000), "success": bool(success),
                     "user": normalized}
            if ctx is not None:
                event["request"] = ctx.raw.summary()
            self._sender.put(event)
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1
            return
        if success and ctx is not None:
            self.identify(normalized, ctx)

    def report(self, type: str, severity: str, user: Any = None, points: Optional[int] = None) -> Optional[str]:
        """A custom event (``type`` 1-64 bytes, ``severity`` INFO…CRITICAL); the user defaults to the
        identified one. Returns the event id, or None when it was not accepted (counted)."""
        try:
            ctx = _current.get()
            if user is not None:
                normalized, hashed = normalize_user(user)
                if hashed:
                    self._c["user_keys_hashed"] += 1
            else:
                normalized = ctx.user if ctx is not None else None
            if (normalized is None or not isinstance(type, str) or not (1 <= utf8_length(type) <= MAX_ATTACK_TYPE_BYTES)
                    or severity not in SEVERITIES
                    or (points is not None and (not isinstance(points, int) or isinstance(points, bool)))):
                self._c["dropped_invalid"] += 1
                return None
            event_id = new_event_id()
            event: Dict[str, Any] = {"kind": "custom", "id": event_id, "at": int(time.time() * 1000), "user": normalized,
                                     "type": type, "severity": severity, "points": points}
            self._c["custom"] += 1
            self._sender.put(event)
            return event_id
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1
            return None

    def _report_enforcement(self, ctx: RequestContext, decision: Decision) -> None:
        key = ctx.user["key"]  # type: ignore[index]
        now = time.time()
        times = self._enforcement_budget.get(key)
        if times is None:
            if len(self._enforcement_budget) >= 10_000:
                self._enforcement_budget.clear()  # bounded memory; budgets restart
            times = self._enforcement_budget[key] = []
        times[:] = [t for t in times if t > now - 60]
        if len(times) >= ENFORCEMENT_EVENTS_PER_USER_PER_MINUTE:
            self._c["enforcement_suppressed"] += 1
            return
        times.append(now)
        self._c["enforcement_events"] += 1
        self._sender.put({"kind": "enforcement", "id": new_event_id(), "at": int(now * 1000), "user": ctx.user,
                          "action": decision.action, "decision_id": decision.decision_id, "simulated": decision.simulated,
                          "request": ctx.raw.summary()})

    # --- operations ---------------------------------------------------------------------------
    def poll_decisions(self) -> bool:
        """Reads the decisions now (tests, start-up); True when the relay answered."""
        return self._decisions.poll_once()

    def stats(self) -> Dict[str, Any]:
        """Counters to export to your metrics (queued, sent, dropped_*, detections, decisions…)."""
        out = dict(self._c)
        out["queued"] = self._sender.queued()
        out["decisions"] = len(self._decisions.decisions)
        out["dropped"] = sum(v for k, v in self._c.items() if k.startswith("dropped_"))
        return out

    def flush(self, timeout: float = 2.0) -> bool:
        """Waits until every queued event was posted (or dropped), at most ``timeout`` seconds."""
        try:
            return self._sender.flush(timeout)
        except Exception:  # noqa: BLE001
            return False

    def close(self, timeout: Optional[float] = None) -> Dict[str, int]:
        """Stops, sending what is queued within ``timeout`` (default ``shutdown_timeout``, 2 s). Never raises."""
        with self._lock:
            if self._closed:
                return {"sent": self._c["sent"], "dropped": self.stats()["dropped"]}
            self._closed = True
        try:
            self._decisions.stop()
            self._sender.close(self.options.shutdown_timeout if timeout is None else timeout)
        except Exception:  # noqa: BLE001
            self._c["errors"] += 1
        return {"sent": self._c["sent"], "dropped": self.stats()["dropped"]}
