"""audit shares one index session per index configuration, proxies included."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from overlock.app.audit import SharedSources
from overlock.index.pipconfig import IndexConfig

pytestmark = pytest.mark.unit


class _Overlay:
    """What SharedSources asks of an overlay: its index configuration and an index."""

    def __init__(self, config: IndexConfig) -> None:
        self.index_config = config
        self.opened = 0

    @contextlib.contextmanager
    def index(self, base: Any) -> Iterator[object]:
        self.opened += 1
        yield object()


def test_one_session_per_configuration_and_proxy() -> None:
    plain = IndexConfig(index_urls=("https://mirror.example/simple",))
    proxied = IndexConfig(index_urls=plain.index_urls, proxy="http://proxy.example:3128")
    a, b, c = _Overlay(plain), _Overlay(plain), _Overlay(proxied)
    with ExitStack() as stack:
        sources = SharedSources(stack)
        first = sources(a, None)  # type: ignore[arg-type]
        assert sources(b, None) is first  # type: ignore[arg-type]
        assert sources(c, None) is not first  # type: ignore[arg-type]
    assert (a.opened, b.opened, c.opened) == (1, 0, 1)
