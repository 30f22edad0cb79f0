"""Requested packages that the base now satisfies on its own."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.utils import canonicalize_name

from overlock.base.env import BaseEnv
from overlock.check.consistency import combined, preexisting, unmet
from overlock.check.dists import Dist
from overlock.check.findings import WARNING, Finding, Section
from overlock.dists.requirements import marker_true
from overlock.lock.pylock import Lock
from overlock.manifest.model import Manifest


def check_redundant(
    manifest: Manifest, lock: Lock, base: BaseEnv, overlay: Sequence[Dist]
) -> Section:
    """Requested packages whose overlay.toml entry the base's own copy now satisfies."""
    env = base.marker_env("")
    roots = list(manifest.requires)
    visible = combined(base, overlay)
    before = {u.key for u in unmet(visible, base, roots)}
    findings: list[Finding] = []
    asked = 0
    for pkg in lock.packages:
        if not pkg.requested:
            continue
        asked += 1
        reqs = [
            (r, text)
            for r, text in zip(manifest.requires, manifest.requires_text, strict=False)
            if canonicalize_name(r.name) == pkg.name
            and (r.marker is None or marker_true(r.marker, env))
        ]
        have = base.by_name.get(pkg.name)
        if not reqs or have is None or have.parsed_version is None:
            continue
        if any(
            r.url or not r.specifier.contains(have.parsed_version, prereleases=True)
            for r, _ in reqs
        ):
            continue
        trial = dict(visible)
        trial[pkg.name] = Dist.of_base(have)
        new = [
            u for u in unmet(trial, base, roots) if u.key not in before and not preexisting(u, lock)
        ]
        if new:
            continue
        texts = ", ".join(f"`{t}`" for _, t in reqs)
        findings.append(
            Finding(
                "redundant",
                WARNING,
                pkg.name,
                f"the base now provides {pkg.name} {have.version}, which satisfies {texts};"
                " the overlay entry can go",
                details=(f"the overlay holds {pkg.name} {pkg.version}",),
                hint=f"`overlock remove {pkg.name} --sync` drops it from overlay.toml,"
                " the lock and the prefix",
                data={"base_version": have.version, "overlay_version": pkg.version},
            )
        )
    summary = f"{asked - len(findings)} of {asked} requested package(s) still need the overlay"
    return Section("redundant", summary, tuple(findings))
