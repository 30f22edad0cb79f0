"""Running the resolver: one resolution of an overlay request against the base and a package
source, with a bounded number of rounds; see ``provider.py`` for the rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep

from overlock.base.env import BaseEnv
from overlock.dists.requirements import marker_true
from overlock.dists.types import PackageSource
from overlock.errors import OverlockError, ResolutionError
from overlock.manifest.policy import ResolvePolicy
from overlock.resolve.explain import explain
from overlock.resolve.graph_cache import base_graph
from overlock.resolve.model import (
    DEP,
    KEEP,
    MAX_ROUNDS,
    Candidate,
    Outcome,
    Pick,
    Req,
    req_from_requirement,
)
from overlock.resolve.provider import OverlayProvider


class _CountingReporter(BaseReporter[Req, Candidate, str]):
    def __init__(self) -> None:
        self.rounds = 0

    def starting_round(self, index: int) -> None:
        self.rounds = index


def resolve(
    requirements: Sequence[Requirement],
    base: BaseEnv,
    source: PackageSource,
    *,
    shadow: str = "auto",
    requested_text: Sequence[str] | None = None,
    allow_build: bool = False,
    policy: ResolvePolicy | None = None,
    prefer: Mapping[NormalizedName, Version] | None = None,
    keep: Iterable[NormalizedName] = (),
    graph_dir: Path | None = None,
) -> Outcome:
    """Resolve the overlay request; raise ResolutionError with explanations on conflict.

    ``prefer``: versions to try first for index releases (those of the previous lock);
    ``graph_dir``: where the base's dependency graph is kept between runs (graph_cache.py).
    """
    env = base.marker_env("")
    active = [r for r in requirements if r.marker is None or marker_true(r.marker, env)]
    texts = list(requested_text) if requested_text is not None else [str(r) for r in requirements]
    requested_by_name: dict[NormalizedName, list[str]] = {}
    for r, text in zip(requirements, texts, strict=False):
        requested_by_name.setdefault(canonicalize_name(r.name), []).append(text)

    requested = {canonicalize_name(r.name) for r in active}
    graph = base_graph(base, requested, graph_dir)
    # The caller's allow_build already accounts for --no-build.
    policy = dataclasses.replace(policy or ResolvePolicy(), allow_build=allow_build)
    roots = [req_from_requirement(r) for r in active]
    provider = OverlayProvider(
        base,
        source,
        requested=requested,
        shadow=shadow,
        graph=graph,
        allow_build=allow_build,
        policy=policy,
        roots=roots,
        prefer=prefer,
        keep=keep,
    )
    reporter = _CountingReporter()
    provider.prefetch(roots)
    resolver: Resolver[Req, Candidate, str] = Resolver(provider, reporter)
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        raise explain(list(exc.causes), provider) from None
    except ResolutionTooDeep as exc:
        raise ResolutionError(
            f"gave up after {MAX_ROUNDS} rounds of backtracking",
            hint="pin some of the requested packages more tightly in overlay.toml",
        ) from exc
    except OverlockError:
        raise

    mapping: Mapping[str, Candidate] = result.mapping
    picks: list[Pick] = []
    reused: list[str] = []
    plain = {k: c for k, c in mapping.items() if c.origin != "python" and not c.extras}
    overlay_names = {c.name for c in plain.values() if c.origin != "base"}
    by_name: dict[NormalizedName, list[Candidate]] = {}  # a package's plain and extras nodes
    for c in mapping.values():
        if c.origin != "python":
            by_name.setdefault(c.name, []).append(c)
    extras_of: dict[str, list[str]] = {}  # "name" -> ["name[extra]", ...]
    for key in mapping:
        plain_key, bracket, _ = key.partition("[")
        if bracket:
            extras_of.setdefault(plain_key, []).append(key)
    for identifier, cand in sorted(plain.items()):
        if cand.origin == "base":
            reused.append(f"{cand.name} {cand.version}")
            continue
        assert cand.release is not None
        required_by: set[str] = set()
        kept_for: set[str] = set()
        for ident in (identifier, *extras_of.get(identifier, ())):
            criterion = result.criteria.get(ident)
            if criterion is None:
                continue
            for info in criterion.information:
                parent = info.parent
                if parent is None or parent.name == cand.name:
                    continue
                label = f"{parent.identifier} {parent.version}"
                if info.requirement.kind == KEEP:
                    kept_for.add(label)
                elif parent.origin != "base" or parent.extras:
                    # A plain base copy's requirement only constrains the version (the base
                    # already had what it needs); an extra of a base package was asked for by
                    # the overlay, so what it needs is in the overlay because of it.
                    required_by.add(label)
        deps = sorted(
            {
                r.name
                for c in by_name.get(cand.name, ())
                for r in provider.get_dependencies(c)
                if r.kind == DEP and r.name != cand.name and r.name in overlay_names
            }
        )
        base_dist = base.by_name.get(cand.name)
        picks.append(
            Pick(
                name=cand.name,
                version=cand.version,
                release=cand.release,
                requested=tuple(requested_by_name.get(cand.name, ())),
                required_by=tuple(sorted(required_by)),
                kept_for=tuple(sorted(kept_for)),
                dependencies=tuple(deps),
                shadows=base_dist.version if base_dist is not None else None,
            )
        )
    return Outcome(
        picks=tuple(picks),
        reused=tuple(sorted(reused)),
        preexisting=graph.broken,
        rounds=reporter.rounds,
    )
