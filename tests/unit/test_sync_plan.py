"""The sync plan on values: a lock against a generation's recorded state, no disk, no base."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from overlock.lock.make import lock_overlay
from overlock.lock.pylock import Lock
from overlock.prefix.state import GenerationState, InstalledPackage
from overlock.sync.plan import make_plan

from .values import MemorySource, dist, make_base, make_manifest

pytestmark = pytest.mark.unit

PREFIX = Path("/overlays/unit")
LAYOUT = {"prefix": str(PREFIX), "python-version": "3.11"}


def _lock(*requires: str) -> Lock:
    base = make_base(dist("hdfio", "2.1.0"))
    source = MemorySource().add("hdfio", "3.0.0").add("scanlib", "1.5.0").add("scanlib", "1.6.0")
    manifest = make_manifest(*requires)
    lock, _outcome = lock_overlay(manifest, base, source)
    return lock


def _state(lock: Lock, *, layout: dict[str, str] = LAYOUT, **changed: str) -> GenerationState:
    """The state a sync of ``lock`` would have recorded; ``changed``: name -> other sha256."""
    packages = tuple(
        InstalledPackage(p.name, p.version, changed.get(p.name, p.file.sha256), p.direct_url)
        for p in lock.packages
    )
    return GenerationState(1, packages, layout, "sha256:x", "fp")


def test_nothing_synced_yet_installs_everything() -> None:
    lock = _lock("hdfio>=3", "scanlib")
    plan = make_plan(lock, None, LAYOUT, PREFIX)
    assert [p.name for p in plan.add] == ["hdfio", "scanlib"]
    assert plan.lines() == ["+ hdfio 3.0.0", "+ scanlib 1.6.0"]
    assert not plan.is_noop


def test_the_same_lock_is_a_no_op() -> None:
    lock = _lock("hdfio>=3", "scanlib")
    plan = make_plan(lock, _state(lock), LAYOUT, PREFIX)
    assert plan.is_noop and plan.lines() == [] and plan.to_install == ()
    assert [p.name for p in plan.unchanged] == ["hdfio", "scanlib"]


def test_a_changed_file_a_new_version_and_a_removal() -> None:
    old = _lock("hdfio>=3", "scanlib==1.5.0")
    new = _lock("scanlib")
    state = _state(old)
    plan = make_plan(new, state, LAYOUT, PREFIX)
    assert plan.lines() == ["- hdfio 3.0.0", "~ scanlib 1.5.0 -> 1.6.0"]
    assert [p.name for p in plan.to_install] == ["scanlib"]
    # The same version from another file (a rebuilt wheel) is a replacement too.
    rebuilt = make_plan(old, _state(old, scanlib="0" * 64), LAYOUT, PREFIX)
    assert rebuilt.lines() == ["~ scanlib 1.5.0 (different file)"]
    assert rebuilt.replace[0].name == canonicalize_name("scanlib")


def test_a_moved_base_or_prefix_reinstalls_everything_and_says_why() -> None:
    lock = _lock("hdfio>=3", "scanlib")
    moved = {**LAYOUT, "python-version": "3.12"}
    plan = make_plan(lock, _state(lock), moved, PREFIX)
    assert plan.rebuild == "the base or the prefix changed (python-version)"
    assert [p.name for p in plan.to_install] == ["hdfio", "scanlib"]
    assert plan.lines()[-1].startswith("! every package is reinstalled")
