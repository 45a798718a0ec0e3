"""HTTP/1.1 to the relay with the standard library: one persistent connection per thread, a short timeout."""

from __future__ import annotations

import http.client
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit


class RelayConnection:
    """One keep-alive connection to the relay (used by one thread only). Raises OSError / HTTPException on failure."""

    def __init__(self, relay_url: str, token: str, timeout: float, user_agent: str) -> None:
        parts = urlsplit(relay_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent}
        self._conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None) -> Tuple[int, Dict[str, str], bytes]:
        """(status, lower-cased headers, body). A stale keep-alive connection is retried once on a fresh one."""
        all_headers = dict(self._headers)
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        for attempt in (0, 1):
            fresh = self._conn is None
            conn = self._connection(timeout)
            try:
                conn.request(method, self._prefix + path, body=body, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read(4 * 1024 * 1024 + 1)
                out = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self.close()
                return resp.status, out, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if fresh or attempt == 1:
                    raise
            except BaseException:
                self.close()
                raise
        raise OSError("unreachable")  # pragma: no cover

    def _connection(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        t = self._timeout if timeout is None else max(0.01, min(timeout, self._timeout))
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=t)
        else:
            self._conn.timeout = t
            if self._conn.sock is not None:
                self._conn.sock.settimeout(t)
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
