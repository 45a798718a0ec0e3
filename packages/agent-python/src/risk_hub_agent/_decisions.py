"""The application's active decisions, polled from the relay (GET /v1/decisions, ETag / 304).

Kept in a dict keyed by user key; a lookup on the request path is one dict get and one comparison with
``until``. Fail open: a decision the agent does not have never blocks anyone; when the relay cannot be
reached the agent keeps what it has (each decision still ends at its ``until``); an answer it cannot
read changes nothing. Bounded: at most ``max_decisions`` entries (BLOCK and CHALLENGE kept first).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional
from urllib.parse import quote

from ._identity import truncate_utf8
from ._transport import RelayConnection

log = logging.getLogger("risk_hub_agent")

ACTIONS = ("BLOCK", "CHALLENGE", "MONITOR")


class Decision:
    """One user's decision. ``simulated`` ones are never enforced."""

    __slots__ = ("user_key", "action", "until", "reason", "decision_id", "simulated")

    def __init__(self, user_key: str, action: str, until: int, reason: str, decision_id: str, simulated: bool) -> None:
        self.user_key = user_key
        self.action = action
        self.until = until
        self.reason = reason
        self.decision_id = decision_id
        self.simulated = simulated

    def as_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"Decision({self.as_dict()!r})"


def parse_decisions(payload: Any, max_decisions: int) -> Optional[Dict[str, Decision]]:
    """The decisions of a /v1/decisions answer; None when its shape is wrong (then nothing changes)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("decisions"), list):
        return None
    out: Dict[str, Decision] = {}
    # enforced ones first, so that the bound sheds MONITOR and simulated decisions before BLOCK
    items = sorted((d for d in payload["decisions"] if isinstance(d, dict)),
                   key=lambda d: 0 if d.get("action") in ("BLOCK", "CHALLENGE") and not d.get("simulated") else 1)
    for d in items:
        key, action, until = d.get("user_key"), d.get("action"), d.get("until")
        if not isinstance(key, str) or not key or action not in ACTIONS:
            continue
        if not isinstance(until, (int, float)) or isinstance(until, bool):
            continue
        if len(out) >= max_decisions:
            break
        reason = d.get("reason") if isinstance(d.get("reason"), str) else ""
        did = d.get("decision_id") if isinstance(d.get("decision_id"), str) else ""
        out[key] = Decision(key, action, int(until), truncate_utf8(reason, 256), truncate_utf8(did, 128), d.get("simulated") is True)
    return out


class DecisionPoller:
    def __init__(self, opts: Any, counters: Dict[str, Any], connect: Callable[[], RelayConnection]) -> None:
        self._opts = opts
        self._c = counters
        self._connect = connect
        self._conn: Optional[RelayConnection] = None
        self.decisions: Dict[str, Decision] = {}
        self._version: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._path = "/v1/decisions?environment=" + quote(opts.environment, safe="")
        self._failing = False
        self._poll_lock = threading.Lock()  # poll_once() from the app and the poller share one connection

    def get(self, user_key: str) -> Optional[Decision]:
        d = self.decisions.get(user_key)
        if d is None or d.until <= time.time() * 1000:
            return None
        return d

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="risk-hub-decisions", daemon=True)
        self._thread.start()

    def reset_after_fork(self) -> None:
        self._conn = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None:
            self._conn.close()

    def poll_once(self) -> bool:
        """One GET; True when the relay answered (200 or 304)."""
        with self._poll_lock:
            return self._poll()

    def _poll(self) -> bool:
        headers = {"If-None-Match": f'"{self._version}"'} if self._version is not None else None
        try:
            if self._conn is None:
                self._conn = self._connect()
            status, resp_headers, body = self._conn.request("GET", self._path, headers=headers)
        except Exception as err:  # noqa: BLE001 - fail open: keep what we have
            self._c["decision_poll_errors"] += 1
            if not self._failing:
                self._failing = True
                log.warning("risk-hub agent: cannot read decisions from the relay (%s: %s); keeping the %d it has",
                            type(err).__name__, err, len(self.decisions))
            return False
        if status == 304:
            self._ok()
            return True
        if status != 200:
            self._c["decision_poll_errors"] += 1
            if not self._failing:
                self._failing = True
                log.warning("risk-hub agent: the relay answered HTTP %d to GET /v1/decisions; keeping the %d decisions it has",
                            status, len(self.decisions))
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        parsed = parse_decisions(payload, self._opts.max_decisions)
        if parsed is None:
            self._c["decision_poll_errors"] += 1
            return False
        self.decisions = parsed  # one reference swap: readers see the old or the new dict, never half
        version = payload.get("version")
        etag = resp_headers.get("etag")
        if isinstance(version, (str, int)) and not isinstance(version, bool):
            self._version = str(version)
        elif etag:
            self._version = etag.strip('"')
        self._ok()
        return True

    def _ok(self) -> None:
        self._c["decision_polls"] += 1
        if self._failing:
            self._failing = False
            log.warning("risk-hub agent: decisions from the relay again (%d)", len(self.decisions))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the poller never dies
                self._c["errors"] += 1
            self._stop.wait(self._opts.poll_interval)
