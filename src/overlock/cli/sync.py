"""The commands that materialize and use an overlay: sync, run, activate, rollback."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from overlock.app.overlay import Overlay
from overlock.base.env import BaseEnv
from overlock.baseproc import base_environ
from overlock.cli.common import add_network_options, index_options, sync_and_report
from overlock.errors import (
    BadInputError,
    CommandNotExecutableError,
    CommandNotFoundError,
    SyncError,
)


def cmd_sync(args: argparse.Namespace, out: Any) -> int:
    if args.force:
        raise BadInputError(
            "--force is gone: it did three things; say which one you mean",
            hint="--allow-stale syncs a stale lock, --drop-foreign drops files overlock did"
            " not install, --move-aside moves an old install prefix out of the overlay's way",
        )
    # --refresh: pages a build's requirements are looked up on (--offline is sync's own).
    overlay = Overlay.load(args.manifest).with_index_options(index_options(args))
    return sync_and_report(
        overlay,
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
    from overlock.app.live import behind, live_base
    from overlock.prefix.activate import overlay_environ

    overlay = Overlay.load(args.manifest)
    base = live_base(overlay)
    prefix = overlay.prefix
    if not prefix.exists():
        raise SyncError(f"{prefix} does not exist yet", hint="run `overlock sync` first")
    warning = behind(overlay, prefix)
    if warning is not None:
        out.note(f"warning: {warning}")
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


def cmd_activate(args: argparse.Namespace, out: Any) -> int:
    from overlock.app.live import live_base
    from overlock.prefix.activate import activate_script, default_shell, python_on_path_note

    overlay = Overlay.load(args.manifest)
    base = live_base(overlay)
    shell = args.shell or default_shell(os.environ)
    print(activate_script(shell, base, overlay.prefix), end="")
    note = python_on_path_note(base, overlay.prefix, os.environ)
    if note is not None:
        out.note(note)
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
    add_network_options(p)
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
