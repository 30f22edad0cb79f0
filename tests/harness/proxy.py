"""A forwarding HTTP proxy on 127.0.0.1 that logs what passed through it.

Enough of RFC 9110's proxying for an index on loopback: GET and HEAD with an absolute URI
(``GET http://127.0.0.1:PORT/simple/x/ HTTP/1.1``), forwarded to http:// origins only,
answers passed back whole with their status, headers and body; and ``CONNECT 127.0.0.1:PORT``
(9.3.6), answered 200 and then a tunnel that relays bytes both ways untouched (TLS runs end to
end through it, as an https:// index is reached through a proxy) until either side closes.
Only 127.0.0.1 is tunnelled to: tests never leave loopback. ``Proxy-Authorization`` is
recorded (tests check the client sent the credentials of the proxy URL) and never forwarded.
With ``auth`` set, a request or CONNECT without the right credentials gets 407. With ``stall``
set it never finishes its status line instead: one byte per ``delay`` seconds.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import socket
import threading
from collections.abc import Callable
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


# Generous: a loaded CI machine may leave a tunnel idle for long; the proxy's exit ends
# tunnels still open, so this bounds nothing a test waits on.
_TUNNEL_TIMEOUT = 300.0


class ProxiedRequest(NamedTuple):
    method: str
    url: str  # the absolute URI the client asked the proxy for; host:port for a CONNECT
    proxy_authorization: str | None
    status: int  # 0: a stalling proxy never answered
    # An opened tunnel's local port towards the target: the client port the target saw for
    # every request that came through this tunnel.
    tunnel_port: int | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: ForwardingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_CONNECT(self) -> None:
        proxy = self.proxy
        given = self.headers.get("Proxy-Authorization")
        # Whatever the answer, this connection carries no further requests.
        self.close_connection = True
        if proxy.stall:
            self._stall(given)
            return
        host, _, port = self.path.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit() or not 0 < int(port) < 65536:
            self._answer(403, b"this proxy tunnels to 127.0.0.1:PORT only\n", given)
            return
        if proxy.auth_header is not None and given != proxy.auth_header:
            self._answer(407, b"proxy authentication required\n", given)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
        except OSError:
            self._answer(502, b"cannot reach the target\n", given)
            return
        with upstream:
            upstream.settimeout(_TUNNEL_TIMEOUT)
            self.connection.settimeout(_TUNNEL_TIMEOUT)
            self._record(given, 200, tunnel_port=int(upstream.getsockname()[1]))
            self.send_response(200, "Connection established")
            self.end_headers()
            read = functools.partial(self.rfile.read1, 65536)
            proxy.tunnel(self.connection, read, upstream)

    def _stall(self, given: str | None) -> None:
        proxy = self.proxy
        self._record(given, 0)
        self.close_connection = True
        while not proxy.stopping.is_set():
            try:
                self.wfile.write(b"H")
                self.wfile.flush()
            except OSError:
                return
            proxy.stopping.wait(proxy.delay)

    def _forward(self) -> None:
        proxy = self.proxy
        parts = urlsplit(self.path)
        given = self.headers.get("Proxy-Authorization")
        if proxy.stall:
            self._stall(given)
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

    def _record(self, given: str | None, status: int, *, tunnel_port: int | None = None) -> None:
        # Before the answer leaves: a client that has its answer finds it in the log.
        record = ProxiedRequest(self.command, self.path, given, status, tunnel_port)
        with self.proxy.lock:
            self.proxy.requests.append(record)


def _pump(read: Callable[[], bytes], write: socket.socket) -> None:
    """Relay until ``read`` gives end of stream (or fails), then pass the end on: the peer
    behind ``write`` sees the close the other peer made."""
    try:
        while chunk := read():
            write.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        write.shutdown(socket.SHUT_WR)


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
        # handler thread -> its tunnel's relay thread back to the client, and both sockets
        self._tunnels: dict[
            threading.Thread, tuple[threading.Thread, socket.socket, socket.socket]
        ] = {}
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

    @property
    def connects(self) -> list[ProxiedRequest]:
        """The CONNECTs the proxy was asked for, in order."""
        with self.lock:
            return [r for r in self.requests if r.method == "CONNECT"]

    def tunnel(
        self, client: socket.socket, read_client: Callable[[], bytes], upstream: socket.socket
    ) -> None:
        """Relay between ``client`` (read through ``read_client``, which first gives what the
        client sent right after its CONNECT) and ``upstream`` until both have closed."""
        back = threading.Thread(
            target=_pump, args=(functools.partial(upstream.recv, 65536), client), daemon=True
        )
        with self.lock:
            if self.stopping.is_set():
                return
            self._tunnels[threading.current_thread()] = (back, client, upstream)
        try:
            back.start()
            _pump(read_client, upstream)
            back.join()
        finally:
            with self.lock:
                self._tunnels.pop(threading.current_thread(), None)

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        # Tunnels a client left open (an idle pooled connection) end now, both ways.
        with self.lock:
            tunnels = dict(self._tunnels)
        for _, *ends in tunnels.values():
            for sock in ends:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for handler, (back, *_) in tunnels.items():
            back.join(timeout=30)
            handler.join(timeout=30)
        with contextlib.suppress(OSError):
            self._server.server_close()
        self._thread.join(timeout=5)
