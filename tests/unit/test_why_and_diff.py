"""``why`` names the extra that brought a package in; a lock diff shows a move to the base."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from overlock.base.env import BaseEnv
from overlock.lock.make import diff_locks, lock_overlay
from overlock.lock.pylock import Lock, LockedPackage
from overlock.report.why import why

from .values import MemorySource, dist, make_base, make_manifest

pytestmark = pytest.mark.unit


def _lock(source: MemorySource, base: BaseEnv, *requires: str) -> Lock:
    lock, _ = lock_overlay(make_manifest(*requires), base, source)
    return lock


def _requires_of(source: MemorySource) -> object:
    def requires_of(pkg: LockedPackage) -> Sequence[str]:
        for p in source.published:
            if p.name == pkg.name and p.version == pkg.version:
                return p.requires
        return ()

    return requires_of


@pytest.mark.parametrize(
    ("requires", "chain_start"),
    [
        (("httpx[http2]",), "httpx[http2] 0.28.1 (requested: httpx[http2]) -> h2<5,>=3"),
        (
            ("client",),
            "client 1.0 (requested: client) -> httpx[http2]>=0.27 -> httpx[http2] 0.28.1",
        ),
    ],
)
def test_why_names_the_extra_that_brought_a_package_in(
    requires: tuple[str, ...], chain_start: str
) -> None:
    source = (
        MemorySource()
        .add("httpx", "0.28.1", "h2<5,>=3; extra == 'http2'")
        .add("h2", "4.1.0")
        .add("client", "1.0", "httpx[http2]>=0.27")
    )
    base = make_base()
    lock = _lock(source, base, *requires)
    answer = why("h2", lock, base, _requires_of(source), requested=requires)  # type: ignore[arg-type]
    text = "\n".join(str(c) for c in answer.chains)
    assert text.startswith(chain_start), text


def test_a_move_to_the_base_copy_is_a_change_not_a_removal() -> None:
    source = MemorySource().add("httpx", "0.28.1").add("httpx", "0.23.3")
    old = _lock(source, make_base(dist("httpx", "0.20.0")), "httpx>=0.23")
    new = _lock(source, make_base(dist("httpx", "0.23.3")), "httpx>=0.23")
    assert [p.name for p in old.packages] == ["httpx"] and new.packages == ()
    [change] = diff_locks(old, new)
    assert str(change) == "~ httpx 0.28.1 -> 0.23.3 (base)"
    assert (change.kind, change.to_base) == ("change", True)
    # Gone from the overlay with no base copy: still a removal.
    [gone] = diff_locks(old, _lock(source, make_base()))
    assert str(gone) == "- httpx 0.28.1"
