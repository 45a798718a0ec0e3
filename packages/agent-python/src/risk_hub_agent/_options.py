"""The agent's options, validated once at start-up: the only place that raises (ConfigError)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from ._identity import IDENTIFIER_PATTERN_SOURCE, is_identifier


class ConfigError(ValueError):
    """Invalid agent options: one line naming the option, raised by ``Agent(...)`` only."""

    code = "RH_CONFIG"


_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # visible ASCII: nothing that could split a header


@dataclass(frozen=True)
class Options:
    application_id: str
    environment: str
    relay_url: str
    token: str
    max_queue: int
    batch_size: int
    linger: float
    timeout: float
    shutdown_timeout: float
    poll_interval: float
    max_decisions: int
    decisions: bool
    trust_forwarded: bool
    block_status: int
    block_body: bytes
    block_content_type: str
    on_block: Optional[Callable[..., Any]]
    on_challenge: Optional[Callable[..., Any]]
    skip: Optional[Callable[[str], bool]]
    start: bool


def _fail(message: str) -> ConfigError:
    return ConfigError(f"risk-hub agent: {message}")


def _number(name: str, value: Any, minimum: float, maximum: float, integer: bool) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not (minimum <= value <= maximum):
        kind = "an integer" if integer else "a number"
        lo, hi = (int(minimum), int(maximum)) if integer else (minimum, maximum)
        raise _fail(f"option {name} must be {kind} from {lo} to {hi}, got {value!r}")
    return value


def resolve(
    application_id: Optional[str] = None,
    environment: Optional[str] = None,
    relay_url: Optional[str] = None,
    token: Optional[str] = None,
    *,
    max_queue: int = 10_000,
    batch_size: int = 500,
    linger: float = 0.05,
    timeout: float = 1.0,
    shutdown_timeout: float = 2.0,
    poll_interval: float = 1.0,
    max_decisions: int = 100_000,
    decisions: bool = True,
    trust_forwarded: bool = False,
    block_status: int = 403,
    block_response: Any = None,
    on_block: Optional[Callable[..., Any]] = None,
    on_challenge: Optional[Callable[..., Any]] = None,
    skip: Optional[Callable[[str], bool]] = None,
    start: bool = True,
) -> Options:
    """Options from arguments, then RISK_HUB_* environment variables, validated."""
    env = os.environ
    if application_id is None:
        application_id = env.get("RISK_HUB_APPLICATION")
    if environment is None:
        environment = env.get("RISK_HUB_ENVIRONMENT", "production")
    if relay_url is None:
        relay_url = env.get("RISK_HUB_RELAY_URL", "http://127.0.0.1:8787")
    if token is None:
        token = env.get("RISK_HUB_RELAY_TOKEN")

    if application_id is None:
        raise _fail("option application_id is required (or set RISK_HUB_APPLICATION)")
    if not is_identifier(application_id):
        raise _fail(f"option application_id {application_id!r} must match {IDENTIFIER_PATTERN_SOURCE}")
    if not is_identifier(environment):
        raise _fail(f"option environment {environment!r} must match {IDENTIFIER_PATTERN_SOURCE}")
    if not isinstance(relay_url, str):
        raise _fail(f"option relay_url must be a string, got {relay_url!r}")
    try:
        parts = urlsplit(relay_url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or parts.query or parts.fragment:
        raise _fail(f"option relay_url must be an http(s) URL like http://127.0.0.1:8787, got {relay_url!r}")
    if token is None:
        raise _fail("option token is required (the relay token of this application, or set RISK_HUB_RELAY_TOKEN)")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise _fail("option token must be 1-4096 visible ASCII characters (no spaces)")
    _number("max_queue", max_queue, 1, 10_000_000, True)
    _number("batch_size", batch_size, 1, 500, True)
    _number("linger", linger, 0, 10, False)
    _number("timeout", timeout, 0.05, 60, False)
    _number("shutdown_timeout", shutdown_timeout, 0, 60, False)
    _number("poll_interval", poll_interval, 0.01, 3600, False)
    _number("max_decisions", max_decisions, 1, 10_000_000, True)
    _number("block_status", block_status, 200, 599, True)
    for name, hook in (("on_block", on_block), ("on_challenge", on_challenge), ("skip", skip)):
        if hook is not None and not callable(hook):
            raise _fail(f"option {name} must be callable, got {hook!r}")

    body: bytes
    content_type = "application/json; charset=utf-8"
    if block_response is None:
        body = b""  # the default JSON body carries the decision's reason: built per decision
    elif isinstance(block_response, str):
        body = block_response.encode("utf-8")
        content_type = "text/html; charset=utf-8"
    elif isinstance(block_response, (dict, list)):
        try:
            body = json.dumps(block_response).encode("utf-8")
        except (TypeError, ValueError) as err:
            raise _fail(f"option block_response must be JSON-serializable: {err}") from None
    else:
        raise _fail("option block_response must be a dict/list (JSON) or a str (HTML)")

    return Options(
        application_id=application_id,
        environment=environment,
        relay_url=relay_url.rstrip("/"),
        token=token,
        max_queue=max_queue,
        batch_size=batch_size,
        linger=float(linger),
        timeout=float(timeout),
        shutdown_timeout=float(shutdown_timeout),
        poll_interval=float(poll_interval),
        max_decisions=max_decisions,
        decisions=bool(decisions),
        trust_forwarded=bool(trust_forwarded),
        block_status=block_status,
        block_body=body,
        block_content_type=content_type,
        on_block=on_block,
        on_challenge=on_challenge,
        skip=skip,
        start=bool(start),
    )
