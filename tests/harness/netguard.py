"""Refuse in-process connections to anything but loopback while tests run.

The guard raises before the real ``connect`` runs, so nothing leaves the machine (not even a
SYN). Its exception is deliberately *not* an ``OSError``: code under test that treats network
errors as "index unreachable" must not quietly swallow an accidental trip to the internet.
Subprocesses (pip, the base interpreter) are not covered; ``NO_PROXY``/config isolation and
local indexes keep those honest.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NetworkGuardError(RuntimeError):
    """A test tried to open a connection to a non-loopback address."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        # A host name other than localhost: resolving it would already be network traffic.
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_address(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NetworkGuardError(
            f"test tried to connect to {address!r}; only loopback is allowed during tests"
        )


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect: Callable[..., Any] = socket.socket.connect
    real_connect_ex: Callable[..., Any] = socket.socket.connect_ex
    real_create_connection: Callable[..., Any] = socket.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        check_address(self.family, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check_address(self.family, address)
        return int(real_connect_ex(self, address))

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        # Checked before getaddrinfo so a remote name is not even looked up.
        if not _is_loopback(address[0]):
            raise NetworkGuardError(
                f"test tried to connect to {address!r}; only loopback is allowed during tests"
            )
        sock: socket.socket = real_create_connection(address, *args, **kwargs)
        return sock

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
