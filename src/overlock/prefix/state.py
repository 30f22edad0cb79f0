"""The on-disk model of an overlay prefix: its generations and what each one holds.

Read by sync (which writes it), check, show, layers and the no-op stamp; nothing here writes.
See ``sync/engine.py`` for the layout on disk.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from overlock.errors import SyncError

STATE_FORMAT = 1
STATE_DIRNAME = ".overlock"  # PREFIX/.overlock/: what overlock keeps in a generation
STATE_FILE = "state.json"
LOCK_FILE = "sync.lock"
_GEN_RE = re.compile(r"^gen-(\d+)$")


@dataclass(frozen=True)
class InstalledPackage:
    """A package as a generation's state file records it."""

    name: NormalizedName
    version: str
    sha256: str  # of the wheel it was installed from
    url: str | None = None  # set for direct references only (PEP 610)
    files: tuple[str, ...] = ()  # relative to the prefix, as installer wrote them

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "url": self.url,
            "files": list(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstalledPackage:
        return cls(
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            sha256=str(data["sha256"]),
            url=data.get("url"),
            files=tuple(str(f) for f in data.get("files") or ()),
        )


@dataclass(frozen=True)
class Owner:
    """The overlay a prefix belongs to: its manifest (an absolute path) and its name."""

    manifest: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"manifest": self.manifest, "name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Owner:
        return cls(manifest=str(data["manifest"]), name=str(data["name"]))

    def same_manifest(self, other: Owner) -> bool:
        if self.manifest == other.manifest:
            return True
        try:  # one file reached by two spellings (a symlinked home, an automount)
            return Path(self.manifest).samefile(other.manifest)
        except OSError:
            return False

    def __str__(self) -> str:
        return f"{self.manifest} (overlay {self.name!r})"


@dataclass(frozen=True)
class GenerationState:
    """``PREFIX/.overlock/state.json``: written once, when a generation is complete."""

    generation: int
    packages: tuple[InstalledPackage, ...]
    layout: Mapping[str, Any]  # what launchers and the bootstrap were written for
    lock_hash: str
    base_fingerprint: str
    previous: int | None = None
    # None in states written by overlock before prefixes had owners (adopted by the next
    # sync), and by library callers that sync without naming a manifest.
    owner: Owner | None = None
    # How the generation's files got there: hardlink / reflink / copy (from the unpacked
    # store or the previous generation) and written (per-prefix files) -> count. None in
    # states written before the store.
    placement: Mapping[str, int] | None = None

    @property
    def by_name(self) -> Mapping[NormalizedName, InstalledPackage]:
        return {p.name: p for p in self.packages}

    def to_json(self) -> dict[str, Any]:
        return {
            "overlock-state": STATE_FORMAT,
            "generation": self.generation,
            "previous": self.previous,
            "lock-hash": self.lock_hash,
            "base-fingerprint": self.base_fingerprint,
            "layout": dict(self.layout),
            "packages": [p.to_json() for p in self.packages],
            "owner": None if self.owner is None else self.owner.to_json(),
            **({} if self.placement is None else {"placement": dict(self.placement)}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GenerationState:
        if data.get("overlock-state") != STATE_FORMAT:
            raise ValueError(f"unknown state format {data.get('overlock-state')!r}")
        return cls(
            generation=int(data["generation"]),
            previous=None if data.get("previous") is None else int(data["previous"]),
            lock_hash=str(data["lock-hash"]),
            base_fingerprint=str(data["base-fingerprint"]),
            layout=dict(data["layout"]),
            packages=tuple(InstalledPackage.from_json(p) for p in data["packages"]),
            owner=None if not data.get("owner") else Owner.from_json(data["owner"]),
            placement=_placement(data.get("placement")),
        )


def _placement(data: Any) -> Mapping[str, int] | None:
    if not isinstance(data, Mapping):
        return None
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}


def state_root(prefix: Path) -> Path:
    """The sibling directory holding generations and the lock of ``prefix``."""
    return prefix.parent / f".{prefix.name}.overlock"


def abs_prefix(prefix: Path) -> Path:
    # abspath, not resolve(): the prefix itself is a symlink we own, and the user's spelling
    # of its parent is what launchers and activation should keep naming (an activated shell
    # then follows later syncs and rollbacks).
    return Path(os.path.abspath(prefix))  # noqa: PTH100


def gen_number(name: str) -> int | None:
    m = _GEN_RE.match(name)
    return int(m.group(1)) if m else None


def current_generation(prefix: Path) -> int | None:
    """The generation ``prefix`` points at, or None when it is not an overlock prefix."""
    prefix = abs_prefix(prefix)
    try:
        target = str(prefix.readlink())
    except OSError:
        return None
    head, _, tail = target.rpartition("/")
    if Path(head) != Path(state_root(prefix).name):
        return None
    return gen_number(tail)


def prefix_kind(prefix: Path) -> str:
    """``overlay``, ``missing``, ``empty`` (an empty directory) or ``foreign``."""
    if current_generation(prefix) is not None:
        return "overlay"
    if not os.path.lexists(prefix):
        return "missing"
    if prefix.is_dir() and not prefix.is_symlink() and not any(prefix.iterdir()):
        return "empty"
    return "foreign"


def read_state(prefix: Path) -> GenerationState | None:
    """The current generation's state, or None when there is no overlock generation."""
    if current_generation(prefix) is None:
        return None
    return read_state_file(abs_prefix(prefix) / STATE_DIRNAME / STATE_FILE)


def read_state_file(path: Path) -> GenerationState | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return GenerationState.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SyncError(
            f"{path} is unreadable: {exc}",
            hint="`overlock rollback` returns to the previous generation",
        ) from exc
