"""`overlock cache info|prune|clean`: what the cache holds, and removing what nothing needs.

The cache only grows on its own (cache.py): entries are keyed by content, so none goes
stale. What can become useless is an unpacked-store entry no generation links any more,
the leftovers of killed processes, and the sync stamps of deleted overlays; ``prune``
removes those. ``clean`` removes whole kinds, like ``uv cache clean``.

Safety:

* Both hold the store's lock exclusive (sync/store.py ``LOCK_FILE``), which syncs hold
  shared from choosing which entries to link until they are linked (downloads included):
  no entry a sync is about to link disappears, and no download of a sync lands in a
  directory being removed. ``overlock lock`` does not take it: a ``clean`` of the kinds
  it writes (pages, metadata, wheels) while it runs can make it fail, and it can be run
  again.
* An entry is pruned only when each of its files has a single link (``st_nlink == 1``): a
  generation that linked it, whoever's, shares its inodes. Prefixes that got copies or
  clones do not need it. Entries a prefix still links stay valid after ``clean`` as well:
  the prefix holds its own links to the same inodes.
* Nothing is followed through a symbolic link: the tree is walked with ``lstat``, a link
  is removed as a link (``shutil.rmtree`` does not follow them), and a kind's directory
  that is itself a link is left alone and reported.
* Scratch directories (the cache's ``tmp/``, the store's ``tmp/`` and ``trash/``) are
  removed only once nothing in them changed for an hour: a running lock or build may be
  using a fresh one.
* Files that cannot be read or removed (a group-shared cache holds other users' files) are
  reported and skipped; everything else is still done.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overlock.cache import KINDS, Cache, Kind
from overlock.filelock import Busy, flocked
from overlock.sync.stamp import STAMP_DIR, stamp_manifest
from overlock.sync.store import LOCK_FILE

SCRATCH_AGE = 3600.0  # seconds without a change before a scratch directory is a leftover
_SHARD = re.compile(r"^[0-9a-f]{2}$")


# -- walking without following links ----------------------------------------------------


@dataclass
class Problems:
    """Paths that could not be read or removed, each with the reason."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str | os.PathLike[str], exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.items.append((os.fspath(path), reason))


