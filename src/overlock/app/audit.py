"""Which overlays survive a candidate base? ``overlock audit``'s work, writing nothing.

For each overlay: resolve its manifest on the candidate base (through its lower overlays, as
they are synced), keeping the locked versions that still fit, as ``overlock lock`` would;
compare with its lock; list the requested packages (hot-fixes) the candidate base now
provides so the overlay no longer holds them; and say when it no longer resolves.

Work is shared: the candidate base is read once, one index session serves every overlay
with the same index settings (pages and metadata fetched once), and overlays whose
resolution inputs agree (requirements, policy, kept versions, lower layers) are resolved
once.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.pylock import Pylock, PylockValidationError
from packaging.utils import NormalizedName
from packaging.version import Version

from overlock.app.overlay import Overlay
from overlock.base.env import BaseEnv, load_snapshot
from overlock.dists.types import PackageSource
from overlock.errors import OverlockError
from overlock.lock.make import Change, diff_locks, lock_overlay, preferred_versions
from overlock.lock.pylock import Lock
from overlock.prefix.layers import layers_of, stacked_base

UNCHANGED = "unchanged"  # still locks, and the lock would stay as it is
CHANGES = "changes"  # still locks, but the lock would change
BREAKS = "breaks"  # no longer resolves on the candidate base
ERROR = "error"  # could not be audited (bad manifest, unsynced lower overlay, ...)


@dataclass(frozen=True)
class Redundant:
    """A requested package the candidate base now provides, so the overlay drops it."""

    name: NormalizedName
    requested: tuple[str, ...]
    locked: str  # the version the overlay holds today
    base: str  # the candidate base's version

    def __str__(self) -> str:
        asked = ", ".join(f"`{t}`" for t in self.requested)
        return (
            f"{self.name}: the new base's {self.base} satisfies {asked}"
            f" (the overlay holds {self.locked})"
        )


@dataclass(frozen=True)
class Verdict:
    manifest: str
    name: str
    status: str  # UNCHANGED, CHANGES, BREAKS or ERROR
    changes: tuple[Change, ...] = ()
    redundant: tuple[Redundant, ...] = ()
    problem: str = ""  # why it breaks, or why it could not be audited
    hint: str = ""
    shared: bool = False  # its resolution was another overlay's (same inputs)

    @property
    def locks(self) -> bool:
        return self.status in (UNCHANGED, CHANGES)

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "name": self.name,
            "status": self.status,
            "locks": self.locks,
            "changes": [
                {"name": c.name, "kind": c.kind, "old": c.old, "new": c.new, "to_base": c.to_base}
                for c in self.changes
            ],
            "redundant": [
                {"name": r.name, "requested": list(r.requested), "locked": r.locked, "base": r.base}
                for r in self.redundant
            ],
            "problem": self.problem or None,
            "hint": self.hint or None,
            "shared": self.shared,
        }


@dataclass
class Report:
    base: str  # what was audited against, as given
    distributions: int
    verdicts: list[Verdict] = field(default_factory=list)
    resolutions: int = 0  # resolver runs (fewer than overlays when inputs agree)

    @property
    def breaks(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in (BREAKS, ERROR)]

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "distributions": self.distributions,
            "overlays": [v.to_json() for v in self.verdicts],
            "resolutions": self.resolutions,
            "ok": not self.breaks,
        }


def load_candidate(spec: str, probe: Callable[[str], BaseEnv]) -> BaseEnv:
    """An ``overlock base snapshot`` file, or an environment (probed once)."""
    path = Path(spec)
    if path.is_file() and path.suffix == ".json":
        return load_snapshot(path)
    if path.is_file():
        try:
            with path.open("rb") as f:
                looks_like_json = f.read(1) == b"{"
        except OSError:
            looks_like_json = False
        if looks_like_json:
            return load_snapshot(path)
    return probe(spec)


def _resolution_key(
    overlay: Overlay, base: BaseEnv, prefer: Mapping[NormalizedName, Version]
) -> str:
    m = overlay.manifest
    return json.dumps(
        {
            "requires": list(m.requires_text),
            "sources": [s.url for s in m.sources],
            "root": str(m.path.parent) if m.sources else "",  # relative paths differ by place
            "shadow": m.shadow,
            "keep": list(m.keep),
            "allow-build": m.allow_build,
            "policy": [m.prereleases, list(m.only_binary), list(m.no_binary)],
            "index": overlay.index_config.__repr__(),
            "prefer": sorted((str(k), str(v)) for k, v in prefer.items()),
            "layers": [str(layer.get("fingerprint")) for layer in layers_of(base)],
        },
        sort_keys=True,
    )


def _read_lock(overlay: Overlay) -> Lock | None:
    """The overlay's lock, parsed with tomllib: tomlkit keeps formatting nobody needs here
    and took 80% of an audit of 100 locks on a 500-distribution base (bench/audit_bench.py).
    Anything unusual goes through the ordinary reader, for its messages."""
    try:
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10: the ordinary reader
        return overlay.read_lock() if overlay.lock_path.exists() else None
    try:
        data = tomllib.loads(overlay.lock_path.read_text(encoding="utf-8"))
        return Lock.from_pylock(Pylock.from_dict(data), source=str(overlay.lock_path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, PylockValidationError, OverlockError):
        return overlay.read_lock()


def _redundant(overlay: Overlay, old: Lock | None, new: Lock, base: BaseEnv) -> list[Redundant]:
    if old is None:
        return []
    out: list[Redundant] = []
    now = new.by_name
    for pkg in old.packages:
        have = base.by_name.get(pkg.name)
        if not pkg.requested or pkg.name in now or have is None:
            continue
        out.append(Redundant(pkg.name, tuple(pkg.requested), pkg.version, have.version))
    return out


def audit(
    manifests: Sequence[Path],
    candidate: BaseEnv,
    *,
    described_as: str,
    source_for: Callable[[Overlay, BaseEnv], PackageSource],
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Audit each overlay of ``manifests`` against ``candidate``; nothing is written.

    ``source_for(overlay, base)`` gives the package source to resolve with (the CLI passes
    one index session per distinct index configuration).
    """
    report = Report(described_as, len(candidate.distributions))
    memo: dict[str, tuple[Lock, None] | tuple[None, OverlockError]] = {}
    for path in manifests:
        if progress is not None:
            progress(str(path))
        report.verdicts.append(_one(path, candidate, source_for, memo, report))
    return report


