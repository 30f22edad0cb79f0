"""``overlock check``: is this overlay still right?

Nine questions, each answered by one function that returns a ``Section`` (its ``Finding``\\ s and
a one-line summary of what was looked at), so each can be tested on its own:

``check_drift`` (``drift``)
    The base changed since the lock: which distributions appeared, went or changed version,
    and whether the locked overlay is still consistent with the base as it is now.
``check_stale`` (``drift``)
    overlay.toml changed since the lock.
``check_integrity`` (``integrity``)
    The prefix against the lock and against each package's RECORD: packages missing or extra,
    files edited, corrupted or deleted in place, files no package owns, and a prefix built for
    another base layout.
``check_consistency`` (``consistency``)
    Every visible distribution's Requires-Dist (overlay copies shadowing base ones), with
    markers evaluated in the base's environment and extras followed, reported like
    ``pip check`` but naming layers; breakage the lock recorded as pre-existing stays a note.
``check_upstream`` (``upstream``)
    Requirements the lock recorded from the index's metadata of base packages installed by
    Debian or conda (their own metadata declares none), against the overlay's versions.
``check_redundant`` (``redundant``)
    Requested packages that the base now satisfies on its own.
``check_shadows`` (``shadows``)
    Each shadowing package really is the copy imported: one subprocess of the base
    interpreter with the overlay active reports ``importlib.metadata.version`` and where each
    top-level module is found.
``check_imports`` (``imports``)
    The runtime verification of sync, again: the top-level modules of every shadowing
    package, and of every base package that requires or (by a scan of its files) imports a
    shadowed one, are imported in one subprocess of the base interpreter with the overlay
    active. A failing import is an error, whatever the metadata says.
``check_sources`` (``sources``)
    Git references whose branch or tag has a newer commit than the locked one
    (``git ls-remote``; nothing is fetched or changed).

``findings`` holds the values they return; ``dists`` the distributions they look at (from the
base, the prefix and the lock). All but ``shadows``, ``imports`` and ``sources`` only read
files (the lock, the prefix, the base probe); nothing here talks to an index or writes anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overlock import children
from overlock.base.env import BaseEnv
from overlock.cache import Cache
from overlock.check.consistency import Unmet, check_consistency, combined, unmet
from overlock.check.dists import Dist, PrefixDist, locked_overlay, scan_prefix
from overlock.check.drift import check_drift, check_stale
from overlock.check.findings import ERROR, INFO, KINDS, WARNING, Finding, Report, Section
from overlock.check.imports import ImportsVerdict, check_imports, imports_verdict
from overlock.check.integrity import check_integrity
from overlock.check.redundant import check_redundant
from overlock.check.shadows import Runner, check_shadows
from overlock.check.sources import check_sources
from overlock.check.upstream import check_upstream
from overlock.errors import SyncError
from overlock.lock.pylock import Lock
from overlock.manifest.model import Manifest
from overlock.prefix.state import Owner, current_generation, read_state


def check_overlay(
    manifest: Manifest,
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    *,
    cache: Cache | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner = children.run,
    parallel: bool = True,
    refresh: bool = False,
) -> Report:
    """Run every check on the overlay at ``prefix``; ``base`` is the base as it is now.

    With ``cache``, the import verification's verdict is kept per generation and base and
    reused while the prefix's files match their RECORDs (``verdicts``), unless ``refresh``
    (then the imports run, and their verdict replaces the kept one). ``parallel=False``
    runs the checks one after another (the report is the same).
    """
    prefix = Path(os.path.abspath(prefix))  # noqa: PTH100 - the stable link, unresolved
    state = read_state(prefix)
    if state is None:
        if current_generation(prefix) is None and os.path.lexists(prefix):
            raise SyncError(
                f"{prefix} was not made by `overlock sync`, so there is nothing to check",
                hint="point `prefix` in overlay.toml at the overlay, or run `overlock sync`",
            )
        raise SyncError(
            f"the overlay at {prefix} has not been synced",
            hint="run `overlock sync` to install the lock there, then check again",
        )
    mine = Owner(str(manifest.path), manifest.overlay_name(base.prefix))
    if state.owner is not None and not state.owner.same_manifest(mine):
        raise SyncError(
            f"{prefix} belongs to another overlay: it was synced from {state.owner},"
            f" not from {manifest.path}; there is nothing of this overlay to check",
            hint="give this overlay its own prefix (`prefix` or `name` in overlay.toml), or"
            " `overlock sync --take-over` to replace the other overlay's packages with this one's",
        )
    found = scan_prefix(base, prefix)
    overlay = [d.as_dist() for d in found]
    roots = list(manifest.requires)
    as_locked, unknown = locked_overlay(lock, found, cache)
    cache_root = None if cache is None else cache.root

    # The three that wait on other processes run in threads while the rest (hashing every
    # file against its RECORD, mostly) runs here; each is independent of the others.
    def shadows() -> Section:
        return check_shadows(base, prefix, found, environ=environ, runner=runner)

    def imports() -> ImportsVerdict:
        return imports_verdict(lock, base, prefix, state, cache_root=cache_root, reuse=not refresh)

    def sources() -> Section:
        return check_sources(lock, credentials=manifest.credential_urls)

    with ThreadPoolExecutor(max_workers=3 if parallel else 1) as pool:
        try:
            shadow_job = pool.submit(shadows)
            imports_job = pool.submit(imports)
            sources_job = pool.submit(sources)
            if not parallel:
                for job in (shadow_job, imports_job, sources_job):
                    job.exception()  # wait: nothing else runs meanwhile
            local = (
                check_drift(lock, base, as_locked, roots=roots, unknown=unknown),
                check_stale(manifest, lock),
                check_integrity(lock, base, prefix, state, found),
                check_consistency(lock, base, overlay, roots=roots),
                check_upstream(lock, base),
                check_redundant(manifest, lock, base, overlay),
            )
            shadow_section, verdict = shadow_job.result(), imports_job.result()
            sources_section = sources_job.result()
        except BaseException:
            children.kill_all()  # Ctrl-C: do not wait for the base interpreter's imports
            raise
    intact = local[2].ok  # integrity: every file matches its RECORD
    if verdict.reused and not intact:
        # The kept verdict was about the files as synced; these are not.
        verdict = imports_verdict(lock, base, prefix, state, cache_root=cache_root, reuse=False)
    if cache_root is not None and intact:
        verdict.keep(cache_root)
    return Report((*local, shadow_section, verdict.section, sources_section))


__all__ = [
    "ERROR",
    "INFO",
    "KINDS",
    "WARNING",
    "Dist",
    "Finding",
    "PrefixDist",
    "Report",
    "Section",
    "Unmet",
    "check_consistency",
    "check_drift",
    "check_imports",
    "check_integrity",
    "check_overlay",
    "check_redundant",
    "check_shadows",
    "check_sources",
    "check_stale",
    "check_upstream",
    "combined",
    "locked_overlay",
    "scan_prefix",
    "unmet",
]
