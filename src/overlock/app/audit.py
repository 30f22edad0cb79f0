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
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from overlock.app.overlay import IndexOptions, Overlay, seen_base
from overlock.base.env import BaseEnv, load_snapshot
from overlock.build.sources import source_kind
from overlock.dists.types import DistMetadata, PackageSource, Release, SourceRef
from overlock.errors import BadInputError, IndexError_, OverlockError
from overlock.lock.make import Change, diff_locks, lock_overlay, preferred_versions
from overlock.lock.pylock import Lock, LockedPackage
from overlock.prefix.layers import layers_of

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
    overlay: Overlay, base: BaseEnv, prefer: Mapping[NormalizedName, Version], old: Lock | None
) -> str:
    m = overlay.manifest
    return json.dumps(
        {
            "requires": list(m.requires_text),
            "sources": [s.url for s in m.sources],
            "root": str(m.path.parent) if m.sources else "",  # relative paths differ by place
            "shadow": m.shadow,
            "keep": list(m.keep),
            "hide": list(m.hide),
            "allow-build": m.allow_build,
            "policy": [m.prereleases, list(m.only_binary), list(m.no_binary)],
            "index": overlay.index_config.__repr__(),
            "prefer": sorted((str(k), str(v)) for k, v in prefer.items()),
            "layers": [str(layer.get("fingerprint")) for layer in layers_of(base)],
            # Sources are judged as locked (LockedSources): two locks of one tree may differ.
            "locked-sources": [
                [p.identity, list(p.declared_requires or ())]
                for p in (old.packages if old is not None else ())
                if p.directory is not None or p.vcs is not None
            ],
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
        base = seen_base(overlay.manifest, lambda _m: candidate)
        old = _read_lock(overlay)
        prefer = preferred_versions(old)
        key = _resolution_key(overlay, base, prefer, old)
        shared = key in memo
        if not shared:
            report.resolutions += 1
            try:
                source = LockedSources(source_for(overlay, base), old, overlay.manifest.path)
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
    if isinstance(failure, IndexError_):  # the index could not be read: no verdict
        return Verdict(shown, name, ERROR, problem=failure.message, hint=failure.hint or "")
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


class LockedSources:
    """``source`` plus the overlay's local-directory and git sources as its lock has them.

    An audit builds nothing: a source named in overlay.toml is judged as locked, at its
    locked version (a git branch at its locked commit) with the Requires-Dist and
    Requires-Python the lock recorded for it. A tree edited since, or a branch that moved, is
    what ``lock --check`` and ``check`` report; the audit answers for the lock as it is.
    """

    def __init__(self, source: PackageSource, lock: Lock | None, manifest_path: Path) -> None:
        self._source = source
        self._lock = lock
        self._where = manifest_path
        self._metadata: dict[str, DistMetadata] = {}

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        return self._source.releases(name)

    def metadata(self, release: Release) -> DistMetadata:
        if release.source is not None and release.source.url in self._metadata:
            return self._metadata[release.source.url]
        return self._source.metadata(release)

    def direct(self, requirement: Requirement) -> Release:
        url = requirement.url or ""
        if source_kind(url) not in ("directory", "vcs"):
            return self._source.direct(requirement)
        name = canonicalize_name(requirement.name)
        pkg = self._lock.by_name.get(name) if self._lock is not None else None
        if pkg is None or (pkg.directory is None and pkg.vcs is None):
            raise BadInputError(
                f"{self._where}: {name} is built from source and its lock does not hold it,"
                " so it cannot be judged without building it",
                hint=f"run `overlock -m {self._where} lock` first",
            )
        if pkg.declared_requires is None:
            raise BadInputError(
                f"{self._where}: the lock does not record the declared requirements of the"
                f" source {name} (it predates them), so it cannot be judged without building it",
                hint=f"run `overlock -m {self._where} lock --upgrade-package {name}` once",
            )
        self._metadata[url] = DistMetadata(
            name=name,
            version=pkg.version,
            requires=pkg.declared_requires,
            requires_python=pkg.requires_python,
        )
        return Release(
            name=name,
            version=Version(pkg.version),
            wheel=None,
            direct=True,
            source=_source_ref(pkg, url),
        )

    def __getattr__(self, name: str) -> Any:
        # complete, set_aside, missing: whatever else the wrapped source offers.
        return getattr(self._source, name)


def _source_ref(pkg: LockedPackage, url: str) -> SourceRef:
    if pkg.directory is not None:
        return SourceRef(
            kind="directory",
            url=url,
            path=pkg.directory.path,
            editable=pkg.directory.editable,
            metadata_hash=pkg.metadata_hash,
        )
    assert pkg.vcs is not None
    return SourceRef(
        kind="vcs",
        url=url,
        repo=pkg.vcs.url,
        requested_revision=pkg.vcs.requested_revision,
        commit_id=pkg.vcs.commit_id,
        subdirectory=pkg.vcs.subdirectory,
        metadata_hash=pkg.metadata_hash,
    )


class SharedSources:
    """One index session per distinct index configuration, all judged for one base."""

    def __init__(self, stack: ExitStack, options: IndexOptions | None = None) -> None:
        self._stack = stack
        self._options = options  # --offline / --refresh of the run, for every overlay
        self._open: dict[str, PackageSource] = {}

    def __call__(self, overlay: Overlay, base: BaseEnv) -> PackageSource:
        if self._options is not None:
            overlay = overlay.with_index_options(self._options)
        config = overlay.index_config
        key = f"{config!r} proxy={config.proxy}"  # (the proxy is kept out of the repr)
        if key not in self._open:
            self._open[key] = self._stack.enter_context(overlay.index(base))
        return self._open[key]

    def __iter__(self) -> Iterator[PackageSource]:
        return iter(self._open.values())
