"""Why a resolution is impossible, in the words of overlay.toml and the base: the conflicts
that matter, what was set aside and why, and which shadow would help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from overlock.dists.requirements import marker_true
from overlock.dists.types import SetAside
from overlock.errors import BuildRequiredError, OverlockError, ResolutionError
from overlock.resolve.model import DEP, PY, PYTHON, Candidate, Req
from overlock.resolve.provider import OverlayProvider


def _origin_text(info: RequirementInformation[Req, Candidate]) -> str:
    parent = info.parent
    req = info.requirement
    if parent is None:
        return f"{req} (requested in overlay.toml)"
    if req.kind == PY:
        return f"{parent.describe()}, which requires Python {req.specifier}"
    where = {"base": "base", "direct": "direct reference"}.get(parent.origin, "index")
    if parent.dist is not None:
        where = parent.dist.layer_label  # "base" or a lower overlay's name (prefix/layers.py)
    return f"{parent.name} {parent.version} ({where}), which requires {req}"


def explain(
    causes: Sequence[RequirementInformation[Req, Candidate]],
    provider: OverlayProvider,
) -> OverlockError:
    """Turn resolvelib's causes into one message naming the layer of each requirement."""
    by_ident: dict[str, list[RequirementInformation[Req, Candidate]]] = {}
    for info in causes:
        by_ident.setdefault(info.requirement.identifier, []).append(info)

    sdist_names = [n for n in by_ident if canonicalize_name(n.split("[")[0]) in provider.sdist_only]
    if sdist_names and all(len(v) == 1 for v in by_ident.values()):
        name = canonicalize_name(sdist_names[0].split("[")[0])
        versions = ", ".join(provider.sdist_only[name][:5])
        if provider.policy.sdist_only(name):
            return BuildRequiredError(
                f"{provider.policy.binary_setting(name)} asks for {name} to be built from its"
                f" sdist ({versions}), and building dependencies from source is not allowed",
                hint="set `allow-build = true` in [resolve] of overlay.toml (and drop"
                f" --no-build), or take {name} out of no-binary",
            )
        return BuildRequiredError(
            f"{name} is only published as a source distribution (sdist) for the versions that"
            f" fit ({versions}), and building dependencies from source is not allowed",
            hint="set `allow-build = true` in [resolve] of overlay.toml to build it with the"
            " base's Python (without --no-build), or pin a version that has a wheel for the base",
        )

    lines: list[str] = []
    conflicts: list[dict[str, Any]] = []
    hints: list[str] = []
    for ident, infos in sorted(by_ident.items()):
        aside = [] if ident == PYTHON else _set_aside(provider, infos)
        hints.extend(_aside_hints(provider, ident, aside))
        conflicts.append(
            {
                "package": ident,
                "set_aside": [{"version": str(v), "reason": why} for v, why in aside],
                "requirements": [
                    {
                        "requirement": str(i.requirement),
                        "from": "overlay.toml" if i.parent is None else i.parent.origin,
                        "parent": None
                        if i.parent is None
                        else f"{i.parent.name} {i.parent.version}",
                    }
                    for i in infos
                ],
            }
        )
        if ident == PYTHON:
            for i in infos:
                who = i.parent.describe() if i.parent is not None else "overlay.toml"
                lines.append(
                    f"{who}: the base's Python {provider.base.python_version} does not satisfy"
                    f" Requires-Python {i.requirement.specifier}"
                )
            continue
        if len(infos) == 1:
            info = infos[0]
            name = info.requirement.name
            lines.append(f"no release of {name} fits: {_origin_text(info)}{_seen(provider, name)}")
            lines.extend(f"  {name} {v}: {why}" for v, why in aside)
            continue
        first, *rest = sorted(
            _real_conflicts(provider, infos),
            key=lambda i: (i.parent is not None, str(i.requirement)),
        )
        lines.append(
            f"{_origin_text(first)} conflicts with "
            + "; and with ".join(_origin_text(i) for i in rest)
        )
        lines.extend(f"  {first.requirement.name} {v}: {why}" for v, why in aside)
        for i in rest:
            if i.parent is not None and i.parent.name in provider.keep:
                hints.append(
                    f"{i.parent.name} is in [resolve] keep, so its installed copy is never"
                    " shadowed; drop it from keep to let the overlay shadow it"
                )
                continue
            if i.parent is not None and i.parent.origin == "base":
                hint = _shadow_hint(provider, i.parent, first.requirement)
                if hint:
                    hints.append(hint)
    message = "the overlay cannot be resolved on this base:\n  " + "\n  ".join(lines)
    if provider.graph.broken:
        message += (
            f"\n  (the base was already inconsistent in {len(provider.graph.broken)} place(s)"
            " before the overlay; see `overlock lock -v`)"
        )
    hint_text = "; ".join(dict.fromkeys(hints)) or (
        "relax the requirements in overlay.toml, or check that the index has the releases"
        " you expect"
    )
    return ResolutionError(message, hint=hint_text, conflicts=conflicts)


