"""Values for the unit tier: bases as ``BaseEnv`` data and an index in memory.

No interpreter, no HTTP, no files: what the pure stages (the resolver, target tags and
markers, lock round-trips) consume, built directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from overlock.base import target
from overlock.base.env import BaseEnv, InstalledDist
from overlock.dists.types import DistFile, DistMetadata, Release, SetAside
from overlock.index import compat
from overlock.manifest.model import Manifest


def linux_facts(version: tuple[int, int, int] = (3, 11, 7), **over: Any) -> dict[str, Any]:
    """What the probe reports for a CPython on x86_64 glibc 2.36 Linux."""
    major, minor, micro = version
    nodot = f"{major}{minor}"
    facts: dict[str, Any] = {
        "version_info": [major, minor, micro],
        "implementation": {"name": "cpython"},
        "config": {
            "SOABI": f"cpython-{nodot}{'m' if (major, minor) < (3, 8) else ''}-x86_64-linux-gnu",
            "EXT_SUFFIX": f".cpython-{nodot}-x86_64-linux-gnu.so",
            "Py_DEBUG": 0,
            "WITH_PYMALLOC": 1,
            "Py_GIL_DISABLED": 0 if (major, minor) >= (3, 13) else None,
            "py_version_nodot": nodot,
        },
        "extension_suffixes": [f".cpython-{nodot}-x86_64-linux-gnu.so", ".abi3.so", ".so"],
        "has_gettotalrefcount": False,
        "is_64bit": True,
        "sysconfig_platform": "linux-x86_64",
        "platform_system": "Linux",
        "machine": "x86_64",
        "mac_ver": "",
        "mac_machine": "",
        "glibc": "2.36",
        "musl": None,
        "markers": {
            "implementation_name": "cpython",
            "implementation_version": f"{major}.{minor}.{micro}",
            "os_name": "posix",
            "platform_machine": "x86_64",
            "platform_release": "6.1.0",
            "platform_system": "Linux",
            "platform_version": "#1 SMP",
            "python_full_version": f"{major}.{minor}.{micro}",
            "platform_python_implementation": "CPython",
            "python_version": f"{major}.{minor}",
            "sys_platform": "linux",
        },
    }
    facts.update(over)
    return facts


def dist(name: str, version: str, *requires: str, **kw: Any) -> InstalledDist:
    return InstalledDist(
        name=canonicalize_name(name),
        version=version,
        requires=tuple(requires),
        location=kw.pop("location", "/base/lib/python3.11/site-packages"),
        **kw,
    )


def make_base(
    *dists: InstalledDist,
    version: tuple[int, int, int] = (3, 11, 7),
    module_path: Sequence[str] = (),
) -> BaseEnv:
    facts = linux_facts(version)
    xy = f"{version[0]}.{version[1]}"
    site = f"/base/lib/python{xy}/site-packages"
    return BaseEnv(
        python="/base/bin/python3",
        prefix="/base",
        kind="venv",
        python_version=".".join(map(str, version)),
        implementation="cpython",
        markers=target.markers(facts),
        tags=tuple(target.tags(facts)),
        scheme={
            "purelib": f"lib/python{xy}/site-packages",
            "platlib": f"lib/python{xy}/site-packages",
            "headers": f"include/site/python{xy}",
            "scripts": "bin",
            "data": ".",
        },
        site_dirs=(*module_path, site),
        distributions=tuple(sorted(dists, key=lambda d: d.name)),
        extra={"module_path": list(module_path)},
    )


@dataclass
class Published:
    name: str
    version: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    tag: str = "py3-none-any"
    yanked: str | None = None  # the reason ("" for none given), as on an index page
    files: str = "wheel"  # "wheel", "sdist" or "both"


@dataclass
class MemorySource:
    """A ``PackageSource`` over releases held in memory; counts what the resolver asks."""

    published: list[Published] = field(default_factory=list)
    asked: dict[str, int] = field(default_factory=dict)
    # With a base, files are judged for it as index.Index does (tags, Requires-Python from
    # the page) and what is left out is reported by set_aside(); without, all are offered.
    base: BaseEnv | None = None

    def add(self, name: str, version: str, *requires: str, **kw: Any) -> MemorySource:
        self.published.append(Published(name, version, tuple(requires), **kw))
        return self

    def _file(self, p: Published, sdist: bool = False) -> DistFile:
        stem = f"{canonicalize_name(p.name).replace('-', '_')}-{p.version}"
        filename = f"{stem}.tar.gz" if sdist else f"{stem}-{p.tag}.whl"
        return DistFile(
            filename=filename,
            url=f"https://index.invalid/files/{filename}",
            hashes={"sha256": hashlib.sha256(filename.encode()).hexdigest()},
            size=1000,
            requires_python=p.requires_python,
            yanked=p.yanked,
        )

    def _release(self, p: Published) -> Release | SetAside:
        name = canonicalize_name(p.name)
        wheel = self._file(p) if p.files in ("wheel", "both") else None
        sdist = self._file(p, sdist=True) if p.files in ("sdist", "both") else None
        if self.base is not None:
            reasons = []
            for f in (wheel, sdist):
                if f is not None:
                    reasons.append(compat.unusable_reason(self.base, f.filename, f.requires_python))
            if wheel is not None and reasons[0] is not None:
                wheel = None
            if all(reasons):
                return SetAside(Version(p.version), str(reasons[0]))
        return Release(name, Version(p.version), wheel, sdist)

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        self.asked[name] = self.asked.get(name, 0) + 1
        found = [p for p in self.published if canonicalize_name(p.name) == name]
        found.sort(key=lambda p: Version(p.version), reverse=True)
        return [r for r in map(self._release, found) if isinstance(r, Release)]

    def set_aside(self, name: NormalizedName) -> Sequence[SetAside]:
        found = [p for p in self.published if canonicalize_name(p.name) == name]
        return [r for r in map(self._release, found) if isinstance(r, SetAside)]

    def missing(self, name: NormalizedName) -> bool:
        return not any(canonicalize_name(p.name) == name for p in self.published)

    def metadata(self, release: Release) -> DistMetadata:
        for p in self.published:
            if canonicalize_name(p.name) == release.name and Version(p.version) == release.version:
                return DistMetadata(
                    name=release.name,
                    version=p.version,
                    requires=p.requires,
                    requires_python=p.requires_python,
                )
        raise LookupError(release)

    def direct(self, requirement: Requirement) -> Release:
        raise LookupError(f"no direct references in memory: {requirement}")


def picks(outcome: Any) -> Mapping[str, str]:
    return {p.name: str(p.version) for p in outcome.picks}


def make_manifest(*requires: str, **fields: Any) -> Manifest:
    """An overlay.toml as values: ``requires`` on a base at /base, prefix /overlays/unit;
    ``fields`` set other fields of ``Manifest`` (``hide=...``)."""
    return Manifest(
        path=Path("/project/overlay.toml"),
        base="/base",
        base_snapshot=None,
        prefix_template="/overlays/{name}",
        name="unit",
        requires=tuple(Requirement(r) for r in requires),
        requires_text=requires,
        index=None,
        shadow="auto",
        **fields,
    )
