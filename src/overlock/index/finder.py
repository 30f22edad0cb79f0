"""unearth's finder for one index or find-links location, judging files for the *base*.

Its own module because importing unearth loads httpx2 and the rest of the HTTP stack:
``Index`` makes finders only when a page must be parsed (index/release_cache.py answers a
lock whose pages are all fresh without them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from packaging.tags import Tag
from unearth import PackageFinder, TargetPython

from overlock.base.env import BaseEnv


class BaseTarget(TargetPython):
    """unearth's target Python, answering with the base's tags and version."""

    def __init__(self, base: BaseEnv) -> None:
        super().__init__(py_ver=base.python_version_info or None)
        self._base_tags = list(base.parsed_tags)

    def supported_tags(self) -> list[Tag]:
        return self._base_tags


def make_finder(
    fetcher: Any,
    url: str,
    *,
    is_index: bool,
    target: BaseTarget,
    trusted_hosts: Sequence[str],
) -> PackageFinder:
    """A finder reading pages through ``fetcher`` (``PageFetcher``), offering every file
    (``Index`` judges compatibility itself, to say why a file is left out)."""
    return PackageFinder(
        session=fetcher,
        index_urls=[url] if is_index else [],
        find_links=[] if is_index else [url],
        target_python=target,
        trusted_hosts=list(trusted_hosts),
        ignore_compatibility=True,
    )
