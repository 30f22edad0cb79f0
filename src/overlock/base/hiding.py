"""``[overlay] hide``: distributions below an overlay made invisible to it.

The resolver sees the base as if the hidden distributions were not installed (a request for
one installs it in the overlay, like any missing package); at run time the bootstrap makes
their top-level modules unimportable and ``importlib.metadata`` forget them, unless the
overlay itself provides them (prefix/bootstrap.py). :func:`hide` gives that view of a
:class:`BaseEnv`: the named distributions move from ``distributions`` to ``withheld``, so every
stage that reads the base sees them gone while the fingerprint (what the base *is*) stays.

A base distribution that requires a hidden one is left with an unmet requirement. That is
reported, not refused, as pip warns about an installed package's missing dependency: the
user chose to hide it, and a base package nobody imports may well never need it. When the
overlay itself requests the hidden name (to replace it), the base's requirements on it are
enforced like any other (resolve/resolver.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv, InstalledDist
from overlock.base.importscan import importable_top_level
from overlock.dists.requirements import marker_true, requirement_text

# In BaseEnv.extra: name -> which overlay's ``hide`` withheld it, 0 for the overlay itself,
# k for its k-th lower overlay (nearest first, prefix/layers.py). At run time a hidden name
# may still come from that overlay and the ones above it (its replacement), never from below.
HIDDEN_BY = "hidden-by"


def hide(base: BaseEnv, names: Collection[NormalizedName], *, depth: int = 0) -> BaseEnv:
    """``base`` with the distributions called ``names`` withheld; names it lacks are ignored
    (:func:`absent` lists them, for a warning). ``depth``: see HIDDEN_BY."""
    if not names:
        return base
    wanted = set(names)
    withheld = tuple(d for d in base.distributions if d.name in wanted)
    if not withheld:
        return base
    by = dict(hidden_by(base))
    for d in withheld:
        by[d.name] = min(by.get(d.name, depth), depth)
    return replace(
        base,
        distributions=tuple(d for d in base.distributions if d.name not in wanted),
        withheld=(*base.withheld, *withheld),
        extra={**base.extra, HIDDEN_BY: by},
    )


def hidden_by(base: BaseEnv) -> Mapping[str, int]:
    found = base.extra.get(HIDDEN_BY) or {}
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, Mapping) else {}


def absent(base: BaseEnv, names: Iterable[NormalizedName]) -> list[NormalizedName]:
    """The ``hide`` entries that name nothing the base (or a lower overlay) has."""
    there = {d.name for d in base.installed} | {d.name for d in base.hidden}
    return [n for n in names if n not in there]


@dataclass(frozen=True)
class HiddenEdge:
    """A visible base distribution's requirement on a hidden one."""

    dependent: InstalledDist
    requirement: Requirement
    target: NormalizedName

    def describe(
        self, provided: Mapping[NormalizedName, str] | None = None, *, by: str = "overlay.toml"
    ) -> str:
        """One line; ``provided``: the overlay's versions, when it holds the hidden name;
        ``by``: whose ``hide`` it is (prefix/layers.hider)."""
        who = f"{self.dependent.layer_label} {self.dependent.name} {self.dependent.version}"
        text = f"{who} requires {requirement_text(self.requirement)}"
        version = (provided or {}).get(self.target)
        if version is not None:
            return f"{text}, but the overlay's {self.target} is {version} (the base's is hidden)"
        return f"{text}, which {by} hides"

    def met_by(self, version: str | None) -> bool:
        if version is None:
            return False
        if self.requirement.url or not self.requirement.specifier:
            return True
        try:
            return self.requirement.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False


def hidden_edges(base: BaseEnv) -> list[HiddenEdge]:
    """Every unconditional-in-the-base requirement of a visible distribution on a withheld one."""
    names = {d.name for d in base.withheld}
    if not names:
        return []
    env = base.marker_env("")
    out: list[HiddenEdge] = []
    for dist in base.distributions:
        for r in dist.parsed_requires:
            target = canonicalize_name(r.name)
            if target not in names or target == dist.name:
                continue
            if r.marker is not None and not marker_true(r.marker, env):
                continue
            out.append(HiddenEdge(dist, r, target))
    return sorted(out, key=lambda e: (e.dependent.name, e.target))


def unmet_hidden(base: BaseEnv, provided: Mapping[NormalizedName, str]) -> list[HiddenEdge]:
    """The hidden edges the overlay (``provided``: name -> version) does not satisfy."""
    return [e for e in hidden_edges(base) if not e.met_by(provided.get(e.target))]


def hidden_modules(base: BaseEnv) -> dict[NormalizedName, list[str]]:
    """Top-level module names of each withheld distribution, for the run-time bootstrap.

    A name a *visible* distribution also installs (a namespace package such as ``google``,
    or a lower overlay's replacement) is left out: refusing it would hide that one too; the
    visible copy comes first on sys.path anyway when it is a lower overlay's.
    """
    shared: set[str] = set()
    for d in base.distributions:
        shared.update(d.top_level)
    out: dict[NormalizedName, list[str]] = {}
    for d in base.withheld:
        names = out.setdefault(d.name, [])
        for module in importable_top_level(d):
            if module not in shared and module not in names:
                names.append(module)
    return out


def own_hides(base: BaseEnv) -> list[str]:
    """The names this overlay's own ``hide`` withheld (depth 0): recorded in its prefix's
    state, so an overlay above it hides them too (prefix/layers.py)."""
    return sorted(n for n, depth in hidden_by(base).items() if depth == 0)
