"""What a distribution URL says besides where it is: its fragment (``#sha256=``,
``#subdirectory=``), read with unearth's ``Link`` as pip reads it."""

from __future__ import annotations

from collections.abc import Collection

from unearth.link import Link


def fragment_hashes(url: str, algorithms: Collection[str]) -> dict[str, str]:
    """``{algorithm: hex}`` from a ``#sha256=...`` fragment (one hash, as pip reads it), when
    it names one of ``algorithms``."""
    found = Link(url).hash_option or {}
    return {name: values[0].lower() for name, values in found.items() if name in algorithms}


def fragment_subdirectory(url: str) -> str | None:
    """``#subdirectory=dir`` of the URL, or None."""
    return Link(url).subdirectory or None


def without_fragment(url: str) -> str:
    return url.split("#", 1)[0]
