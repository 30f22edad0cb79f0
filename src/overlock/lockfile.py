"""Lock <-> ``pylock.overlay.toml`` (PEP 751).

The file is a standard PEP 751 lock validated by ``packaging.pylock``; overlock's own facts
live under ``[tool.overlock]`` (base fingerprint, manifest hash) and each package's
``[packages.tool.overlock]`` (why it is there, which base version it shadows). Same Lock,
same bytes: keys and packages are written in a fixed order, nothing depends on time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from packaging.markers import Marker
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockValidationError,
)
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.errors import StaleLockError

LOCK_FILENAME = "pylock.overlay.toml"
TOOL_FORMAT = 1


@dataclass(frozen=True)
class LockedFile:
    """One file to install: where it is and what its bytes must hash to."""

    filename: str
    url: str  # never carries credentials
    size: int | None
    sha256: str

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class LockedDirectory:
    """A local source tree (PEP 751 ``[packages.directory]``), built at sync."""

    path: str  # as written in the lock: relative to the lock file's directory, or absolute
    editable: bool = False


@dataclass(frozen=True)
class LockedVcs:
    """A git commit (PEP 751 ``[packages.vcs]``), built at sync."""

    url: str  # the repository, without ``git+`` or revision
    commit_id: str
    requested_revision: str | None = None  # the branch or tag the commit was resolved from
    subdirectory: str | None = None
    type: str = "git"


@dataclass(frozen=True)
class LockedPackage:
    """One package the overlay must hold."""

    name: NormalizedName
    version: str
    wheel: LockedFile | None = None
    archive: LockedFile | None = None  # a direct reference to a file URL: wheel or sdist
    index: str | None = None
    requires_python: str | None = None
    dependencies: tuple[NormalizedName, ...] = ()  # locked packages this one requires
    requested: tuple[str, ...] = ()  # the overlay.toml entries naming it
    required_by: tuple[str, ...] = ()  # "name version" of overlay packages requiring it
    kept_for: tuple[str, ...] = ()  # changed packages it was shadowed to stay compatible with
    shadows: str | None = None  # the base version this copy shadows
    sdist: LockedFile | None = None  # an index release published only as an sdist
    directory: LockedDirectory | None = None
    vcs: LockedVcs | None = None
    metadata_hash: str | None = None  # of the declared metadata of a built source
    # Set at sync by devsources.build_sources, never written: the wheel built for this
    # package, and its PEP 610 direct_url.json.
    built: LockedFile | None = field(default=None, compare=False)
    direct_url_info: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def file(self) -> LockedFile:
        """The wheel to install (for a source: the one built for it, once built)."""
        found = self.wheel or self.built or self.archive or self.sdist
        if found is None:
            raise ValueError(f"{self.name} is a source that has not been built yet")
        return found

    @property
    def is_direct(self) -> bool:
        return (
            self.archive is not None
            or self.directory is not None
            or self.vcs is not None
            or self.direct_url_info is not None
        )

    @property
    def needs_build(self) -> bool:
        """True for sources: a directory, a git commit, an sdist (index or direct)."""
        return (
            self.directory is not None
            or self.vcs is not None
            or self.sdist is not None
            or (self.archive is not None and not self.archive.is_wheel)
        )

    @property
    def direct_url(self) -> str | None:
        """The PEP 610 ``url`` of a direct reference; None for index packages."""
        if self.direct_url_info is not None:
            return str(self.direct_url_info["url"])
        if self.archive is not None:
            return self.archive.url
        if self.vcs is not None:
            return self.vcs.url
        if self.directory is not None:
            return self.directory.path
        return None

    @property
    def locked_url(self) -> str:
        """Where the package comes from, as the lock says (a URL, or a directory path)."""
        if self.directory is not None:
            return self.directory.path
        if self.vcs is not None:
            return f"git+{self.vcs.url}@{self.vcs.commit_id}"
        found = self.wheel or self.archive or self.sdist
        return found.url if found is not None else ""

    @property
    def identity(self) -> str:
        """What makes two locked copies of one version the same (for lock diffs)."""
        if self.directory is not None:
            d = self.directory
            return f"dir:{d.path}:{d.editable}:{self.metadata_hash}"
        if self.vcs is not None:
            return f"vcs:{self.vcs.url}:{self.vcs.commit_id}:{self.vcs.subdirectory}"
        found = self.wheel or self.archive or self.sdist
        return f"sha256:{found.sha256}" if found is not None else ""

    @property
    def reason(self) -> str:
        reasons = []
        if self.requested:
            reasons.append("requested in overlay.toml")
        if self.required_by:
            reasons.append("required by " + ", ".join(self.required_by))
        if self.kept_for:
            reasons.append("shadowed to stay compatible with " + ", ".join(self.kept_for))
        return "; ".join(reasons) or "unknown"


@dataclass(frozen=True)
class Lock:
    """What ``overlock lock`` decided: exactly the packages the overlay must hold."""

    packages: tuple[LockedPackage, ...]
    base_fingerprint: str
    manifest_hash: str
    base_python_version: str
    base_python: str = ""
    base_prefix: str = ""
    base_tags: tuple[str, ...] = ()
    # PYTHONPATH directories of a module system that were part of the base at lock time.
    base_module_path: tuple[str, ...] = ()
    # PEP 751 ``environments``: a marker only the base interpreter satisfies ("" if unknown).
    environment: str = ""
    shadow: str = "auto"
    preexisting: tuple[str, ...] = ()  # base breakage found before the overlay, reported once
    # Sorted "name==version" of every visible base distribution at lock time, so `overlock
    # check` can say what drifted; None for locks written before overlock recorded it.
    base_distributions: tuple[str, ...] | None = None
    # Lower overlays this one sits on, nearest first (layers.Layer.to_json): name, manifest,
    # prefix, fingerprint, distributions. Empty for an overlay on an environment.
    layers: tuple[Mapping[str, Any], ...] = ()
    created_by: str = field(default=f"overlock {__version__}")

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", tuple(sorted(self.packages, key=lambda p: p.name)))

    @property
    def by_name(self) -> Mapping[NormalizedName, LockedPackage]:
        return {p.name: p for p in self.packages}

    # -- PEP 751 ---------------------------------------------------------------------

    def to_pylock(self) -> Pylock:
        packages = [_package_to_pylock(p) for p in self.packages]
        tool: dict[str, Any] = {
            "overlock": {
                "format": TOOL_FORMAT,
                "base-fingerprint": self.base_fingerprint,
                "manifest-hash": self.manifest_hash,
                "base": {
                    "python": self.base_python,
                    "python-version": self.base_python_version,
                    "prefix": self.base_prefix,
                    "tags": list(self.base_tags),
                    "module-path": list(self.base_module_path),
                    "distributions": list(self.base_distributions or ()),
                },
                "shadow": self.shadow,
                "preexisting-breakage": list(self.preexisting),
            }
        }
        if self.layers:  # only then, so locks of overlays on an environment stay as they were
            tool["overlock"]["layers"] = [dict(layer) for layer in self.layers]
        major_minor = ".".join(self.base_python_version.split(".")[:2])
        return Pylock(
            lock_version=Version("1.0"),
            created_by="overlock",
            # The lock is made for one base interpreter; say so in the standard field.
            requires_python=SpecifierSet(f"=={major_minor}.*") if major_minor else None,
            environments=[Marker(self.environment)] if self.environment else None,
            packages=packages,
            tool=tool,
        )

    def dumps(self) -> str:
        data = self.to_pylock().to_dict()
        header = (
            "# This file is @generated by overlock; do not edit by hand.\n"
            "# It locks the packages of an overlay on a read-only base (PEP 751).\n"
            "# Regenerate with `overlock lock`.\n"
        )
        plain = _plain(data)
        plain.setdefault("packages", [])  # PEP 751 requires the key even for an empty overlay
        if self.base_distributions is not None:
            # One per line, so a redeployed base shows up as a readable diff; written even
            # when empty (_plain drops empty lists), so "recorded: none" differs from absent.
            listed = tomlkit.array()
            listed.extend(sorted(self.base_distributions))
            plain["tool"]["overlock"]["base"]["distributions"] = listed.multiline(True)
        return header + tomlkit.dumps(plain)

    @classmethod
    def from_pylock(cls, pylock: Pylock, *, source: str = LOCK_FILENAME) -> Lock:
        tool = (pylock.tool or {}).get("overlock")
        if not isinstance(tool, Mapping):
            raise StaleLockError(
                f"{source} was not written by overlock (no [tool.overlock] table)",
                hint="run `overlock lock` to write it",
            )
        if tool.get("format") != TOOL_FORMAT:
            raise StaleLockError(
                f"{source} has [tool.overlock] format {tool.get('format')!r};"
                f" this overlock reads format {TOOL_FORMAT}",
                hint="run `overlock lock` to write it again",
            )
        base = tool.get("base") or {}
        return cls(
            packages=tuple(_package_from_pylock(p, source) for p in pylock.packages),
            base_fingerprint=str(tool.get("base-fingerprint", "")),
            manifest_hash=str(tool.get("manifest-hash", "")),
            base_python_version=str(base.get("python-version", "")),
            base_python=str(base.get("python", "")),
            base_prefix=str(base.get("prefix", "")),
            base_tags=tuple(base.get("tags") or ()),
            environment=str(pylock.environments[0]) if pylock.environments else "",
            base_module_path=tuple(str(p) for p in base.get("module-path") or ()),
            shadow=str(tool.get("shadow", "auto")),
            preexisting=tuple(tool.get("preexisting-breakage") or ()),
            base_distributions=(
                None
                if base.get("distributions") is None
                else tuple(str(d) for d in base["distributions"])
            ),
            layers=tuple(layer for layer in tool.get("layers") or () if isinstance(layer, Mapping)),
        )

    @classmethod
    def loads(cls, text: str, *, source: str = LOCK_FILENAME) -> Lock:
        try:
            data = tomlkit.parse(text).unwrap()
        except tomlkit.exceptions.ParseError as exc:
            raise StaleLockError(
                f"{source} is not valid TOML: {exc}", hint="run `overlock lock` to write it again"
            ) from exc
        try:
            pylock = Pylock.from_dict(data)
        except PylockValidationError as exc:
            raise StaleLockError(
                f"{source} is not a valid PEP 751 lock: {exc}",
                hint="run `overlock lock` to write it again",
            ) from exc
        return cls.from_pylock(pylock, source=source)


def lock_path_for(manifest_path: Path) -> Path:
    return manifest_path.parent / LOCK_FILENAME


def read_lock(path: Path) -> Lock:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StaleLockError(
            f"{path} does not exist", hint="run `overlock lock` to create it"
        ) from exc
    except OSError as exc:
        raise StaleLockError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return Lock.loads(text, source=str(path))


def write_lock(lock: Lock, path: Path) -> bool:
    """Write ``lock`` to ``path`` atomically; return False when the bytes are unchanged."""
    text = lock.dumps()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    write_text_atomic(path, text)
    return True


# -- helpers ---------------------------------------------------------------------------


def _package_to_pylock(p: LockedPackage) -> Package:
    tool: dict[str, Any] = {"overlock": _package_tool(p)}
    deps = [{"name": d} for d in p.dependencies] or None
    if p.archive is not None:
        return Package(
            name=p.name,
            version=Version(p.version),
            requires_python=_specifier(p.requires_python),
            dependencies=deps,
            archive=PackageArchive(
                url=p.archive.url, size=p.archive.size, hashes={"sha256": p.archive.sha256}
            ),
            tool=tool,
        )
    if p.directory is not None or p.vcs is not None or p.sdist is not None:
        return _source_to_pylock(p, deps, tool)
    assert p.wheel is not None
    return Package(
        name=p.name,
        version=Version(p.version),
        requires_python=_specifier(p.requires_python),
        index=p.index,
        dependencies=deps,
        wheels=[
            PackageWheel(
                name=p.wheel.filename,
                url=p.wheel.url,
                size=p.wheel.size,
                hashes={"sha256": p.wheel.sha256},
            )
        ],
        tool=tool,
    )


def _source_to_pylock(
    p: LockedPackage, deps: Sequence[Mapping[str, Any]] | None, tool: dict[str, Any]
) -> Package:
    directory = vcs = sdist = None
    if p.directory is not None:
        directory = PackageDirectory(
            path=p.directory.path, editable=True if p.directory.editable else None
        )
    elif p.vcs is not None:
        v = p.vcs
        vcs = PackageVcs(
            type=v.type,
            url=v.url,
            requested_revision=v.requested_revision,
            commit_id=v.commit_id,
            subdirectory=v.subdirectory,
        )
    elif p.sdist is not None:
        sdist = PackageSdist(
            name=p.sdist.filename,
            url=p.sdist.url,
            size=p.sdist.size,
            hashes={"sha256": p.sdist.sha256},
        )
    return Package(
        name=p.name,
        version=Version(p.version),
        requires_python=_specifier(p.requires_python),
        index=p.index if sdist is not None else None,
        dependencies=deps,
        directory=directory,
        vcs=vcs,
        sdist=sdist,
        tool=tool,
    )


def _source_from_pylock(p: Package) -> dict[str, Any]:
    """The LockedPackage fields of a directory, vcs or index-sdist package."""
    if p.directory is not None:
        d = p.directory
        return {"directory": LockedDirectory(path=d.path, editable=bool(d.editable))}
    if p.vcs is not None:
        v = p.vcs
        return {
            "vcs": LockedVcs(
                type=v.type,
                url=v.url or v.path or "",
                commit_id=v.commit_id,
                requested_revision=v.requested_revision,
                subdirectory=v.subdirectory,
            )
        }
    assert p.sdist is not None
    url = p.sdist.url or p.sdist.path or ""
    filename = p.sdist.name or url.rsplit("/", 1)[-1].split("#", 1)[0]
    return {
        "sdist": LockedFile(
            filename=filename,
            url=url,
            size=p.sdist.size,
            sha256=str(p.sdist.hashes.get("sha256", "")),
        )
    }


def _package_tool(p: LockedPackage) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if p.metadata_hash is not None:
        data["metadata-hash"] = p.metadata_hash
    if p.requested:
        data["requested"] = list(p.requested)
    if p.required_by:
        data["required-by"] = list(p.required_by)
    if p.kept_for:
        data["kept-for"] = list(p.kept_for)
    if p.shadows is not None:
        data["shadows"] = p.shadows
    if p.requires_python and _specifier(p.requires_python) is None:
        # Not a valid specifier set: kept verbatim here, where PEP 751 puts no rules on it.
        data["requires-python"] = p.requires_python
    return data


def _specifier(text: str | None) -> SpecifierSet | None:
    if not text:
        return None
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _package_from_pylock(p: Package, source: str) -> LockedPackage:
    tool = (p.tool or {}).get("overlock") or {}
    wheel: LockedFile | None = None
    archive: LockedFile | None = None
    from_source: dict[str, Any] = {}
    if p.directory is not None or p.vcs is not None or (p.sdist is not None and not p.wheels):
        from_source = _source_from_pylock(p)
        if "sdist" in from_source and not from_source["sdist"].sha256:
            raise StaleLockError(f"{source}: package {p.name} has no sha256 hash")
    elif p.wheels:
        w: PackageWheel = p.wheels[0]
        wheel = LockedFile(
            filename=w.filename,
            url=w.url or "",
            size=w.size,
            sha256=str(w.hashes.get("sha256", "")),
        )
    elif p.archive is not None and p.archive.url:
        a = p.archive
        url = a.url or ""
        archive = LockedFile(
            filename=url.rsplit("/", 1)[-1].split("#", 1)[0],
            url=url,
            size=a.size,
            sha256=str(a.hashes.get("sha256", "")),
        )
    else:
        raise StaleLockError(
            f"{source}: package {p.name} has neither a wheel nor an archive URL",
            hint="run `overlock lock` to write the lock again",
        )
    if not from_source and not (wheel or archive).sha256:  # type: ignore[union-attr]
        raise StaleLockError(f"{source}: package {p.name} has no sha256 hash")
    return LockedPackage(
        name=canonicalize_name(p.name),
        version=str(p.version),
        wheel=wheel,
        archive=archive,
        index=p.index,
        requires_python=(
            str(p.requires_python) if p.requires_python is not None else tool.get("requires-python")
        ),
        dependencies=tuple(
            canonicalize_name(d["name"]) for d in p.dependencies or () if "name" in d
        ),
        requested=tuple(tool.get("requested") or ()),
        required_by=tuple(tool.get("required-by") or ()),
        kept_for=tuple(tool.get("kept-for") or ()),
        shadows=tool.get("shadows"),
        metadata_hash=tool.get("metadata-hash"),
        **from_source,
    )


def _plain(value: Any) -> Any:
    """Drop empty containers and None so the TOML stays small and stable."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            pv = _plain(v)
            if pv is None or pv == [] or pv == {}:
                continue
            out[k] = pv
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value