def _seen(provider: OverlayProvider, name: NormalizedName) -> str:
    parts = []
    dist = provider.base.by_name.get(name)
    if dist is not None:
        parts.append(f"{dist.layer_label} has {dist.version}")
    try:
        versions = [str(r.version) for r in provider.source.releases(name) if r.wheel]
    except OverlockError:
        versions = []
    if versions:
        shown = ", ".join(versions[:8]) + (", ..." if len(versions) > 8 else "")
        parts.append(f"index has {shown}")
    elif dist is None:
        missing = getattr(provider.source, "missing", None)
        if callable(missing) and missing(name):
            parts.append(f"the index has no project named {name}; check the spelling")
        elif not provider.set_aside.get(name) and not _source_set_aside(provider, name):
            parts.append("the index lists no release of it")
        else:
            parts.append("no release of it is usable here")
    if dist is not None and provider.shadow == "explicit" and name not in provider.requested:
        parts.append('shadow = "explicit" keeps the base copy')
    if dist is not None and name in provider.keep:
        parts.append(f'[resolve] keep = ["{name}"] forbids shadowing the {dist.layer_label} copy')
    return f" ({'; '.join(parts)})" if parts else ""


def _shadow_hint(provider: OverlayProvider, parent: Candidate, wanted: Req) -> str | None:
    """Find the oldest newer release of a base package that accepts what was requested."""
    try:
        releases = provider.source.releases(parent.name)
    except OverlockError:
        return None
    target_versions = []
    try:
        target_versions = [
            r.version
            for r in provider.source.releases(wanted.name)
            if r.wheel
            and wanted.specifier.contains(r.version)
            and (not r.version.is_prerelease or _prereleases_opted_in(provider, wanted.name))
        ]
    except OverlockError:
        return None
    if not target_versions:
        return None
    for release in sorted(releases, key=lambda r: r.version):
        if release.version <= parent.version or release.wheel is None or release.yanked:
            continue
        if release.version.is_prerelease and not _prereleases_opted_in(provider, parent.name):
            continue
        try:
            meta = provider.source.metadata(release)
        except OverlockError:
            continue
        accepts = True
        for text in meta.requires:
            try:
                r = Requirement(text)
            except Exception:  # a bad line in third-party metadata
                continue
            if canonicalize_name(r.name) != wanted.name:
                continue
            if r.marker is not None and not marker_true(r.marker, provider.base.marker_env("")):
                continue
            if not any(r.specifier.contains(v) for v in target_versions):
                accepts = False
        if accepts:
            return f'add "{parent.name}>={release.version}" to requires to shadow it'
    return None


def _source_set_aside(provider: OverlayProvider, name: NormalizedName) -> Sequence[SetAside]:
    found = getattr(provider.source, "set_aside", None)
    if not callable(found):
        return ()
    try:
        result: Sequence[SetAside] = found(name)
    except OverlockError:
        return ()
    return result


def _set_aside(
    provider: OverlayProvider, infos: Sequence[RequirementInformation[Req, Candidate]]
) -> list[tuple[Version, str]]:
    """Releases left out that every requirement here would accept: what the user expected."""
    reqs = [i.requirement for i in infos if i.requirement.kind == DEP and not i.requirement.url]
    if not reqs:
        return []
    name = reqs[0].name
    reasons: dict[Version, str] = {a.version: a.reason for a in _source_set_aside(provider, name)}
    reasons.update(provider.set_aside.get(name, {}))
    fits = [
        (v, why)
        for v, why in reasons.items()
        if all(r.specifier.contains(v, prereleases=True) for r in reqs)
    ]
    return sorted(fits, reverse=True)[:5]


def _prereleases_opted_in(provider: OverlayProvider, name: NormalizedName) -> bool:
    """Whether a hint may suggest a pre-release of ``name``: only when the user asked."""
    if provider.policy.prereleases == "allow":
        return True
    return any(r.specifier.prereleases for r in provider.roots.get(name, ()))


def _real_conflicts(
    provider: OverlayProvider, infos: Sequence[RequirementInformation[Req, Candidate]]
) -> list[RequirementInformation[Req, Candidate]]:
    """The requirements that take part in the conflict: one that accepts every version the
    others together accept adds no restriction, so it is not named."""
    if len(infos) < 3 or any(i.requirement.kind != DEP or i.requirement.url for i in infos):
        return list(infos)
    name = infos[0].requirement.name
    try:
        versions = {r.version for r in provider.source.releases(name)}
    except OverlockError:
        return list(infos)
    dist = provider.base.by_name.get(name)
    if dist is not None and dist.parsed_version is not None:
        versions.add(dist.parsed_version)

    def accepted(group: Sequence[RequirementInformation[Req, Candidate]]) -> set[Version]:
        return {
            v
            for v in versions
            if all(i.requirement.specifier.contains(v, prereleases=True) for i in group)
        }

    real = [
        info
        for k, info in enumerate(infos)
        if not accepted([*infos[:k], *infos[k + 1 :]]) <= accepted([info])
    ]
    return real if len(real) >= 2 else list(infos)


def _aside_hints(
    provider: OverlayProvider, ident: str, aside: Sequence[tuple[Version, str]]
) -> list[str]:
    out = []
    reasons = [why for _, why in aside]
    pres = [v for v, why in aside if why.startswith("a pre-release")]
    if pres:
        name = ident.split("[")[0]
        naming = ""
        if "explicit" in provider.policy.prereleases:
            naming = f'name it in overlay.toml (e.g. "{name}>={pres[0]}") or '
        out.append(
            f'to use {name} {pres[0]}, {naming}set prereleases = "allow" in [resolve]'
            " (or --prerelease allow)"
        )
    if any(why.startswith("yanked") for why in reasons):
        out.append(
            "a yanked release is used only when overlay.toml pins it exactly (`name==version`)"
        )
    return out
