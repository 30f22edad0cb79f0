"""Locking an overlay as every command that writes a lock does: its sources built as the
manifest allows, pip's constraints applied, and the base's upstream metadata weighed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name

from overlock.app.overlay import Overlay
from overlock.base.env import BaseEnv
from overlock.lock.pylock import Lock
from overlock.manifest.model import Manifest

if TYPE_CHECKING:
    # The builder, the resolver and the upstream review load only when a lock is made, or
    # a locked source tree checked: a lock found current (``lock --check``, an unchanged
    # overlay.toml) needs none of them.
    from packaging.version import Version

    from overlock.build.backend import Step, WheelSource
    from overlock.build.sources import Reporter
    from overlock.dists.types import PackageSource
    from overlock.manifest.policy import ResolvePolicy
    from overlock.resolve.model import Outcome

# Each round of enforcing upstream requirements may shadow a package whose own base importers
# have upstream requirements in turn; a few rounds reach every realistic fixed point.
MAX_UPSTREAM_ROUNDS = 4


def source_checker(
    overlay: Overlay, base: BaseEnv, *, no_build: bool = False, reporter: Reporter | None = None
) -> Callable[[Lock], list[str]]:
    """``source_changes`` for ``overlay``, as ``lock.make.lock_status`` takes it."""

    def check(lock: Lock) -> list[str]:
        if not any(p.directory is not None and p.metadata_hash is not None for p in lock.packages):
            return []  # only a locked source tree can change under a lock (source_changes)
        from overlock.build.sources import source_changes

        with lazy_index(overlay.index) as index:
            return source_changes(
                lock,
                lock_dir=overlay.lock_path.parent,
                base=base,
                cache=overlay.cache,
                index=index,
                no_build=no_build,
                reporter=reporter,
                named={canonicalize_name(r.name) for r in overlay.manifest.requires if r.url},
            )

    return check


def lock_manifest(
    overlay: Overlay,
    base: BaseEnv,
    index: WheelSource,
    *,
    no_build: bool = False,
    reporter: Reporter | None = None,
    policy: ResolvePolicy | None = None,
    prefer: Mapping[NormalizedName, Version] | None = None,
    step: Step | None = None,
) -> tuple[Lock, Outcome]:
    """``lock.make.lock_overlay`` with sources built as the manifest allows: what every
    command that writes a lock should call. ``prefer``: versions to keep when possible;
    ``step``: how a build says what it is doing (default: ``reporter``)."""
    from overlock.build.sources import building_source
    from overlock.lock.make import lock_overlay
    from overlock.manifest.constraints import load_constraints

    constraints = load_constraints(overlay.index_config.constraint_files)
    source = building_source(
        overlay.manifest,
        base,
        index,
        overlay.cache,
        no_build=no_build,
        reporter=reporter,
        step=step,
    )
    complete = getattr(index, "complete", None)

    def lock_on(on: BaseEnv) -> tuple[Lock, Outcome]:
        return lock_overlay(
            overlay.manifest,
            on,
            source,
            complete=complete,
            allow_build=source.policy.sdists,
            policy=policy,
            prefer=prefer,
            constraints=constraints,
            graph_dir=overlay.cache.root / "base-graphs",
        )

    return lock_with_upstream(overlay.manifest, base, source, lock_on, reporter=reporter)


def lock_with_upstream(
    manifest: Manifest,
    base: BaseEnv,
    source: PackageSource,
    lock_on: Callable[[BaseEnv], tuple[Lock, Outcome]],
    *,
    reporter: Reporter | None = None,
) -> tuple[Lock, Outcome]:
    """Lock on ``base``, then weigh the upstream metadata of its Debian/conda packages.

    ``"warn"``: unmet upstream requirements are reported; ``"enforce"``: the lock is made
    again as if the base's copies had declared them (until nothing new turns up).
    """
    lock, outcome = lock_on(base)
    policy = manifest.upstream_metadata
    if policy == "off":
        return lock, outcome
    from overlock.base.importscan import ImportScan
    from overlock.lock import upstream

    scan = ImportScan.for_base(base)
    found = upstream.review(lock, base, source, scan, report=reporter)
    if policy == "enforce":
        enforced: dict[str, upstream.UpstreamRequirement] = {}
        for _ in range(MAX_UPSTREAM_ROUNDS):
            new = [f for f in found if not f.satisfied and f.to_text() not in enforced]
            if not new:
                break
            enforced.update((f.to_text(), f) for f in new)
            lock, outcome = lock_on(upstream.with_upstream(base, enforced.values()))
            found = upstream.review(lock, base, source, scan, report=reporter)
        found = list({f.to_text(): f for f in (*enforced.values(), *found)}.values())
    elif reporter is not None:
        for line in upstream.warnings_for(found):
            reporter(line)
        if any(not f.satisfied for f in found):
            reporter("  hint: " + upstream.enforce_hint(found))
    texts = tuple(sorted({f.to_text() for f in found}))
    return replace(lock, upstream=texts, upstream_policy=policy), outcome


@contextlib.contextmanager
def lazy_index(factory: Callable[[], Any]) -> Iterator[Callable[[], WheelSource]]:
    """A factory that opens an index on first use, closed when the block ends."""
    opened: list[Any] = []

    def get() -> WheelSource:
        if not opened:
            opened.append(factory())
        index: WheelSource = opened[0]
        return index

    try:
        yield get
    finally:
        for index in opened:
            index.close()
