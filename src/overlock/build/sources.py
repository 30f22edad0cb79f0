"""Sources that must be built: local trees, git references, sdists — for lock, sync, check.

* ``BuildingSource`` wraps the index as the resolver's ``PackageSource``: a direct reference
  to a directory, a git repository or an sdist becomes a ``Release`` whose metadata comes
  from the backend (``prepare_metadata_for_build_wheel``, cached), and, when the manifest
  allows it, an index release published only as an sdist gets its metadata the same way.
* ``build_sources`` gives every such package of a lock the wheel built for it, for sync.
* ``source_changes`` tells ``lock --check`` which locked source trees changed their declared
  metadata.

Who may be built is decided here (``BuildPolicy``): sources named in overlay.toml, and
dependencies (sdist-only, or direct references in a dependency's metadata) only with
``allow-build = true``; ``--no-build`` refuses every build, though earlier results in the
cache still serve, since using them runs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv
from overlock.build import git as vcs
from overlock.build.backend import (
    Builder,
    BuildPolicy,
    Step,
    WheelSource,
    build_key,
    tree_hash,
    unpack_sdist,
    wheel_metadata,
)
from overlock.cache import Cache, sha256_file
from overlock.dists.metadata import metadata_hash, parse_metadata
from overlock.dists.types import DistFile, DistMetadata, Release, SetAside, SourceRef
from overlock.dists.urls import (
    archive_direct_url,
    directory_direct_url,
    fragment_hashes,
    vcs_direct_url,
    without_fragment,
)
from overlock.errors import BadInputError, BuildError, StaleLockError
from overlock.lock.pylock import Lock, LockedFile, LockedPackage
from overlock.manifest.model import Manifest
from overlock.redact import redact_url, strip_credentials

logger = logging.getLogger("overlock.build.sources")

Reporter = Callable[[str], None]
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


def is_sdist_name(filename: str) -> bool:
    return filename.endswith(_SDIST_SUFFIXES)


# -- locking: the resolver's view ----------------------------------------------------------


class BuildingSource:
    """The index, plus everything that has to be built to be resolved (see module doc)."""

    def __init__(
        self,
        index: WheelSource,
        builder: Builder,
        manifest: Manifest,
        policy: BuildPolicy,
    ) -> None:
        self.index = index
        self.builder = builder
        self.manifest = manifest
        self.policy = policy
        self.cache = builder.cache
        self.named_urls = frozenset(r.url for r in manifest.requires if r.url)
        self._direct: dict[str, Release] = {}
        self._metadata: dict[str, DistMetadata] = {}  # by source URL / sdist URL

    # PackageSource ------------------------------------------------------------------------

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        return self.index.releases(name)

    def prefetch(self, wanted: Any) -> None:
        """Pass the resolver's hints on (``Index.prefetch``)."""
        ahead = getattr(self.index, "prefetch", None)
        if callable(ahead):
            ahead(wanted)

    def set_aside(self, name: NormalizedName) -> Sequence[SetAside]:
        found = getattr(self.index, "set_aside", None)
        return found(name) if callable(found) else ()

    def missing(self, name: NormalizedName) -> bool:
        found = getattr(self.index, "missing", None)
        return bool(found(name)) if callable(found) else False

    def metadata(self, release: Release) -> DistMetadata:
        if release.source is not None:
            return self._metadata[release.source.url]
        if release.wheel is None and release.sdist is not None and self.policy.sdists:
            return self._sdist_metadata(release)
        return self.index.metadata(release)

    def direct(self, requirement: Requirement) -> Release:
        url = requirement.url or ""
        if url in self._direct:
            return self._direct[url]
        name = canonicalize_name(requirement.name)
        kind = source_kind(url)
        if kind is None:
            return self.index.direct(requirement)
        refuse = self._refusal(name, url)
        if kind == "vcs":
            release = self._vcs(name, url, refuse)
        elif kind == "directory":
            release = self._directory(name, url, refuse)
        else:
            release = self._archive(name, url, refuse)
        self._direct[url] = release
        return release

    # the kinds ----------------------------------------------------------------------------

    def _refusal(self, name: str, url: str) -> str | None:
        shown = f"{name} @ {redact_url(url)}"
        if self.policy.no_build:
            return f"{shown} has to be built from source, and --no-build forbids building"
        if url not in self.named_urls and not self.policy.allow_build:
            return (
                f"{shown} is a direct reference in a dependency's metadata and has to be built;"
                " overlock builds only sources named in overlay.toml unless allow-build is set"
            )
        return None

    def _directory(self, name: NormalizedName, url: str, refuse: str | None) -> Release:
        from unearth.utils import url_to_path  # all of unearth loads with it: only when used

        tree = url_to_path(url)
        if not tree.is_dir():
            raise BadInputError(
                f"the source directory of {name} does not exist: {tree}",
                hint="fix `path` in overlay.toml (it is relative to overlay.toml)",
            )
        entry = self.manifest.source_for(url)
        editable = bool(entry and entry.editable)
        shown = entry.path if entry and entry.path else str(tree)
        key = build_key(self.builder.base, directory_key(tree), editable=editable)
        data = self.builder.metadata(
            tree, key=key, label=f"{name} (from {shown})", editable=editable, refuse=refuse
        )
        meta = self._checked(name, data, f"the source tree {shown}")
        ref = SourceRef(
            kind="directory",
            url=url,
            path=lock_path(entry.path if entry else None, tree),
            editable=editable,
            metadata_hash=metadata_hash(data),
        )
        return self._release(meta, url, ref)

    def _vcs(self, name: NormalizedName, url: str, refuse: str | None) -> Release:
        ref = vcs.parse_git_url(url)
        commit = vcs.resolve_commit(ref.repo, ref.rev, self.cache)
        key = build_key(self.builder.base, git_key(commit, ref.subdirectory))
        label = f"{name} (git {redact_url(ref.repo)} at {commit[:12]})"
        data = self.cache.built_metadata(key)
        if data is None:
            with self.cache.scratch() as tmp:
                tree = vcs.checkout(ref.repo, commit, self.cache, tmp / "checkout")
                data = self.builder.metadata(
                    _subdirectory(tree, ref.subdirectory, label),
                    key=key,
                    label=label,
                    refuse=refuse,
                )
        meta = self._checked(name, data, label)
        source = SourceRef(
            kind="vcs",
            url=url,
            repo=ref.repo,
            requested_revision=ref.rev,
            commit_id=commit,
            subdirectory=ref.subdirectory,
            metadata_hash=metadata_hash(data),
        )
        return self._release(meta, url, source)

    def _archive(self, name: NormalizedName, url: str, refuse: str | None) -> Release:
        parts = urlsplit(url)
        filename = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
        hashes = fragment_hashes(url, ("sha256",))
        clean = strip_credentials(without_fragment(url))
        file = DistFile(filename=filename, url=clean, hashes=hashes)
        path = self.index.download(file)
        sha = sha256_file(path)
        file = replace(file, hashes={"sha256": sha}, size=path.stat().st_size)
        label = f"{name} (from {filename})"
        data = self._sdist_data(path, sha, label, refuse)
        meta = self._checked(name, data, label)
        source = SourceRef(kind="archive", url=url, file=file, metadata_hash=metadata_hash(data))
        return self._release(meta, url, source)

    def _sdist_metadata(self, release: Release) -> DistMetadata:
        assert release.sdist is not None
        memo = self._metadata.get(release.sdist.url)
        if memo is not None:
            return memo
        path = self.index.download(release.sdist)
        label = f"{release.name} {release.version} (sdist {release.sdist.filename})"
        refuse = None
        if self.policy.no_build:
            refuse = f"{label} has to be built from source, and --no-build forbids building"
        data = self._sdist_data(path, sha256_file(path), label, refuse)
        meta = self._checked(release.name, data, label)
        if _version(meta.version) != release.version:
            raise BuildError(
                f"{label} declares version {meta.version} in its metadata, not {release.version}"
            )
        self._metadata[release.sdist.url] = meta
        return meta

    def _sdist_data(self, path: Path, sha: str, label: str, refuse: str | None) -> bytes:
        key = build_key(self.builder.base, sdist_key(sha))
        data = self.cache.built_metadata(key)
        if data is not None:
            return data
        with self.cache.scratch() as tmp:
            tree = unpack_sdist(path, tmp / "src")
            return self.builder.metadata(tree, key=key, label=label, refuse=refuse)

    # helpers ------------------------------------------------------------------------------

    def _checked(self, name: NormalizedName, data: bytes, what: str) -> DistMetadata:
        meta = parse_metadata(data)
        if meta.name != name:
            raise BadInputError(
                f"{what} is the project {meta.name!r}, not {name!r}",
                hint="fix the name in overlay.toml",
            )
        if _version(meta.version) is None:
            raise BuildError(f"{what} declares an invalid version {meta.version!r}")
        return meta

    def _release(self, meta: DistMetadata, url: str, source: SourceRef) -> Release:
        self._metadata[url] = meta
        version = _version(meta.version)
        assert version is not None
        return Release(name=meta.name, version=version, wheel=None, direct=True, source=source)


