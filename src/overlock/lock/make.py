"""From a resolved outcome to a Lock, and whether an existing lock is still current."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.markers import Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv
from overlock.base.hiding import unmet_hidden
from overlock.dists.types import DistFile, PackageSource, Release
from overlock.errors import OverlockError
from overlock.lock.pylock import Lock, LockedDirectory, LockedFile, LockedPackage, LockedVcs
from overlock.manifest.constraints import Constraint
from overlock.manifest.model import Manifest
from overlock.manifest.policy import ResolvePolicy, binary_names
from overlock.prefix.layers import hider, layer_drift, layers_of
from overlock.redact import strip_credentials, strip_text

if TYPE_CHECKING:
    # Types only: whether a lock is current, and what changed, need no resolver.
    from overlock.resolve.model import Outcome, Pick

# Fills in what an index page may leave out (size, sha256) for a file about to be locked.
Completer = Callable[[DistFile], DistFile]


def lock_overlay(
    manifest: Manifest,
    base: BaseEnv,
    source: PackageSource,
    *,
    complete: Completer | None = None,
    allow_build: bool = False,
    policy: ResolvePolicy | None = None,
    prefer: Mapping[NormalizedName, Version] | None = None,
    constraints: Sequence[Constraint] = (),
    graph_dir: Path | None = None,
) -> tuple[Lock, Outcome]:
    """Resolve ``manifest`` on ``base`` and return the lock to write.

    ``allow_build``: releases published only as an sdist are candidates (``source`` must
    then give their metadata, see build.sources.BuildingSource); ``graph_dir``: where the
    base's dependency graph is kept between locks (resolve/graph_cache.py).
    """
    from overlock.resolve.resolver import resolve

    outcome = resolve(
        manifest.requires,
        base,
        source,
        shadow=manifest.shadow,
        requested_text=manifest.requires_text,
        allow_build=allow_build,
        policy=replace(policy or resolve_policy(manifest), constraints=tuple(constraints)),
        prefer=prefer,
        keep=manifest.keep,
        graph_dir=graph_dir,
    )
    packages = tuple(_locked(p, complete, source) for p in outcome.picks)
    provided = {p.name: str(p.version) for p in outcome.picks}
    lock = Lock(
        packages=packages,
        base_fingerprint=base.fingerprint(),
        manifest_hash=manifest.content_hash(),
        base_python_version=base.python_version,
        base_python=base.python,
        base_prefix=base.prefix,
        base_tags=base.tags[:3],
        base_module_path=base.module_path,
        environment=base_environment_marker(base),
        # What the base holds, hidden or not: hiding is overlay.toml's, not the base's drift.
        base_distributions=tuple(sorted(f"{d.name}=={d.version}" for d in base.installed)),
        shadow=manifest.shadow,
        preexisting=outcome.preexisting,
        layers=tuple(layers_of(base)),
        constraints=tuple(str(c.requirement) for c in constraints),
        hide=tuple(sorted(manifest.hide)),
        hidden_breakage=tuple(
            e.describe(provided, by=hider(base, e.target)) for e in unmet_hidden(base, provided)
        ),
    )
    return lock, outcome


def resolve_policy(
    manifest: Manifest,
    *,
    prereleases: str | None = None,
    only_binary: Sequence[str] = (),
    no_binary: Sequence[str] = (),
) -> ResolvePolicy:
    """The manifest's [resolve] policy with command-line options on top: ``--prerelease``
    replaces the mode; names given to ``--only-binary``/``--no-binary`` join that list and
    leave the other."""
    only = binary_names(only_binary)
    no = binary_names(no_binary)
    return ResolvePolicy(
        prereleases=prereleases or manifest.prereleases,
        only_binary=(binary_names(manifest.only_binary) - no) | only,
        no_binary=(binary_names(manifest.no_binary) - only) | no,
        allow_build=manifest.allow_build,
    )


def base_environment_marker(base: BaseEnv) -> str:
    """A PEP 751 ``environments`` entry that only the base interpreter's platform satisfies."""
    keys = ("implementation_name", "python_full_version", "sys_platform", "platform_machine")
    parts = [f"{k} == {base.markers[k]!r}" for k in keys if base.markers.get(k)]
    # packaging's own spelling, so the text survives a round trip through the lock.
    return str(Marker(" and ".join(parts))) if parts else ""


