"""The middleware behind real servers: uvicorn (ASGI, FastAPI) and werkzeug (WSGI, Flask) on real sockets."""

import http.client
import socket
import threading
import time

from apps import fastapi_app, flask_app
from conftest import block


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raw_http(port, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_uvicorn_fastapi(relay, make_agent):
    import uvicorn

    relay.set_decisions([block("mallory")])
    agent = make_agent()
    agent.poll_decisions()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fastapi_app(agent), host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        body = b'{"x": "<script>alert(1)</script>"}'
        answer = raw_http(port, b"POST /items/9/../9?a=%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\nX-User: alice\r\n"
                          b"Content-Type: application/json\r\nCookie: sid=1\r\nConnection: close\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.1 404"), answer[:100]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/", headers={"X-User": "mallory"})
        resp = conn.getresponse()
        assert resp.status == 403 and b"blocked" in resp.read()
        events = relay.wait_events(2, "request")
        first = events[0]["request"]
        assert first["uri"] == "/items/9/../9?a=%2e%2e%2fetc%2fpasswd"  # the raw target, as sent
        assert first["ip"] == "127.0.0.1" and first["query"] == {"a": ["../etc/passwd"]}
        assert first["cookies"] == {"sid": "1"}
    finally:
        server.should_exit = True
        thread.join(5)


def test_werkzeug_flask(relay, make_agent):
    from werkzeug.serving import make_server

    agent = make_agent()
    server = make_server("127.0.0.1", 0, flask_app(agent), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = raw_http(server.server_port, b"GET /search?q=%27%20OR%201%3D1-- HTTP/1.1\r\nHost: x\r\nX-User: bob\r\n"
                          b"User-Agent: sqlmap/1.7\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")
        (e,) = relay.wait_events(1, "request")
        assert e["request"]["uri"] == "/search?q=%27%20OR%201%3D1--"  # REQUEST_URI: raw
        assert e["request"]["query"] == {"q": ["' OR 1=1--"]} and e["user"]["key"] == "bob"
    finally:
        server.shutdown()
