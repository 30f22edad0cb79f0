"""A forwarding HTTP proxy on 127.0.0.1 that logs what passed through it.

Enough of RFC 9110's proxying for an index on loopback: GET and HEAD with an absolute URI
(``GET http://127.0.0.1:PORT/simple/x/ HTTP/1.1``), forwarded to http:// origins only,
answers passed back whole with their status, headers and body. ``Proxy-Authorization`` is
recorded (tests check the client sent the credentials of the proxy URL) and never forwarded.
With ``auth`` set, a request without the right credentials gets 407. With ``stall`` set it
never finishes its status line instead: one byte per ``delay`` seconds.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: never passed on.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class ProxiedRequest(NamedTuple):
    method: str
    url: str  # the absolute URI the client asked the proxy for
    proxy_authorization: str | None
    status: int  # 0: a stalling proxy never answered


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: ForwardingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy = self.proxy
        parts = urlsplit(self.path)
        given = self.headers.get("Proxy-Authorization")
        if proxy.stall:
            self._record(given, 0)
            self.close_connection = True
            while not proxy.stopping.is_set():
                try:
                    self.wfile.write(b"H")
                    self.wfile.flush()
                except OSError:
                    return
                proxy.stopping.wait(proxy.delay)
            return
        if parts.scheme != "http" or not parts.hostname:
            self._answer(400, b"a proxy request needs an absolute http:// URI\n", given)
            return
        if proxy.auth_header is not None and given != proxy.auth_header:
            self._answer(407, b"proxy authentication required\n", given)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.request(self.command, target or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            self._record(given, resp.status)
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in _HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            declared = resp.getheader("Content-Length")
            length = declared if self.command == "HEAD" and declared else str(len(body))
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        finally:
            conn.close()

    def _answer(self, status: int, body: bytes, given: str | None) -> None:
        self._record(given, status)
        self.send_response(status)
        if status == 407:
            self.send_header("Proxy-Authenticate", 'Basic realm="overlock-test-proxy"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, given: str | None, status: int) -> None:
        with self.proxy.lock:
            self.proxy.requests.append(ProxiedRequest(self.command, self.path, given, status))


class ForwardingProxy:
    """``with ForwardingProxy(auth=("user", "pw")) as proxy: ... proxy.url ... proxy.requests``"""

    def __init__(
        self, *, auth: tuple[str, str] | None = None, stall: bool = False, delay: float = 0.05
    ) -> None:
        self.auth = auth
        self.stall = stall
        self.delay = delay
        self.stopping = threading.Event()
        self.auth_header = None
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.auth_header = f"Basic {token}"
        self.requests: list[ProxiedRequest] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials when it has some."""
        userinfo = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        with contextlib.suppress(OSError):
            self._server.server_close()
        self._thread.join(timeout=5)