def _locked(pick: Pick, complete: Completer | None, source: PackageSource) -> LockedPackage:
    release = pick.release
    dist_file = release.wheel
    if dist_file is None:
        return _locked_source(pick, complete, source)
    if (dist_file.sha256 is None or dist_file.size is None) and complete is not None:
        dist_file = complete(dist_file)
    if dist_file.sha256 is None:
        raise OverlockError(
            f"the index gave no sha256 for {dist_file.filename}, and it could not be computed",
            hint="use an index that publishes hashes (PEP 503 #sha256= or PEP 691 JSON)",
        )
    locked_file = LockedFile(
        filename=dist_file.filename,
        url=dist_file.url,
        size=dist_file.size,
        sha256=dist_file.sha256,
    )
    return LockedPackage(
        name=pick.name,
        version=str(pick.version),
        wheel=None if release.direct else locked_file,
        archive=locked_file if release.direct else None,
        index=None if release.direct else dist_file.index,
        requires_python=dist_file.requires_python,
        dependencies=pick.dependencies,
        requested=_requested(pick),
        required_by=pick.required_by,
        kept_for=pick.kept_for,
        shadows=pick.shadows,
    )


def _requested(pick: Pick) -> tuple[str, ...]:
    """The overlay.toml entries naming the package, as the lock may hold them: without the
    credentials a URL in them may carry."""
    return tuple(strip_text(text) for text in pick.requested)


def locked_source_fields(release: Release) -> dict[str, Any]:
    """The LockedPackage fields that say where a built package comes from."""
    source = release.source
    if source is None:
        # An index release published only as an sdist.
        sdist = release.sdist
        assert sdist is not None and sdist.sha256 is not None
        return {
            "sdist": LockedFile(sdist.filename, sdist.url, sdist.size, sdist.sha256),
            "index": sdist.index,
        }
    fields: dict[str, Any] = {"metadata_hash": source.metadata_hash}
    if source.kind == "directory":
        assert source.path is not None
        fields["directory"] = LockedDirectory(path=source.path, editable=source.editable)
    elif source.kind == "vcs":
        assert source.repo is not None and source.commit_id is not None
        fields["vcs"] = LockedVcs(
            url=strip_credentials(source.repo),
            commit_id=source.commit_id,
            requested_revision=source.requested_revision,
            subdirectory=source.subdirectory,
        )
    else:
        f = source.file
        assert f is not None and f.sha256 is not None
        fields["archive"] = LockedFile(f.filename, f.url, f.size, f.sha256)
    return fields


def _locked_source(pick: Pick, complete: Completer | None, source: PackageSource) -> LockedPackage:
    """A package that sync builds: a directory, a git commit, an sdist."""
    release = pick.release
    declared: dict[str, Any] = {}
    if release.source is not None and release.source.kind in ("directory", "vcs"):
        # Its declared metadata, as the resolver used it: `overlock audit` resolves the
        # locked source on a candidate base from this, without building it.
        meta = source.metadata(release)
        declared = {"declared_requires": tuple(meta.requires)}
        if meta.requires_python:
            declared["requires_python"] = meta.requires_python
    if release.source is None:
        if release.sdist is None:  # pragma: no cover - the resolver never picks these
            raise OverlockError(f"{pick.name} {pick.version} has nothing to install")
        sdist = release.sdist
        if (sdist.sha256 is None or sdist.size is None) and complete is not None:
            release = replace(release, sdist=complete(sdist))
    fields: dict[str, Any] = {
        "requires_python": release.sdist.requires_python if release.sdist else None,
        **declared,
    }
    return LockedPackage(
        name=pick.name,
        version=str(pick.version),
        dependencies=pick.dependencies,
        requested=_requested(pick),
        required_by=pick.required_by,
        kept_for=pick.kept_for,
        shadows=pick.shadows,
        **fields,
        **locked_source_fields(release),
    )


# -- staleness -------------------------------------------------------------------------


@dataclass(frozen=True)
class LockStatus:
    """Whether a lock still describes what ``overlock lock`` would write."""

    missing: bool = False
    manifest_changed: bool = False
    base_drifted: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)
    sources_changed: bool = False  # a locked source tree declares other metadata now
    constraints_changed: bool = False  # pip's constraint files say something else now

    @property
    def current(self) -> bool:
        return not (
            self.missing
            or self.manifest_changed
            or self.base_drifted
            or self.sources_changed
            or self.constraints_changed
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "missing": self.missing,
            "manifest_changed": self.manifest_changed,
            "base_drifted": self.base_drifted,
            "sources_changed": self.sources_changed,
            "constraints_changed": self.constraints_changed,
            "problems": list(self.problems),
        }


