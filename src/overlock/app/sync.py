"""Syncing an overlay as the commands do: the live base, a current lock, its sources built,
its files fetched in parallel into the shared cache, and a stamp for the next no-op sync."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from overlock.app.live import live_base
from overlock.app.overlay import IndexOptions, Overlay
from overlock.base.env import BaseEnv
from overlock.dists.types import DistFile
from overlock.errors import StaleLockError, SyncError
from overlock.lock.make import lock_status
from overlock.lock.pylock import Lock, LockedFile, read_lock
from overlock.prefix.layers import lower_site_dirs
from overlock.sync.engine import SyncResult, sync
from overlock.sync.generation import ProgressFactory
from overlock.sync.stamp import observe as stamp_observe
from overlock.sync.stamp import record as record_stamp
from overlock.sync.store import Store


def _ignore(_text: str) -> None:
    pass


# ``Output.step``/``Output.status``: a block that says on a terminal what it is doing.
Step = Callable[[str], AbstractContextManager[None]]


DOWNLOAD_THREADS = 8


def downloader(
    overlay: Overlay, base: BaseEnv, *, offline: bool, progress: Callable[..., Any] | None = None
) -> Callable[[Sequence[LockedFile]], Mapping[str, Path]]:
    """Fetch locked files into the shared cache, in parallel; offline: the cache only.

    Files the cache already holds are taken from it without opening the index at all (its
    HTTP stack alone takes a tenth of a second to import). sync checks every file's hash as
    it installs it, so nothing is hashed here that was not just downloaded. ``progress``
    (``Output.progress``) draws the bytes as they arrive, on a terminal.
    """

    def fetch(files: Sequence[LockedFile]) -> Mapping[str, Path]:
        found: dict[str, Path] = {}
        missing: list[LockedFile] = []
        for f in files:
            path = overlay.cache.wheel(f.sha256, f.filename)
            if path is None:
                missing.append(f)
            else:
                found[f.sha256] = path
        if not missing:
            return found
        if offline:
            names = sorted(f.filename for f in missing)
            raise SyncError(
                f"--offline, and {len(missing)} locked file(s) are not in the cache: "
                + ", ".join(names[:5])
                + (", ..." if len(names) > 5 else ""),
                hint="run `overlock sync` once with network access",
            )
        total = sum(f.size or 0 for f in missing)
        with (
            overlay.index(base) as index,
            contextlib.nullcontext(None)
            if progress is None
            else progress("downloading", total, unit="bytes") as bar,
        ):

            def one(f: LockedFile) -> tuple[str, Path]:
                dist = DistFile(
                    filename=f.filename, url=f.url, hashes={"sha256": f.sha256}, size=f.size
                )
                heard = None if bar is None else functools.partial(bar.advance, f.filename)
                return f.sha256, index.download(dist, on_bytes=heard)

            with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, len(missing))) as pool:
                found.update(pool.map(one, missing))
        return found

    return fetch


def current_lock(
    overlay: Overlay, base: BaseEnv, *, allow_stale: bool, lock: Lock | None = None
) -> Lock:
    if lock is None:
        lock = read_lock(overlay.lock_path)
    status = lock_status(overlay.manifest, base, lock)
    if not status.current and not allow_stale:
        raise StaleLockError(
            "refusing to sync: " + "; ".join(status.problems),
            hint="run `overlock lock` first (or `overlock sync --allow-stale` to sync the lock"
            " as it is)",
        )
    return lock


def with_built_sources(
    overlay: Overlay,
    base: BaseEnv,
    lock: Lock,
    *,
    no_build: bool,
    allow_stale: bool,
    reporter: Callable[[str], None],
    step: Step | None = None,
) -> Lock:
    """Build (or take from the cache) the wheel of every source in the lock."""
    if not any(p.needs_build for p in lock.packages):
        return lock
    # The build stack (and app.lock's, with the resolver's), only when there is a source.
    from overlock.app.lock import lazy_index
    from overlock.build.sources import build_sources

    with lazy_index(lambda: overlay.index(base)) as index:
        return build_sources(
            lock,
            lock_dir=overlay.lock_path.parent,
            base=base,
            cache=overlay.cache,
            index=index,
            manifest=overlay.manifest,
            no_build=no_build,
            force=allow_stale,
            reporter=reporter,
            step=step,
        )


def sync_overlay(
    overlay: Overlay,
    *,
    lock: Lock | None = None,
    dry_run: bool = False,
    allow_stale: bool = False,
    drop_foreign: bool = False,
    move_aside: bool = False,
    offline: bool = False,
    compile_bytecode: bool = True,
    verify_imports: bool = True,
    no_build: bool = False,
    take_over: bool = False,
    note: Callable[[str], None] = _ignore,
    say: Callable[[str], None] = _ignore,
    progress: ProgressFactory | None = None,
    step: Step | None = None,
    status: Step | None = None,
) -> SyncResult:
    """Sync ``overlay``'s prefix to ``lock`` (default: its lock file, which must be current
    unless ``allow_stale``), building its sources first; record a stamp for the next no-op.
    ``note``: what builds say; ``say``: what a long step is doing now; ``progress``, ``step``
    and ``status`` draw bytes, builds and waits on a terminal (``cli.output.Output``)."""
    if offline:  # what a build needs from the index comes from the cache too
        overlay = overlay.with_index_options(
            replace(overlay.index_options or IndexOptions(), offline=True)
        )
    # Before the lock and the base are read: what a stamp of this sync may vouch for.
    observed = stamp_observe(
        overlay.manifest.path, overlay.lock_path, overlay.manifest.base_snapshot
    )
    with status("reading the base environment") if status else contextlib.nullcontext():
        base = live_base(overlay)
    from_file = lock is None
    lock = current_lock(overlay, base, allow_stale=allow_stale, lock=lock)
    builds = any(p.needs_build for p in lock.packages)
    lock = with_built_sources(
        overlay, base, lock, no_build=no_build, allow_stale=allow_stale, reporter=note, step=step
    )
    result = sync(
        lock,
        base,
        overlay.prefix,
        fetch=downloader(overlay, base, offline=offline, progress=progress),
        compile_bytecode=compile_bytecode,
        verify_imports=verify_imports,
        dry_run=dry_run,
        move_aside=move_aside,
        drop_foreign=drop_foreign,
        protect=(overlay.manifest.path.parent,),
        reporter=say,
        owner=overlay.owner,
        take_over=take_over,
        progress=progress,
        store=Store(overlay.cache.unpacked_root()),
    )
    if from_file and not (dry_run or allow_stale or builds or lower_site_dirs(base)):
        # (Not over lower overlays: their re-sync would not show in the stamp's files.)
        # The prefix now holds a current lock: the next plain sync can say so from a stamp.
        record_stamp(overlay.cache.root, overlay.manifest.path, observed, overlay.prefix, base)
    return result