def building_source(
    manifest: Manifest,
    base: BaseEnv,
    index: WheelSource,
    cache: Cache,
    *,
    no_build: bool = False,
    reporter: Reporter | None = None,
    step: Step | None = None,
) -> BuildingSource:
    """The resolver's source for ``manifest``: ``index`` plus what may be built."""
    policy = BuildPolicy(allow_build=manifest.allow_build, no_build=no_build)
    builder = Builder(base, cache, index=lambda: index, reporter=reporter, step=step)
    return BuildingSource(index, builder, manifest, policy)


def source_kind(url: str) -> str | None:
    """``vcs``, ``directory`` or ``archive`` for what must be built; None for a wheel."""
    if vcs.is_vcs_url(url):
        return "vcs"
    path = urlsplit(url).path
    if url.startswith("file:"):
        from unearth.utils import url_to_path  # all of unearth loads with it: only when used

        if url_to_path(url.split("#", 1)[0]).is_dir():
            return "directory"
    if is_sdist_name(unquote(path)):
        return "archive"
    return None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _subdirectory(tree: Path, subdirectory: str | None, label: str) -> Path:
    if not subdirectory:
        return tree
    target = (tree / subdirectory).resolve()
    if not target.is_relative_to(tree.resolve()) or not target.is_dir():
        raise BadInputError(f"{label} has no subdirectory {subdirectory!r}")
    return target