def preferred_versions(
    lock: Lock | None, *, upgrade: bool = False, upgrade_packages: Iterable[str] = ()
) -> dict[NormalizedName, Version]:
    """The versions of ``lock`` a new resolution should keep when it can.

    Nothing with ``upgrade``; all but ``upgrade_packages`` otherwise (uv's ``--upgrade`` and
    ``--upgrade-package``).
    """
    if lock is None or upgrade:
        return {}
    moving = {canonicalize_name(n) for n in upgrade_packages}
    out: dict[NormalizedName, Version] = {}
    for p in lock.packages:
        if p.name in moving:
            continue
        try:
            out[p.name] = Version(p.version)
        except InvalidVersion:
            continue
    return out


def lock_status(
    manifest: Manifest,
    base: BaseEnv,
    lock: Lock | None,
    *,
    source_changes: Callable[[Lock], Sequence[str]] | None = None,
    constraints: Sequence[Constraint] | None = None,
) -> LockStatus:
    """Whether ``lock`` is current. ``source_changes`` (app.lock.source_checker) also asks
    the locked source trees whether their declared metadata changed; it may run backends."""
    if lock is None:
        return LockStatus(missing=True, problems=("the lock does not exist",))
    problems = []
    manifest_changed = lock.manifest_hash != manifest.content_hash()
    hide_changes = _hide_changes(tuple(lock.hide), tuple(sorted(manifest.hide)))
    if hide_changes:
        problems.append(f"overlay.toml's hide changed since the lock was written ({hide_changes})")
    elif manifest_changed:
        problems.append("overlay.toml changed since the lock was written")
    manifest_changed = manifest_changed or bool(hide_changes)
    layer_changes = layer_drift(lock.layers, base)
    base_drifted = lock.base_fingerprint != base.fingerprint() or bool(layer_changes)
    problems += layer_changes
    if base_drifted and not layer_changes:
        problems.append(
            "the base changed since the lock was written"
            f" (fingerprint {lock.base_fingerprint[:19]}... is now {base.fingerprint()[:19]}...)"
        )
    constraints_changed = constraints is not None and tuple(
        str(c.requirement) for c in constraints
    ) != tuple(lock.constraints)
    if constraints_changed:
        # pip's constraint files are part of what the lock was made from.
        problems.append("pip's constraints changed since the lock was written")
    changed_sources = list(source_changes(lock)) if source_changes is not None else []
    problems += changed_sources
    return LockStatus(
        manifest_changed=manifest_changed,
        base_drifted=base_drifted,
        problems=tuple(problems),
        sources_changed=bool(changed_sources),
        constraints_changed=constraints_changed,
    )


def _hide_changes(locked: Sequence[str], now: Sequence[str]) -> str:
    added = [f"+{n}" for n in now if n not in locked]
    dropped = [f"-{n}" for n in locked if n not in now]
    return ", ".join(added + dropped)


# -- what changed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    name: str
    old: str | None  # version in the old lock
    new: str | None  # version in the new lock, or the base's when ``to_base``
    to_base: bool = False  # no longer in the overlay: the base's copy serves instead

    @property
    def kind(self) -> str:
        if self.old is None:
            return "add"
        if self.new is None:
            return "remove"
        return "change"  # to_base included: a version still moves

    def __str__(self) -> str:
        if self.old is None:
            return f"+ {self.name} {self.new}"
        if self.new is None:
            return f"- {self.name} {self.old}"
        return f"~ {self.name} {self.old} -> {self.new}" + (" (base)" if self.to_base else "")


def diff_locks(old: Lock | None, new: Lock) -> list[Change]:
    before = {p.name: p for p in old.packages} if old else {}
    after = {p.name: p for p in new.packages}
    # A package that leaves the overlay because the base now has a copy that serves moves
    # to that copy: a change, not a removal.
    base_versions = dict(
        entry.split("==", 1) for entry in new.base_distributions or () if "==" in entry
    )
    changes = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b is not None and a is not None and (b.version, b.identity) == (a.version, a.identity):
            continue
        if b is not None and a is None and name in base_versions:
            changes.append(Change(name, b.version, base_versions[name], to_base=True))
            continue
        changes.append(Change(name, b.version if b else None, a.version if a else None))
    return changes
