"""Overlays on overlays: a lower overlay is a layer of the base, used as it is synced.

``[overlay] base = "../group/overlay.toml"`` puts this overlay on that one. The chain goes
down until an overlay whose ``base`` is an environment (or ``base-snapshot``); that base is
probed as usual, and each lower overlay's distributions are read from its stable prefix
(as synced: its current generation), never from its lock or by re-syncing it. The result
is one :class:`BaseEnv` whose visible distributions are the stack's, the nearest layer
winning, each lower one marked with its layer, and whose ``extra["layers"]`` names the
layers (for activation, for the lock and for drift). Nothing here writes anything.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from overlock import untrusted
from overlock.base.env import BaseEnv, InstalledDist
from overlock.base.hiding import hidden_by, hide
from overlock.dists.metadata import parse_metadata
from overlock.errors import BadInputError
from overlock.manifest.load import load_manifest
from overlock.manifest.model import Manifest
from overlock.prefix.state import read_state

LAYERS_KEY = "layers"  # in BaseEnv.extra
LOWER_KIND = "group overlay"


def layer_label(name: str) -> str:
    return f"{LOWER_KIND} {name!r}"


@dataclass(frozen=True)
class Layer:
    """One lower overlay, as it is synced now."""

    name: str
    manifest: Path
    prefix: Path  # the stable prefix (a symlink to the current generation), unresolved
    site_dirs: tuple[str, ...]  # under ``prefix``, purelib first
    fingerprint: str  # its lock and installed packages; not the generation number
    distributions: tuple[InstalledDist, ...]
    hide: tuple[NormalizedName, ...] = ()  # what its own ``hide`` withholds, as it is synced

    @property
    def label(self) -> str:
        return layer_label(self.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "manifest": str(self.manifest),
            "prefix": str(self.prefix),
            "site-dirs": list(self.site_dirs),
            "fingerprint": self.fingerprint,
            "distributions": sorted(f"{d.name}=={d.version}" for d in self.distributions),
            **({"hide": list(self.hide)} if self.hide else {}),
        }


# -- the chain of manifests -----------------------------------------------------------


def chain(manifest: Manifest) -> list[Manifest]:
    """The lower overlays of ``manifest``, nearest first; a cycle or a missing one is an error."""
    seen = [os.path.realpath(manifest.path)]
    names = [str(manifest.path)]
    out: list[Manifest] = []
    current = manifest
    while (written := current.base_overlay) is not None:
        lower_path = Path(os.path.abspath(written))  # noqa: PTH100 - folds "..", keeps links
        real = os.path.realpath(lower_path)
        if real in seen:
            loop = " -> ".join([*names, str(lower_path)])
            raise BadInputError(
                f"overlays stack in a cycle: {loop}",
                hint="the lowest overlay of a stack must set `base` to an environment",
            )
        if not lower_path.is_file():
            raise BadInputError(
                f"{current.path}: `base` names the overlay {lower_path}, which does not exist",
                hint="set `base` to an existing overlay.toml, or to an environment",
            )
        current = load_manifest(lower_path)
        seen.append(real)
        names.append(str(lower_path))
        out.append(current)
    return out


# -- reading a synced lower overlay ---------------------------------------------------


def _site_dirs(base: BaseEnv, prefix: Path) -> tuple[str, ...]:
    out: list[str] = []
    for key in ("purelib", "platlib"):
        path = str(prefix / base.scheme[key])
        if path not in out:
            out.append(path)
    return tuple(out)


def _top_level(info: Path) -> tuple[str, ...]:
    try:
        text = (info / "top_level.txt").read_text(encoding="utf-8")
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    except OSError:
        pass
    names: list[str] = []
    try:
        record = (info / "RECORD").read_text(encoding="utf-8")
    except OSError:
        return ()
    for line in record.splitlines():
        first = line.split(",", 1)[0].split("/", 1)[0]
        if not first or first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        name = first[:-3] if first.endswith(".py") else first
        if "." not in name and name.isidentifier() and name not in names:
            names.append(name)
    return tuple(names)


def read_dists(site_dirs: Sequence[str], label: str) -> tuple[InstalledDist, ...]:
    """The ``*.dist-info`` distributions of an overlock-made prefix (overlock writes only those)."""
    found: dict[NormalizedName, InstalledDist] = {}
    for site in site_dirs:
        try:
            entries = sorted(Path(site).glob("*.dist-info"))
        except OSError:
            continue
        for info in entries:
            try:
                meta = parse_metadata((info / "METADATA").read_bytes())
            except OSError:
                continue
            if not meta.name or not meta.version:
                continue
            name = meta.name
            if name in found:
                continue
            found[name] = InstalledDist(
                name=name,
                version=meta.version,
                requires=meta.requires,
                requires_python=meta.requires_python,
                location=site,
                installer="overlock",
                top_level=_top_level(info),
                layer=label,
            )
    return tuple(found[n] for n in sorted(found))


def read_layer(manifest: Manifest, base: BaseEnv) -> Layer:
    """``manifest``'s overlay as it is synced now; an error with a hint when it is not."""
    name = manifest.overlay_name(base.prefix)
    prefix = Path(os.path.abspath(manifest.prefix(base.prefix)))  # noqa: PTH100
    state = read_state(prefix)
    if state is None:
        raise BadInputError(
            f"the {layer_label(name)} ({manifest.path}) is not synced: {prefix} holds no"
            " overlock generation",
            hint=f"ask its maintainer to run `overlock -m {manifest.path} sync`; an overlay"
            " above it uses it as it is synced and never syncs it itself",
        )
    site_dirs = _site_dirs(base, prefix)
    dists = read_dists(site_dirs, layer_label(name))
    digest = hashlib.sha256(f"lock={state.lock_hash}\n".encode())
    for p in sorted(state.packages, key=lambda p: p.name):
        digest.update(f"{p.name}=={p.version} {p.sha256}\n".encode())
    return Layer(
        name=name,
        manifest=manifest.path,
        prefix=prefix,
        site_dirs=site_dirs,
        fingerprint="sha256:" + digest.hexdigest(),
        distributions=dists,
        hide=_hides(state.layout.get("hides"), prefix),
    )


