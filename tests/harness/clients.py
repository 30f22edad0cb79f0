"""An ``Index`` in process, over the real HTTP client, for tests of the index layer: a base as
data (whatever Python runs the tests) and the client made as ``overlock`` makes it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from packaging.tags import compatible_tags

from overlock.base.env import BaseEnv
from overlock.cache import Cache
from overlock.index.client import Index
from overlock.index.http import make_client
from overlock.index.pipconfig import IndexConfig

PATIENCE = 120.0  # seconds; only ever spent when something is wrong


def any_base() -> BaseEnv:
    """A CPython 3.12 base that takes pure-Python wheels, as a probe would report it."""
    tags = [str(t) for t in compatible_tags((3, 12), interpreter="cp312", platforms=["any"])]
    return BaseEnv(
        python="/opt/base/bin/python3.12",
        prefix="/opt/base",
        kind="venv",
        python_version="3.12.4",
        implementation="cpython",
        markers={"python_version": "3.12", "python_full_version": "3.12.4"},
        tags=tuple(tags),
        scheme={},
        site_dirs=(),
        distributions=(),
    )


@contextlib.contextmanager
def open_index(
    url: str,
    cache: Cache,
    *,
    retries: int = 0,
    timeout: float = 5,
    trusted_hosts: tuple[str, ...] = (),
    cert: str | None = None,
) -> Iterator[Index]:
    """An ``Index`` of the index at ``url`` for ``any_base()``, retrying quickly."""
    machine = IndexConfig(retries=retries, timeout=timeout, trusted_hosts=trusted_hosts, cert=cert)
    config = IndexConfig.from_manifest((url,), (), machine)
    client = make_client(config, backoff=0.01)
    with client, Index(config, any_base(), cache, client=client) as ix:
        yield ix


def wait_for(condition: Callable[[], bool], patience: float = PATIENCE) -> bool:
    """Poll ``condition`` until it holds or ``patience`` runs out; never a measure of speed."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
