"""What a request becomes in a relay ``request`` event (docs/relay-protocol.md).

The request path only captures raw pieces (``RawRequest``: a few strings, the header pairs, the body
bytes when they are small enough); parsing and bounding happen in the sender thread (``request_json``),
so the application's response never waits for it. Every outsider-controlled value is bounded:
JSON bodies at most 64 KiB and depth 20, strings cut at 16 KiB, at most 1,000 fields, and invalid
encodings replaced rather than raised on. Nothing here raises for any input.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote

from ._identity import truncate_utf8

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 20
MAX_STRING_BYTES = 16 * 1024
MAX_FIELDS = 1000
MAX_URI_BYTES = 16 * 1024
#: header names never sent (cookies go parsed in ``cookies``; credentials never leave the app)
DROPPED_HEADERS = frozenset(("cookie", "authorization", "proxy-authorization"))


class RawRequest:
    """A request as the middleware saw it, before any parsing (cheap to build)."""

    __slots__ = ("method", "uri", "ip", "headers", "query_string", "content_type", "body", "path_params")

    def __init__(self, method: str, uri: str, ip: Optional[str], headers: List[Tuple[str, str]], query_string: str,
                 content_type: str, body: Optional[bytes], path_params: Optional[Dict[str, Any]] = None) -> None:
        self.method = method
        self.uri = uri
        self.ip = ip
        self.headers = headers
        self.query_string = query_string
        self.content_type = content_type
        self.body = body
        self.path_params = path_params

    def summary(self) -> Dict[str, Any]:
        """method, uri and ip: what login and enforcement events carry."""
        return {"method": self.method[:16], "uri": truncate_utf8(self.uri, MAX_URI_BYTES), "ip": self.ip}


def wants_body(content_type: str) -> bool:
    """Whether a body of this type is parsed (JSON and URL-encoded forms)."""
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json") or ct == "application/x-www-form-urlencoded"


def request_json(raw: RawRequest) -> Dict[str, Any]:
    """The ``request`` object of a relay event, bounded."""
    headers: Dict[str, str] = {}
    cookie_header = ""
    for name, value in raw.headers[:MAX_FIELDS]:
        if not isinstance(value, str):
            continue
        if name[:5] == "HTTP_":  # a WSGI environ key, as the WSGI middleware captured it
            name = name[5:].lower().replace("_", "-")
            if not value.isascii():  # WSGI strings are bytes as latin-1: back to the client's UTF-8
                try:
                    value = value.encode("latin-1").decode("utf-8", "replace")
                except UnicodeEncodeError:
                    pass
        if name == "cookie":
            cookie_header = value if not cookie_header else cookie_header + "; " + value
            continue
        if name in DROPPED_HEADERS:
            continue
        value = truncate_utf8(value, MAX_STRING_BYTES)
        headers[name] = value if name not in headers else truncate_utf8(headers[name] + ", " + value, MAX_STRING_BYTES)
    out: Dict[str, Any] = raw.summary()
    out["headers"] = headers
    out["query"] = parse_query(raw.query_string)
    if raw.body is not None:
        body = parse_body(raw.content_type, raw.body)
        if body is not None:
            out["body"] = body
    if raw.path_params:
        out["path_params"] = bound(raw.path_params)
    if cookie_header:
        out["cookies"] = parse_cookies(cookie_header)
    return out


def parse_query(qs: str) -> Dict[str, List[str]]:
    """name → list of values; empty values kept; bounded."""
    if not qs:
        return {}
    try:
        parsed = parse_qs(qs, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="replace")
    except ValueError:  # more fields than MAX_FIELDS: keep the first ones
        parsed = parse_qs("&".join(qs.split("&", MAX_FIELDS)[:MAX_FIELDS]), keep_blank_values=True, errors="replace")
    return {truncate_utf8(k, MAX_STRING_BYTES): [truncate_utf8(v, MAX_STRING_BYTES) for v in vs] for k, vs in parsed.items()}


def parse_body(content_type: str, body: bytes) -> Any:
    """The parsed JSON or form body, bounded; None when it is neither, too large or unreadable."""
    if len(body) > MAX_BODY_BYTES or not body:
        return None
    ct = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if ct == "application/x-www-form-urlencoded":
        form = parse_query(text)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    if ct == "application/json" or ct.endswith("+json"):
        try:
            parsed = json.loads(text)
            if len(body) <= MAX_STRING_BYTES and body.count(b"{") + body.count(b"[") <= MAX_DEPTH and body.count(b",") < MAX_FIELDS:
                # too small for any bound to apply (no string over 16 KiB, no 21 levels, no 1,000
                # entries): only NaN / Infinity, which JSON has not, need replacing
                if "NaN" not in text and "Infinity" not in text:
                    return parsed
            return bound(parsed)
        except (ValueError, RecursionError):
            # not JSON, or nested deeper than the interpreter recurses: the WAF gets the text itself
            return truncate_utf8(text, MAX_STRING_BYTES)
    return None


def bound(value: Any, depth: int = 1) -> Any:
    """A JSON value cut to MAX_DEPTH nested containers (deeper ones left out), MAX_FIELDS entries per
    container and MAX_STRING_BYTES strings. ``depth`` is the nesting level ``value`` sits at."""
    if isinstance(value, str):
        return truncate_utf8(value, MAX_STRING_BYTES)
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_FIELDS:
                break
            if depth >= MAX_DEPTH and isinstance(v, (dict, list, tuple)):
                continue
            out[truncate_utf8(str(k), MAX_STRING_BYTES)] = bound(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [bound(v, depth + 1) for v in value[:MAX_FIELDS]
                if not (depth >= MAX_DEPTH and isinstance(v, (dict, list, tuple)))]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # NaN and Infinity are not JSON
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return truncate_utf8(str(value), MAX_STRING_BYTES)


def parse_cookies(header: str) -> Dict[str, str]:
    """``a=1; b=2`` → {a: "1", b: "2"}: lenient (a malformed pair is skipped), values URL-decoded, the first of a name kept."""
    out: Dict[str, str] = {}
    for i, part in enumerate(header.split(";")):
        if i >= MAX_FIELDS:
            break
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in out:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        try:
            value = unquote(value, errors="replace")
        except Exception:  # noqa: BLE001 - never raise for a hostile cookie
            pass
        out[truncate_utf8(name, MAX_STRING_BYTES)] = truncate_utf8(value, MAX_STRING_BYTES)
    return out


def client_ip(remote: Optional[str], forwarded: Optional[str], trust_forwarded: bool) -> Optional[str]:
    """The client address: the first X-Forwarded-For entry when trusted, else the peer; IPv4-mapped IPv6 as IPv4."""
    ip = remote
    if trust_forwarded and forwarded:
        first = forwarded.split(",", 1)[0].strip()
        if first:
            ip = first
    if ip and ip.lower().startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return truncate_utf8(ip, 64) if ip else None
