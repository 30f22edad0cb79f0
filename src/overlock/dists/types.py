"""What the resolver knows about the package index: plain values and one Protocol.

``index/client.py`` implements ``PackageSource`` over real indexes (with unearth); the resolver
only ever sees these values, so it stays free of I/O and can be tested on any source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version


@dataclass(frozen=True)
class DistFile:
    """One distribution file offered by an index, a find-links location or a direct URL."""

    filename: str
    url: str  # without credentials: safe to print and to write into the lock
    hashes: Mapping[str, str] = field(default_factory=dict)  # e.g. {"sha256": "..."}
    size: int | None = None
    requires_python: str | None = None  # from the index page (data-requires-python)
    yanked: str | None = None  # None when not yanked, else the reason ("" if none given)
    has_metadata: bool = False  # PEP 658/714: a .metadata file is offered next to it
    index: str | None = None  # the index URL it came from, without credentials

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


@dataclass(frozen=True)
class SourceRef:
    """A distribution that has to be built: a local tree, a git commit or a source archive.

    ``kind`` is the PEP 751 table it is locked as: ``directory``, ``vcs``, ``archive`` (a
    direct reference to an sdist) or ``sdist`` (an index release published only as one).
    """

    kind: str
    url: str  # the requirement's URL as written (directory/vcs/archive); the file's URL (sdist)
    path: str | None = None  # directory: as the lock records it (relative to the lock file)
    editable: bool = False
    repo: str | None = None  # vcs: the repository URL, without ``git+`` and revision
    requested_revision: str | None = None
    commit_id: str | None = None
    subdirectory: str | None = None
    file: DistFile | None = None  # archive/sdist: the file, with its sha256
    metadata_hash: str | None = None  # of the declared metadata the resolver used


@dataclass(frozen=True)
class Release:
    """One version of a project, reduced to what can be installed on the base."""

    name: NormalizedName
    version: Version
    wheel: DistFile | None  # the best wheel for the base's tags, or None
    sdist: DistFile | None = None  # kept so "only an sdist" can be reported clearly
    direct: bool = False  # from a direct reference (``name @ URL``), not an index
    source: SourceRef | None = None  # set when this release must be built (no wheel)

    @property
    def yanked(self) -> bool:
        files = [f for f in (self.wheel, self.sdist) if f is not None]
        return bool(files) and all(f.yanked is not None for f in files)

    @property
    def yank_reason(self) -> str:
        """The index's reason for yanking (``""`` when it gave none or nothing is yanked)."""
        files = [f for f in (self.wheel, self.sdist) if f is not None]
        return next((f.yanked for f in files if f.yanked), "")


@dataclass(frozen=True)
class SetAside:
    """A release a source left out before the resolver saw it, and why (for messages).

    Sources may offer ``set_aside(name) -> Sequence[SetAside]`` and
    ``missing(name) -> bool`` (the index has no project of that name); both are optional.
    """

    version: Version
    reason: str  # e.g. "the base's Python 3.8.18 does not satisfy Requires-Python >=3.9"


@dataclass(frozen=True)
class DistMetadata:
    """The parts of a distribution's core metadata the resolver needs."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...] = ()  # Requires-Dist, verbatim
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()


class PackageSource(Protocol):
    """Where candidates and their metadata come from. All I/O lives behind this."""

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every release of ``name`` usable on the base, newest first.

        Releases whose files are all incompatible with the base's tags or Requires-Python
        are left out; a release with only an sdist is kept with ``wheel=None``.
        Yanked releases are included (``Release.yanked``): the resolver decides.
        """
        ...

    def metadata(self, release: Release) -> DistMetadata:
        """Core metadata of ``release``'s wheel (PEP 658, range requests or cache)."""
        ...

    def direct(self, requirement: Requirement) -> Release:
        """The release a direct reference (``name @ URL``) points at."""
        ...
