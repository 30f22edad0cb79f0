"""Answer an ``overlock sync`` that has nothing to do from a stamp, before the CLI loads.

Concluding that a prefix already holds a current lock means loading the manifest, the base
probe and the lock: about half a second of imports and TOML parsing, every time. So after
each sync that leaves the prefix holding a lock that was current, ``record`` writes a stamp
into the cache: the ``stat`` of every file that conclusion rested on (overlay.toml, the lock,
a base snapshot, the generation's state file), where the prefix link points, and the base's
stat key (``statkey.base_stat_key``, the key the probe cache trusts). ``quick_sync`` checks
them again with a few ``stat`` calls and answers as the full sync would. Any difference, any
doubt, or a command asking for more than a plain sync, and the full sync runs instead.

Nothing is hashed but the short key text, and no TOML is parsed. Standard library only (and
two stdlib-only overlock modules): ``overlock.__main__`` calls this before importing the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from overlock import __version__
from overlock.locations import cache_root, manifest_path
from overlock.statkey import base_stat_key, stat_text

if TYPE_CHECKING:
    from pathlib import Path

    from overlock.base.env import BaseEnv

STAMP_FORMAT = 1
STAMP_DIR = "sync-stamps"
# The options of `sync` that cannot change what a sync with nothing to do answers.
_NEUTRAL = frozenset({"--no-compile", "--offline"})


def stamp_path(cache: str | os.PathLike[str], manifest: str | os.PathLike[str]) -> str:
    """The stamp of the overlay whose manifest is ``manifest`` (any spelling of its path)."""
    slot = hashlib.sha256(os.path.abspath(manifest).encode()).hexdigest()[:32]  # noqa: PTH100
    return os.path.join(cache, STAMP_DIR, f"{slot}.json")  # noqa: PTH118


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

    from overlock.atomic import write_text_atomic
    from overlock.base.probe_cache import key_dirs
    from overlock.prefix.state import STATE_DIRNAME, STATE_FILE

    state = prefix / STATE_DIRNAME / STATE_FILE
    dirs = key_dirs(base)
    stamp: dict[str, Any] = {
        "format": STAMP_FORMAT,
        "overlock": __version__,
        "manifest": os.path.abspath(manifest),  # noqa: PTH100
        "files": {**observed, str(state): stat_text(state)},
        "prefix": str(prefix),
        "target": str(prefix.readlink()),
        "base": {
            "python": base.python,
            "prefix": base.prefix,
            "dirs": dirs,
            "key": base_stat_key(base.python, base.prefix, dirs),
        },
    }
    path = Path(stamp_path(cache, manifest))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only cache only costs the next sync its full run


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
    if stamp.get("format") != STAMP_FORMAT or stamp.get("overlock") != __version__:
        return False
    if stamp.get("manifest") != manifest:
        return False
    for path, seen in stamp["files"].items():
        if stat_text(path) != seen or seen == "-":
            return False
    if os.readlink(stamp["prefix"]) != stamp["target"]:  # noqa: PTH115
        return False
    base = stamp["base"]
    key = base_stat_key(base["python"], base["prefix"], base["dirs"])
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
        with open(stamp_path(cache_root(env), manifest), encoding="utf-8") as fh:
            stamp = json.load(fh)
        if not _holds(stamp, manifest):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if quiet == 0:
        print(f"{stamp['prefix']} already holds exactly the lock", file=out or sys.stdout)
    return 0
