"""The bounded queue and the background sender thread (POST /v1/events).

The request path only appends to a deque. When the queue holds ``max_queue`` events the OLDEST is
dropped and counted. One daemon thread waits ``linger`` for a batch to fill, turns events into JSON
(request parsing happens here, not on the request path), and posts up to ``batch_size`` events per
request, never more than ~900 KB per POST (the relay refuses bodies over 1 MiB). Relay unreachable: the
batch goes back to the front of the queue (same event ids, so a re-send is counted once by the scorer)
and the sender backs off up to 5 s; a 503 is retried once, then the batch is dropped and counted; any
other refusal (400, 401, 403, 413) drops the batch, counts and logs once per status.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from ._extract import RawRequest, request_json
from ._transport import RelayConnection

log = logging.getLogger("risk_hub_agent")

#: Most bytes of one POST body (the relay's limit is 1 MiB; the envelope's own bytes are kept aside).
MAX_POST_BYTES = 1_000_000
MAX_BACKOFF = 5.0

#: one encoder for every event (json.dumps with options builds a new encoder per call)
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def new_event_id() -> str:
    """A random UUID v4 (what uuid.uuid4() gives, without building a UUID object: ~3x faster)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# An event in the queue: its JSON fields (without "request" for request events) and the raw request.
Queued = Tuple[Dict[str, Any], Optional[RawRequest]]