def _walk(top: Path, problems: Problems) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of ``top`` and everything below it; links are not followed."""
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return
    except OSError as exc:
        problems.add(top, exc)
        return
    yield str(top), st
    if not stat.S_ISDIR(st.st_mode):
        return
    stack = [str(top)]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                found = list(it)
        except OSError as exc:
            problems.add(here, exc)
            continue
        for item in found:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                problems.add(item.path, exc)
                continue
            yield item.path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(item.path)


@dataclass
class Usage:
    """Entries and bytes; each inode counted once (``seen`` is shared by one report)."""

    entries: int = 0
    bytes: int = 0
    linked: int = 0  # store entries some file of which has another link
    linked_bytes: int = 0  # bytes of files with another link: removing them frees nothing

    def to_json(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "bytes": self.bytes,
            "linked": self.linked,
            "linked_bytes": self.linked_bytes,
        }


def _tally(
    top: Path, usage: Usage, seen: set[tuple[int, int]], problems: Problems
) -> tuple[int, bool]:
    """Add what is under ``top`` to ``usage``; (its regular files, whether one is linked)."""
    files = 0
    linked = False
    for _path, st in _walk(top, problems):
        if not stat.S_ISREG(st.st_mode):
            continue
        files += 1
        if st.st_nlink > 1:
            linked = True
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        usage.bytes += st.st_size
        if st.st_nlink > 1:
            usage.linked_bytes += st.st_size
    return files, linked


def _children(path: Path, problems: Problems) -> list[Path]:
    try:
        with os.scandir(path) as it:
            return sorted(Path(item.path) for item in it)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.add(path, exc)
        return []


def _store_entries(store: Path, problems: Problems) -> Iterator[Path]:
    """The entry directories of the store (``<sha256[:2]>/<sha256>``), not following links."""
    for shard in _children(store, problems):
        if _SHARD.match(shard.name) and _is_dir(shard):
            yield from _children(shard, problems)


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


# -- info -------------------------------------------------------------------------------


@dataclass
class Info:
    root: Path
    exists: bool
    usage: dict[str, Usage]
    links: list[str]  # kind directories that are symbolic links (not looked into)
    problems: Problems

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "exists": self.exists,
            "kinds": {name: u.to_json() for name, u in self.usage.items()},
            "total": {
                "entries": sum(u.entries for u in self.usage.values()),
                "bytes": sum(u.bytes for u in self.usage.values()),
            },
            "symlinks_skipped": self.links,
            "unreadable": [{"path": p, "error": e} for p, e in self.problems.items],
        }


def info(cache: Cache) -> Info:
    """Entries and bytes of each kind (a file linked from several places counts once)."""
    problems = Problems()
    seen: set[tuple[int, int]] = set()
    usage: dict[str, Usage] = {}
    links: list[str] = []
    for kind in KINDS:
        u = usage[kind.name] = Usage()
        for name in kind.dirs:
            top = cache.root / name
            if _is_link(top):
                links.append(str(top))
                continue
            if kind.name == "store":
                for entry in _store_entries(top, problems):
                    _files, linked = _tally(entry, u, seen, problems)
                    u.entries += 1
                    u.linked += linked
                for other in ("tmp", "trash"):  # bytes, not entries
                    _tally(top / other, u, seen, problems)
            elif kind.per_directory:
                for child in _children(top, problems):
                    _tally(child, u, seen, problems)
                    u.entries += 1
            else:
                u.entries += _tally(top, u, seen, problems)[0]
    return Info(cache.root, _is_dir(cache.root), usage, links, problems)


# -- removing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    kind: str
    path: str
    bytes: int  # freed: what had no other link


@dataclass
class Outcome:
    root: Path
    dry_run: bool
    removed: list[Removed] = field(default_factory=list)
    kept_linked: int = 0  # store entries kept because a prefix links them
    kept_fresh: list[str] = field(default_factory=list)  # scratch possibly still in use
    links: list[str] = field(default_factory=list)  # symbolic links left alone
    problems: Problems = field(default_factory=Problems)

    @property
    def freed(self) -> int:
        return sum(r.bytes for r in self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "dry_run": self.dry_run,
            "removed": [{"kind": r.kind, "path": r.path, "bytes": r.bytes} for r in self.removed],
            "freed_bytes": self.freed,
            "kept": {"linked_store_entries": self.kept_linked, "fresh_scratch": self.kept_fresh},
            "symlinks_skipped": self.links,
            "failed": [{"path": p, "error": e} for p, e in self.problems.items],
        }


def _freeable(path: Path, problems: Problems) -> int:
    """Bytes removing ``path`` would free: its files with no other link."""
    total = 0
    for _p, st in _walk(path, problems):
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            total += st.st_size
    return total


def _rmtree(path: Path, problems: Problems) -> None:
    """Remove ``path`` (a link as a link; a directory with ``rmtree``, which on Linux never
    follows a link inside it), recording what could not be removed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        problems.add(path, exc)
        return
    if not stat.S_ISDIR(st.st_mode):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.add(path, exc)
        return

    def failed(_func: Callable[..., Any], where: str, exc: BaseException) -> None:
        if not isinstance(exc, FileNotFoundError):
            problems.add(where, exc)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=failed)
    else:
        shutil.rmtree(path, onerror=lambda f, p, info: failed(f, p, info[1]))


def _remove(kind: str, path: Path, out: Outcome) -> None:
    """Remove ``path`` (unless a dry run) and record it with the bytes that freed."""
    freed = _freeable(path, out.problems)
    if not out.dry_run:
        before = len(out.problems.items)
        _rmtree(path, out.problems)
        if len(out.problems.items) > before:
            freed -= _freeable(path, Problems())  # what is left was not freed
            if os.path.lexists(path):
                return
    out.removed.append(Removed(kind, str(path), max(freed, 0)))


def _remove_entry(store: Path, entry: Path, out: Outcome) -> None:
    """Remove a store entry whole: renamed into trash/ first, so that a removal that stops
    half-way (another user's files) never leaves a partial entry in place."""
    freed = _freeable(entry, out.problems)
    if out.dry_run:
        out.removed.append(Removed("store", str(entry), freed))
        return
    try:
        trash = store / "trash"
        trash.mkdir(exist_ok=True)
        holder = Path(tempfile.mkdtemp(dir=trash))
    except OSError as exc:
        out.problems.add(entry, exc)
        return
    try:
        os.rename(entry, holder / "entry")  # noqa: PTH104
    except OSError as exc:
        out.problems.add(entry, exc)
        _rmtree(holder, Problems())
        return
    with contextlib.suppress(OSError):  # a shard left empty (syncs make it again)
        entry.parent.rmdir()
    before = len(out.problems.items)
    _rmtree(holder, out.problems)
    if len(out.problems.items) > before:
        freed -= _freeable(holder, Problems())
    out.removed.append(Removed("store", str(entry), max(freed, 0)))


def _newest_change(path: Path) -> float:
    newest = 0.0
    for _p, st in _walk(path, Problems()):
        newest = max(newest, st.st_mtime)
    return newest


