"""Requirements known only from the index's metadata of Debian/conda base packages.

``overlock lock`` records them (``lock/upstream.py``); with ``upstream-metadata = "warn"`` the lock
may hold a version they do not accept. Day two must not call that well: each one still unmet
by the overlay is a warning here. Nothing is fetched: the facts come from the lock.
"""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.base.env import BaseEnv
from overlock.check.findings import WARNING, Finding, Section
from overlock.lock.pylock import Lock
from overlock.lock.upstream import parse_text


def check_upstream(lock: Lock, base: BaseEnv) -> Section:
    """Each recorded upstream requirement against the overlay's version of its target."""
    if not lock.upstream:
        return Section(
            "upstream", "the lock records no requirement from upstream metadata of base packages"
        )
    findings: list[Finding] = []
    for text in lock.upstream:
        parsed = parse_text(text)
        if parsed is None:
            continue
        dist, version, installer, requirement = parsed
        try:
            req = Requirement(requirement)
        except InvalidRequirement:
            continue
        target = lock.by_name.get(canonicalize_name(req.name))
        visible = base.by_name.get(dist)
        if target is None or dist in lock.by_name or visible is None:
            continue  # nothing of the overlay's is judged, or the base copy is shadowed
        if visible.version != version or not base.evaluate(req.marker):
            continue
        try:
            ok = req.specifier.contains(Version(target.version), prereleases=True)
        except InvalidVersion:
            ok = False
        if ok:
            continue
        findings.append(
            Finding(
                "upstream",
                WARNING,
                dist,
                f"the base's {dist} {version} (installed by {installer}) requires {requirement}"
                f" according to the index's metadata of that release; the overlay holds"
                f" {target.name} {target.version}",
                hint='set `upstream-metadata = "enforce"` under [resolve] in overlay.toml, then'
                " `overlock lock` and `overlock sync`",
                data={"upstream": text, "locked": target.version, "source": "index metadata"},
            )
        )
    summary = f"{len(lock.upstream)} requirement(s) from upstream metadata of base packages are met"
    return Section("upstream", summary, tuple(findings))