def _one(
    path: Path,
    candidate: BaseEnv,
    source_for: Callable[[Overlay, BaseEnv], PackageSource],
    memo: dict[str, tuple[Lock, None] | tuple[None, OverlockError]],
    report: Report,
) -> Verdict:
    shown = str(path)
    try:
        overlay = Overlay.load(path)
        name = overlay.manifest.overlay_name(candidate.prefix)
        # Lower overlays as they are synced, on the candidate base.
        base = stacked_base(overlay.manifest, lambda _m: candidate)
        old = _read_lock(overlay)
        prefer = preferred_versions(old)
        key = _resolution_key(overlay, base, prefer)
        shared = key in memo
        if not shared:
            report.resolutions += 1
            try:
                source = source_for(overlay, base)
                lock, _ = lock_overlay(
                    overlay.manifest,
                    base,
                    source,
                    complete=getattr(source, "complete", None),
                    allow_build=False,
                    prefer=prefer,
                )
                memo[key] = (lock, None)
            except OverlockError as exc:
                if exc.exit_code == 2:
                    raise
                memo[key] = (None, exc)
        new, failure = memo[key]
    except OverlockError as exc:
        return Verdict(shown, path.parent.name, ERROR, problem=exc.message, hint=exc.hint or "")
    if failure is not None:
        return Verdict(
            shown, name, BREAKS, problem=failure.message, hint=failure.hint or "", shared=shared
        )
    assert new is not None
    changes = tuple(diff_locks(old, new))
    return Verdict(
        shown,
        name,
        CHANGES if changes or old is None else UNCHANGED,
        changes=changes,
        redundant=tuple(_redundant(overlay, old, new, base)),
        shared=shared,
    )


class SharedSources:
    """One index session per distinct index configuration, all judged for one base."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._open: dict[str, PackageSource] = {}

    def __call__(self, overlay: Overlay, base: BaseEnv) -> PackageSource:
        config = overlay.index_config
        key = f"{config!r} proxy={config.proxy}"  # (the proxy is kept out of the repr)
        if key not in self._open:
            self._open[key] = self._stack.enter_context(overlay.index(base))
        return self._open[key]

    def __iter__(self) -> Iterator[PackageSource]:
        return iter(self._open.values())
