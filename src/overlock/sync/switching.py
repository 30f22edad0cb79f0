"""Switching a prefix to a finished generation atomically, pruning old ones, and the lock that
keeps two syncs of one prefix from interleaving."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from overlock.atomic import write_json_atomic
from overlock.base.env import BaseEnv
from overlock.errors import BadInputError
from overlock.lock.pylock import Lock, lock_hash, same_lock
from overlock.prefix.state import (
    STATE_DIRNAME,
    STATE_FILE,
    GenerationState,
    Owner,
    gen_number,
)
from overlock.sync.generation import Reporter


def switch(prefix: Path, gen: Path) -> None:
    """Point ``prefix`` at ``gen`` with one atomic rename."""
    tmp = prefix.with_name(f".{prefix.name}.overlock-switch")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(gen, prefix.parent))
    tmp.replace(prefix)
    _fsync_dir(prefix.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; durability is best effort
        pass
    finally:
        os.close(fd)


def next_generation(root: Path) -> int:
    numbers = [0]
    for entry in root.iterdir():
        n = gen_number(entry.name.removesuffix(".partial"))
        if n is not None:
            numbers.append(n)
    return max(numbers) + 1


SPARE = "spare"  # a retired generation, for the next sync to recycle (generation.recycle)


def prune(root: Path, keep: set[int], *, spare: bool = False) -> None:
    """Remove generations not in ``keep`` and leftovers of interrupted syncs.

    ``spare``: the newest generation not kept is renamed to ``SPARE`` instead (replacing an
    older spare): the next sync recycles it rather than link every file again, and deleting
    its ~10,000 files no longer costs this sync a third of a second.
    """
    retired = sorted(
        (n, entry)
        for entry in root.iterdir()
        if (n := gen_number(entry.name)) is not None and n not in keep
    )
    if spare and retired:
        _, newest = retired.pop()
        old = root / SPARE
        if os.path.lexists(old):
            old.rename(root / f"trash-{SPARE}-{os.getpid()}")
        newest.rename(old)
    for entry in sorted(root.iterdir()):
        n = gen_number(entry.name)
        partial = entry.name.endswith(".partial") or entry.name.startswith("trash-")
        if (n is not None and n not in keep) or partial:
            # Renamed first, so a prune killed half-way never leaves a half-deleted gen-N
            # that rollback could mistake for a complete one.
            trash = entry
            if not entry.name.startswith("trash-"):
                trash = root / f"trash-{entry.name}-{os.getpid()}"
                entry.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)


def unused(stem: Path) -> Path:
    n = 1
    while os.path.lexists(f"{stem}-{n}"):
        n += 1
    return Path(f"{stem}-{n}")


def refresh_lock_facts(
    prefix: Path, state: GenerationState, lock: Lock, owner: Owner | None
) -> None:
    """Same packages, another lock text (a new manifest hash) or owner: record it, atomically."""
    same = same_lock(state.lock_hash, lock)
    if same and state.base_fingerprint == lock.base_fingerprint and state.owner == owner:
        return
    data = state.to_json()
    # A hash of the earlier definition stays while it matches: the fingerprint an overlay
    # above this one locked against is made of it (prefix/layers.py).
    data["lock-hash"] = state.lock_hash if same else lock_hash(lock)
    data["base-fingerprint"] = lock.base_fingerprint
    data["owner"] = None if owner is None else owner.to_json()
    write_json_atomic(prefix / STATE_DIRNAME / STATE_FILE, data)


@contextlib.contextmanager
def exclusive(lock_path: Path, prefix: Path, report: Reporter) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            held = f" (held by {holder})" if holder else ""
            report(f"waiting for another sync of {prefix} to finish{held}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Who holds it, for the message above in the next sync that has to wait. Written
        # only under the lock; a stale line from a killed holder is harmless (flock is
        # released by the kernel, and the next holder overwrites it).
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"pid {os.getpid()} on {socket.gethostname()},"
            f" since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(),
            0,
        )
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _lock_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def refuse_moving_aside(prefix: Path, base: BaseEnv, protect: Sequence[Path]) -> None:
    """Moving a directory aside is only for an old install prefix in the overlay's place.

    ``prefix = "~"`` once had $HOME renamed aside: whatever the flags, never the home
    directory, never a directory holding the project (or the current directory), and never
    one that holds anything but the directories an install scheme makes.
    """
    real = Path(os.path.realpath(prefix))
    why = None
    home = Path(os.path.realpath(Path.home()))
    held = [Path(os.path.realpath(p)) for p in (*protect, Path.cwd())]
    if real == home or home.is_relative_to(real):
        why = "it is (or holds) your home directory"
    elif any(p == real or p.is_relative_to(real) for p in held):
        why = "it holds the project (overlay.toml) or the current directory"
    elif not prefix.is_dir() or prefix.is_symlink():
        why = "it is not a directory"
    else:
        # What an install scheme makes at the top, plus where wheels' data files usually go.
        tops = {parts[0] for p in base.scheme.values() if (parts := PurePosixPath(p).parts)}
        tops |= {"share", "etc", "lib64"}
        others = sorted(e.name for e in prefix.iterdir() if e.name not in tops)
        installed = any((prefix / base.scheme[k]).is_dir() for k in ("purelib", "platlib"))
        if others or not installed:
            shown = ", ".join(others[:5]) or "no site-packages"
            why = f"it does not look like an install prefix ({shown})"
    if why is not None:
        raise BadInputError(
            f"refusing to move {prefix} aside: {why}",
            hint="point `prefix` in overlay.toml at a new directory for the overlay",
        )


def refuse_base_paths(prefix: Path, base: BaseEnv) -> None:
    """The overlay, its generations and its lock must all live outside the base."""
    # The generations live next to the prefix, so checking the prefix's real location (its
    # parent resolved, the prefix itself possibly a symlink we own) covers them too.
    mine = Path(os.path.realpath(prefix.parent)) / prefix.name
    for raw in (base.prefix, *base.site_dirs):
        if not raw:
            continue
        theirs = Path(os.path.realpath(raw))
        if mine == theirs or mine.is_relative_to(theirs) or theirs.is_relative_to(mine):
            raise BadInputError(
                f"the overlay prefix {prefix} overlaps the base at {theirs};"
                " overlock never writes into the base",
                hint="choose a prefix outside the base environment",
            )
