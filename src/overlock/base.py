"""The base environment as data: probe it once, snapshot it, fingerprint it.

The running interpreter is never the target. Everything about the base (version, markers,
wheel tags, install scheme, installed distributions) comes from one subprocess of the base
interpreter, or from a snapshot file written by ``overlock base snapshot``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.errors import BaseProbeError

SNAPSHOT_FORMAT = 1

# Keys of ``BaseEnv.scheme``: paths relative to the overlay prefix, as pip computes them for
# ``pip install --prefix`` on the base interpreter.
SCHEME_KEYS = ("purelib", "platlib", "headers", "scripts", "data")


@dataclass(frozen=True)
class InstalledDist:
    """One distribution installed in the base."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...] = ()  # Requires-Dist, verbatim
    requires_python: str | None = None
    location: str = ""  # the sys.path entry it was found in
    installer: str | None = None
    top_level: tuple[str, ...] = ()  # importable top-level names, when known

    @cached_property
    def parsed_version(self) -> Version | None:
        try:
            return Version(self.version)
        except InvalidVersion:
            return None

    @cached_property
    def parsed_requires(self) -> tuple[Requirement, ...]:
        out: list[Requirement] = []
        for text in self.requires:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                # Real bases hold distributions with legacy metadata; one unparsable line
                # must not make the whole base unusable.
                continue
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires": list(self.requires),
            "requires_python": self.requires_python,
            "location": self.location,
            "installer": self.installer,
            "top_level": list(self.top_level),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstalledDist:
        return cls(
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            requires=tuple(data.get("requires") or ()),
            requires_python=data.get("requires_python"),
            location=str(data.get("location") or ""),
            installer=data.get("installer"),
            top_level=tuple(data.get("top_level") or ()),
        )


@dataclass(frozen=True)
class BaseEnv:
    """Everything overlock needs to know about the base environment."""

    python: str  # the base interpreter's executable, absolute
    prefix: str  # sys.prefix of the base
    kind: str  # "venv", "conda" or "system"
    python_version: str  # platform.python_version(), e.g. "3.11.7"
    implementation: str  # sys.implementation.name, e.g. "cpython"
    markers: Mapping[str, str]  # packaging.markers.default_environment() in the base
    tags: tuple[str, ...]  # supported wheel tags, most preferred first
    scheme: Mapping[str, str]  # SCHEME_KEYS -> path relative to the overlay prefix
    site_dirs: tuple[str, ...]  # the base's site-packages directories, in sys.path order
    distributions: tuple[InstalledDist, ...]  # visible ones only, first on sys.path wins
    hidden: tuple[InstalledDist, ...] = ()  # duplicates shadowed by an earlier sys.path entry
    extra: Mapping[str, Any] = field(default_factory=dict)  # probe facts kept for reports

    @cached_property
    def by_name(self) -> Mapping[NormalizedName, InstalledDist]:
        return {d.name: d for d in self.distributions}

    @cached_property
    def parsed_tags(self) -> tuple[Tag, ...]:
        out: list[Tag] = []
        for text in self.tags:
            out.extend(parse_tag(text))
        return tuple(out)

    @property
    def python_version_info(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.python_version.split(".")[:3] if p.isdigit())

    @property
    def py_short(self) -> str:
        """``X.Y`` of the base interpreter."""
        return ".".join(self.python_version.split(".")[:2])

    def marker_env(self, extra: str = "") -> dict[str, str]:
        env = dict(self.markers)
        env["extra"] = extra
        return env

    def evaluate(self, marker: Marker | None, extras: Sequence[str] = ("",)) -> bool:
        """Evaluate ``marker`` in the base's environment for any of ``extras``."""
        if marker is None:
            return True
        return any(marker.evaluate(self.marker_env(e)) for e in (extras or ("",)))

    def accepts_python(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        try:
            spec = SpecifierSet(requires_python)
        except ValueError:
            return True
        return spec.contains(self.python_version, prereleases=True)

    def fingerprint(self) -> str:
        """A short stable hash of what the lock depends on in this base.

        Python version and implementation, the top wheel tags, and the sorted name==version
        list: a redeploy that changes any of them changes the fingerprint.
        """
        return "sha256:" + hashlib.sha256(self.fingerprint_text().encode()).hexdigest()

    def fingerprint_text(self) -> str:
        lines = [
            f"python={self.implementation}-{self.python_version}",
            "tags=" + ",".join(self.tags[:3]),
        ]
        lines.extend(sorted(f"{d.name}=={d.version}" for d in self.distributions))
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "overlock-base-snapshot": SNAPSHOT_FORMAT,
            "python": self.python,
            "prefix": self.prefix,
            "kind": self.kind,
            "python_version": self.python_version,
            "implementation": self.implementation,
            "markers": dict(self.markers),
            "tags": list(self.tags),
            "scheme": dict(self.scheme),
            "site_dirs": list(self.site_dirs),
            "distributions": [d.to_json() for d in self.distributions],
            "hidden": [d.to_json() for d in self.hidden],
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "snapshot") -> BaseEnv:
        fmt = data.get("overlock-base-snapshot")
        if fmt != SNAPSHOT_FORMAT:
            raise BaseProbeError(
                f"{source} is not an overlock base snapshot of format {SNAPSHOT_FORMAT}"
                f" (found {fmt!r})",
                hint="write one with `overlock base snapshot --base PATH -o FILE`",
            )
        try:
            return cls(
                python=str(data["python"]),
                prefix=str(data["prefix"]),
                kind=str(data["kind"]),
                python_version=str(data["python_version"]),
                implementation=str(data["implementation"]),
                markers={str(k): str(v) for k, v in data["markers"].items()},
                tags=tuple(str(t) for t in data["tags"]),
                scheme={str(k): str(v) for k, v in data["scheme"].items()},
                site_dirs=tuple(str(s) for s in data["site_dirs"]),
                distributions=tuple(InstalledDist.from_json(d) for d in data["distributions"]),
                hidden=tuple(InstalledDist.from_json(d) for d in data.get("hidden", ())),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BaseProbeError(
                f"{source} is not a valid base snapshot: {exc!r}",
                hint="write it again with `overlock base snapshot`",
            ) from exc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


def load_snapshot(path: Path) -> BaseEnv:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaseProbeError(
            f"cannot read base snapshot {path}: {exc.strerror or exc}",
            hint="write one with `overlock base snapshot --base PATH -o FILE`",
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaseProbeError(f"base snapshot {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BaseProbeError(f"base snapshot {path} is not a JSON object")
    return BaseEnv.from_json(data, source=str(path))


def find_base_python(base: str | Path) -> Path:
    """The interpreter of ``base``: an environment prefix or a python executable."""
    raise NotImplementedError  # implemented by the probe work (see probe())


def probe(base: str | Path, *, timeout: float = 120.0) -> BaseEnv:
    """Run one subprocess of the base interpreter and return what it reports."""
    raise NotImplementedError
