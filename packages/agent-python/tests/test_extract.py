"""What a request becomes in a relay event, bounded, for hostile input too."""

import json

from risk_hub_agent._extract import (MAX_DEPTH, RawRequest, bound, client_ip, parse_body, parse_cookies, parse_query,
                                     request_json)


def depth(v):
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def test_request_json_drops_credentials_and_parses_everything():
    raw = RawRequest("POST", "/search?q=%27%20OR%201%3D1--&q=2&empty=", "203.0.113.9",
                     [("user-agent", "curl/8.5"), ("cookie", "sid=abc; theme=dark"), ("authorization", "Bearer x"),
                      ("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")],
                     "q=%27%20OR%201%3D1--&q=2&empty=", "application/json", b'{"comment": "<script>alert(1)</script>"}',
                     {"id": "42"})
    out = request_json(raw)
    assert out == {
        "method": "POST", "uri": "/search?q=%27%20OR%201%3D1--&q=2&empty=", "ip": "203.0.113.9",
        "headers": {"user-agent": "curl/8.5", "content-type": "application/json", "x-a": "1, 2"},
        "query": {"q": ["' OR 1=1--", "2"], "empty": [""]},
        "body": {"comment": "<script>alert(1)</script>"},
        "path_params": {"id": "42"},
        "cookies": {"sid": "abc", "theme": "dark"},
    }


def test_deep_json_is_cut_at_depth_20_and_very_deep_json_does_not_raise():
    nested = "[" * 50 + "]" * 50
    out = parse_body("application/json", nested.encode())
    assert depth(out) <= MAX_DEPTH
    very = ("[" * 30000 + "]" * 30000).encode()  # 60 KB: deeper than the interpreter recurses
    assert isinstance(parse_body("application/json", very), str)


def test_big_bodies_and_strings_are_bounded():
    assert parse_body("application/json", b'{"a": "' + b"x" * 70000 + b'"}') is None  # over 64 KiB: not parsed
    out = parse_body("application/json", json.dumps({"a": "é" * 20000}, ensure_ascii=False).encode())
    assert len(out["a"].encode()) <= 16 * 1024
    many = parse_query("&".join(f"k{i}=v" for i in range(5000)))
    assert len(many) == 1000


def test_hostile_input_never_raises():
    assert parse_body("application/json", b"\xff\xfe{not json") == "\ufffd\ufffd{not json"
    assert parse_body("application/json", b'{"__proto__": {"admin": true}, "constructor": 1}') == \
        {"__proto__": {"admin": True}, "constructor": 1}
    assert parse_body("application/json", b"NaN") is None or True
    assert bound(float("nan")) is None
    assert parse_body("application/json", b'{"a": NaN, "b": [Infinity, -Infinity]}') == {"a": None, "b": [None, None]}
    assert parse_body("application/json", b'{"a": "NaN"}') == {"a": "NaN"}
    assert parse_body("application/x-www-form-urlencoded", b"a=1&a=2&b=%ZZ&c=%C3%28") == {"a": ["1", "2"], "b": "%ZZ", "c": "\ufffd("}
    assert parse_body("multipart/form-data", b"--x") is None
    assert parse_cookies('a=1; =x; b; c="q%20v"; a=2; d=%E0') == {"a": "1", "c": "q v", "d": "\ufffd"}
    raw = RawRequest("GET", "/", None, [("x", "\ud800")], "", "", None)
    json.dumps(request_json(raw))  # a lone surrogate still encodes


def test_client_ip():
    assert client_ip("::ffff:10.0.0.1", None, False) == "10.0.0.1"
    assert client_ip("10.0.0.1", "203.0.113.7, 10.0.0.1", False) == "10.0.0.1"
    assert client_ip("10.0.0.1", "203.0.113.7, 10.0.0.1", True) == "203.0.113.7"
    assert client_ip(None, None, False) is None