def directory_key(tree: Path) -> str:
    """What identifies a build of a local tree: its content and its place (editables).

    A tree that cannot be a Python project is refused before its files are hashed: the path
    comes from overlay.toml or from a shared lock, and ``path = "/"`` must not cost a walk
    of the whole file system before anything says no.
    """
    if not any((tree / name).is_file() for name in _PROJECT_FILES):
        raise BadInputError(
            f"{tree} is not a Python source tree: it has no pyproject.toml or setup.py",
            hint="point `path` at the directory holding the project's pyproject.toml",
        )
    return f"tree:{tree_hash(tree)}:{tree.resolve()}"


_PROJECT_FILES = ("pyproject.toml", "setup.py")


def git_key(commit: str, subdirectory: str | None) -> str:
    return f"git:{commit}:{subdirectory or ''}"


def sdist_key(sha256: str) -> str:
    return f"sdist:{sha256}"


def lock_path(written: str | None, tree: Path) -> str:
    """How the lock records a directory: as written if relative (the lock sits next to
    overlay.toml, and a relative path survives moving the checkout), else absolute."""
    if written is not None and not Path(written).expanduser().is_absolute():
        return PurePosixPath(Path(written)).as_posix()
    return str(tree)


# -- sync: a wheel for every source --------------------------------------------------------


@dataclass
class _Context:
    lock_dir: Path
    base: BaseEnv
    cache: Cache
    builder: Builder
    manifest: Manifest | None
    policy: BuildPolicy
    index: Callable[[], WheelSource]
    force: bool


