"""The distributions the checks reason about.

``Dist`` is a distribution as the combined environment shows it (from the base or the overlay);
``PrefixDist`` is a ``*.dist-info`` directory found in the prefix; ``locked_overlay`` gives the
lock's packages as ``Dist`` values even where the prefix no longer holds them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from overlock.base.env import BaseEnv, InstalledDist
from overlock.cache import Cache
from overlock.dists.metadata import parse_metadata
from overlock.dists.requirements import same_version
from overlock.dists.types import DistMetadata
from overlock.inbase.probe import top_level_from_record
from overlock.lock.pylock import Lock, LockedPackage
from overlock.prefix.bootstrap import overlay_site_dirs


@dataclass(frozen=True)
class Dist:
    """A distribution as the combined environment shows it: from the base or the overlay."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...]
    requires_python: str | None
    layer: str  # "base" or "overlay"
    installed: InstalledDist | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of_base(cls, d: InstalledDist) -> Dist:
        return cls(d.name, d.version, d.requires, d.requires_python, "base", d)

    @cached_property
    def parsed_requires(self) -> tuple[Requirement, ...]:
        if self.installed is not None:
            return self.installed.parsed_requires  # parsed once per base, not per check
        out = []
        for text in self.requires:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                continue  # legacy metadata; the resolver skips such lines too
        return tuple(out)

    @property
    def label(self) -> str:
        where = self.layer
        if self.layer == "base" and self.installed is not None:
            where = self.installed.layer_label  # a lower overlay's copy names its layer
        return f"{self.name} {self.version} ({where})"


@dataclass(frozen=True)
class PrefixDist:
    """A ``*.dist-info`` directory found in the prefix's site directories."""

    name: NormalizedName
    version: str
    path: Path  # the dist-info directory
    requires: tuple[str, ...] = ()
    requires_python: str | None = None

    @property
    def site(self) -> Path:
        return self.path.parent

    def as_dist(self) -> Dist:
        return Dist(self.name, self.version, self.requires, self.requires_python, "overlay")

    def record(self) -> list[tuple[str, str, str]]:
        """RECORD rows (path, hash, size); empty when RECORD is missing or unreadable."""
        try:
            with open(self.path / "RECORD", newline="", encoding="utf-8") as fh:
                rows = [[*r, "", ""] for r in csv.reader(fh) if r and r[0]]
            return [(r[0], r[1], r[2]) for r in rows]
        except (OSError, UnicodeDecodeError, csv.Error):
            return []

    def top_level(self) -> list[str]:
        """Importable top-level names: top_level.txt, else derived from RECORD."""
        try:
            text = (self.path / "top_level.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        names = sorted({line.strip().split("/")[0] for line in text.splitlines() if line.strip()})
        if names:
            return names
        try:
            record = (self.path / "RECORD").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        return top_level_from_record(record)


def site_dirs(base: BaseEnv, prefix: Path) -> list[Path]:
    """The prefix's site directories, as the activation bootstrap puts them on sys.path."""
    return [Path(d) for d in overlay_site_dirs(base, prefix)]


def scan_prefix(base: BaseEnv, prefix: Path) -> tuple[PrefixDist, ...]:
    """Every ``*.dist-info`` in the prefix's site directories, sorted by name."""
    found: list[PrefixDist] = []
    for site in site_dirs(base, prefix):
        if not site.is_dir():
            continue
        for entry in sorted(site.glob("*.dist-info")):
            stem_name, _, stem_version = entry.name[: -len(".dist-info")].partition("-")
            try:
                meta = parse_metadata((entry / "METADATA").read_bytes(), stem_name, stem_version)
            except OSError:
                meta = DistMetadata(canonicalize_name(stem_name), stem_version)
            found.append(
                PrefixDist(meta.name, meta.version, entry, meta.requires, meta.requires_python)
            )
    return tuple(sorted(found, key=lambda d: (d.name, d.version)))


def locked_overlay(
    lock: Lock, found: Sequence[PrefixDist], cache: Cache | None
) -> tuple[list[Dist], list[str]]:
    """The lock's packages as distributions, with their metadata from the prefix or the cache.

    Returns them and the names whose metadata was in neither (their requirements are unknown).
    """
    in_prefix = {(d.name, d.version): d for d in found}
    out: list[Dist] = []
    unknown: list[str] = []
    for pkg in lock.packages:
        have = next(
            (
                d
                for (n, v), d in in_prefix.items()
                if n == pkg.name and same_version(v, pkg.version)
            ),
            None,
        )
        if have is not None:
            out.append(have.as_dist())
            continue
        sha = locked_sha256(pkg)
        data = cache.get_metadata(sha) if cache is not None and sha else None
        if data is None:
            unknown.append(pkg.name)
            out.append(Dist(pkg.name, pkg.version, (), pkg.requires_python, "overlay"))
            continue
        meta = parse_metadata(data)
        out.append(Dist(pkg.name, pkg.version, meta.requires, meta.requires_python, "overlay"))
    return out, unknown


def locked_sha256(pkg: LockedPackage) -> str | None:
    """The sha256 of the wheel the lock names; None for sources that sync builds."""
    found = pkg.wheel or pkg.archive
    return found.sha256 if found is not None else None
