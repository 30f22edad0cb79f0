"""The resolvelib provider: the base's installed metadata plus a package source.

The provider is free of I/O: the base is data (``BaseEnv``) and the index sits behind
``PackageSource``. The rules, in resolvelib's terms:

* For a name the base has, the installed copy is the first candidate and costs nothing;
  index releases are offered only after it (and, with ``shadow = "explicit"``, only for
  names the manifest requests). Candidate lists are lazy, so a base name whose installed
  copy is accepted never causes an index request.
* Choosing a non-base copy of ``n`` (shadowing or adding it) makes every base
  distribution that depends on ``n`` part of the problem: the new candidate depends on a
  bare requirement for each of them, whose first candidate is the base copy with its own
  Requires-Dist. So a base package's cap on ``n`` is enforced, and when it cannot be met the
  resolver may shadow that package too (least change first), exactly as it would for any
  other conflict.
* Base requirement edges that were already broken before the overlay are recorded once and
  not enforced: a pre-broken base is tolerated, never made worse.
* Extras are separate nodes: ``X[e]==v`` depends on ``X==v`` (resolvelib's extras example).
* Requires-Python of an index release is a requirement on a pseudo-package whose only
  candidate is the base's Python, so it takes part in conflict explanations.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider
from resolvelib.structs import RequirementInformation

from overlock.base.env import BaseEnv, InstalledDist
from overlock.dists.requirements import marker_true, requirement_text
from overlock.dists.types import PackageSource, Release
from overlock.manifest.constraints import Constraint
from overlock.manifest.policy import ResolvePolicy
from overlock.resolve.model import DEP, KEEP, PY, PYTHON, Candidate, Req, req_from_requirement


class ParsedOnUse(Mapping[NormalizedName, tuple[Requirement, ...]]):
    """Requirement texts per distribution, parsed when first looked up: a lock reads the
    edges of the few base packages it moves, not those of the whole base."""

    def __init__(self, texts: Mapping[NormalizedName, tuple[str, ...]]) -> None:
        self.texts = texts
        self._parsed: dict[NormalizedName, tuple[Requirement, ...]] = {}

    def __getitem__(self, name: NormalizedName) -> tuple[Requirement, ...]:
        found = self._parsed.get(name)
        if found is None:
            out = []
            for text in self.texts[name]:
                with contextlib.suppress(InvalidRequirement):
                    out.append(Requirement(text))
            found = self._parsed[name] = tuple(out)
        return found

    def __iter__(self) -> Iterator[NormalizedName]:
        return iter(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class BaseGraph:
    """The base's dependency edges, judged once: which hold, which were broken before."""

    deps: Mapping[NormalizedName, tuple[Requirement, ...]]  # enforced edges per dist
    dependents: Mapping[NormalizedName, tuple[NormalizedName, ...]]  # reverse of deps
    broken: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The graph as plain data; each edge as its Requires-Dist text, verbatim."""
        return {
            "deps": {
                name: list(self.deps.texts[name])
                if isinstance(self.deps, ParsedOnUse)
                else [str(r) for r in reqs]
                for name, reqs in self.deps.items()
            },
            "dependents": {k: list(v) for k, v in self.dependents.items()},
            "broken": list(self.broken),
        }

    @classmethod
    def from_json(cls, data: Any, base: BaseEnv) -> BaseGraph | None:
        """The graph ``to_json`` gave for ``base``, or None if ``data`` is not one: every
        edge must be a Requires-Dist line of that distribution in ``base`` (read back from
        a cache, it is checked as untrusted input)."""
        if not isinstance(data, dict):
            return None
        deps, dependents, broken = data.get("deps"), data.get("dependents"), data.get("broken")
        if not (
            isinstance(deps, dict) and isinstance(dependents, dict) and isinstance(broken, list)
        ):
            return None
        installed = {d.name: d for d in base.installed}
        texts: dict[NormalizedName, tuple[str, ...]] = {}
        for name, lines in deps.items():
            dist = installed.get(name)
            if dist is None or not isinstance(lines, list) or not set(lines) <= set(dist.requires):
                return None
            texts[dist.name] = tuple(lines)
        reverse: dict[NormalizedName, tuple[NormalizedName, ...]] = {}
        for name, names in dependents.items():
            if not isinstance(names, list) or not all(n in texts for n in names):
                return None
            reverse[canonicalize_name(name)] = tuple(canonicalize_name(n) for n in names)
        if not all(isinstance(b, str) for b in broken):
            return None
        return cls(deps=ParsedOnUse(texts), dependents=reverse, broken=tuple(broken))

    @classmethod
    def of(cls, base: BaseEnv, replaced: Collection[NormalizedName] = ()) -> BaseGraph:
        """``replaced``: hidden names (base/hiding.py) the overlay requests itself; the base's
        requirements on them are enforced. Those on other hidden names are left out here
        (neither enforced nor pre-existing breakage: base/hiding.py reports them)."""
        deps: dict[NormalizedName, tuple[str, ...]] = {}
        dependents: dict[NormalizedName, set[NormalizedName]] = {}
        broken: list[str] = []
        env = base.marker_env("")
        withheld = {d.name for d in base.withheld}
        for dist in base.distributions:
            kept: list[str] = []
            for text, r in _parsed_lines(dist):
                if r.marker is not None and not marker_true(r.marker, env):
                    continue
                target_name = canonicalize_name(r.name)
                if target_name == dist.name:
                    continue
                if target_name in withheld:
                    if target_name in replaced:
                        kept.append(text)
                        dependents.setdefault(target_name, set()).add(dist.name)
                    continue
                target = base.by_name.get(target_name)
                if target is None:
                    broken.append(
                        f"{dist.name} {dist.version} requires {requirement_text(r)},"
                        " which the base does not have"
                    )
                    continue
                tv = target.parsed_version
                if tv is None or (r.specifier and not r.specifier.contains(tv, prereleases=True)):
                    broken.append(
                        f"{dist.name} {dist.version} requires {requirement_text(r)},"
                        f" but the base has {target.name} {target.version}"
                    )
                    continue
                kept.append(text)
                dependents.setdefault(target_name, set()).add(dist.name)
            deps[dist.name] = tuple(kept)
        return cls(
            deps=ParsedOnUse(deps),
            dependents={k: tuple(sorted(v)) for k, v in dependents.items()},
            broken=tuple(sorted(broken)),
        )


class OverlayProvider(AbstractProvider[Req, Candidate, str]):
    def __init__(
        self,
        base: BaseEnv,
        source: PackageSource,
        *,
        requested: Iterable[NormalizedName],
        shadow: str = "auto",
        graph: BaseGraph | None = None,
        allow_build: bool = False,
        policy: ResolvePolicy | None = None,
        roots: Iterable[Req] = (),
        prefer: Mapping[NormalizedName, Version] | None = None,
        keep: Iterable[NormalizedName] = (),
    ) -> None:
        self.base = base
        self.policy = policy or ResolvePolicy(allow_build=allow_build)
        self.allow_build = self.policy.allow_build  # sdist-only releases are candidates
        self.keep = frozenset(keep)  # [resolve] keep: only the installed copy is a candidate
        # Versions an earlier lock chose: tried first among the index's releases, so a lock
        # changes only what the new request needs (uv's and pip-compile's rule).
        self.prefer = dict(prefer or {})
        self.source = source
        self.requested = frozenset(requested)
        self.shadow = shadow
        self.graph = graph or BaseGraph.of(base)
        self.python_version = Version(base.python_version)
        self.sdist_only: dict[NormalizedName, list[str]] = {}
        # The user's own requirements by name: only they may admit a yanked release (PEP 592)
        # or, in the "explicit" modes, pre-releases.
        self.roots: dict[NormalizedName, list[Req]] = {}
        for root in roots:
            self.roots.setdefault(root.name, []).append(root)
        # Releases the resolver passed over, and why: for messages when nothing fits.
        self.set_aside: dict[NormalizedName, dict[Version, str]] = {}
        # pip's constraints whose marker holds on the base, by project.
        self._constraints: dict[NormalizedName, list[Constraint]] = {}
        for constraint in self.policy.constraints:
            if base.evaluate(constraint.requirement.marker):
                self._constraints.setdefault(constraint.name, []).append(constraint)
        self._deps_cache: dict[Candidate, list[Req]] = {}
        self._satisfied: dict[tuple[int, int], tuple[SpecifierSet, Version, bool]] = {}

    # resolvelib API ----------------------------------------------------------------

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Candidate]],
    ) -> Any:
        # Called for every unsatisfied name in every round (resolvelib): kept cheap.
        infos = list(information[identifier])
        has_url = any(i.requirement.url for i in infos)
        pinned = any(i.requirement.pinned for i in infos)
        from_root = any(i.parent is None for i in infos)
        cause = any(c.requirement.identifier == identifier for c in backtrack_causes)
        return (
            identifier != PYTHON,
            not has_url,
            not pinned,
            not cause,
            not from_root,
            identifier,
        )

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        reqs = list(requirements[identifier])
        bad = set(incompatibilities[identifier])
        return functools.partial(self._iter_matches, identifier, reqs, bad)

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        if requirement.kind == KEEP:
            return True
        if requirement.url:
            return candidate.origin == "direct"
        specifier = requirement.specifier
        if not specifier:
            return True
        # resolvelib asks again for every pin in every round; the answer for one specifier
        # and one version never changes. Keyed by identity (the pair is kept, so neither id
        # can be reused): hashing a SpecifierSet costs more than the check.
        version = candidate.version
        key = (id(specifier), id(version))
        known = self._satisfied.get(key)
        if known is not None and known[0] is specifier and known[1] is version:
            return known[2]
        # Pre-releases are filtered when candidates are listed (find_matches); here a pin
        # that was chosen must keep satisfying, pre-release or not.
        answer = specifier.contains(version, prereleases=True)
        self._satisfied[key] = (specifier, version, answer)
        return answer

    def get_dependencies(self, candidate: Candidate) -> Iterable[Req]:
        cached = self._deps_cache.get(candidate)
        if cached is None:
            cached = self._dependencies(candidate)
            self._deps_cache[candidate] = cached
        return cached

    # candidates --------------------------------------------------------------------

    def _iter_matches(
        self, identifier: str, reqs: list[Req], bad: set[Candidate]
    ) -> Iterator[Candidate]:
        if identifier == PYTHON:
            cand = Candidate(canonicalize_name("python"), self.python_version, "python")
            if cand not in bad and all(
                r.specifier.contains(self.python_version, prereleases=True) for r in reqs
            ):
                yield cand
            return
        name = reqs[0].name
        extras = frozenset().union(*(r.extras for r in reqs))

        def ok(c: Candidate) -> bool:
            return c not in bad and all(self.is_satisfied_by(r, c) for r in reqs)

        urls = {r.url for r in reqs if r.url}
        if urls:
            if len(urls) > 1:
                return  # two different direct references for one name cannot both hold
            direct_req = next(r for r in reqs if r.url)
            release = self.source.direct(Requirement(f"{direct_req.name} @ {direct_req.url}"))
            cand = Candidate(name, release.version, "direct", extras, release=release)
            if ok(cand):
                yield cand
            return

        dist = self.base.by_name.get(name)
        if dist is not None and dist.parsed_version is not None:
            cand = Candidate(name, dist.parsed_version, "base", extras, dist=dist)
            if ok(cand):
                yield cand
        if dist is not None and self.shadow == "explicit" and name not in self.requested:
            return  # this base package may not be shadowed
        if dist is not None and name in self.keep:
            return
        yield from self._index_candidates(name, extras, reqs, dist, ok)

    def _index_candidates(
        self,
        name: NormalizedName,
        extras: frozenset[str],
        reqs: list[Req],
        dist: InstalledDist | None,
        ok: Callable[[Candidate], bool],
    ) -> Iterator[Candidate]:
        releases = list(self.source.releases(name))
        # PEP 592: a yanked release only for an exact pin of the user's own.
        pinned = {
            Version(s.version)
            for r in self.roots.get(name, ())
            for s in r.specifier
            if s.operator in ("==", "===") and "*" not in s.version and _is_version(s.version)
        }
        base_version = dist.parsed_version if dist is not None else None
        ordered = _order(
            releases, base_version, newest_first=dist is None or name in self.requested
        )
        kept = self.prefer.get(name)
        if kept is not None:
            ordered.sort(key=lambda r: r.version != kept)  # stable: the rest keep their order
        allow_pre, fallback = self._prerelease_rule(name, reqs, releases)
        aside = self.set_aside.setdefault(name, {})
        yielded = False
        pres: list[Candidate] = []
        for release in ordered:
            if base_version is not None and release.version == base_version:
                continue  # the same version as the base copy: nothing to gain
            if release.yanked and release.version not in pinned:
                reason = release.yank_reason
                aside[release.version] = "yanked" + (f" ({reason})" if reason else "")
                continue
            refused = next(
                (c for c in self._constraints.get(name, ()) if not c.admits(release.version)),
                None,
            )
            if refused is not None:
                aside[release.version] = f"excluded by the constraint {refused}"
                continue
            release, why_not = self._binary_rule(name, release)
            cand = Candidate(name, release.version, "index", extras, release=release)
            if why_not is not None:
                aside[release.version] = why_not
                if (
                    release.sdist is not None
                    and not self.policy.wheels_only(name)
                    and all(self.is_satisfied_by(r, cand) for r in reqs)
                ):
                    self.sdist_only.setdefault(name, []).append(str(release.version))
                continue
            if not ok(cand):
                continue
            if release.version.is_prerelease and not allow_pre:
                if fallback:
                    pres.append(cand)
                else:
                    aside[release.version] = self._prerelease_reason()
                continue
            yielded = True
            yield cand
        if not yielded:
            yield from pres

    def _prerelease_rule(
        self, name: NormalizedName, reqs: Sequence[Req], releases: Sequence[Release]
    ) -> tuple[bool, bool]:
        """(pre-releases are ordinary candidates, pre-releases follow when no final fits)."""
        mode = self.policy.prereleases
        if mode == "pep440":
            return any(r.specifier.prereleases for r in reqs), True
        if mode == "allow":
            return True, False
        explicit = any(r.specifier.prereleases for r in self.roots.get(name, ()))
        only_pre = bool(releases) and all(r.version.is_prerelease for r in releases)
        allowed = {
            "explicit": explicit,
            "if-necessary": only_pre,
            "if-necessary-or-explicit": explicit or only_pre,
        }.get(mode, False)
        return allowed, False

    def _prerelease_reason(self) -> str:
        mode = self.policy.prereleases
        when = {
            "explicit": "overlay.toml names a pre-release of it",
            "if-necessary": "it has no final release",
            "if-necessary-or-explicit": "overlay.toml names a pre-release of it, or it has no"
            " final release",
        }.get(mode)
        if when is None:
            return f'a pre-release, and prereleases = "{mode}"'
        return f'a pre-release, and prereleases = "{mode}" admits one only when {when}'

    def _binary_rule(self, name: NormalizedName, release: Release) -> tuple[Release, str | None]:
        """``release`` as the binary policy lets it be used, or why it cannot be."""
        policy = self.policy
        if policy.sdist_only(name):
            setting = policy.binary_setting(name)
            if release.sdist is None:
                return release, f"only wheels are published, and {setting} asks for the sdist"
            release = Release(
                release.name, release.version, None, release.sdist, release.direct, release.source
            )
            if not policy.allow_build:
                return release, (
                    f"{setting} asks for its sdist, and building needs `allow-build = true`"
                )
            return release, None
        if release.wheel is not None:
            return release, None
        if release.sdist is None:
            return release, "no file usable on the base"
        if policy.wheels_only(name):
            return release, (
                f"no wheel for the base, only an sdist, and {policy.binary_setting(name)}"
                " forbids building"
            )
        if not policy.allow_build:
            return release, (
                "no wheel for the base, only an sdist; `allow-build = true` in [resolve] would"
                " admit it"
            )
        return release, None

    # dependencies ------------------------------------------------------------------

    def _dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate.origin == "python":
            return []
        out: list[Req] = []
        if candidate.extras:
            # The extras node pins the plain node to the same version and origin.
            out.append(
                Req(
                    candidate.name,
                    SpecifierSet(f"=={candidate.version}"),
                    text=f"{candidate.name}=={candidate.version}",
                    url=_direct_url(candidate),
                )
            )
        if candidate.origin == "base":
            assert candidate.dist is not None
            if candidate.extras:
                out.extend(self._extra_reqs(candidate.dist.parsed_requires, candidate))
            else:
                out.extend(req_from_requirement(r) for r in self.graph.deps.get(candidate.name, ()))
            return out

        assert candidate.release is not None
        meta = self.source.metadata(candidate.release)
        parsed = []
        for text in meta.requires:
            try:
                parsed.append(Requirement(text))
            except Exception:  # a bad line in third-party metadata
                continue
        if candidate.extras:
            out.extend(self._extra_reqs(parsed, candidate))
            self.prefetch(out)
            return out
        for r in parsed:
            if r.marker is not None and not marker_true(r.marker, self.base.marker_env("")):
                continue
            if canonicalize_name(r.name) == candidate.name:
                continue
            out.append(req_from_requirement(r))
        if meta.requires_python:
            # Invalid Requires-Python in third-party metadata is ignored, as pip does.
            with contextlib.suppress(InvalidSpecifier):
                spec = SpecifierSet(meta.requires_python)
                out.append(Req(canonicalize_name("python"), spec, kind=PY))
        # Every base distribution that depends on this name must stay consistent with it
        # (a hidden name the overlay replaces has dependents too: base/hiding.py).
        if candidate.name in self.base.by_name or candidate.name in self.graph.dependents:
            for dependent in self.graph.dependents.get(candidate.name, ()):
                if dependent != candidate.name:
                    out.append(Req(dependent, kind=KEEP, text=dependent))
        self.prefetch(out, moved=candidate)
        return out

    def prefetch(self, reqs: Iterable[Req], moved: Candidate | None = None) -> None:
        """Let the source fetch ahead what the resolver will surely ask of the index next.

        For each requirement: a name the base lacks, or has at a version the requirement
        refuses (the base copy costs nothing and is tried first). For ``moved``, a base name
        replaced by another version: each base package whose own requirement on it that
        version breaks (it will have to be shadowed too). With each name goes a guess at the
        release the resolver will try first, in the resolver's own order. Only a hint
        (``Index.prefetch``): no answer depends on it.
        """
        ahead = getattr(self.source, "prefetch", None)
        if ahead is None:
            return
        wanted: list[tuple[NormalizedName, Callable[[Sequence[Release]], Release | None]]] = []
        for r in reqs:
            if r.kind != DEP or r.url or r.name in self.keep:
                continue
            dist = self.base.by_name.get(r.name)
            if dist is not None and (
                (self.shadow == "explicit" and r.name not in self.requested)
                or dist.parsed_version is None
                or r.specifier.contains(dist.parsed_version, prereleases=True)
            ):
                continue
            guess = self._likely_first(r.name, r.specifier)
            if dist is not None:
                # A base name that moves: the base packages its likely version breaks are
                # fetched as soon as that version is known, not a round trip later (when
                # the resolver reads its dependencies); those that refuse the versions the
                # requirement names (``urllib3>=2``: 2) are fetched with it, at once.
                guess = self._then_dependents(r.name, guess)
            wanted.append((r.name, guess))
            if dist is not None:
                for version in _named_versions(r.specifier):
                    wanted.extend(self._broken_dependents(r.name, version))
        if moved is not None:
            wanted.extend(self._broken_dependents(moved.name, moved.version))
        if wanted:
            ahead(list({name: (name, guess) for name, guess in wanted}.values()))

    def _broken_dependents(
        self, name: NormalizedName, version: Version
    ) -> list[tuple[NormalizedName, Callable[[Sequence[Release]], Release | None]]]:
        """The base packages whose requirement on base name ``name`` refuses ``version``
        (they will have to be shadowed too), each with its likely first release."""
        if name not in self.base.by_name:
            return []
        out = []
        for dependent in self.graph.dependents.get(name, ()):
            if dependent in self.keep or (
                self.shadow == "explicit" and dependent not in self.requested
            ):
                continue
            if any(
                canonicalize_name(r.name) == name
                and not r.specifier.contains(version, prereleases=True)
                for r in self.graph.deps.get(dependent, ())
            ):
                out.append((dependent, self._likely_first(dependent, SpecifierSet())))
        return out

    def _then_dependents(
        self, name: NormalizedName, guess: Callable[[Sequence[Release]], Release | None]
    ) -> Callable[[Sequence[Release]], Release | None]:
        """``guess``, which also asks ahead for the base packages its pick would break.

        It runs in the source's prefetch thread once ``name``'s releases are read; it only
        reads the provider's fixed state (base, graph, policy)."""
        ahead = getattr(self.source, "prefetch", None)

        def guess_and_follow(releases: Sequence[Release]) -> Release | None:
            first = guess(releases)
            if first is not None and ahead is not None:
                dependents = self._broken_dependents(name, first.version)
                if dependents:
                    ahead(dependents)
            return first

        return guess_and_follow

    def _likely_first(
        self, name: NormalizedName, specifier: SpecifierSet
    ) -> Callable[[Sequence[Release]], Release | None]:
        """The release ``_index_candidates`` would most likely offer first for ``name``."""
        dist = self.base.by_name.get(name)
        base_version = dist.parsed_version if dist is not None else None
        kept = self.prefer.get(name)

        def guess(releases: Sequence[Release]) -> Release | None:
            ordered = _order(
                releases, base_version, newest_first=dist is None or name in self.requested
            )
            if kept is not None:
                ordered.sort(key=lambda r: r.version != kept)
            return next(
                (
                    r
                    for r in ordered
                    if r.wheel is not None
                    and not r.yanked
                    and r.version != base_version
                    and specifier.contains(r.version)
                ),
                None,
            )

        return guess

    def _extra_reqs(self, parsed: Iterable[Requirement], candidate: Candidate) -> list[Req]:
        out = []
        for r in parsed:
            if r.marker is None:
                continue  # unconditional ones belong to the plain node
            if not any(
                marker_true(r.marker, self.base.marker_env(e)) for e in candidate.extras
            ) or marker_true(r.marker, self.base.marker_env("")):
                continue
            if canonicalize_name(r.name) == candidate.name and not r.extras:
                continue
            out.append(req_from_requirement(r))
        return out