def build_sources(
    lock: Lock,
    *,
    lock_dir: Path,
    base: BaseEnv,
    cache: Cache,
    index: Callable[[], WheelSource],
    manifest: Manifest | None = None,
    no_build: bool = False,
    force: bool = False,
    reporter: Reporter | None = None,
    step: Step | None = None,
) -> Lock:
    """``lock`` with ``built`` (and PEP 610 ``direct_url_info``) set on every source package.

    Builds (or takes from the cache) the wheel each directory, git commit and sdist of the
    lock gives on ``base``. A tree whose metadata no longer matches the lock is refused
    (``StaleLockError``) unless ``force``: sync installs what the lock says or nothing.
    """
    if not any(p.needs_build for p in lock.packages):
        return lock
    policy = BuildPolicy(
        allow_build=manifest.allow_build if manifest is not None else False, no_build=no_build
    )
    ctx = _Context(
        lock_dir=lock_dir,
        base=base,
        cache=cache,
        builder=Builder(base, cache, index=index, reporter=reporter, step=step),
        manifest=manifest,
        policy=policy,
        index=index,
        force=force,
    )
    packages = [_built(pkg, ctx) if pkg.needs_build else pkg for pkg in lock.packages]
    return replace(lock, packages=tuple(packages))


def _built(pkg: LockedPackage, ctx: _Context) -> LockedPackage:
    refuse = _sync_refusal(pkg, ctx)
    info: dict[str, Any] | None
    if pkg.directory is not None:
        tree = resolve_directory(pkg.directory.path, ctx.lock_dir)
        if not tree.is_dir():
            raise BadInputError(
                f"the source directory of {pkg.name} does not exist: {tree}",
                hint="check out the sources where the lock expects them, or run `overlock lock`",
            )
        editable = pkg.directory.editable
        label = f"{pkg.name} (from {pkg.directory.path})"
        key = build_key(ctx.base, directory_key(tree), editable=editable)
        wheel = ctx.builder.wheel(tree, key=key, label=label, editable=editable, refuse=refuse)
        info = directory_direct_url(tree.resolve().as_uri(), editable=editable)
    elif pkg.vcs is not None:
        v = pkg.vcs
        label = f"{pkg.name} (git {redact_url(v.url)} at {v.commit_id[:12]})"
        key = build_key(ctx.base, git_key(v.commit_id, v.subdirectory))
        wheel_or_none = ctx.cache.built_wheel(key)
        if wheel_or_none is None:
            with ctx.cache.scratch() as tmp:
                credentials = ctx.manifest.credential_urls if ctx.manifest else ()
                tree = vcs.checkout(
                    v.url, v.commit_id, ctx.cache, tmp / "checkout", credentials=credentials
                )
                tree = _subdirectory(tree, v.subdirectory, label)
                wheel_or_none = ctx.builder.wheel(tree, key=key, label=label, refuse=refuse)
        wheel = wheel_or_none
        info = vcs_direct_url(
            v.url,
            v.commit_id,
            requested_revision=v.requested_revision or None,
            subdirectory=v.subdirectory or None,
        )
    else:
        f = pkg.archive or pkg.sdist
        assert f is not None
        label = f"{pkg.name} {pkg.version} (sdist {f.filename})"
        key = build_key(ctx.base, sdist_key(f.sha256))
        wheel_or_none = ctx.cache.built_wheel(key)
        if wheel_or_none is None:
            path = ctx.index().download(DistFile(f.filename, f.url, {"sha256": f.sha256}, f.size))
            with ctx.cache.scratch() as tmp:
                tree = unpack_sdist(path, tmp / "src")
                wheel_or_none = ctx.builder.wheel(tree, key=key, label=label, refuse=refuse)
        wheel = wheel_or_none
        info = None
        if pkg.archive is not None:
            info = archive_direct_url(f.url, f.sha256)
    _check_built(pkg, wheel, label, ctx.force)
    built = LockedFile(wheel.name, wheel.as_uri(), wheel.stat().st_size, sha256_file(wheel))
    return replace(pkg, built=built, direct_url_info=info)


