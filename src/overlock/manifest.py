"""overlay.toml: schema, validation (every error at once, with line numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

MANIFEST_FILENAME = "overlay.toml"
FORMAT_VERSION = 1
SHADOW_POLICIES = ("auto", "explicit")


@dataclass(frozen=True)
class IndexSettings:
    """The ``[index]`` table. Its absence means: follow the user's pip configuration."""

    urls: tuple[str, ...] = ()  # the first is the primary index
    find_links: tuple[str, ...] = ()  # relative paths already made absolute


@dataclass(frozen=True)
class Manifest:
    path: Path  # absolute path of overlay.toml
    base: str | None  # environment prefix or python executable; relative ones made absolute
    base_snapshot: Path | None  # exactly one of base / base_snapshot is set
    prefix_template: str  # as written; may contain "{name}"
    name: str | None
    requires: tuple[Requirement, ...]
    requires_text: tuple[str, ...]  # each entry as written, same order as ``requires``
    index: IndexSettings | None
    shadow: str  # one of SHADOW_POLICIES

    def overlay_name(self, base_prefix: str) -> str:
        raise NotImplementedError

    def prefix(self, base_prefix: str) -> Path:
        raise NotImplementedError

    def content_hash(self) -> str:
        raise NotImplementedError


def load_manifest(path: Path) -> Manifest:
    raise NotImplementedError
