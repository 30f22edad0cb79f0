"""Lock <-> ``pylock.overlay.toml`` (PEP 751).

The file is a standard PEP 751 lock validated by ``packaging.pylock``; overlock's own facts
live under ``[tool.overlock]`` (base fingerprint, manifest hash) and each package's
``[packages.tool.overlock]`` (why it is there, which base version it shadows). Same Lock,
same bytes: keys and packages are written in a fixed order, nothing depends on time.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from packaging.utils import NormalizedName
from packaging.version import Version

from overlock import __version__, untrusted
from overlock.atomic import write_text_atomic
from overlock.errors import StaleLockError
from overlock.limits import read_text_bounded

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


# Stands in for the base's distribution list while the lock is rendered (see Lock.dumps).
_LISTED = "\x00overlock: base distributions\x00"


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
    # A built source's Requires-Dist as locked (None: not recorded, a lock older than it), so
    # `overlock audit` can resolve it on another base without building it (app/audit.py).
    declared_requires: tuple[str, ...] | None = None
    # Set at sync by build.sources.build_sources, never written: the wheel built for this
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
    # pip's constraints in force when the lock was made (manifest/constraints.py), as requirements.
    constraints: tuple[str, ...] = ()
    shadow: str = "auto"
    preexisting: tuple[str, ...] = ()  # base breakage found before the overlay, reported once
    # Sorted "name==version" of every visible base distribution at lock time, so `overlock
    # check` can say what drifted; None for locks written before overlock recorded it.
    base_distributions: tuple[str, ...] | None = None
    # Requirements that base distributions installed by Debian or conda do not declare but
    # their upstream release on the index does (lock/upstream.py), one line each:
    # "requests 2.28.1 (debian): urllib3<1.27,>=1.21.1". Facts from the index, not the base.
    upstream: tuple[str, ...] = ()
    upstream_policy: str = "warn"  # [resolve] upstream-metadata when the lock was made
    # Lower overlays this one sits on, nearest first (layers.Layer.to_json): name, manifest,
    # prefix, fingerprint, distributions. Empty for an overlay on an environment.
    layers: tuple[Mapping[str, Any], ...] = ()
    # [overlay] hide when the lock was made (canonical names), and the requirements of visible
    # base distributions on hidden ones that the overlay leaves unmet (base/hiding.py).
    hide: tuple[str, ...] = ()
    hidden_breakage: tuple[str, ...] = ()
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
        if self.upstream:
            tool["overlock"]["upstream-requirements"] = list(self.upstream)
            tool["overlock"]["upstream-metadata"] = self.upstream_policy
        if self.constraints:  # likewise
            tool["overlock"]["constraints"] = list(self.constraints)
        if self.hide:  # likewise
            tool["overlock"]["hide"] = list(self.hide)
            tool["overlock"]["hidden-breakage"] = list(self.hidden_breakage)
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

    def _document(self) -> dict[str, Any]:
        """What ``dumps`` writes, as plain values (the base's distributions not yet sorted)."""
        plain: dict[str, Any] = _plain(self.to_pylock().to_dict())
        plain.setdefault("packages", [])  # PEP 751 requires the key even for an empty overlay
        for pkg, entry in zip(self.packages, plain["packages"], strict=True):
            if pkg.declared_requires is not None:
                # Written even when empty (_plain drops empty lists): "none" is a fact too.
                table = entry.setdefault("tool", {}).setdefault("overlock", {})
                table["requires-dist"] = list(pkg.declared_requires)
        return plain

    def dumps(self) -> str:
        import tomlkit  # writing only: reading a lock needs no tomlkit (loads)

        header = (
            "# This file is @generated by overlock; do not edit by hand.\n"
            "# It locks the packages of an overlay on a read-only base (PEP 751).\n"
            "# Regenerate with `overlock lock`.\n"
        )
        plain = self._document()
        listed: list[str] = []
        if self.base_distributions is not None:
            # One per line, so a redeployed base shows up as a readable diff; written even
            # when empty (_plain drops empty lists), so "recorded: none" differs from absent.
            listed = sorted(self.base_distributions)
            plain["tool"]["overlock"]["base"]["distributions"] = (
                _LISTED if listed else tomlkit.array().multiline(True)
            )
        text = tomlkit.dumps(plain)
        if listed:
            # tomlkit's Array.extend is quadratic (2.7 s for a 5,000-distribution base, most
            # of a lock): the same text, each entry rendered by tomlkit, is put in place instead.
            rendered = "".join(f"    {tomlkit.string(d).as_string()},\n" for d in listed)
            text = text.replace(tomlkit.string(_LISTED).as_string(), f"[\n{rendered}]", 1)
        return header + text

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
        try:
            return cls._from_checked(pylock, tool, source)
        except untrusted.UntrustedValue as exc:
            raise StaleLockError(
                f"{source}: {exc}",
                hint="the lock was damaged or edited by hand; run `overlock lock` to write it"
                " again",
            ) from None

    @classmethod
    def _from_checked(cls, pylock: Pylock, tool: Mapping[str, Any], source: str) -> Lock:
        """Every field read through its ``untrusted`` checker: a shared lock may be hostile."""
        key = "tool.overlock"
        base = tool.get("base") or {}
        if not isinstance(base, Mapping):
            raise untrusted.UntrustedValue(f"{key}.base must be a table")
        distributions = base.get("distributions")
        return cls(
            packages=tuple(
                _package_from_pylock(p, source, f"packages[{i}]")
                for i, p in enumerate(pylock.packages)
            ),
            base_fingerprint=untrusted.text(
                tool.get("base-fingerprint", ""), f"{key}.base-fingerprint"
            ),
            manifest_hash=untrusted.text(tool.get("manifest-hash", ""), f"{key}.manifest-hash"),
            base_python_version=untrusted.text(
                base.get("python-version", ""), f"{key}.base.python-version"
            ),
            base_python=untrusted.text(base.get("python", ""), f"{key}.base.python"),
            base_prefix=untrusted.text(base.get("prefix", ""), f"{key}.base.prefix"),
            base_tags=untrusted.texts(base.get("tags"), f"{key}.base.tags"),
            # packaging.pylock parsed the environments as markers.
            environment=str(pylock.environments[0]) if pylock.environments else "",
            base_module_path=untrusted.texts(base.get("module-path"), f"{key}.base.module-path"),
            shadow=untrusted.text(tool.get("shadow", "auto"), f"{key}.shadow"),
            preexisting=untrusted.texts(
                tool.get("preexisting-breakage"), f"{key}.preexisting-breakage"
            ),
            upstream=untrusted.texts(
                tool.get("upstream-requirements"), f"{key}.upstream-requirements"
            ),
            upstream_policy=untrusted.text(
                tool.get("upstream-metadata", "warn"), f"{key}.upstream-metadata"
            ),
            base_distributions=(
                None
                if distributions is None
                else untrusted.texts(distributions, f"{key}.base.distributions")
            ),
            layers=_layers(tool.get("layers"), f"{key}.layers"),
            constraints=untrusted.texts(tool.get("constraints"), f"{key}.constraints"),
            hide=tuple(
                untrusted.name(n, f"{key}.hide[{i}]")
                for i, n in enumerate(untrusted.texts(tool.get("hide"), f"{key}.hide"))
            ),
            hidden_breakage=untrusted.texts(tool.get("hidden-breakage"), f"{key}.hidden-breakage"),
        )

    @classmethod
    def loads(cls, text: str, *, source: str = LOCK_FILENAME) -> Lock:
        try:
            data = _parse_toml(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError
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


def _layers(value: Any, key: str) -> tuple[Mapping[str, Any], ...]:
    """The lock's record of lower overlays: its strings are printed in drift reports."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise untrusted.UntrustedValue(f"{key} must be a list of tables")
    out = []
    for i, layer in enumerate(value):
        if not isinstance(layer, Mapping):
            raise untrusted.UntrustedValue(f"{key}[{i}] must be a table")
        checked: dict[str, Any] = {}
        for field_name, field_value in layer.items():
            where = f"{key}[{i}].{field_name}"
            name = untrusted.text(field_name, where)
            if isinstance(field_value, list):  # distributions, site-dirs
                checked[name] = list(untrusted.texts(field_value, where))
            else:
                checked[name] = untrusted.text(field_value, where)
        out.append(checked)
    return tuple(out)


def lock_path_for(manifest_path: Path) -> Path:
    return manifest_path.parent / LOCK_FILENAME


def read_lock(path: Path) -> Lock:
    try:
        text = read_text_bounded(path)
    except FileNotFoundError as exc:
        raise StaleLockError(
            f"{path} does not exist", hint="run `overlock lock` to create it"
        ) from exc
    except OSError as exc:
        raise StaleLockError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise StaleLockError(
            f"{path} is not UTF-8 text ({exc.reason})",
            hint="run `overlock lock` to write it again",
        ) from None
    return Lock.loads(text, source=str(path))


def write_lock(lock: Lock, path: Path) -> bool:
    """Write ``lock`` to ``path`` atomically; return False when the bytes are unchanged."""
    text = lock.dumps()
    try:
        if read_text_bounded(path) == text:
            return False
    except (OSError, UnicodeDecodeError):
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


def _source_from_pylock(p: Package, key: str) -> dict[str, Any]:
    """The LockedPackage fields of a directory, vcs or index-sdist package."""
    if p.directory is not None:
        d = p.directory
        path = untrusted.text(d.path, f"{key}.directory.path")
        return {"directory": LockedDirectory(path=path, editable=bool(d.editable))}
    if p.vcs is not None:
        v = p.vcs
        if v.type != "git":
            raise untrusted.UntrustedValue(
                f"{key}.vcs.type is {v.type!r}; only git references are supported"
            )
        if v.url is not None:
            url = untrusted.git_url(v.url, f"{key}.vcs.url")
        else:
            url = untrusted.option_safe(v.path, f"{key}.vcs.path")
        revision = v.requested_revision
        return {
            "vcs": LockedVcs(
                type=v.type,
                url=url,
                commit_id=untrusted.commit_id(v.commit_id, f"{key}.vcs.commit-id"),
                requested_revision=(
                    None
                    if revision is None
                    else untrusted.git_revision(revision, f"{key}.vcs.requested-revision")
                ),
                subdirectory=(
                    None
                    if v.subdirectory is None
                    else untrusted.relative_path(v.subdirectory, f"{key}.vcs.subdirectory")
                ),
            )
        }
    assert p.sdist is not None
    return {"sdist": _locked_file(p.sdist, p.sdist.name, f"{key}.sdist")}


def _locked_file(
    entry: PackageWheel | PackageSdist | PackageArchive, filename: str | None, key: str
) -> LockedFile:
    url = untrusted.file_url(entry.url, f"{key}.url") if entry.url is not None else ""
    if not url:
        # A lock written elsewhere may name a local file by path.
        url = untrusted.option_safe(entry.path or "", f"{key}.path")
    if "sha256" not in entry.hashes:
        raise untrusted.UntrustedValue(f"{key}.hashes has no sha256")
    name = filename or url.rsplit("/", 1)[-1].split("#", 1)[0]
    return LockedFile(
        # packaging.pylock checked a wheel's or sdist's name against the project; an archive's
        # comes from the last part of its URL.
        filename=untrusted.option_safe(name, f"{key}.name"),
        url=url,
        size=entry.size,
        sha256=untrusted.sha256(entry.hashes["sha256"], f"{key}.hashes.sha256"),
    )


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


def _package_from_pylock(p: Package, source: str, key: str) -> LockedPackage:
    tool = (p.tool or {}).get("overlock") or {}
    if not isinstance(tool, Mapping):
        raise untrusted.UntrustedValue(f"{key}.tool.overlock must be a table")
    name = untrusted.name(p.name, f"{key}.name")
    wheel: LockedFile | None = None
    archive: LockedFile | None = None
    from_source: dict[str, Any] = {}
    if p.directory is not None or p.vcs is not None or (p.sdist is not None and not p.wheels):
        from_source = _source_from_pylock(p, key)
    elif p.wheels:
        w: PackageWheel = p.wheels[0]
        # packaging.pylock checked that the file name is a wheel of this project.
        wheel = _locked_file(w, w.name, f"{key}.wheels[0]")
    elif p.archive is not None and p.archive.url:
        archive = _locked_file(p.archive, None, f"{key}.archive")
    else:
        raise StaleLockError(
            f"{source}: package {p.name} has neither a wheel nor an archive URL",
            hint="run `overlock lock` to write the lock again",
        )
    tkey = f"{key}.tool.overlock"
    requires_python = untrusted.optional_text(
        tool.get("requires-python"), f"{tkey}.requires-python"
    )
    shadows = tool.get("shadows")
    return LockedPackage(
        name=name,
        version=untrusted.version(str(p.version), f"{key}.version"),
        wheel=wheel,
        archive=archive,
        # An index URL, or the path of a find-links directory.
        index=None if p.index is None else untrusted.option_safe(p.index, f"{key}.index"),
        requires_python=(
            str(p.requires_python) if p.requires_python is not None else requires_python
        ),
        dependencies=tuple(
            untrusted.name(d.get("name"), f"{key}.dependencies[{i}].name")
            for i, d in enumerate(p.dependencies or ())
            if "name" in d
        ),
        requested=untrusted.texts(tool.get("requested"), f"{tkey}.requested"),
        required_by=untrusted.texts(tool.get("required-by"), f"{tkey}.required-by"),
        kept_for=untrusted.texts(tool.get("kept-for"), f"{tkey}.kept-for"),
        shadows=None if shadows is None else untrusted.version(shadows, f"{tkey}.shadows"),
        metadata_hash=untrusted.optional_text(tool.get("metadata-hash"), f"{tkey}.metadata-hash"),
        declared_requires=(
            None
            if tool.get("requires-dist") is None
            else untrusted.texts(tool.get("requires-dist"), f"{tkey}.requires-dist")
        ),
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


def _parse_toml(text: str) -> dict[str, Any]:
    """A TOML document as plain values, by the standard library's parser (tomlkit on 3.10).

    Nothing read from a lock is edited, so tomlkit's layout-keeping document (35 ms for a
    54-package lock, and its import) is not needed to read one.
    """
    try:
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        import tomlkit
        from tomlkit.exceptions import ParseError

        try:
            return tomlkit.parse(text).unwrap()
        except ParseError as exc:
            raise ValueError(str(exc)) from None
    data: dict[str, Any] = tomllib.loads(text)
    return data


# The lock hash used to be a digest of the TOML text (``Lock.dumps``), which tomlkit took
# 0.1 s to render for a 54-package lock, in every sync; it now covers the same document as
# canonical JSON, and says so by its prefix. States holding the old kind are still read.
LOCK_HASH_PREFIX = "lock-json-sha256:"
_LEGACY_HASH_PREFIX = "sha256:"


def lock_hash(lock: Lock) -> str:
    """What a generation records of the lock it was synced from (``state.json``).

    A digest of every fact ``dumps`` writes (canonical JSON, so no TOML rendering): two
    locks whose files would differ get different hashes; the same lock, the same hash.
    """
    doc = lock._document()
    tool = doc["tool"]["overlock"]
    if lock.base_distributions is not None:  # dumps sorts them and writes them even if none
        tool["base"]["distributions"] = sorted(lock.base_distributions)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=_json_default)
    return LOCK_HASH_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: object) -> str:
    # Dates and times (PEP 751's upload-time): their text is what TOML would write.
    return f"{type(value).__name__}:{value}"


def same_lock(recorded: str, lock: Lock) -> bool:
    """Whether ``recorded`` (a state's lock hash) is ``lock``'s, by either definition.

    Generations synced before the hash changed recorded a digest of the lock's TOML text;
    those are recognised (at the old cost, once per check) rather than re-synced.
    """
    if recorded.startswith(_LEGACY_HASH_PREFIX):
        return recorded == _legacy_lock_hash(lock)
    return recorded == lock_hash(lock)


def _legacy_lock_hash(lock: Lock) -> str:
    return _LEGACY_HASH_PREFIX + hashlib.sha256(lock.dumps().encode()).hexdigest()
