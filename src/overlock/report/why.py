"""``overlock why NAME``: the chains of requirements that put NAME in the overlay.

Everything is read from the lock (``requested``, ``required-by``, ``kept-for``, ``shadows``)
and the base probe. The requirement *specifiers* on each edge come from the locked packages'
core metadata, looked up through a ``RequiresOf``: ``local_requires`` reads the shared cache
(``overlock lock`` leaves every locked package's metadata there) and the synced prefix, and the
CLI adds the index as a last resort. Explaining itself does no I/O.
"""

from __future__ import annotations

import contextlib
import difflib
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv
from overlock.cache import Cache
from overlock.dists.metadata import BadWheel, parse_metadata, read_wheel_metadata
from overlock.dists.requirements import requirement_text, same_version
from overlock.errors import OverlockError
from overlock.lock.pylock import Lock, LockedPackage
from overlock.lock.upstream import parse_text as parse_upstream
from overlock.prefix.layers import hider

# Requires-Dist of a locked package, verbatim, or None when its metadata cannot be had.
RequiresOf = Callable[[LockedPackage], Sequence[str] | None]

MAX_CHAINS = 12  # a diamond-heavy graph has many paths; the first few say enough
# Marks a base requirement known only from the index's metadata of the same release.
UPSTREAM_NOTE = " (per the index's metadata of that release; the base's copy does not declare it)"
BASE_DEMANDS_SHOWN = 8  # base dependents listed in text (JSON has them all)


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One package on a chain, and the requirement by which the previous one asked for it."""

    name: str  # may carry extras: "seaborn[stats]"
    version: str
    via: str | None = None  # e.g. "pandas>=1.2"; None on a chain's first step, or unknown
    note: str = ""  # "requested: seaborn==0.13.2", "shadows base 2.0.3", "base", ...

    def __str__(self) -> str:
        text = f"{self.name} {self.version}"
        return f"{text} ({self.note})" if self.note else text

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "via": self.via, "note": self.note}


@dataclass(frozen=True)
class Chain:
    """From a root (a requested entry, a kept package, a base extra) down to the package."""

    steps: tuple[Step, ...]

    def __str__(self) -> str:
        parts = [str(self.steps[0])]
        for step in self.steps[1:]:
            if step.via:
                parts.append(step.via)
            parts.append(str(step))
        return " -> ".join(parts)

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.steps]


@dataclass(frozen=True)
class Kept:
    """The package is shadowed so the base stays consistent with a changed package."""

    name: str  # the package it was kept for
    version: str
    base_version: str | None  # of the kept package's base copy
    base_requires: tuple[str, ...]  # the base copy's requirements that the change breaks
    accepts: tuple[str, ...]  # the overlay copy's requirements on the changed package
    chains: tuple[Chain, ...]  # why the changed package is in the overlay

    def to_json(self) -> dict[str, Any]:
        return {
            "for": {"name": self.name, "version": self.version},
            "base_version": self.base_version,
            "base_requires": list(self.base_requires),
            "accepts": list(self.accepts),
            "chains": [c.to_json() for c in self.chains],
        }


@dataclass(frozen=True)
class Demand:
    """One requirement on a package the base provides."""

    requirement: str
    source: str  # "overlay.toml", "seaborn 0.13.2" (overlay) or "scipy 1.10.1" (base)
    layer: str  # "manifest", "overlay", "base" or "upstream" (index metadata of a base dist)
    satisfied: bool

    def __str__(self) -> str:
        where = {
            "manifest": "overlay.toml",
            "overlay": self.source,
            # The base's copy (Debian, conda) declares nothing; the same release on the index
            # does: say where the fact came from.
            "upstream": f"the index's metadata of base {self.source}; its installed copy"
            " does not declare it",
        }.get(
            self.layer,
            f"{self.layer} {self.source}",  # "base ..." or "group overlay 'x' ..."
        )
        bad = "" if self.satisfied else ", NOT satisfied: run `overlock lock`"
        return f"{self.requirement} (from {where}{bad})"

    def to_json(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "from": self.source,
            "layer": self.layer,
            "satisfied": self.satisfied,
        }


@dataclass(frozen=True)
class Why:
    """The answer to ``overlock why NAME``."""

    name: NormalizedName
    version: str
    in_overlay: bool
    shadows: str | None = None  # base version an overlay copy shadows
    direct: bool = False
    chains: tuple[Chain, ...] = ()
    kept: tuple[Kept, ...] = ()
    demands: tuple[Demand, ...] = ()  # requirements on a base copy that is used
    more_chains: bool = False  # MAX_CHAINS was reached
    missing_metadata: tuple[str, ...] = ()  # packages whose requirement texts are unknown
    layer: str = "base"  # where the copy in use (or the shadowed one) comes from (prefix/layers.py)
    hidden: str | None = None  # the version of the base's copy that [overlay] hide withholds
    hidden_by: str = "overlay.toml"  # whose hide: prefix/layers.hider

    def _copy(self, version: str | None, *, named: bool = True) -> str:
        """``the base's NAME V``, or ``NAME V from the group overlay 'x'``."""
        what = f"{self.name} {version}" if named else f"{version}"
        if self.layer == "base":
            return f"the base's {what}"
        return f"{what} from the {self.layer}"

    def lines(self, *, all_base: bool = False) -> list[str]:
        if not self.in_overlay and self.hidden is not None:
            return self._hidden_lines()
        if not self.in_overlay:
            return self._base_lines(all_base=all_base)
        shadow = f" (it shadows {self._copy(self.shadows, named=False)})" if self.shadows else ""
        if self.hidden is not None:
            replaced = self._copy(self.hidden, named=False)
            shadow = f" (it replaces {replaced}, which {self.hidden_by} hides)"
        direct = " from a direct reference" if self.direct else ""
        out = [f"{self.name} {self.version} is in the overlay{direct}{shadow} because:"]
        out += [f"  {chain}" for chain in self.chains]
        if self.more_chains:
            out.append(f"  ... (only the first {MAX_CHAINS} chains are shown)")
        for kept in self.kept:
            out.append(f"  it is kept at {self.version} for {kept.name} {kept.version}:")
            if kept.base_requires:
                out.append(
                    f"    {self._copy(self.shadows)} requires "
                    + " and ".join(kept.base_requires)
                    + f", which {kept.name} {kept.version} does not satisfy"
                )
            else:
                out.append(
                    f"    {self._copy(self.shadows)} cannot stay alongside"
                    f" {kept.name} {kept.version}"
                )
            if kept.accepts:
                out.append(f"    {self.name} {self.version} accepts it ({', '.join(kept.accepts)})")
            if kept.chains:
                out.append(f"    {kept.name} {kept.version} is in the overlay because:")
                out += [f"      {chain}" for chain in kept.chains]
        if not self.chains and not self.kept:
            out.append("  (the lock records no reason; run `overlock lock` to write it again)")
        for demand in self.demands:  # only upstream ones: facts from the index, not the base
            verdict = "" if demand.satisfied else ", NOT satisfied by this version"
            out.append(
                f"  note: base {demand.source} requires {demand.requirement} according to the"
                f" index's metadata of that release (its installed copy declares nothing){verdict}"
            )
        if self.missing_metadata:
            out.append(
                "  (requirement texts unknown for "
                + ", ".join(self.missing_metadata)
                + ": their metadata is not in the cache and the index was not reachable)"
            )
        return out

    def _hidden_lines(self) -> list[str]:
        out = [
            f"{self._copy(self.hidden)} is hidden by {self.hidden_by} (`hide`): the overlay does"
            " not see it, and importing it fails"
        ]
        for d in self.demands:
            if d.layer == "manifest":
                continue
            who = d.source if d.layer == "overlay" else f"{d.layer} {d.source}"
            out.append(f"  {who} requires {d.requirement}: not met")
        if len(out) == 1:
            out.append("  nothing visible requires it")
        return out

    def _base_lines(self, *, all_base: bool) -> list[str]:
        head = f"{self._copy(self.version)} is used"
        if not self.demands:
            return [f"{head}; nothing in the overlay or the base requires it"]
        unmet = [d for d in self.demands if not d.satisfied]
        if unmet:
            out = [f"{head}, but it does not satisfy every requirement on it (the lock is stale):"]
        else:
            out = [f"{head}: it satisfies every requirement on it:"]
        shown = list(self.demands)
        hidden = 0
        if not all_base:
            base = [d for d in shown if d.layer not in ("manifest", "overlay") and d.satisfied]
            if len(base) > BASE_DEMANDS_SHOWN:
                hidden = len(base) - BASE_DEMANDS_SHOWN
                drop = set(map(id, base[BASE_DEMANDS_SHOWN:]))
                shown = [d for d in shown if id(d) not in drop]
        out += [f"  {d}" for d in shown]
        if hidden:
            out.append(f"  ... and {hidden} more from the base (-v or --json lists them)")
        if self.missing_metadata:
            out.append(
                "  (requirements of " + ", ".join(self.missing_metadata) + " unknown: their"
                " metadata is not in the cache and the index was not reachable)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "in_overlay": self.in_overlay,
            "shadows": self.shadows,
            "direct": self.direct,
            "chains": [c.to_json() for c in self.chains],
            "chain_text": [str(c) for c in self.chains],
            "kept": [k.to_json() for k in self.kept],
            "demands": [d.to_json() for d in self.demands],
            "more_chains": self.more_chains,
            "missing_metadata": list(self.missing_metadata),
            "hidden": self.hidden,
        }


