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


def hide(base: BaseEnv, names: Collection[NormalizedName]) -> BaseEnv:
    """``base`` with the distributions called ``names`` withheld; names it lacks are ignored
    (:func:`absent` lists them, for a warning)."""
    if not names:
        return base
    wanted = set(names)
    withheld = tuple(d for d in base.distributions if d.name in wanted)
    if not withheld:
        return base
    return replace(
        base,
        distributions=tuple(d for d in base.distributions if d.name not in wanted),
        withheld=(*base.withheld, *withheld),
    )


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

    def describe(self, provided: Mapping[NormalizedName, str] | None = None) -> str:
        """One line; ``provided``: the overlay's versions, when it holds the hidden name."""
        who = f"{self.dependent.layer_label} {self.dependent.name} {self.dependent.version}"
        text = f"{who} requires {requirement_text(self.requirement)}"
        version = (provided or {}).get(self.target)
        if version is not None:
            return f"{text}, but the overlay's {self.target} is {version} (the base's is hidden)"
        return f"{text}, which overlay.toml hides"

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


def hidden_modules(base: BaseEnv) -> list[str]:
    """Top-level module names of the withheld distributions, for the run-time bootstrap.

    A name a *visible* distribution also installs (a namespace package such as ``google``)
    is left out: refusing it would hide that distribution too.
    """
    if not base.withheld:
        return []
    shared: set[str] = set()
    for d in base.distributions:
        shared.update(d.top_level)
    names: list[str] = []
    for d in base.withheld:
        for module in importable_top_level(d):
            if module not in shared and module not in names:
                names.append(module)
    return sorted(names)


def hidden_names(base: BaseEnv) -> list[str]:
    """Canonical names of the withheld distributions (for ``importlib.metadata``)."""
    return sorted({d.name for d in base.withheld})
