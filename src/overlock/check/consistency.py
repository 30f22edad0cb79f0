"""Requirements of the combined environment: base and overlay, as Python sees them.

``unmet`` is ``pip check`` for that environment, naming layers; ``check_consistency`` turns
its answer into findings, keeping breakage the lock recorded as pre-existing a note.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv
from overlock.check.dists import Dist
from overlock.check.findings import ERROR, INFO, RELOCK_HINT, WARNING, Finding, Section
from overlock.dists.requirements import marker_true, requirement_text
from overlock.lock.pylock import Lock
from overlock.prefix.layers import hider


@dataclass(frozen=True)
class Unmet:
    """A requirement of a visible distribution that the combined environment does not meet."""

    dependent: Dist
    requirement: str  # "name[extras]specifier", or "Python <specifier>"
    found: Dist | None = None  # what is visible under that name, if anything
    extra: str = ""  # the extra of ``dependent`` it belongs to, "" when unconditional
    python: str | None = None  # set when the unmet requirement is Requires-Python

    @property
    def key(self) -> str:
        """The prefix the lock's ``preexisting-breakage`` entries start with."""
        return f"{self.dependent.name} {self.dependent.version} requires {self.requirement}"

    def __str__(self) -> str:
        who = self.dependent.label + (f" [{self.extra}]" if self.extra else "")
        if self.python is not None:
            return f"{who} requires Python {self.requirement}, but the base has {self.python}"
        if self.found is None:
            return f"{who} requires {self.requirement}, which is not installed"
        return f"{who} requires {self.requirement}, but {self.found.label} is installed"


def combined(base: BaseEnv, overlay: Iterable[Dist]) -> dict[NormalizedName, Dist]:
    """name -> the distribution Python sees: the overlay's copy where there is one."""
    visible = {d.name: Dist.of_base(d) for d in base.distributions}
    for d in overlay:
        visible[d.name] = d
    return visible


def unmet(
    visible: Mapping[NormalizedName, Dist],
    base: BaseEnv,
    roots: Sequence[Requirement] = (),
) -> list[Unmet]:
    """Every requirement of ``visible`` that it does not meet, like ``pip check``.

    Markers are evaluated in the base's environment. A requirement under an extra applies
    only when something visible (or a root: overlay.toml's ``requires``) asks for that extra.
    Requires-Python is checked for overlay distributions only: the base's are the base's.
    """
    envs = _Envs(base)
    wanted = deque((name, "") for name in sorted(visible))
    for r in roots:
        if r.marker is None or marker_true(r.marker, envs[""]):
            wanted += [(canonicalize_name(r.name), canonicalize_name(e)) for e in sorted(r.extras)]
    seen: set[tuple[NormalizedName, str]] = set()
    out: list[Unmet] = []
    while wanted:
        name, extra = wanted.popleft()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = visible.get(name)
        if dist is None:
            continue
        if not extra and dist.layer == "overlay" and not base.accepts_python(dist.requires_python):
            out.append(Unmet(dist, str(dist.requires_python), python=base.python_version))
        for r in dist.parsed_requires:
            if not _applies(r, extra, envs):
                continue
            target = canonicalize_name(r.name)
            wanted += [(target, canonicalize_name(e)) for e in sorted(r.extras)]
            if target == name:
                continue
            found = visible.get(target)
            if found is None or not _satisfies(r, found):
                out.append(Unmet(dist, requirement_text(r), found, extra))
    return sorted(out, key=lambda u: (u.dependent.name, u.extra, u.requirement))


class _Envs(dict[str, dict[str, str]]):
    """Marker environments of the base, one per extra, made on first use."""

    def __init__(self, base: BaseEnv) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, extra: str) -> dict[str, str]:
        self[extra] = env = self.base.marker_env(extra)
        return env


def _applies(r: Requirement, extra: str, envs: _Envs) -> bool:
    if r.marker is None:
        return not extra  # unconditional requirements belong to the plain distribution
    plain = marker_true(r.marker, envs[""])
    if not extra:
        return plain
    return not plain and marker_true(r.marker, envs[extra])


def _satisfies(r: Requirement, found: Dist) -> bool:
    if r.url or not r.specifier:
        return True
    try:
        return r.specifier.contains(Version(found.version), prereleases=True)
    except InvalidVersion:
        return False


def preexisting(u: Unmet, lock: Lock) -> bool:
    """Whether the lock recorded ``u`` as breakage the base already had when it was made."""
    return any(p.startswith(u.key + ",") for p in lock.preexisting)


def within_base(u: Unmet) -> bool:
    """Whether ``u`` is between base distributions only: the overlay plays no part in it."""
    return u.dependent.layer == "base" and (u.found is None or u.found.layer == "base")


def _target(u: Unmet) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(u.requirement).name)
    except InvalidRequirement:
        return None


def _hidden(u: Unmet, lock: Lock, base: BaseEnv, data: dict[str, str]) -> Finding:
    """A base package's requirement on what ``hide`` withholds (base/hiding.py): a note when
    the lock recorded it (the user was told at lock time), else a warning."""
    what = f"{u} ({hider(base, _target(u) or '')} hides it)" if u.found is None else str(u)
    if any(u.key + "," in line for line in lock.hidden_breakage):
        return Finding(
            "consistency",
            INFO,
            u.dependent.name,
            f"{what}; so when the overlay was locked",
            data={**data, "cause": "hidden"},
        )
    return Finding(
        "consistency",
        WARNING,
        u.dependent.name,
        what,
        hint="add the hidden package to requires to install it in the overlay, or stop hiding"
        " it; then `overlock lock`",
        data={**data, "cause": "hidden"},
    )


def check_consistency(
    lock: Lock,
    base: BaseEnv,
    overlay: Sequence[Dist],
    *,
    roots: Sequence[Requirement] = (),
) -> Section:
    """Is every Requires-Dist of the environment as Python sees it satisfied?"""
    visible = combined(base, overlay)
    findings: list[Finding] = []
    withheld = {d.name for d in base.withheld}
    for u in unmet(visible, base, roots):
        data = {"requirement": u.requirement, "dependent": u.dependent.label, "extra": u.extra}
        if u.dependent.layer != "overlay" and _target(u) in withheld:
            findings.append(_hidden(u, lock, base, data))
        elif preexisting(u, lock):
            findings.append(
                Finding(
                    "consistency",
                    INFO,
                    u.dependent.name,
                    f"{u} (already so in the base when the overlay was locked)",
                    data={**data, "cause": "preexisting"},
                )
            )
        elif within_base(u):
            findings.append(
                Finding(
                    "consistency",
                    WARNING,
                    u.dependent.name,
                    f"{u} (within the base itself, not caused by the overlay)",
                    hint="the base was changed; tell whoever maintains it",
                    data={**data, "cause": "base"},
                )
            )
        else:
            findings.append(
                Finding(
                    "consistency",
                    ERROR,
                    u.dependent.name,
                    str(u),
                    hint=RELOCK_HINT,
                    data={**data, "cause": "overlay"},
                )
            )
    n_overlay = sum(1 for d in visible.values() if d.layer == "overlay")
    summary = (
        f"the requirements of {len(visible)} visible distribution(s)"
        f" ({n_overlay} from the overlay) are met"
    )
    if findings:
        summary += f", apart from {len(findings)} the base already had"
    if any(f.is_problem for f in findings):
        summary = f"{len(visible)} visible distribution(s) checked"
    return Section("consistency", summary, tuple(findings))
