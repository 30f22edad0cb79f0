"""The commands that materialize and use an overlay: sync, run, activate, rollback."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from overlock.app.overlay import Overlay
from overlock.base.env import BaseEnv
from overlock.base.probe_cache import probe_cached
from overlock.baseproc import base_environ
from overlock.dists.types import DistFile
from overlock.errors import (
    BadInputError,
    CommandNotExecutableError,
    CommandNotFoundError,
    OverlockError,
    StaleLockError,
    SyncError,
)
from overlock.lock.make import lock_status
from overlock.lock.pylock import Lock, LockedFile, read_lock
from overlock.prefix.layers import lower_site_dirs
from overlock.sync.stamp import observe as stamp_observe
from overlock.sync.stamp import record as record_stamp

DOWNLOAD_THREADS = 8


def live_base(overlay: Overlay) -> BaseEnv:
    """The base as it is now: sync and run act on a real interpreter, never on a snapshot."""
    if overlay.manifest.base_snapshot is None:
        return overlay.base
    python = overlay.base.python
    if not Path(python).exists():
        raise BadInputError(
            f"the manifest locks from a snapshot of {python}, which is not on this machine",
            hint="sync on the machine that has the base, or set `base` in overlay.toml",
        )
    return probe_cached(python, overlay.cache.root)


def downloader(
    overlay: Overlay, base: BaseEnv, *, offline: bool
) -> Callable[[Sequence[LockedFile]], Mapping[str, Path]]:
    """Fetch locked files into the shared cache, in parallel; offline: the cache only.

    Files the cache already holds are taken from it without opening the index at all (its
    HTTP stack alone takes a tenth of a second to import). sync checks every file's hash as
    it installs it, so nothing is hashed here that was not just downloaded.
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
        with overlay.index(base) as index:

            def one(f: LockedFile) -> tuple[str, Path]:
                dist = DistFile(
                    filename=f.filename, url=f.url, hashes={"sha256": f.sha256}, size=f.size
                )
                return f.sha256, index.download(dist)

            with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, len(missing))) as pool:
                found.update(pool.map(one, missing))
        return found

    return fetch


def _current_lock(
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


def _with_built_sources(
    overlay: Overlay, base: BaseEnv, lock: Lock, *, no_build: bool, allow_stale: bool, out: Any
) -> Lock:
    """Build (or take from the cache) the wheel of every source in the lock."""
    if not any(p.needs_build for p in lock.packages):
        return lock
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
            reporter=out.note,
        )


def cmd_sync(args: argparse.Namespace, out: Any) -> int:
    if args.force:
        raise BadInputError(
            "--force is gone: it did three things; say which one you mean",
            hint="--allow-stale syncs a stale lock, --drop-foreign drops files overlock did"
            " not install, --move-aside moves an old install prefix out of the overlay's way",
        )
    return sync_overlay(
        Overlay.load(args.manifest),
        out,
        dry_run=args.dry_run,
        allow_stale=args.allow_stale,
        drop_foreign=args.drop_foreign,
        move_aside=args.move_aside,
        offline=args.offline,
        compile_bytecode=not args.no_compile,
        verify_imports=not args.no_verify_imports,
        as_json=args.json,
        no_build=args.no_build,
        take_over=args.take_over,
    )


def sync_overlay(
    overlay: Overlay,
    out: Any,
    *,
    lock: Lock | None = None,
    dry_run: bool = False,
    allow_stale: bool = False,
    drop_foreign: bool = False,
    move_aside: bool = False,
    offline: bool = False,
    compile_bytecode: bool = True,
    verify_imports: bool = True,
    as_json: bool = False,
    no_build: bool = False,
    take_over: bool = False,
) -> int:
    """Sync ``overlay``'s prefix to ``lock`` (default: its lock file) and report it."""
    from overlock.sync.engine import sync
    from overlock.sync.store import Store

    # Before the lock and the base are read: what a stamp of this sync may vouch for.
    observed = stamp_observe(
        overlay.manifest.path, overlay.lock_path, overlay.manifest.base_snapshot
    )
    base = live_base(overlay)
    from_file = lock is None
    lock = _current_lock(overlay, base, allow_stale=allow_stale, lock=lock)
    builds = any(p.needs_build for p in lock.packages)
    lock = _with_built_sources(
        overlay, base, lock, no_build=no_build, allow_stale=allow_stale, out=out
    )
    result = sync(
        lock,
        base,
        overlay.prefix,
        fetch=downloader(overlay, base, offline=offline),
        compile_bytecode=compile_bytecode,
        verify_imports=verify_imports,
        dry_run=dry_run,
        move_aside=move_aside,
        drop_foreign=drop_foreign,
        protect=(overlay.manifest.path.parent,),
        reporter=out.debug,
        owner=overlay.owner,
        take_over=take_over,
        progress=out.progress,
        store=Store(overlay.cache.unpacked_root()),
    )
    if from_file and not (dry_run or allow_stale or builds or lower_site_dirs(base)):
        # (Not over lower overlays: their re-sync would not show in the stamp's files.)
        # The prefix now holds a current lock: the next plain sync can say so from a stamp.
        record_stamp(overlay.cache.root, overlay.manifest.path, observed, overlay.prefix, base)
    plan = result.plan
    if as_json:
        out.json(
            {
                "prefix": str(result.prefix),
                "changed": result.changed,
                "dry_run": result.dry_run,
                "generation": result.generation,
                "previous": result.previous,
                "plan": plan.lines(),
                "warnings": list(result.warnings),
            }
        )
    for warning in result.warnings:
        out.note(f"warning: {warning}")
    if plan.is_noop:
        out.info(f"{overlay.prefix} already holds exactly the lock")
        return 0
    for line in plan.lines():
        out.info(f"  {line}")
    if dry_run:
        out.note("dry run: nothing changed")
    else:
        out.note(f"synced {overlay.prefix} (generation {result.generation})")
    return 0