class UnknownPackageError(OverlockError):
    """``why`` was asked about a name neither the overlay nor the base has."""


# -- computing it ------------------------------------------------------------------------


def why(
    name: str,
    lock: Lock,
    base: BaseEnv,
    requires_of: RequiresOf,
    *,
    requested: Sequence[str] = (),
) -> Why:
    """Explain ``name``; ``requested`` is overlay.toml's ``requires`` as written."""
    return _Explainer(lock, base, requires_of, requested).explain(canonicalize_name(name))


def _label(text: str) -> tuple[str, NormalizedName, frozenset[str], str]:
    """``"x[a,b] 1.0"`` -> (identifier, name, extras, version)."""
    ident, _, version = text.rpartition(" ")
    if not ident:
        ident, version = text, ""
    bare, _, rest = ident.partition("[")
    extras = frozenset(canonicalize_name(e) for e in rest.rstrip("]").split(",") if e)
    return ident, canonicalize_name(bare), extras, version


def _parse(texts: Iterable[str]) -> list[Requirement]:
    out = []
    for text in texts:
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            continue
    return out


class _Explainer:
    def __init__(
        self, lock: Lock, base: BaseEnv, requires_of: RequiresOf, requested: Sequence[str]
    ) -> None:
        self.lock = lock
        self.locked = lock.by_name
        self.base = base
        self.requires_of = requires_of
        self.requested = [(text, r) for text, r in zip(requested, _parse(requested), strict=False)]
        self.missing: set[str] = set()
        self._reqs: dict[NormalizedName, list[Requirement] | None] = {}
        self.extras = self._active_extras()

    # metadata ---------------------------------------------------------------------------

    def _requirements(self, name: NormalizedName) -> list[Requirement] | None:
        if name not in self._reqs:
            pkg = self.locked[name]
            texts = self.requires_of(pkg)
            if texts is None:
                self.missing.add(f"{pkg.name} {pkg.version}")
            self._reqs[name] = None if texts is None else _parse(texts)
        return self._reqs[name]

    def _upstream(self, name: NormalizedName) -> list[Requirement]:
        """Requirements the lock recorded from the index's metadata of base ``name``."""
        out = []
        for text in self.lock.upstream:
            parsed = parse_upstream(text)
            if parsed is not None and parsed[0] == name:
                out.extend(_parse([parsed[3]]))
        return out

    def _applies(self, r: Requirement, extras: Iterable[str] = ()) -> bool:
        try:
            return self.base.evaluate(r.marker, ("", *extras))
        except Exception:  # an undefined marker variable in old metadata: not applying
            return False

    def _active_extras(self) -> dict[NormalizedName, frozenset[str]]:
        """Extras each locked package takes part with: from overlay.toml and the labels."""
        found: dict[NormalizedName, set[str]] = {}
        for _, r in self.requested:
            found.setdefault(canonicalize_name(r.name), set()).update(
                canonicalize_name(e) for e in r.extras
            )
        for pkg in self.lock.packages:
            for label in pkg.required_by:
                _, parent, extras, _ = _label(label)
                found.setdefault(parent, set()).update(extras)
        return {k: frozenset(v) for k, v in found.items()}

    def _edge(
        self, parent: NormalizedName, extras: frozenset[str], child: NormalizedName
    ) -> str | None:
        """What ``parent`` (with ``extras``) requires of ``child``, as text."""
        if parent in self.locked:
            reqs = self._requirements(parent)
        elif parent in self.base.by_name:
            reqs = list(self.base.by_name[parent].parsed_requires)
        else:
            reqs = None
        if reqs is None:
            return None
        texts = [
            requirement_text(r)
            for r in reqs
            if canonicalize_name(r.name) == child and self._applies(r, extras)
        ]
        return ", ".join(dict.fromkeys(texts)) or None

    # chains -----------------------------------------------------------------------------

    def _note(self, pkg: LockedPackage, *, root: bool) -> str:
        notes = []
        if root and pkg.requested:
            notes.append("requested: " + ", ".join(pkg.requested))
        if root and not pkg.requested and pkg.kept_for and not pkg.required_by:
            notes.append("kept for " + ", ".join(pkg.kept_for))
        if pkg.shadows:
            notes.append(f"shadows base {pkg.shadows}")
        elif pkg.is_direct:
            notes.append("direct reference")
        return "; ".join(notes)

    def chains(self, name: NormalizedName) -> tuple[list[Chain], bool]:
        found: list[Chain] = []
        more = False

        def walk(
            name: NormalizedName, below: list[Step], seen: frozenset[str], shown: str = ""
        ) -> None:
            # ``below``: the steps under ``name``, down to the package asked about; ``shown``:
            # ``name`` with the extras through which it required them ("httpx[http2]").
            pkg = self.locked[name]
            # Kept for a package already on this chain: circular, not a reason.
            kept = [k for k in pkg.kept_for if _label(k)[1] not in seen]
            if pkg.requested or (kept and not pkg.required_by):
                root = Step(shown or pkg.name, pkg.version, None, self._note(pkg, root=True))
                add(Chain((root, *below)))
            note = self._note(pkg, root=False)
            for label in pkg.required_by:
                ident, parent, extras, version = _label(label)
                edge = self._edge(parent, extras, name)
                here = [Step(shown or pkg.name, pkg.version, edge, note), *below]
                if parent in self.locked:
                    if parent not in seen:
                        walk(parent, here, seen | {parent}, ident)
                else:
                    self._base_parent(ident, parent, extras, version, here, add, walk, seen)

        def add(chain: Chain) -> None:
            nonlocal more
            if chain in found:
                return
            if len(found) >= MAX_CHAINS:
                more = True
                return
            found.append(chain)

        walk(name, [], frozenset({name}))
        return found, more

    def _base_parent(
        self,
        ident: str,
        parent: NormalizedName,
        extras: frozenset[str],
        version: str,
        below: list[Step],
        add: Callable[[Chain], None],
        walk: Callable[[NormalizedName, list[Step], frozenset[str]], None],
        seen: frozenset[str],
    ) -> None:
        """A parent outside the lock: an extra of a base package, asked for by someone."""
        texts = [t for t, r in self.requested if canonicalize_name(r.name) == parent]
        note = "base" + ("; requested: " + ", ".join(texts) if texts else "")
        if texts or parent not in self.base.by_name:
            add(Chain((Step(ident, version, None, note), *below)))
            return
        asked = False
        for pkg in self.lock.packages:
            if pkg.name in seen:
                continue
            for r in self._requirements(pkg.name) or ():
                if canonicalize_name(r.name) != parent or not (
                    extras <= {canonicalize_name(e) for e in r.extras}
                ):
                    continue
                if not self._applies(r, self.extras.get(pkg.name, ())):
                    continue
                step = Step(ident, version, requirement_text(r), "base")
                walk(pkg.name, [step, *below], seen | {pkg.name})
                asked = True
                break
        if not asked:
            add(Chain((Step(ident, version, None, "base"), *below)))

    # the answer -------------------------------------------------------------------------

    def explain(self, name: NormalizedName) -> Why:
        pkg = self.locked.get(name)
        withheld = next((d for d in self.base.withheld if d.name == name), None)
        if pkg is not None:
            chains, more = self.chains(name)
            kept = tuple(self._kept(pkg, label) for label in pkg.kept_for)
            try:
                locked_version: Version | None = Version(pkg.version)
            except InvalidVersion:
                locked_version = None
            upstream = self._upstream_demands(name, locked_version)
            return Why(
                demands=upstream,
                name=pkg.name,
                version=pkg.version,
                in_overlay=True,
                shadows=pkg.shadows,
                direct=pkg.is_direct,
                chains=tuple(c for c in chains if not _kept_only_root(c, pkg)),
                kept=kept,
                more_chains=more,
                missing_metadata=tuple(sorted(self.missing)),
                layer=_layer_of(self.base, pkg.name),
                hidden=withheld.version if withheld is not None else None,
                hidden_by=hider(self.base, name),
            )
        if withheld is not None:
            return Why(
                name=withheld.name,
                version=withheld.version,
                in_overlay=False,
                demands=self._demands(name, None),
                layer=withheld.layer_label,
                hidden=withheld.version,
                hidden_by=hider(self.base, name),
            )
        dist = self.base.by_name.get(name)
        if dist is not None:
            demands = self._demands(name, dist.parsed_version)
            return Why(
                name=dist.name,
                version=dist.version,
                in_overlay=False,
                demands=demands,
                missing_metadata=tuple(sorted(self.missing)),
                layer=dist.layer_label,
            )
        texts = [t for t, r in self.requested if canonicalize_name(r.name) == name]
        if texts:
            raise UnknownPackageError(
                f"{name} is requested in overlay.toml ({', '.join(texts)}) but is not in the lock",
                hint="run `overlock lock`; if it is still missing, its marker does not apply"
                " to the base",
            )
        known = sorted({*self.locked, *self.base.by_name})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = (
            "did you mean " + " or ".join(f"`overlock why {c}`" for c in close) + "?"
            if close
            else "`overlock show` lists the overlay's packages"
        )
        raise UnknownPackageError(f"{name} is neither in the overlay nor in the base", hint=hint)

    def _kept(self, pkg: LockedPackage, label: str) -> Kept:
        _, changed, _, version = _label(label)
        base_dist = self.base.by_name.get(pkg.name)
        changed_pkg = self.locked.get(changed)
        breaks: list[str] = []
        if base_dist is not None:
            declared = [(r, "") for r in base_dist.parsed_requires]
            upstream = [(r, UPSTREAM_NOTE) for r in self._upstream(base_dist.name)]
            for r, note in declared + upstream:
                if canonicalize_name(r.name) != changed or not self._applies(r):
                    continue
                if r.url or not r.specifier.contains(version, prereleases=True):
                    breaks.append(requirement_text(r) + note)
        accepts: list[str] = []
        for r in self._requirements(pkg.name) or ():
            if canonicalize_name(r.name) == changed and self._applies(r):
                accepts.append(requirement_text(r))
        chains: list[Chain] = []
        if changed_pkg is not None:
            chains, _ = self.chains(changed)
        return Kept(
            name=changed,
            version=version,
            base_version=base_dist.version if base_dist is not None else None,
            base_requires=tuple(dict.fromkeys(breaks)),
            accepts=tuple(dict.fromkeys(accepts)),
            chains=tuple(chains),
        )

    def _demands(self, name: NormalizedName, version: Version | None) -> tuple[Demand, ...]:
        out: list[Demand] = []

        def ok(r: Requirement) -> bool:
            if r.url:
                return False
            return version is not None and r.specifier.contains(version, prereleases=True)

        for text, r in self.requested:
            if canonicalize_name(r.name) == name and self._applies(r):
                out.append(Demand(text, "overlay.toml", "manifest", ok(r)))
        for pkg in self.lock.packages:
            for r in self._requirements(pkg.name) or ():
                if canonicalize_name(r.name) != name:
                    continue
                if not self._applies(r, self.extras.get(pkg.name, ())):
                    continue
                out.append(
                    Demand(requirement_text(r), f"{pkg.name} {pkg.version}", "overlay", ok(r))
                )
        for dist in self.base.distributions:
            if dist.name in self.locked or dist.name == name:
                continue  # a shadowed base copy is not imported; its overlay copy counted above
            for r in dist.parsed_requires:
                if canonicalize_name(r.name) == name and self._applies(r):
                    source = f"{dist.name} {dist.version}"
                    out.append(Demand(requirement_text(r), source, dist.layer_label, ok(r)))
        out.extend(self._upstream_demands(name, version))
        return tuple(out)

    def _upstream_demands(
        self, name: NormalizedName, version: Version | None
    ) -> tuple[Demand, ...]:
        """Requirements on ``name`` the lock recorded from the index's metadata of base dists."""
        if not self.lock.upstream:
            return ()
        out: list[Demand] = []
        for dist in self.base.distributions:
            if dist.name in self.locked or dist.name == name:
                continue
            for r in self._upstream(dist.name):
                if canonicalize_name(r.name) == name and self._applies(r):
                    ok = version is not None and r.specifier.contains(version, prereleases=True)
                    where = f"{dist.name} {dist.version}"
                    out.append(Demand(requirement_text(r), where, "upstream", ok))
        return tuple(out)


