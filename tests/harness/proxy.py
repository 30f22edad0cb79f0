"""A forward HTTP proxy on 127.0.0.1 for tests of overlock's proxy handling.

It answers what a client sends to an ``http://`` proxy (``GET http://host:port/path``) by
fetching the URL itself, for loopback targets only, and keeps a log of what it was asked
(target URL and the ``Proxy-Authorization`` header). With ``stall`` set it never finishes its
status line instead: one byte per ``delay`` seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit


class Asked(NamedTuple):
    url: str
    proxy_authorization: str | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: ForwardProxy  # set on the per-proxy subclass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy = self.proxy
        with proxy.lock:
            proxy.asked.append(Asked(self.path, self.headers.get("Proxy-Authorization")))
        if proxy.stall:
            self.close_connection = True
            while not proxy.stopping.is_set():
                try:
                    self.wfile.write(b"H")
                    self.wfile.flush()
                except OSError:
                    return
                proxy.stopping.wait(proxy.delay)
            return
        target = urlsplit(self.path)
        if target.scheme != "http" or target.hostname != "127.0.0.1":
            self.send_error(403, "this test proxy forwards to http://127.0.0.1 only")
            return
        conn = http.client.HTTPConnection("127.0.0.1", target.port or 80, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {
            k: v for k, v in self.headers.items() if not k.lower().startswith(("proxy-", "conn"))
        }
        try:
            conn.request(self.command, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ForwardProxy:
    def __init__(self, *, stall: bool = False, delay: float = 0.05) -> None:
        self.stall = stall
        self.delay = delay
        self.asked: list[Asked] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        with contextlib.suppress(OSError):
            self._server.server_close()
        self._thread.join(timeout=5)