def _resolve_command(command: Sequence[str], base: BaseEnv, env: Mapping[str, str]) -> list[str]:
    """``python`` in an overlay means the base's interpreter, whatever PATH says."""
    if not command:
        raise BadInputError("nothing to run", hint="overlock run -- python -c 'import x'")
    first = command[0]
    names = {"python", "python3", f"python{base.py_short}"}
    if first in names:
        return [base.python, *command[1:]]
    found = shutil.which(first, path=env.get("PATH"))
    return [found or first, *command[1:]]


def cmd_run(args: argparse.Namespace, out: Any) -> int:
    from overlock.prefix.activate import overlay_environ

    overlay = Overlay.load(args.manifest)
    base = live_base(overlay)
    prefix = overlay.prefix
    if not prefix.exists():
        raise SyncError(f"{prefix} does not exist yet", hint="run `overlock sync` first")
    _warn_if_behind(overlay, prefix, out)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    # The command runs the base's interpreter, which caches byte-code below the base when it
    # may (a root user, a base whose stdlib ships no .pyc): off, as for overlock's own runs.
    env = base_environ(overlay_environ(base, prefix, os.environ), keep_python_vars=True)
    argv = _resolve_command(command, base, env)
    # Exit codes as a shell gives them, so scripts that check for 127/126 keep working.
    try:
        return subprocess.run(argv, env=env).returncode
    except FileNotFoundError as exc:
        raise CommandNotFoundError(
            f"command not found: {command[0]}",
            hint=f"is it installed in the overlay ({base.scheme['scripts']}/) or on PATH?",
        ) from exc
    except PermissionError as exc:
        raise CommandNotExecutableError(
            f"cannot execute {command[0]}: {exc.strerror or exc}",
            hint="check that it is an executable file",
        ) from exc


def _warn_if_behind(overlay: Overlay, prefix: Path, out: Any) -> None:
    """Running an overlay that lags its lock is allowed, but never silently."""
    from overlock.prefix.state import read_state
    from overlock.sync.engine import lock_hash

    try:
        state = read_state(prefix)
        lock = overlay.read_lock()
    except OverlockError:
        return  # `overlock check` reports an unreadable lock or state; `run` still runs
    if (
        state is not None
        and state.owner is not None
        and not state.owner.same_manifest(overlay.owner)
    ):
        out.note(
            f"warning: {prefix} belongs to another overlay: it was synced from"
            f" {state.owner}, not from {overlay.manifest.path}"
        )
        return
    if state is None or lock is None or state.lock_hash == lock_hash(lock):
        return
    out.note(
        f"warning: {prefix} was synced from an earlier {overlay.lock_path.name};"
        " run `overlock sync` to bring it up to date"
    )


def cmd_activate(args: argparse.Namespace, out: Any) -> int:
    from overlock.prefix.activate import activate_script, default_shell

    overlay = Overlay.load(args.manifest)
    base = live_base(overlay)
    shell = args.shell or default_shell(os.environ)
    print(activate_script(shell, base, overlay.prefix), end="")
    return 0


def cmd_rollback(args: argparse.Namespace, out: Any) -> int:
    from overlock.sync.engine import rollback

    overlay = Overlay.load(args.manifest)
    generation = rollback(overlay.prefix, owner=overlay.owner)
    out.info(f"{overlay.prefix} is back at generation {generation}")
    return 0


EXAMPLES = {
    "sync": (
        "example:\n  overlock sync\n  overlock sync --dry-run -m overlays/analysis/overlay.toml"
    ),
    "run": "example:\n  overlock run -- python -c 'import urllib3; print(urllib3.__version__)'",
    "activate": 'example:\n  eval "$(overlock activate)"\n  deactivate_overlay',
    "rollback": "example:\n  overlock rollback",
}


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    p = add(
        "sync",
        cmd_sync,
        "make the prefix hold exactly the lock",
        manifest_opt,
        example=EXAMPLES["sync"],
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--allow-stale",
        action="store_true",
        help="sync the lock as it is, even if overlay.toml, the base or a source tree changed",
    )
    p.add_argument(
        "--drop-foreign",
        action="store_true",
        help="leave out files in the prefix that overlock did not install (kept by default)",
    )
    p.add_argument(
        "--move-aside",
        action="store_true",
        help="move an existing install prefix that overlock did not make (e.g. from"
        " `pip install --prefix`) out of the way, into .PREFIX.overlock/",
    )
    # Split into the three above; kept only to say so.
    p.add_argument("--force", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--offline", action="store_true", help="use only the download cache")
    p.add_argument("--no-build", action="store_true", help="refuse to build anything from source")
    p.add_argument("--no-compile", action="store_true", help="do not byte-compile")
    p.add_argument(
        "--no-verify-imports",
        action="store_true",
        help="switch without first importing shadowing packages and their base dependents",
    )
    p.add_argument(
        "--take-over",
        action="store_true",
        help="sync even when the prefix belongs to another overlay (another overlay.toml)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")

    p = add(
        "run",
        cmd_run,
        "run a command with the overlay active",
        manifest_opt,
        example=EXAMPLES["run"],
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    p = add(
        "activate",
        cmd_activate,
        "print shell code that activates the overlay",
        manifest_opt,
        example=EXAMPLES["activate"],
    )
    p.add_argument("--shell", choices=["bash", "zsh", "sh", "fish", "tcsh", "csh"])

    add(
        "rollback",
        cmd_rollback,
        "return the prefix to its previous generation",
        manifest_opt,
        example=EXAMPLES["rollback"],
    )
