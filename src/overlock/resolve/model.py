"""The resolver's values: requirements and candidates as resolvelib sees them, and the
outcome (a pick per package) the lock is made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from overlock.base.env import InstalledDist
from overlock.dists.requirements import requirement_text
from overlock.dists.types import Release

PYTHON = "<python>"
MAX_ROUNDS = 20000

# What a requirement is for; only "dep" requirements constrain versions.
DEP = "dep"  # an ordinary Requires-Dist or overlay.toml requirement
KEEP = "keep"  # a base distribution that must stay consistent with a changed package
PY = "python"  # Requires-Python of a candidate


@dataclass(frozen=True)
class Req:
    name: NormalizedName
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    extras: frozenset[str] = frozenset()
    url: str | None = None
    kind: str = DEP
    text: str = ""  # as written, for messages

    @cached_property
    def identifier(self) -> str:
        if self.kind == PY:
            return PYTHON
        if self.extras:
            return f"{self.name}[{','.join(sorted(self.extras))}]"
        return self.name

    @cached_property
    def pinned(self) -> bool:
        """An exact pin (``==1.2``, not ``==1.*``): the resolver decides it first."""
        return any(s.operator in ("==", "===") and "*" not in s.version for s in self.specifier)

    def __str__(self) -> str:
        if self.kind == PY:
            return f"Python {self.specifier}"
        if self.kind == KEEP:
            return f"{self.name} (kept consistent)"
        return self.text or f"{self.identifier}{self.specifier}"


@dataclass(frozen=True)
class Candidate:
    name: NormalizedName
    version: Version
    origin: str  # "base", "index", "direct" or "python"
    extras: frozenset[str] = frozenset()
    release: Release | None = field(default=None, compare=False, hash=False)
    dist: InstalledDist | None = field(default=None, compare=False, hash=False)

    @cached_property
    def identifier(self) -> str:
        if self.origin == "python":
            return PYTHON
        if self.extras:
            return f"{self.name}[{','.join(sorted(self.extras))}]"
        return self.name

    def describe(self) -> str:
        where = {"base": " (base)", "index": "", "direct": " (direct reference)"}.get(
            self.origin, ""
        )
        if self.origin == "base" and self.dist is not None:
            where = f" ({self.dist.layer_label})"  # a lower overlay's package names its layer
        return f"{self.name} {self.version}{where}"


def req_from_requirement(r: Requirement) -> Req:
    return Req(
        name=canonicalize_name(r.name),
        specifier=r.specifier,
        extras=frozenset(canonicalize_name(e) for e in r.extras),
        url=r.url,
        text=requirement_text(r),
    )


# -- the result ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """One package the overlay must hold, and why."""

    name: NormalizedName
    version: Version
    release: Release
    requested: tuple[str, ...]  # overlay.toml entries that name it
    required_by: tuple[str, ...]  # "name version" of the candidates that required it
    kept_for: tuple[str, ...]  # changed packages it was shadowed to stay compatible with
    dependencies: tuple[NormalizedName, ...]  # other overlay packages it requires
    shadows: str | None  # the base version it shadows


@dataclass(frozen=True)
class Outcome:
    picks: tuple[Pick, ...]
    reused: tuple[str, ...]  # base distributions the request relies on ("name version")
    preexisting: tuple[str, ...]  # base breakage found before the overlay
    rounds: int = 0
