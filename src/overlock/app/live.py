"""The overlay as it runs now: the live base, and whether the prefix is behind the lock.

What ``run``, ``activate``, ``check`` and ``kernel`` need before they start anything; kept apart
from ``app/sync.py`` so that they do not import the sync engine, the installer and the
resolver for it (about 30 ms of a 100 ms command).
"""

from __future__ import annotations

from pathlib import Path

from overlock.app.overlay import Overlay, seen_base
from overlock.base.env import BaseEnv
from overlock.base.probe_cache import probe_cached
from overlock.errors import BadInputError, OverlockError
from overlock.lock.pylock import same_lock
from overlock.manifest.model import Manifest
from overlock.prefix.state import read_state


def live_base(overlay: Overlay) -> BaseEnv:
    """The base as it is now: sync and run act on a real interpreter, never on a snapshot.

    A snapshot may name the environment of this overlay or of the bottom of its stack (a
    group overlay locked from a snapshot): either way the interpreter it names is probed.
    """
    manifest = overlay.manifest
    if manifest.base_snapshot is None and manifest.base_overlay is None:
        return overlay.base

    def live(lowest: Manifest) -> BaseEnv:
        if lowest.base_snapshot is None:
            return overlay.environment(lowest)
        python = overlay.environment(lowest).python
        if not Path(python).exists():
            raise BadInputError(
                f"{lowest.path.name} locks from a snapshot of {python}, which is not on this"
                " machine",
                hint="sync on the machine that has the base, or set `base` in overlay.toml",
            )
        return probe_cached(python, overlay.cache.root)

    return seen_base(manifest, live)


def behind(overlay: Overlay, prefix: Path) -> str | None:
    """Why running ``prefix`` may not run what ``overlay`` locks, or None: another overlay
    owns it, or it was synced from an earlier lock."""
    try:
        state = read_state(prefix)
        lock = overlay.read_lock()
    except OverlockError:
        return None  # `overlock check` reports an unreadable lock or state; `run` still runs
    if (
        state is not None
        and state.owner is not None
        and not state.owner.same_manifest(overlay.owner)
    ):
        return (
            f"{prefix} belongs to another overlay: it was synced from"
            f" {state.owner}, not from {overlay.manifest.path}"
        )
    if state is None or lock is None or same_lock(state.lock_hash, lock):
        return None
    return (
        f"{prefix} was synced from an earlier {overlay.lock_path.name};"
        " run `overlock sync` to bring it up to date"
    )


__all__ = ["behind", "live_base"]
