"""Answer an ``overlock sync`` that has nothing to do from a stamp, before the CLI loads.

Concluding that a prefix already holds a current lock means loading the manifest, the base
probe and the lock: about half a second of imports and TOML parsing, every time. So after
each sync that leaves the prefix holding a lock that was current, ``record`` writes a stamp
into the cache: the ``stat`` of every file that conclusion rested on (overlay.toml, the lock,
a base snapshot, the generation's state file), where the prefix link points, and the base's
stat key (``statkey.base_stat_key``, the key the probe cache trusts). ``quick_sync`` checks
them again with a few ``stat`` calls and answers as the full sync would. Any difference, any
doubt, or a command asking for more than a plain sync, and the full sync runs instead.

Nothing is hashed and no TOML is parsed. ``overlock.__main__`` calls this before importing
the CLI, so the quick path imports nothing beyond ``os``, ``sys`` and two small overlock
modules: not ``json`` (with ``re`` and ``enum``), ``hashlib`` or ``typing``, which together
cost about a third of a no-op sync's 35 ms. So the stamp is a list of fields separated by NUL
(which no path or ``stat`` text contains), holding the base's stat key as text (compared
as it is, not as a digest), and named after an FNV-1a hash of the manifest's path.
"""

from __future__ import annotations

import os
import sys

from overlock import __version__
from overlock.locations import cache_root, manifest_path
from overlock.statkey import base_stat_text, stat_text

TYPE_CHECKING = False  # typing itself costs 3 ms here; type checkers know this name
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any, TextIO

    from overlock.base.env import BaseEnv

STAMP_FORMAT = 2
_MAGIC = f"overlock-sync-stamp-{STAMP_FORMAT}"
_MAX_STAMP = 64 * 1024 * 1024  # the key text grows with the base: ~60 bytes per distribution
STAMP_DIR = "sync-stamps"
# The options of `sync` that cannot change what a sync with nothing to do answers.
_NEUTRAL = frozenset({"--no-compile", "--offline"})


def stamp_path(cache: str | os.PathLike[str], manifest: str | os.PathLike[str]) -> str:
    """The stamp of the overlay whose manifest is ``manifest`` (any spelling of its path)."""
    slot = _fnv1a(os.fsencode(os.path.abspath(manifest)))  # noqa: PTH100
    return os.path.join(cache, STAMP_DIR, f"{slot:016x}.stamp")  # noqa: PTH118


def _fnv1a(data: bytes) -> int:
    """64-bit FNV-1a: a slot name, not a proof (the stamp repeats the manifest's path)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def observe(*paths: Path | None) -> dict[str, str]:
    """The ``stat`` of each of ``paths``, taken *before* the sync reads them.

    A file edited while the sync runs then no longer matches its stamp, so the next sync
    reads it instead of trusting the stamp.
    """
    return {str(p): stat_text(p) for p in paths if p is not None}


def record(
    cache: Path, manifest: Path, observed: Mapping[str, str], prefix: Path, base: BaseEnv
) -> None:
    """Remember that ``prefix`` now holds the lock, the ``observed`` files being as they were.

    Call only after a sync (not a dry run, not forced past a stale lock) of the lock file,
    when the lock builds nothing: development sources can change with no file here changing.
    """
    from pathlib import Path

    from overlock.atomic import atomic_writer
    from overlock.base.probe_cache import key_dirs
    from overlock.prefix.state import STATE_DIRNAME, STATE_FILE

    state = prefix / STATE_DIRNAME / STATE_FILE
    dirs = key_dirs(base)
    files = {**observed, str(state): stat_text(state)}
    fields = [
        _MAGIC,
        __version__,
        os.path.abspath(manifest),  # noqa: PTH100
        str(prefix),
        str(prefix.readlink()),
        base.python,
        base.prefix,
        base_stat_text(base.python, base.prefix, dirs),
        str(len(dirs)),
        *dirs,
        *(part for item in sorted(files.items()) for part in item),
    ]
    if any("\0" in f for f in fields):
        return  # cannot be written unambiguously; the next sync runs in full
    path = Path(stamp_path(cache, manifest))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as fh:
            fh.write("\0".join(fields).encode("utf-8", "surrogateescape"))
    except OSError:
        pass  # a read-only cache only costs the next sync its full run


def _read(path: str) -> dict[str, Any] | None:
    """The stamp at ``path`` as ``record`` wrote it, or None (absent, another format, damaged)."""
    with open(path, "rb") as fh:
        data = fh.read(_MAX_STAMP + 1)
    if len(data) > _MAX_STAMP:
        return None
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    if len(fields) < 9 or fields[0] != _MAGIC:
        return None
    ndirs = int(fields[8])
    dirs, rest = fields[9 : 9 + ndirs], fields[9 + ndirs :]
    if ndirs < 0 or len(dirs) != ndirs or len(rest) % 2:
        return None
    return {
        "overlock": fields[1],
        "manifest": fields[2],
        "prefix": fields[3],
        "target": fields[4],
        "base": {"python": fields[5], "prefix": fields[6], "key": fields[7], "dirs": dirs},
        "files": dict(zip(rest[::2], rest[1::2], strict=True)),
    }


def stamp_manifest(path: str) -> str | None:
    """The manifest the stamp at ``path`` was written for; None for a file of another
    format or a damaged one."""
    try:
        stamp = _read(path)
    except (OSError, ValueError):
        return None
    return None if stamp is None else str(stamp["manifest"])


def _plain_sync(argv: Sequence[str]) -> tuple[str | None, int] | None:
    """(``-m`` value or None, how many ``-q``) if ``argv`` is a plain ``sync``, else None."""
    if not argv or argv[0] != "sync":
        return None
    manifest: str | None = None
    quiet = 0
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg in ("-q", "--quiet") or (arg.startswith("-q") and set(arg[1:]) == {"q"}):
            quiet += 1 if arg == "--quiet" else len(arg) - 1
        elif arg in _NEUTRAL:
            continue
        elif arg in ("-m", "--manifest") and args:
            manifest = args.pop(0)
        elif arg.startswith("--manifest="):
            manifest = arg.partition("=")[2]
        elif arg.startswith("-m") and len(arg) > 2:
            manifest = arg[2:]
        else:
            return None
    return manifest, quiet


def _holds(stamp: Mapping[str, Any], manifest: str) -> bool:
    """Every fact the stamp recorded is still true."""
    if stamp.get("overlock") != __version__:
        return False
    if stamp.get("manifest") != manifest:
        return False
    for path, seen in stamp["files"].items():
        if stat_text(path) != seen or seen == "-":
            return False
    if os.readlink(stamp["prefix"]) != stamp["target"]:  # noqa: PTH115
        return False
    base = stamp["base"]
    key = base_stat_text(base["python"], base["prefix"], base["dirs"])
    return bool(key == base["key"])


def quick_sync(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int | None:
    """The exit code of ``overlock ARGV`` if a stamp proves it is a sync with nothing to do.

    None means "run the full command": not a plain sync, no stamp, or anything changed.
    """
    plain = _plain_sync(argv)
    if plain is None:
        return None
    given, quiet = plain
    env = os.environ if environ is None else environ
    manifest = os.path.abspath(given or manifest_path(env))  # noqa: PTH100
    try:
        stamp = _read(stamp_path(cache_root(env), manifest))
        if stamp is None or not _holds(stamp, manifest):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if quiet == 0:
        print(f"{stamp['prefix']} already holds exactly the lock", file=out or sys.stdout)
    return 0
