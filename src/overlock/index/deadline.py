"""One deadline for the whole of an HTTP request: connect, TLS, status line, headers, body.

httpx's timeouts bound each socket operation. A server that sends its status line or its
headers a byte at a time passes every one of them, forever, and nothing of overlock's runs
before the headers are complete. So the client's connections are made through ``Backend``
(``transport.Transport`` gives it to every pool): within ``scope(deadline)`` every socket
operation is given at most the time the deadline has left, none starts once it has passed,
and ``DeadlinePassed`` ends the request.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import httpcore2

from overlock.limits import Deadline

_T = TypeVar("_T")
# Per thread (downloads run in a pool), and per request: set by ``scope`` around one attempt.
_current: ContextVar[Deadline | None] = ContextVar("overlock_request_deadline", default=None)


class DeadlinePassed(Exception):
    """A request ran past its total deadline (``limits.Deadline``)."""


@contextmanager
def scope(deadline: Deadline) -> Iterator[None]:
    """Requests made in this block (in this thread) end when ``deadline`` passes."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def _passed(deadline: Deadline) -> DeadlinePassed:
    return DeadlinePassed(f"no complete answer within {deadline.grace:g} s")


def _bounded(op: Callable[[float | None], _T], timeout: float | None) -> _T:
    deadline = _current.get()
    if deadline is None:
        return op(timeout)
    left = deadline.remaining
    if left <= 0:
        raise _passed(deadline)
    by_deadline = timeout is None or left < timeout
    try:
        return op(left if by_deadline else timeout)
    except httpcore2.TimeoutException:
        if by_deadline:  # the deadline, not pip's per-operation timeout, ran out
            raise _passed(deadline) from None
        raise


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _bounded(lambda t: self._inner.read(max_bytes, t), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _bounded(lambda t: self._inner.write(buffer, t), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        return _Stream(
            _bounded(lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout)
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class Backend(httpcore2.NetworkBackend):
    """A network backend whose streams keep the deadline of ``scope``."""

    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        return _Stream(
            _bounded(
                lambda t: self._inner.connect_tcp(host, port, t, local_address, socket_options),
                timeout,
            )
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.NetworkStream:
        return _Stream(
            _bounded(lambda t: self._inner.connect_unix_socket(path, t, socket_options), timeout)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


__all__ = ["Backend", "DeadlinePassed", "scope"]
