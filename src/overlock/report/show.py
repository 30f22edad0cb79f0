"""``overlock show``: the overlay at a glance, as a value the CLI prints or dumps as JSON.

Built from the lock, the base probe, the lock's staleness and the prefix's sync state
(``prefix.state.read_state``); nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from overlock.base.env import BaseEnv
from overlock.errors import OverlockError
from overlock.lock.make import LockStatus
from overlock.lock.pylock import Lock, LockedPackage, same_lock
from overlock.prefix.layers import hider, layer_label, layers_of
from overlock.prefix.state import Owner, read_state

# ``style(text, *styles)``: Output.style, or the identity when printing plain text.
Style = Callable[..., str]

SYNCED = "synced"  # the prefix holds exactly this lock
OTHER = "other-lock"  # the prefix holds a generation made from another lock
NOT_SYNCED = "not-synced"  # no overlock generation at the prefix yet
UNREADABLE = "unreadable"  # a generation whose state file cannot be read
ANOTHER_OVERLAY = "another-overlay"  # the prefix belongs to another manifest


def _plain(text: str, *styles: str) -> str:
    return text


@dataclass(frozen=True)
class ShownPackage:
    name: str
    version: str
    shadows: str | None
    direct: bool
    source: str  # "index", "direct" (a file URL), "sdist", "git" or "directory"
    requested: tuple[str, ...]
    required_by: tuple[str, ...]
    kept_for: tuple[str, ...]
    shadows_layer: str = "base"  # or "group overlay 'NAME'" (prefix/layers.py)

    @classmethod
    def of(cls, pkg: LockedPackage) -> ShownPackage:
        return cls(
            name=pkg.name,
            version=pkg.version,
            shadows=pkg.shadows,
            direct=pkg.is_direct,
            source=source_kind(pkg),
            requested=pkg.requested,
            required_by=pkg.required_by,
            kept_for=pkg.kept_for,
        )

    @property
    def reason(self) -> str:
        parts = []
        if self.requested:
            parts.append("requested: " + ", ".join(self.requested))
        if self.required_by:
            parts.append("required by " + ", ".join(self.required_by))
        if self.kept_for:
            parts.append("kept for " + ", ".join(self.kept_for))
        return "; ".join(parts) or "no reason recorded"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "shadows": self.shadows,
            "shadows_layer": self.shadows_layer if self.shadows else None,
            "direct": self.direct,
            "source": self.source,
            "requested": list(self.requested),
            "required_by": list(self.required_by),
            "kept_for": list(self.kept_for),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PrefixState:
    path: str
    state: str  # SYNCED, OTHER, NOT_SYNCED, UNREADABLE or ANOTHER_OVERLAY
    generation: int | None = None
    detail: str = ""
    owner: str | None = None  # the manifest that synced the prefix, when recorded
    placement: Mapping[str, int] | None = None  # how its files got there (state.json)

    def describe(self) -> str:
        if self.state == SYNCED:
            return f"synced to this lock (generation {self.generation}){self._placed()}"
        if self.state == OTHER:
            return (
                f"holds another lock (generation {self.generation}); run `overlock sync`"
                f" to bring it to this one{self._placed()}"
            )
        if self.state == UNREADABLE:
            return f"unreadable: {self.detail}"
        if self.state == ANOTHER_OVERLAY:
            return (
                f"belongs to another overlay, synced from {self.detail}"
                f" (generation {self.generation}); `overlock sync --take-over` would replace"
                " its packages with this one's"
            )
        return "not synced yet; run `overlock sync`"

    def _placed(self) -> str:
        text = placement_text(self.placement)
        return f"; files {text}" if text else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "state": self.state,
            "synced": self.state == SYNCED,
            "generation": self.generation,
            "detail": self.detail,
            "owner": self.owner,
            "placement": None if self.placement is None else dict(self.placement),
        }


@dataclass(frozen=True)
class Overview:
    manifest: str
    lock: str
    lock_current: bool
    lock_problems: tuple[str, ...]
    base_prefix: str
    base_python: str
    base_kind: str
    python_version: str
    distributions: int
    prefix: PrefixState
    packages: tuple[ShownPackage, ...]
    # Requirements of Debian/conda base packages known from the index's metadata of the same
    # release, not from the base (lock's upstream-requirements), and what the lock did with them.
    upstream: tuple[str, ...] = ()
    upstream_policy: str = "warn"
    layers: tuple[Mapping[str, Any], ...] = ()  # lower overlays, nearest first (prefix/layers.py)
    # "name version (layer)" of what [overlay] hide withholds, and the base requirements on
    # them the overlay leaves unmet (base/hiding.py).
    hidden: tuple[str, ...] = ()
    hidden_breakage: tuple[str, ...] = ()
    # Where packages come from (IndexConfig.describe: credential-free) and pip's
    # configuration files that were read, "PATH (kind)" in pip's order.
    index: str = ""
    pip_config_files: tuple[str, ...] = ()

    def lines(self, style: Style = _plain) -> list[str]:
        lock_state = (
            style("up to date", "green")
            if self.lock_current
            else style("stale: " + "; ".join(self.lock_problems), "yellow")
        )
        prefix_state = self.prefix.describe()
        prefix_state = style(prefix_state, "green" if self.prefix.state == SYNCED else "yellow")
        out = [
            f"{style('base', 'bold')}    {self.base_prefix} ({self.base_kind},"
            f" Python {self.python_version}, {self.distributions} distributions)",
            *(
                f"{style('layer', 'bold')}   {layer_label(str(layer['name']))} at"
                f" {layer['prefix']} ({len(layer.get('distributions') or ())} distributions)"
                for layer in self.layers
            ),
            *([f"{style('hidden', 'bold')}  {', '.join(self.hidden)}"] if self.hidden else []),
            *(f"        {style('warning:', 'yellow')} {line}" for line in self.hidden_breakage),
            f"{style('prefix', 'bold')}  {self.prefix.path}: {prefix_state}",
            f"{style('lock', 'bold')}    {self.lock}: {lock_state}",
            *([f"{style('index', 'bold')}   {self.index}"] if self.index else []),
            f"{style('pip', 'bold')}     configuration files: "
            + (", ".join(self.pip_config_files) or "none"),
            "",
        ]
        if not self.packages:
            out.append("the overlay holds nothing: the base satisfies every requirement")
            return out
        rows = [
            (
                p.name,
                p.version if p.source == "index" else f"{p.version} ({p.source})",
                f"{p.shadows_layer} {p.shadows}" if p.shadows else "",
                p.reason,
            )
            for p in self.packages
        ]
        header = ("package", "version", "shadows", "why")
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]

        def row(cells: Sequence[str], styles: Sequence[tuple[str, ...]]) -> str:
            padded = [c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)]
            styled = [
                style(c, *s) if c.strip() else c for c, s in zip(padded, styles, strict=False)
            ]
            return "  ".join([*styled, cells[3]]).rstrip()

        out.append(row(header, [("dim",)] * 3))
        for cells, p in zip(rows, self.packages, strict=True):
            mark = ("yellow",) if p.shadows else ()
            out.append(row(cells, [("bold",), (), mark]))
        shadowing = sum(1 for p in self.packages if p.shadows)
        out.append("")
        out.append(
            f"{len(self.packages)} package(s) in the overlay, {shadowing} shadowing the base"
        )
        if self.upstream:
            done = {"enforce": "enforced", "warn": "reported, not enforced"}.get(
                self.upstream_policy, self.upstream_policy
            )
            out.append("")
            out.append(
                "from the index's metadata of base packages installed by another installer"
                f" (their copies in the base declare none of these; {done}):"
            )
            out.extend(f"  {text}" for text in self.upstream)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "lock": {
                "path": self.lock,
                "current": self.lock_current,
                "problems": list(self.lock_problems),
            },
            "base": {
                "prefix": self.base_prefix,
                "python": self.base_python,
                "kind": self.base_kind,
                "python_version": self.python_version,
                "distributions": self.distributions,
            },
            "layers": [dict(layer) for layer in self.layers],
            "hidden": list(self.hidden),
            "hidden_breakage": list(self.hidden_breakage),
            "index": self.index,
            "pip_config_files": list(self.pip_config_files),
            "prefix": self.prefix.to_json(),
            "packages": [p.to_json() for p in self.packages],
            "upstream_requirements": {
                "policy": self.upstream_policy,
                "source": "index metadata of the same release as the base's copy",
                "requirements": list(self.upstream),
            },
        }


# How a generation's files got there (sync/install.py Placer), in the order shown.
_PLACEMENT_WORDS = (
    ("hardlink", "hard-linked"),
    ("reflink", "cloned (reflink)"),
    ("copy", "copied"),
    ("written", "written for this prefix"),
)


def placement_text(placement: Mapping[str, int] | None) -> str:
    """``12034 hard-linked, 31 written for this prefix``; empty when nothing was recorded."""
    if not placement:
        return ""
    parts = [f"{placement[k]} {word}" for k, word in _PLACEMENT_WORDS if placement.get(k)]
    return ", ".join(parts)


def source_kind(pkg: LockedPackage) -> str:
    if pkg.vcs is not None:
        return pkg.vcs.type
    if pkg.directory is not None:
        return "directory"
    if pkg.archive is not None:
        return "direct"
    if pkg.sdist is not None:
        return "sdist"
    return "index"


def prefix_state(prefix: Path, lock: Lock, manifest: Path | None = None) -> PrefixState:
    """Whether ``prefix`` holds a generation synced from exactly ``lock`` (by ``manifest``)."""
    try:
        state = read_state(prefix)
    except OverlockError as exc:
        return PrefixState(str(prefix), UNREADABLE, detail=exc.message)
    if state is None:
        return PrefixState(str(prefix), NOT_SYNCED)
    owner = state.owner.manifest if state.owner is not None else None
    if (
        state.owner is not None
        and manifest is not None
        and not state.owner.same_manifest(Owner(str(manifest), state.owner.name))
    ):
        return PrefixState(
            str(prefix), ANOTHER_OVERLAY, state.generation, detail=str(state.owner), owner=owner
        )
    same = same_lock(state.lock_hash, lock)
    return PrefixState(
        str(prefix),
        SYNCED if same else OTHER,
        state.generation,
        owner=owner,
        placement=state.placement,
    )


def overview(
    *,
    manifest: Path,
    lock_path: Path,
    lock: Lock,
    status: LockStatus,
    base: BaseEnv,
    prefix: Path,
    index: str = "",
    pip_config_files: tuple[str, ...] = (),
) -> Overview:
    return Overview(
        index=index,
        pip_config_files=pip_config_files,
        manifest=str(manifest),
        lock=str(lock_path),
        lock_current=status.current,
        lock_problems=status.problems,
        base_prefix=base.prefix,
        base_python=base.python,
        base_kind=base.kind,
        python_version=base.python_version,
        distributions=len(base.distributions),
        prefix=prefix_state(prefix, lock, manifest),
        packages=tuple(
            replace(ShownPackage.of(p), shadows_layer=base.by_name[p.name].layer_label)
            if p.name in base.by_name
            else ShownPackage.of(p)
            for p in lock.packages
        ),
        layers=tuple(layers_of(base)),
        upstream=lock.upstream,
        upstream_policy=lock.upstream_policy,
        hidden=tuple(
            f"{d.name} {d.version} ({d.layer_label}; hidden by {hider(base, d.name)})"
            for d in base.withheld
        ),
        hidden_breakage=lock.hidden_breakage,
    )