def _layer_of(base: BaseEnv, name: NormalizedName) -> str:
    dist = base.by_name.get(name)
    return dist.layer_label if dist is not None else "base"


def _kept_only_root(chain: Chain, pkg: LockedPackage) -> bool:
    """A one-step chain of a package that is only kept: the Kept entries say it better."""
    return len(chain.steps) == 1 and not pkg.requested and bool(pkg.kept_for)


# -- where requirement texts come from ----------------------------------------------------


def local_requires(
    cache: Cache,
    prefix: Path,
    base: BaseEnv,
    fallback: RequiresOf | None = None,
) -> RequiresOf:
    """A ``RequiresOf`` reading, in order: the shared cache's metadata (``overlock lock``
    leaves it there), the cached wheel, the synced prefix's ``.dist-info``, then ``fallback``
    (the CLI passes one that asks the index)."""
    memo: dict[str, Sequence[str] | None] = {}

    def lookup(pkg: LockedPackage) -> Sequence[str] | None:
        key = f"{pkg.name}=={pkg.version}"
        if key not in memo:
            data = _local_metadata(cache, prefix, base, pkg)
            if data is not None:
                memo[key] = parse_metadata(data).requires
            elif fallback is not None:
                memo[key] = fallback(pkg)
            else:
                memo[key] = None
        return memo[key]

    return lookup


def _local_metadata(cache: Cache, prefix: Path, base: BaseEnv, pkg: LockedPackage) -> bytes | None:
    locked = pkg.wheel or pkg.archive or pkg.sdist  # git and directory sources have no hash
    if locked is not None:
        with contextlib.suppress(ValueError):  # not a sha256 digest: nothing cached under it
            data = cache.get_metadata(locked.sha256)
            if data is not None:
                return data
            wheel = cache.wheel(locked.sha256, locked.filename) if locked.is_wheel else None
            if wheel is not None:
                with contextlib.suppress(OSError, zipfile.BadZipFile, BadWheel):
                    return read_wheel_metadata(wheel, pkg.name)
    for key in ("purelib", "platlib"):
        site = prefix / base.scheme.get(key, "")
        with contextlib.suppress(OSError):
            for info in site.glob("*.dist-info"):
                dist, _, version = info.name[: -len(".dist-info")].partition("-")
                if canonicalize_name(dist) == pkg.name and same_version(version, pkg.version):
                    return (info / "METADATA").read_bytes()
    return None
