"""The one httpx transport of overlock's HTTP client, built from public httpx2/httpcore2 API.

Each request goes to one of a few ``httpcore2.ConnectionPool``s, chosen by what pip would do
for its URL: through the environment's proxy (``HTTPS_PROXY``, ``NO_PROXY``, ... as read by
``urllib.request``, which pip's requests reads too) or direct; TLS verified, or not for a
host named in pip's ``trusted-host``. Every pool connects through ``deadline.Backend``, so
every request keeps the total deadline of ``deadline.scope``, proxied and trusted ones too.

httpx gives a client a transport only whole (``transport=``, ``mounts=``), not a network
backend, and it reads proxies from the environment only for the transport it builds itself:
so the mapping of requests and errors between httpx and httpcore (what ``httpx2.HTTPTransport``
does) is done here, in the few lines overlock needs.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import ssl
import threading
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress

import httpcore2
import httpx2
from unearth.utils import parse_netloc

from overlock.errors import BadInputError
from overlock.index.deadline import Backend
from overlock.redact import redact_url

# httpcore's errors as httpx's (the retry layer catches ``httpx2.TransportError``); looked up
# along the raised type's MRO, so the most specific one wins.
_ERRORS: Mapping[type[Exception], type[httpx2.TransportError]] = {
    httpcore2.ConnectTimeout: httpx2.ConnectTimeout,
    httpcore2.ReadTimeout: httpx2.ReadTimeout,
    httpcore2.WriteTimeout: httpx2.WriteTimeout,
    httpcore2.PoolTimeout: httpx2.PoolTimeout,
    httpcore2.TimeoutException: httpx2.TimeoutException,
    httpcore2.ConnectError: httpx2.ConnectError,
    httpcore2.ReadError: httpx2.ReadError,
    httpcore2.WriteError: httpx2.WriteError,
    httpcore2.NetworkError: httpx2.NetworkError,
    httpcore2.ProxyError: httpx2.ProxyError,
    httpcore2.UnsupportedProtocol: httpx2.UnsupportedProtocol,
    httpcore2.LocalProtocolError: httpx2.LocalProtocolError,
    httpcore2.RemoteProtocolError: httpx2.RemoteProtocolError,
    httpcore2.ProtocolError: httpx2.ProtocolError,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls in _ERRORS:
                raise _ERRORS[cls](str(exc)) from exc
        raise


class _Body(httpx2.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _mapped():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _mapped():
                close()


class Transport(httpx2.BaseTransport):
    """Requests over connection pools of overlock's own making (see the module docstring)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        insecure_context: ssl.SSLContext,
        trusted_hosts: Sequence[str] = (),
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._contexts = {True: ssl_context, False: insecure_context}
        self._trusted = [parse_netloc(host) for host in trusted_hosts]
        # Read once, like httpx: the environment of the command that made the client.
        self._proxies = dict(urllib.request.getproxies() if proxies is None else proxies)
        self._pools: dict[tuple[str | None, bool], httpcore2.ConnectionPool] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        assert isinstance(request.stream, httpx2.SyncByteStream)  # a sync client's request
        core = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        pool = self._pool(self._proxy_for(url), verify=not self._is_trusted(url))
        with _mapped():
            resp = pool.handle_request(core)
        assert isinstance(resp.stream, Iterable)  # a sync pool's response
        return httpx2.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Body(resp.stream),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _is_trusted(self, url: httpx2.URL) -> bool:
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        return any(
            url.host == host and (want is None or want == port) for host, want in self._trusted
        )

    def _proxy_for(self, url: httpx2.URL) -> str | None:
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy:
            return None
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if _bypassed(url.host, port, self._proxies.get("no", "")):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    def _pool(self, proxy_url: str | None, *, verify: bool) -> httpcore2.ConnectionPool:
        key = (proxy_url, verify)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = httpcore2.ConnectionPool(
                    ssl_context=self._contexts[verify],
                    proxy=None if proxy_url is None else _proxy(proxy_url),
                    # httpx's defaults (httpx2.Limits())
                    max_connections=100,
                    max_keepalive_connections=20,
                    keepalive_expiry=5.0,
                    network_backend=Backend(httpcore2.SyncBackend()),
                )
            return pool


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts ``host`` (curl's reading, which pip's shares): ``*``,
    a name that is the host or a domain it is in (a leading dot optional), or an IP address;
    each with an optional ``:port``. For a host that is an IP address, also a CIDR block
    (``10.0.0.0/8``, ``::1/128``), as requests (hence pip) reads them: see ``_in_block``."""
    host = host.lower().rstrip(".")
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    with suppress(ValueError):  # a name: no block matches it (nothing is resolved)
        address = ipaddress.ip_address(host)
    for entry in no_proxy.lower().replace(" ", ",").split(","):
        if entry == "*":
            return True
        if "/" in entry:
            if address is not None and _in_block(address, entry):
                return True
            continue
        if entry.startswith("["):  # [v6]:port
            name, _, want = entry[1:].partition("]")
            want = want.lstrip(":")
        elif entry.count(":") == 1:  # name:port (more colons: a bare v6 address)
            name, _, want = entry.partition(":")
        else:
            name, want = entry, ""
        name = name.lstrip("*").strip(".")
        if not name or (want and want != str(port)):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _in_block(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    """Whether ``address`` lies in the CIDR block ``entry``, as requests'
    ``should_bypass_proxies`` decides it (``is_valid_cidr``, ``address_in_network`` and, for
    IPv6, ``address_in_network_ipv6``): an address, ``/`` and a prefix length in decimal,
    1-32 for IPv4, 1-128 for IPv6; host bits in the address are ignored (``10.1.2.3/8`` is
    ``10.0.0.0/8``). Anything else with a ``/`` (a netmask, a name, a bracketed or malformed
    address) is no block and matches nothing, never an error: requests ignores it too.

    Where curl (7.86+) differs: a ``/0`` block is ignored here, as requests ignores it, while
    curl compares it as the whole address (``/32``); neither takes it as "every address".
    And requests older than its IPv6 support (2.31, which pip 23.2 vendors) knows IPv4 blocks
    only: an IPv6 block exempts here what such a pip sends through the proxy.
    """
    network, _, bits = entry.partition("/")
    if not bits.isdigit() or not bits.isascii():
        return False
    try:
        block = ipaddress.ip_network(f"{network}/{int(bits)}", strict=False)
    except ValueError:
        return False
    return block.prefixlen > 0 and address in block


def _proxy(url: str) -> httpcore2.Proxy:
    parsed = httpx2.URL(url)
    problem = None
    if parsed.scheme not in _PROXY_SCHEMES:
        problem = "is neither HTTP(S) nor SOCKS5"
    elif parsed.scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        problem = "is a SOCKS proxy, which needs the socksio package (not installed)"
    if problem is not None:
        raise BadInputError(
            f"the proxy {redact_url(url)} (from the environment) {problem}",
            hint="fix HTTP_PROXY / HTTPS_PROXY / ALL_PROXY, or exempt the index in NO_PROXY",
        )
    auth = (parsed.username, parsed.password) if parsed.username or parsed.password else None
    return httpcore2.Proxy(
        url=httpcore2.URL(
            scheme=parsed.raw_scheme,
            host=parsed.raw_host,
            port=parsed.port,
            target=parsed.raw_path,
        ),
        auth=auth,
    )


__all__ = ["Transport"]
