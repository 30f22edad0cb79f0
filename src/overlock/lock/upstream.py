"""Requirements a base distribution's upstream release declares, where the base's copy does not.

Debian and conda rebuild packages and rewrite (or drop) their metadata: Debian's requests 2.28.1
declares no requirement on urllib3, while requests 2.28.1 on PyPI requires ``urllib3<1.27``.
Putting urllib3 2 beside it is then silent, and wrong. For base distributions installed by
another installer, the same release's metadata on the index (PEP 658 or the wheel, as for any
candidate) is consulted, and its requirements on packages the overlay adds or shadows are

* reported as warnings (``[resolve] upstream-metadata = "warn"``, the default),
* enforced as if the base's copy had declared them (``"enforce"``), or
* not looked up at all (``"off"``).

Only distributions that can matter are looked up, so the cost grows with the overlay, not the
base: those whose own files import a package the lock changes (``importscan``) and whose
metadata does not already name it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv, InstalledDist
from overlock.base.importscan import ImportScan
from overlock.dists.requirements import requirement_text
from overlock.dists.types import PackageSource
from overlock.lock.pylock import Lock

MODES = ("warn", "enforce", "off")
DEFAULT_MODE = "warn"
FOREIGN_INSTALLERS = frozenset({"debian", "conda"})

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class UpstreamRequirement:
    """One requirement of a base distribution's upstream release on a package the lock holds."""

    dist: NormalizedName
    version: str
    installer: str  # "debian", "conda", ...
    requirement: str  # as the upstream metadata words it, e.g. "urllib3<1.27,>=1.21.1"
    locked: str  # the version the lock holds of the required package
    satisfied: bool

    @property
    def target(self) -> NormalizedName:
        return canonicalize_name(Requirement(self.requirement).name)

    def to_text(self) -> str:
        """The lock's one-line form: ``requests 2.28.1 (debian): urllib3<1.27,>=1.21.1``."""
        return f"{self.dist} {self.version} ({self.installer}): {self.requirement}"

    def describe(self) -> str:
        verdict = "satisfied by" if self.satisfied else "NOT satisfied by"
        return (
            f"the base's {self.dist} {self.version} (installed by {self.installer}) declares no"
            f" such requirement, but its upstream release on the index requires"
            f" {self.requirement}: {verdict} {self.target} {self.locked} in the overlay"
        )


def parse_text(text: str) -> tuple[NormalizedName, str, str, str] | None:
    """(dist, version, installer, requirement) of :meth:`UpstreamRequirement.to_text`."""
    head, sep, requirement = text.partition("): ")
    name_version, sep2, installer = head.partition(" (")
    name, _, version = name_version.partition(" ")
    if not (sep and sep2 and version and requirement):
        return None
    return canonicalize_name(name), version, installer, requirement


def foreign_installer(dist: InstalledDist) -> str | None:
    """Which other installer put ``dist`` in the base, when it was not pip or alike."""
    installer = (dist.installer or "").strip().lower()
    if installer in FOREIGN_INSTALLERS:
        return installer
    # Debian writes no INSTALLER file; its packages live in .../dist-packages.
    if not installer and "dist-packages" in PurePath(dist.location).parts:
        return "debian"
    return None


def _modules_of(name: NormalizedName, base: BaseEnv) -> list[str]:
    dist = base.by_name.get(name)
    names = list(dist.top_level) if dist is not None and dist.top_level else []
    return names or [name.replace("-", "_")]


def candidates(
    lock: Lock, base: BaseEnv, scan: ImportScan
) -> dict[NormalizedName, set[NormalizedName]]:
    """Foreign base distributions worth a look -> the locked packages they import.

    Those whose files import a package the lock holds, whose declared requirements do not
    name it, and which stay visible (the overlay does not shadow them).
    """
    foreign = [d for d in base.distributions if d.name not in lock.by_name and foreign_installer(d)]
    if not foreign or not lock.packages:
        return {}  # a venv of pip-installed packages: nothing to scan, nothing to ask
    owner: dict[str, NormalizedName] = {}
    for pkg in lock.packages:
        for module in _modules_of(pkg.name, base):
            owner[module] = pkg.name
    found = scan.importers(owner, among=foreign)
    scan.save()
    out: dict[NormalizedName, set[NormalizedName]] = {}
    for name, modules in found.items():
        dist = base.by_name.get(name)
        if dist is None or name in lock.by_name or foreign_installer(dist) is None:
            continue
        declared = {canonicalize_name(r.name) for r in dist.parsed_requires}
        targets = {owner[m] for m in modules} - declared - {name}
        if targets:
            out[name] = targets
    return out


def review(
    lock: Lock,
    base: BaseEnv,
    source: PackageSource,
    scan: ImportScan,
    *,
    report: Reporter | None = None,
) -> list[UpstreamRequirement]:
    """Upstream requirements of foreign base distributions on what ``lock`` holds."""
    out: list[UpstreamRequirement] = []
    unknown: list[str] = []
    for name, targets in sorted(candidates(lock, base, scan).items()):
        dist = base.by_name[name]
        requires = _upstream_requires(dist, source)
        if requires is None:
            unknown.append(f"{dist.name} {dist.version}")
            continue
        for req in requires:
            target = canonicalize_name(req.name)
            if target not in targets or not base.evaluate(req.marker):
                continue
            locked = lock.by_name[target].version
            try:
                ok = req.specifier.contains(Version(locked), prereleases=True)
            except InvalidVersion:
                ok = False
            out.append(
                UpstreamRequirement(
                    dist=name,
                    version=dist.version,
                    installer=foreign_installer(dist) or "unknown",
                    requirement=requirement_text(req),
                    locked=locked,
                    satisfied=ok,
                )
            )
    if unknown and report is not None:
        report(
            "note: upstream requirements unknown for base "
            + ", ".join(unknown)
            + " (installed by another installer; no wheel of that release on the index)"
        )
    return out


def _upstream_requires(dist: InstalledDist, source: PackageSource) -> list[Requirement] | None:
    """Requires-Dist of the same release on the index; None when it has no wheel there."""
    try:
        version = Version(dist.version)
    except InvalidVersion:
        return None
    release = next(
        (r for r in source.releases(dist.name) if r.version == version and r.wheel), None
    )
    if release is None:
        return None
    out: list[Requirement] = []
    for text in source.metadata(release).requires:
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            continue
    return out


def with_upstream(base: BaseEnv, found: Iterable[UpstreamRequirement]) -> BaseEnv:
    """``base`` as if each distribution had declared its upstream requirements in ``found``."""
    extra: dict[NormalizedName, list[str]] = {}
    for item in found:
        extra.setdefault(item.dist, []).append(item.requirement)
    if not extra:
        return base
    dists = tuple(
        dataclasses.replace(d, requires=(*d.requires, *extra[d.name])) if d.name in extra else d
        for d in base.distributions
    )
    return dataclasses.replace(base, distributions=dists)


def warnings_for(found: Sequence[UpstreamRequirement]) -> list[str]:
    return [f"warning: {item.describe()}" for item in found if not item.satisfied]


def enforce_hint(found: Sequence[UpstreamRequirement]) -> str:
    names = sorted({item.dist for item in found if not item.satisfied})
    return (
        'set `upstream-metadata = "enforce"` under [resolve] in overlay.toml to have '
        + ", ".join(names)
        + " shadowed by a release that accepts the overlay (or pin what it needs)"
    )