def _sync_refusal(pkg: LockedPackage, ctx: _Context) -> str | None:
    if ctx.policy.no_build:
        return f"{pkg.name} {pkg.version} has to be built from source, and --no-build forbids it"
    if pkg.sdist is not None and not ctx.policy.allow_build:
        return (
            f"{pkg.name} {pkg.version} is locked as an sdist, and overlay.toml does not set"
            " allow-build = true"
        )
    # Whether overlay.toml names the source is asked of overlay.toml: a shared lock's own
    # `requested` could claim it for any directory, and building runs the tree's code.
    if ctx.manifest is not None:
        named = pkg.name in {canonicalize_name(r.name) for r in ctx.manifest.requires if r.url}
    else:
        named = bool(pkg.requested)
    if not named and not ctx.policy.allow_build:
        return (
            f"{pkg.name} {pkg.version} is a source that overlay.toml does not name; overlock"
            " builds it only with allow-build = true"
        )
    return None


def _check_built(pkg: LockedPackage, wheel: Path, label: str, force: bool) -> None:
    data = wheel_metadata(wheel, label)
    meta = parse_metadata(data)
    if meta.name != pkg.name or _version(meta.version) != _version(pkg.version):
        raise StaleLockError(
            f"{label} now builds {meta.name} {meta.version}; the lock has {pkg.name} {pkg.version}",
            hint="run `overlock lock` to lock what the source declares now",
        )
    if pkg.metadata_hash and metadata_hash(data) != pkg.metadata_hash and not force:
        raise StaleLockError(
            f"{label} declares other dependencies than when it was locked",
            hint="run `overlock lock` (or `overlock sync --allow-stale` to install it anyway)",
        )


def resolve_directory(path: str, lock_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else lock_dir / p


# -- check: locked trees whose declared metadata changed -----------------------------------


def source_changes(
    lock: Lock,
    *,
    lock_dir: Path,
    base: BaseEnv,
    cache: Cache,
    index: Callable[[], WheelSource] | None = None,
    no_build: bool = False,
    reporter: Reporter | None = None,
    named: Collection[NormalizedName] | None = None,
) -> list[str]:
    """One line per locked source tree whose declared metadata differs from the lock.

    Only directories can change under a lock (a git commit and an sdist hash are fixed). The
    metadata is asked of the backend (``prepare_metadata_*``), cached by the tree's content,
    so an unchanged tree costs one hash of its files. ``named``: the projects overlay.toml
    names as sources; a tree the lock adds beyond them is reported, never run.
    """
    problems: list[str] = []
    builder: Builder | None = None
    for pkg in lock.packages:
        d = pkg.directory
        if d is None or pkg.metadata_hash is None:
            continue
        if named is not None and pkg.name not in named:
            # Asking a tree for its metadata runs its build backend: only trees the user
            # named, never one a shared lock slipped in.
            problems.append(
                f"the lock builds {pkg.name} from {d.path}, which overlay.toml does not name"
            )
            continue
        tree = resolve_directory(d.path, lock_dir)
        if not tree.is_dir():
            problems.append(f"the source tree {d.path} of {pkg.name} does not exist")
            continue
        builder = builder or Builder(base, cache, index=index, reporter=reporter)
        key = build_key(base, directory_key(tree), editable=d.editable)
        refuse = None
        if no_build:
            refuse = f"cannot tell whether {d.path} changed without building (--no-build)"
        data = builder.metadata(
            tree,
            key=key,
            label=f"{pkg.name} (from {d.path})",
            editable=d.editable,
            refuse=refuse,
        )
        if metadata_hash(data) == pkg.metadata_hash:
            continue
        meta = parse_metadata(data)
        detail = (
            f"version {pkg.version} -> {meta.version}"
            if _version(meta.version) != _version(pkg.version)
            else "its dependencies or Requires-Python"
        )
        problems.append(
            f"the source tree {d.path} of {pkg.name} changed its declared metadata ({detail})"
        )
    return problems


__all__ = [
    "BuildingSource",
    "build_sources",
    "building_source",
    "source_changes",
]
