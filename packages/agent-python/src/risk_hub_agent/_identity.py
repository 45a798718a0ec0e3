"""The identity rules and size limits of the producer contract (docs/agents.md "Identity", "Limits").

A port of src/identity.ts and packages/agent/src/user.ts: the same pattern, the same bounds, the same
hashed form of a long user key (so that one long login is one user whatever the agent's language).
Pure, standard library only.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, Mapping, Optional, Tuple

#: application_id and environment: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit (no "/").
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
IDENTIFIER_PATTERN_SOURCE = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_USER_KEY_BYTES = 256
MAX_EVENT_ID_BYTES = 256
MAX_ATTACK_TYPE_BYTES = 64
MAX_IDENTIFIERS = 16
MAX_IDENTIFIER_NAME_BYTES = 64
MAX_IDENTIFIER_VALUE_BYTES = 256
#: UTF-8 bytes of a long key kept readable in front of its hash, and what separates them.
HASHED_KEY_PREFIX_BYTES = 128
HASHED_KEY_MARK = "\u2026sha256:"


def is_identifier(value: Any) -> bool:
    """Whether ``value`` may be an application_id or an environment."""
    # fullmatch, not match + "$": "$" also matches before a trailing newline.
    return isinstance(value, str) and IDENTIFIER_PATTERN.fullmatch(value) is not None


def utf8_length(s: str) -> int:
    """UTF-8 bytes of ``s`` (a lone surrogate counts 3, as its U+FFFD replacement does)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "replace"))


def truncate_utf8(s: str, max_bytes: int) -> str:
    """``s`` cut to at most ``max_bytes`` bytes of UTF-8, never inside a character."""
    if len(s) * 4 <= max_bytes or (s.isascii() and len(s) <= max_bytes):
        return s
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= max_bytes:
        return s
    # back off to a character boundary: continuation bytes are 0b10xxxxxx
    end = max_bytes
    while end > 0 and (b[end] & 0xC0) == 0x80:
        end -= 1
    return b[:end].decode("utf-8", "surrogatepass")


def identity_problem(application_id: Any, environment: Any, user_key: Any) -> Optional[str]:
    """Why (application_id, environment, user key) is not a valid identity; None when it is."""
    if not is_identifier(application_id):
        return f"application_id {_describe(application_id)} must match {IDENTIFIER_PATTERN_SOURCE} (1-64 letters, digits, '.', '_', '-'; no '/')"
    if not is_identifier(environment):
        return f"environment {_describe(environment)} must match {IDENTIFIER_PATTERN_SOURCE} (1-64 letters, digits, '.', '_', '-'; no '/')"
    if not isinstance(user_key, str) or user_key.strip() == "":
        return "user.key must be a non-blank string"
    n = utf8_length(user_key)
    if n > MAX_USER_KEY_BYTES:
        return f"user.key is {n} bytes of UTF-8, above the limit of {MAX_USER_KEY_BYTES}"
    return None


def hashed_user_key(key: str) -> str:
    """The key itself when it fits in 256 bytes; else ``<first 128 bytes>…sha256:<hex SHA-256 of the whole key>``."""
    if utf8_length(key) <= MAX_USER_KEY_BYTES:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    return truncate_utf8(key, HASHED_KEY_PREFIX_BYTES) + HASHED_KEY_MARK + digest


def normalize_user(value: Any) -> Tuple[Optional[Dict[str, Any]], bool]:
    """A user given by the application as ``{"key", "identifiers"}``, or (None, False) when unusable.

    Accepts a string or integer key, or a mapping / object with ``key`` (and optional ``identifiers``).
    The second value says whether the key was over 256 bytes and replaced by its hashed form.
    """
    identifiers: Any = None
    if type(value) is str:  # the common cases first: ABC checks cost microseconds per request
        key = value
    elif type(value) is dict or isinstance(value, Mapping):
        key = value.get("key")
        identifiers = value.get("identifiers")
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        key = value
    else:
        key = getattr(value, "key", None)
        identifiers = getattr(value, "identifiers", None)
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str):
        return None, False
    key = key.strip()
    if key == "":
        return None, False
    ids: Dict[str, str] = {}
    if identifiers and isinstance(identifiers, Mapping):
        for name, v in identifiers.items():
            if len(ids) >= MAX_IDENTIFIERS:
                break
            if v is None or not isinstance(v, (str, int, float, bool)) or not isinstance(name, str):
                continue
            bounded = truncate_utf8(name, MAX_IDENTIFIER_NAME_BYTES)
            if bounded in ids:
                continue  # two long names cut to one: the first is kept (as the scorer does)
            text = ("true" if v else "false") if isinstance(v, bool) else str(v)
            ids[bounded] = truncate_utf8(text, MAX_IDENTIFIER_VALUE_BYTES)
    hashed = hashed_user_key(key)
    return {"key": hashed, "identifiers": ids}, hashed != key


def _describe(v: Any) -> str:
    if not isinstance(v, str):
        return repr(v)
    return '"' + (v[:80] + "\u2026" if len(v) > 80 else v) + '"'
