"""What a sync would change: the lock against the current generation's state, as values.

Pure: the state file is read, and the layout computed, by the caller (sync/engine.py), so the
plan can be tested on values alone (tests/unit/test_sync_plan.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from overlock.lock.pylock import Lock, LockedPackage
from overlock.prefix.state import GenerationState, InstalledPackage


@dataclass(frozen=True)
class Replacement:
    """A package the generation holds in another version or from another file."""

    name: NormalizedName
    old: InstalledPackage
    new: LockedPackage


@dataclass(frozen=True)
class SyncPlan:
    """What a sync would change; computed from the state file alone (no hashing, no network)."""

    prefix: Path
    add: tuple[LockedPackage, ...] = ()
    remove: tuple[InstalledPackage, ...] = ()
    replace: tuple[Replacement, ...] = ()
    unchanged: tuple[LockedPackage, ...] = ()
    rebuild: str | None = None  # why every package is reinstalled (the base moved), or None

    @property
    def is_noop(self) -> bool:
        return not (self.add or self.remove or self.replace) and self.rebuild is None

    @property
    def to_install(self) -> tuple[LockedPackage, ...]:
        if self.rebuild is not None:
            return tuple(
                sorted(
                    (*self.add, *(r.new for r in self.replace), *self.unchanged),
                    key=lambda p: p.name,
                )
            )
        return tuple(sorted((*self.add, *(r.new for r in self.replace)), key=lambda p: p.name))

    def lines(self) -> list[str]:
        """One line per change, for people: ``+ name version``, ``- ...``, ``~ old -> new``."""
        out = [f"+ {p.name} {p.version}" for p in self.add]
        out += [f"- {p.name} {p.version}" for p in self.remove]
        for r in self.replace:
            same = r.old.version == r.new.version
            detail = (
                f"{r.new.version} (different file)"
                if same
                else (f"{r.old.version} -> {r.new.version}")
            )
            out.append(f"~ {r.name} {detail}")
        if self.rebuild is not None:
            out.append(f"! every package is reinstalled: {self.rebuild}")
        return out


def make_plan(
    lock: Lock, state: GenerationState | None, layout: Mapping[str, Any], prefix: Path
) -> SyncPlan:
    """Compare ``lock`` with ``state`` (None: nothing synced yet). ``layout``: what files of
    a generation at ``prefix`` depend on now; a state made for another layout is rebuilt."""
    installed = state.by_name if state is not None else {}
    add: list[LockedPackage] = []
    replace: list[Replacement] = []
    unchanged: list[LockedPackage] = []
    for pkg in lock.packages:
        old = installed.get(pkg.name)
        if old is None:
            add.append(pkg)
        elif old.sha256 == pkg.file.sha256 and old.url == pkg.direct_url:
            unchanged.append(pkg)
        else:
            replace.append(Replacement(pkg.name, old, pkg))
    locked = lock.by_name
    remove = [p for p in installed.values() if p.name not in locked]
    rebuild = None
    if state is not None and dict(state.layout) != dict(layout):
        changed = sorted(k for k, v in layout.items() if state.layout.get(k) != v)
        rebuild = "the base or the prefix changed (" + ", ".join(changed) + ")"
    return SyncPlan(
        prefix=prefix,
        add=tuple(add),
        remove=tuple(sorted(remove, key=lambda p: p.name)),
        replace=tuple(replace),
        unchanged=tuple(unchanged),
        rebuild=rebuild,
    )