def _old_leftovers(kind: str, where: Path, out: Outcome, now: float) -> None:
    """Remove what is in ``where`` unless something in it changed within SCRATCH_AGE."""
    if _is_link(where):
        out.links.append(str(where))
        return
    for child in _children(where, out.problems):
        if now - _newest_change(child) < SCRATCH_AGE:
            out.kept_fresh.append(str(child))
        else:
            _remove(kind, child, out)


class StoreBusy(Exception):
    """A sync is using the store and the caller asked not to wait."""


def _exclusive(cache: Cache, wait: bool, on_wait: Callable[[], object] | None) -> Any:
    """The store's lock, held exclusive (a context manager)."""
    store = cache.unpacked_root()
    store.mkdir(exist_ok=True)
    return flocked(store / LOCK_FILE, exclusive=True, wait=wait, on_wait=on_wait)


def prune(
    cache: Cache,
    *,
    dry_run: bool = False,
    wait: bool = True,
    on_wait: Callable[[], object] | None = None,
    now: float | None = None,
) -> Outcome:
    """Remove what nothing needs (see the module's docstring); a dry run only reports it.

    Raises StoreBusy when ``wait`` is False and a sync holds the store.
    """
    out = Outcome(cache.root, dry_run)
    if not _is_dir(cache.root):
        return out
    at = time.time() if now is None else now
    if dry_run:
        _prune(cache, out, at)
        return out
    try:
        with _exclusive(cache, wait, on_wait):
            _prune(cache, out, at)
    except Busy:
        raise StoreBusy(str(cache.unpacked_root())) from None
    return out


def _prune(cache: Cache, out: Outcome, now: float) -> None:
    store = cache.unpacked_root()
    if _is_link(store):
        out.links.append(str(store))
    else:
        for entry in _store_entries(store, out.problems):
            _prune_entry(store, entry, out)
        for leftovers in ("tmp", "trash"):
            _old_leftovers("store", store / leftovers, out, now)
    _old_leftovers("scratch", cache.root / "tmp", out, now)
    stamps = cache.root / STAMP_DIR
    if _is_link(stamps):
        out.links.append(str(stamps))
        return
    for path in _children(stamps, out.problems):
        plain = path.name.endswith(".stamp") and _is_file(path)  # read, never through a link
        manifest = stamp_manifest(str(path)) if plain else None
        if manifest is not None and not os.path.lexists(manifest):
            _remove("stamps", path, out)


def _prune_entry(store: Path, entry: Path, out: Outcome) -> None:
    problems = Problems()
    linked = False
    for _path, st in _walk(entry, problems):
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            linked = True
            break
    if problems.items:  # not every file seen: it may be linked
        out.problems.items.extend(problems.items)
    elif linked:
        out.kept_linked += 1
    else:
        _remove_entry(store, entry, out)


def clean(
    cache: Cache,
    names: Iterable[str] = (),
    *,
    wait: bool = True,
    on_wait: Callable[[], object] | None = None,
    now: float | None = None,
) -> Outcome:
    """Remove every entry of the kinds ``names`` (all when empty).

    Scratch directories in use (changed within SCRATCH_AGE) stay; the store's lock file
    stays, so that syncs waiting on it and the next ones lock the same file.
    Raises StoreBusy when ``wait`` is False and a sync holds the store; ValueError for a
    name that is not a kind.
    """
    table = {k.name: k for k in KINDS}
    wanted = list(dict.fromkeys(names)) or list(table)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(unknown)}")
    out = Outcome(cache.root, dry_run=False)
    if not _is_dir(cache.root):
        return out
    at = time.time() if now is None else now
    try:
        with _exclusive(cache, wait, on_wait):
            for name in wanted:
                _clean_kind(cache, table[name], out, at)
    except Busy:
        raise StoreBusy(str(cache.unpacked_root())) from None
    return out


def _clean_kind(cache: Cache, kind: Kind, out: Outcome, now: float) -> None:
    for name in kind.dirs:
        top = cache.root / name
        if _is_link(top):
            out.links.append(str(top))
        elif kind.name == "scratch":
            _old_leftovers(kind.name, top, out, now)
        elif kind.name == "store":
            for entry in _store_entries(top, out.problems):
                _remove_entry(top, entry, out)
            for other in _children(top, out.problems):
                if _SHARD.match(other.name) and _is_dir(other):
                    with contextlib.suppress(OSError):
                        other.rmdir()  # empty now, unless something could not be removed
                elif other.name != LOCK_FILE:
                    _remove(kind.name, other, out)
        elif _is_dir(top) or os.path.lexists(top):
            _remove(kind.name, top, out)