def _hides(value: object, prefix: Path) -> tuple[NormalizedName, ...]:
    """The lower overlay's own ``hide`` from its state (another user's file: checked)."""
    if not isinstance(value, list):
        return ()
    try:
        return tuple(untrusted.name(n, f"hides[{i}]") for i, n in enumerate(value))
    except untrusted.UntrustedValue as exc:
        raise BadInputError(
            f"the overlay state in {prefix} is damaged: {exc}",
            hint="ask its maintainer to run `overlock sync` again",
        ) from None


# -- the stacked base -----------------------------------------------------------------


def stack(base: BaseEnv, layers: Sequence[Layer]) -> BaseEnv:
    """``base`` seen through ``layers`` (nearest first): what an overlay above them sits on.

    From the lowest layer up, each one's ``hide`` withholds what is below it (base/hiding.py),
    then its distributions go on top, winning over every copy below.
    """
    if not layers:
        return base
    env = base
    for depth in range(len(layers), 0, -1):
        layer = layers[depth - 1]
        env = hide(env, layer.hide, depth=depth)
        mine = {d.name for d in layer.distributions}
        env = replace(
            env,
            distributions=(
                *layer.distributions,
                *(d for d in env.distributions if d.name not in mine),
            ),
            hidden=(*(d for d in env.distributions if d.name in mine), *env.hidden),
        )
    extra = dict(env.extra)
    extra[LAYERS_KEY] = [layer.to_json() for layer in layers]
    return replace(env, extra=extra)


def stacked_base(manifest: Manifest, load_base: Callable[[Manifest], BaseEnv]) -> BaseEnv:
    """The base of ``manifest`` with every lower overlay on it; ``load_base`` gives the
    environment of the bottom overlay (a probe or a snapshot)."""
    lower = chain(manifest)
    if not lower:
        return load_base(manifest)
    env = load_base(lower[-1])
    layers = [read_layer(m, env) for m in lower]
    # Read-only means never the target either: a prefix shared with a lower overlay would
    # have this overlay's sync replace the lower one's packages.
    mine = os.path.realpath(manifest.prefix(env.prefix))
    for layer in layers:
        if os.path.realpath(layer.prefix) == mine:
            raise BadInputError(
                f"{manifest.path}: the prefix {layer.prefix} is the {layer.label}'s own",
                hint="give this overlay its own `prefix` (or `name`, when the prefix uses {name})",
            )
    return stack(env, layers)


# -- what a BaseEnv says about its layers -------------------------------------------------


def layers_of(base: BaseEnv) -> list[Mapping[str, Any]]:
    found = base.extra.get(LAYERS_KEY) or []
    return [entry for entry in found if isinstance(entry, Mapping)]


def hider(base: BaseEnv, name: str) -> str:
    """Whose ``hide`` withholds ``name``: ``overlay.toml`` or ``the group overlay 'x'``."""
    depth = hidden_by(base).get(name, 0)
    layers = layers_of(base)
    if depth == 0 or depth > len(layers):
        return "overlay.toml"
    return f"the {layer_label(str(layers[depth - 1].get('name')))}"


def lower_site_dirs(base: BaseEnv) -> list[str]:
    """Every lower overlay's site directories, nearest layer first (for activation)."""
    out: list[str] = []
    for entry in layers_of(base):
        for d in entry.get("site-dirs") or ():
            if isinstance(d, str) and d not in out:
                out.append(d)
    return out


def lower_script_dirs(base: BaseEnv) -> list[str]:
    """Every lower overlay's ``bin`` directory, nearest layer first (for ``PATH``)."""
    return [
        str(Path(str(entry["prefix"])) / base.scheme["scripts"])
        for entry in layers_of(base)
        if isinstance(entry.get("prefix"), str)
    ]


def _pins(lines: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines if isinstance(lines, list | tuple) else ():
        name, sep, version = str(line).partition("==")
        if sep:
            out[name] = version
    return out


def layer_drift(locked: Sequence[Mapping[str, Any]], base: BaseEnv) -> list[str]:
    """One line per lower overlay that changed since the lock, naming it."""
    now = {str(e.get("name")): e for e in layers_of(base)}
    then = {str(e.get("name")): e for e in locked}
    lines: list[str] = []
    for name, old in then.items():
        new = now.get(name)
        if new is None:
            lines.append(f"the {layer_label(name)} is no longer below this overlay")
            continue
        if old.get("fingerprint") == new.get("fingerprint"):
            continue
        before, after = _pins(old.get("distributions")), _pins(new.get("distributions"))
        both = sorted(before.keys() & after.keys())
        changes = [f"{n} {before[n]} -> {after[n]}" for n in both if before[n] != after[n]]
        changes += [f"{n} {after[n]} appeared" for n in sorted(after.keys() - before.keys())]
        changes += [f"{n} {before[n]} went away" for n in sorted(before.keys() - after.keys())]
        what = ", ".join(changes) or "it was synced again"
        lines.append(f"{layer_label(name)} changed since the lock: {what}")
    lines += [f"the {layer_label(n)} is now below this overlay" for n in now if n not in then]
    return lines