class Sender:
    def __init__(self, opts: Any, counters: Dict[str, int], agent_info: Dict[str, str],
                 connect: Callable[[], RelayConnection]) -> None:
        self._opts = opts
        self._c = counters
        self._queue: Deque[Queued] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._deadline = 0.0
        self._connect = connect
        self._conn: Optional[RelayConnection] = None
        self._thread: Optional[threading.Thread] = None
        self._warned: set = set()
        self._envelope_head = (
            '{"agent":' + json.dumps(agent_info) + ',"application_id":' + json.dumps(opts.application_id)
            + ',"environment":' + json.dumps(opts.environment) + ',"events":['
        ).encode()

    # --- request path -------------------------------------------------------------------------
    def put(self, event: Dict[str, Any], raw: Optional[RawRequest] = None) -> None:
        if self._closing:
            self._c["dropped_shutdown"] += 1
            return
        q = self._queue
        if len(q) >= self._opts.max_queue:
            try:
                q.popleft()
                self._c["dropped_queue_full"] += 1
            except IndexError:
                pass
        q.append((event, raw))
        if not self._wake.is_set():
            self._wake.set()

    def queued(self) -> int:
        return len(self._queue)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="risk-hub-sender", daemon=True)
        self._thread.start()

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's events are the parent's to send; start afresh."""
        self._queue.clear()
        self._conn = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    def flush(self, timeout: float) -> bool:
        """Waits until the queue is empty and nothing is in flight, at most ``timeout`` seconds."""
        end = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < end:
            if not self._queue and self._idle.is_set():
                return True
            time.sleep(0.005)
        return not self._queue and self._idle.is_set()

    def close(self, timeout: float) -> None:
        """Sends what is queued within ``timeout`` seconds; what is left is counted in dropped_shutdown."""
        self._deadline = time.monotonic() + timeout
        self._closing = True
        self._wake.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(max(0.0, timeout) + 0.1)
        left = len(self._queue)
        if left:
            self._queue.clear()
            self._c["dropped_shutdown"] += left
        if self._conn is not None:
            self._conn.close()

    # --- sender thread ------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.0
        while True:
            try:
                if self._closing:
                    self._drain()
                    return
                if not self._queue:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                if backoff:
                    self._wake.clear()
                    self._wait(backoff)
                elif len(self._queue) < self._opts.batch_size and self._opts.linger > 0:
                    self._wait(self._opts.linger)
                if self._closing:
                    continue
                ok = self._send_batch(self._take(), None)
                backoff = 0.0 if ok else min(MAX_BACKOFF, max(0.25, backoff * 2))
            except Exception as err:  # noqa: BLE001 - the sender never dies
                self._c["errors"] += 1
                log.debug("risk-hub agent: sender error: %r", err)
                time.sleep(0.1)

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._closing:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def _drain(self) -> None:
        while self._queue:
            left = self._deadline - time.monotonic()
            if left <= 0.01:
                return
            if not self._send_batch(self._take(), left):
                return

    def _take(self) -> List[Queued]:
        self._idle.clear()
        batch: List[Queued] = []
        q = self._queue
        while q and len(batch) < self._opts.batch_size:
            try:
                batch.append(q.popleft())
            except IndexError:
                break
        return batch

    def _encode(self, item: Queued) -> Optional[bytes]:
        event, raw = item
        try:
            if "id" not in event:
                event["id"] = new_event_id()  # kept in the queued dict: a re-send reuses it
            if raw is not None:
                event = dict(event)
                event["request"] = request_json(raw)
            return _ENCODE(event).encode("utf-8")
        except Exception as err:  # noqa: BLE001 - an event that cannot be encoded is dropped, counted
            self._c["dropped_invalid"] += 1
            log.debug("risk-hub agent: event not encodable: %r", err)
            return None

    def _send_batch(self, batch: List[Queued], timeout: Optional[float]) -> bool:
        """Posts ``batch`` (split under MAX_POST_BYTES). False when the relay could not be reached."""
        try:
            encoded: List[Tuple[Queued, bytes]] = []
            for item in batch:
                data = self._encode(item)
                if data is None:
                    continue
                if len(data) + len(self._envelope_head) + 2 > MAX_POST_BYTES:
                    self._c["dropped_too_large"] += 1
                    continue
                encoded.append((item, data))
            start = 0
            while start < len(encoded):
                size = len(self._envelope_head) + 2
                end = start
                while end < len(encoded) and size + len(encoded[end][1]) + 1 <= MAX_POST_BYTES:
                    size += len(encoded[end][1]) + 1
                    end += 1
                chunk = encoded[start:end]
                if not self._post(chunk, timeout):
                    # unreachable: this chunk and the rest go back to the front, oldest first
                    for item, _ in reversed(encoded[start:]):
                        self._queue.appendleft(item)
                    over = len(self._queue) - self._opts.max_queue
                    for _ in range(max(0, over)):
                        self._queue.popleft()
                        self._c["dropped_queue_full"] += 1
                    return False
                start = end
            return True
        finally:
            self._idle.set()

    def _post(self, chunk: List[Tuple[Queued, bytes]], timeout: Optional[float]) -> bool:
        body = self._envelope_head + b",".join(d for _, d in chunk) + b"]}"
        for attempt in (0, 1):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                status, _, data = self._conn.request("POST", "/v1/events", body, timeout=timeout)
            except Exception as err:  # noqa: BLE001 - OSError, timeouts, HTTP errors: fail open
                self._c["relay_errors"] += 1
                self._unreachable(err)
                return False
            if status == 503 and attempt == 0:
                time.sleep(0.1)  # the relay's queue is full: one retry, then drop
                continue
            break
        if self._c.get("relay_reachable") == 0:
            log.warning("risk-hub agent: relay reachable again")
        self._c["relay_reachable"] = 1
        n = len(chunk)
        if status == 202 or status == 200:
            self._c["sent"] += n
            try:
                answer = json.loads(data)
                self._c["accepted"] += int(answer.get("accepted", 0))
                self._c["rejected"] += int(answer.get("rejected", 0))
                self._c["detections"] += int(answer.get("detections", 0))
            except Exception:  # noqa: BLE001
                pass
            return True
        key = "dropped_relay_busy" if status == 503 else "dropped_refused"
        self._c[key] += n
        if status not in self._warned:
            self._warned.add(status)
            log.warning("risk-hub agent: the relay refused %d events with HTTP %d: %s (dropped; counted in stats()['%s'])",
                        n, status, data[:200].decode("utf-8", "replace"), key)
        return True

    def _unreachable(self, err: BaseException) -> None:
        self._c["last_error"] = f"{type(err).__name__}: {err}"[:200]  # type: ignore[assignment]
        if self._c.get("relay_reachable") != 0:
            log.warning("risk-hub agent: relay %s unreachable (%s); events wait in the queue (at most %d, oldest dropped)",
                        self._opts.relay_url, self._c["last_error"], self._opts.max_queue)
        self._c["relay_reachable"] = 0