def _direct_url(candidate: Candidate) -> str | None:
    """The URL the plain node of a direct candidate with extras must be required by."""
    release = candidate.release
    if candidate.origin != "direct" or release is None:
        return None
    if release.source is not None:
        return release.source.url
    return release.wheel.url if release.wheel else None


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _order(
    releases: Sequence[Release], base_version: Version | None, *, newest_first: bool
) -> list[Release]:
    newest = sorted(releases, key=lambda r: r.version, reverse=True)
    if newest_first or base_version is None:
        return newest
    # Least change: releases closest to the base copy first, upgrades before downgrades,
    # because compiled packages in the base were built against the base's version.
    up = sorted((r for r in newest if r.version > base_version), key=lambda r: r.version)
    down = [r for r in newest if r.version < base_version]
    return up + down


def _parsed_lines(dist: InstalledDist) -> Iterator[tuple[str, Requirement]]:
    """Each Requires-Dist line of ``dist`` that parses, with its parse."""
    for text in dist.requires:
        with contextlib.suppress(InvalidRequirement):
            yield text, Requirement(text)


def _named_versions(specifier: SpecifierSet) -> list[Version]:
    """The versions a specifier admits by name (``>=2``, ``==2.1``, ``~=2.1``: the lowest it
    admits): where a moved package most likely lands, for fetching ahead."""
    out = []
    for spec in specifier:
        if spec.operator in (">=", "==", "~=", "===") and "*" not in spec.version:
            with contextlib.suppress(InvalidVersion):
                out.append(Version(spec.version))
    return out
