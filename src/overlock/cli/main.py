"""Command-line interface: the only place that prints and picks exit codes.

Exit codes: 0 success; 1 the request cannot be satisfied, or an operation failed or was
refused; 2 bad input (manifest, arguments, unreachable base); 3 an internal error
(TOP_EPILOG, shown by --help, has them all).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from overlock import __version__, children
from overlock.app.overlay import Overlay
from overlock.atomic import write_text_atomic
from overlock.cli.common import (
    add_index_options,
    add_json_option,
    add_no_build_option,
    add_overwrite_option,
    add_policy_options,
    add_upgrade_options,
    index_options,
    make_lock,
    output_path,
    policy_given,
)
from overlock.cli.output import COLOR_HELP, COLOR_MODES, Output
from overlock.errors import BadInputError, OverlockError
from overlock.manifest.constraints import load_constraints
from overlock.redact import RedactingFilter, scrub

log = logging.getLogger("overlock")


# -- commands ----------------------------------------------------------------------------


def cmd_lock(args: argparse.Namespace, out: Output) -> int:
    from overlock.lock.make import diff_locks, lock_status
    from overlock.lock.pylock import write_lock

    # --offline and --proxy hold for the checks too.
    overlay = Overlay.load(args.manifest).with_index_options(index_options(args))
    with out.status("reading the base environment"):
        base = overlay.base  # a probe of the base interpreter, unless cached
    old = overlay.read_lock()

    if args.check:
        from overlock.app.lock import source_checker

        checker = source_checker(overlay, base, no_build=args.no_build, reporter=out.note)
        status = lock_status(
            overlay.manifest,
            base,
            old,
            source_changes=checker,
            constraints=load_constraints(overlay.index_config.constraint_files),
        )
        if args.json:
            out.json({"lock": str(overlay.lock_path), **status.to_json()})
        if status.current:
            out.info(f"{overlay.lock_path.name} is up to date")
            return 0
        for problem in status.problems:
            out.info(f"stale: {problem}")
        out.note("  hint: run `overlock lock` to update it")
        return 1

    if (
        old is not None
        and not (args.upgrade or args.upgrade_package or policy_given(args))
        and not index_options(args)
        and not args.dry_run
    ):
        # Nothing changed since the lock was made (overlay.toml, the base, locked sources):
        # keep it, as uv and pip-compile keep their pins; --upgrade re-resolves.
        from overlock.app.lock import source_checker

        checker = source_checker(overlay, base, no_build=args.no_build, reporter=out.note)
        if lock_status(
            overlay.manifest,
            base,
            old,
            source_changes=checker,
            constraints=load_constraints(overlay.index_config.constraint_files),
        ).current:
            if args.json:
                out.json(
                    {
                        "lock": str(overlay.lock_path),
                        "written": False,
                        "dry_run": False,
                        "current": True,
                        "base": {"python": base.python, "fingerprint": base.fingerprint()},
                        "packages": _packages_json(old),
                        "changes": [],
                    }
                )
            out.note(
                f"{overlay.lock_path.name} is up to date: overlay.toml, the base and the locked"
                " sources are as when it was made"
            )
            out.note("  hint: `overlock lock --upgrade` resolves again for newer releases")
            return 0

    lock, outcome, index_stats = make_lock(
        overlay, out, no_build=args.no_build, keep=old, args=args
    )
    changes = diff_locks(old, lock)
    written = False
    if not args.dry_run:
        written = write_lock(lock, overlay.lock_path)
    if args.json:
        out.json(
            {
                "lock": str(overlay.lock_path),
                "written": written,
                "dry_run": bool(args.dry_run),
                "base": {"python": base.python, "fingerprint": base.fingerprint()},
                "current": False,
                "packages": _packages_json(lock),
                "changes": [
                    {
                        "name": c.name,
                        "kind": c.kind,
                        "old": c.old,
                        "new": c.new,
                        "to_base": c.to_base,
                    }
                    for c in changes
                ],
                "reused_from_base": list(outcome.reused),
                "preexisting_breakage": list(outcome.preexisting),
                # Base packages left requiring what [overlay] hide withholds (base/hiding.py).
                "hide": list(lock.hide),
                "hidden_breakage": list(lock.hidden_breakage),
                # From the index's metadata of Debian/conda base packages, not from the base.
                "upstream_requirements": list(lock.upstream),
                "index_requests": index_stats,
            }
        )
    _print_lock(out, lock, outcome.reused, base)
    if changes:
        out.info("changes:")
        for change in changes:
            out.info(f"  {change}")
    verb = "would write" if args.dry_run else ("wrote" if written else "unchanged:")
    out.note(f"{verb} {overlay.lock_path}")
    return 0


def _packages_json(lock: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "version": p.version,
            "shadows": p.shadows,
            "reason": p.reason,
            "url": p.locked_url,
            "sha256": None if p.directory or p.vcs else p.file.sha256,
        }
        for p in lock.packages
    ]


def _print_lock(out: Output, lock: Any, reused: Sequence[str], base: Any = None) -> None:
    if not lock.packages:
        out.info("the overlay holds nothing: the base satisfies every requirement")
    for p in lock.packages:
        shadowed = base.by_name.get(p.name) if base is not None else None
        layer = shadowed.layer_label if shadowed is not None else "base"  # prefix/layers.py
        shadow = f" (shadows {layer} {p.shadows})" if p.shadows else ""
        out.info(f"  {p.name} {p.version}{shadow}: {p.reason}")
    if reused:
        out.debug("reused from the base: " + ", ".join(reused))


def cmd_base_snapshot(args: argparse.Namespace, out: Output) -> int:
    from overlock.base.env import probe

    path = None
    if args.output != "-":
        path = output_path(args.output, manifest=args.manifest, overwrite=args.overwrite)
    if args.base:
        base = probe(args.base)
    else:
        overlay = Overlay.load(args.manifest)
        base = overlay.base
    text = base.dumps()
    if path is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(path, text)
        out.note(
            f"wrote {path}: Python {base.python_version}, {len(base.distributions)} distributions,"
            f" fingerprint {base.fingerprint()}"
        )
    return 0


def cmd_completion(args: argparse.Namespace, out: Output) -> int:
    from overlock.cli.completion import script

    sys.stdout.write(script(args.shell, build_parser()))
    return 0


# -- the parser --------------------------------------------------------------------------

COMMAND_MODULES = (
    "overlock.cli.sync",
    "overlock.cli.edit",
    "overlock.cli.show",
    "overlock.cli.check",
    "overlock.cli.kernel",
    "overlock.cli.audit",
    "overlock.cli.cache",
)


EXAMPLES = {
    "lock": "example:\n  overlock lock -m overlays/analysis/overlay.toml\n  overlock lock --check",
    "completion": (
        "examples:\n"
        "  source <(overlock completion bash)        # in ~/.bashrc\n"
        "  overlock completion zsh > ~/.zfunc/_overlock   # a directory on $fpath\n"
        "  overlock completion fish > ~/.config/fish/completions/overlock.fish"
    ),
    "base snapshot": (
        "example:\n  overlock base snapshot --base /opt/conda/envs/analysis -o base.json"
    ),
}


TOP_EPILOG = """\
exit codes:
  0 success; 1 a problem found, or an operation refused or failed; 2 bad input;
  3 overlock itself failed (a bug: please report it); `run`: 127 command not found,
  126 not executable, else the command's own; 130 Ctrl-C, 143 SIGTERM
output:
  results on stdout, progress and messages on stderr; progress (one line redrawn in
  place) only when stderr is a terminal, never with -q, --json, NO_COLOR, TERM=dumb
  or --color never
shell completion:
  overlock completion bash|zsh|fish  (see `overlock completion --help`)

run `overlock COMMAND --help` for a command's options and an example"""


def build_parser() -> argparse.ArgumentParser:
    # -v/-q are taken before the command (`overlock -v lock`, pip's habit) and after it; the
    # command's own counts go to other names, or its defaults would reset the global ones.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    common.add_argument("-q", "--quiet", action="count", default=0, help="say less")
    common.add_argument("--color", choices=COLOR_MODES, default="auto", help=COLOR_HELP)
    command_common = argparse.ArgumentParser(add_help=False)
    command_common.add_argument(
        "-v", "--verbose", dest="command_verbose", action="count", default=0, help="say more"
    )
    command_common.add_argument(
        "-q", "--quiet", dest="command_quiet", action="count", default=0, help="say less"
    )
    command_common.add_argument(
        "--color", dest="command_color", choices=COLOR_MODES, default=None, help=COLOR_HELP
    )

    manifest_opt = argparse.ArgumentParser(add_help=False)
    manifest_opt.add_argument(
        "-m",
        "--manifest",
        type=Path,
        default=None,
        metavar="PATH",
        help="the overlay.toml to use (default: ./overlay.toml, or $OVERLOCK_MANIFEST)",
    )

    parser = argparse.ArgumentParser(
        prog="overlock",
        description="Declarative, locked overlays of packages on a read-only base environment.",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=TOP_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"overlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[..., int], help_text: str, *parents: Any, example: str = ""
    ) -> Any:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[command_common, *parents],
            epilog=example or EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        "lock",
        cmd_lock,
        "resolve overlay.toml against the base and the index into pylock.overlay.toml",
        manifest_opt,
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    p.add_argument("--dry-run", action="store_true", help="print the plan without writing")
    add_upgrade_options(p)
    add_json_option(p)
    add_no_build_option(p)
    add_policy_options(p)
    add_index_options(p)

    base_parser = sub.add_parser("base", help="inspect the base environment")
    # `overlock base` alone: its own help (which lists `snapshot`), not the top-level one.
    base_parser.set_defaults(func=lambda _args, _out: _usage(base_parser))
    base_sub = base_parser.add_subparsers(dest="base_command", metavar="SUBCOMMAND")
    p = base_sub.add_parser(
        "snapshot",
        help="save the base probe to a file (lock elsewhere with base-snapshot = FILE)",
        description="save the base probe to a file; locking from it gives the same lock",
        parents=[command_common, manifest_opt],
        epilog=EXAMPLES["base snapshot"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd_base_snapshot)
    p.add_argument("--base", help="environment prefix or python (default: the manifest's base)")
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write; - for stdout"
    )
    add_overwrite_option(p)

    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="print a completion script for SHELL, generated from overlock's own options",
        parents=[command_common],
        epilog=EXAMPLES["completion"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "shell", choices=("bash", "zsh", "fish"), metavar="SHELL", help="bash, zsh or fish"
    )
    p.set_defaults(func=cmd_completion)

    # Each group of commands lives in its own module with a ``register(add, manifest_opt)``,
    # so that no module grows into a 2,000-line CLI.
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add, manifest_opt)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised in the main thread so that every cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_interrupted: list[int] = []


def _on_signal(signum: int, _frame: object) -> None:
    if _interrupted:
        # A second signal while unwinding from the first: stop now, children first.
        children.kill_all()
        os.write(2, b"overlock: interrupted\n")
        os._exit(128 + signum)
    _interrupted.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM unwind the stack (killing children, removing partial files)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _interrupted.clear()
    previous = {s: signal.getsignal(s) for s in _INTERRUPT_SIGNALS}
    for s in _INTERRUPT_SIGNALS:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _interrupt_code(exc: KeyboardInterrupt) -> int:
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    with contextlib.suppress(OSError, ValueError):
        print(f"overlock: {word}", file=sys.stderr)
    return 128 + signum


def main(argv: Sequence[str] | None = None) -> int:
    # Piped, stdout is block-buffered and stderr is not, so `overlock ... 2>&1 | tee log`
    # showed results after the notes that followed them. A line at a time keeps the order.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        with _signals_interrupt():
            return _main(argv)
    except KeyboardInterrupt as exc:  # also raised before or after _main's own handling
        return _interrupt_code(exc)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    verbosity = (
        args.verbose
        + getattr(args, "command_verbose", 0)
        - args.quiet
        - getattr(args, "command_quiet", 0)
    )
    json_mode = bool(getattr(args, "json", False))
    color = getattr(args, "command_color", None) or args.color
    out = Output(verbosity, json_mode=json_mode, color=color)
    logging.basicConfig(
        level=logging.DEBUG if verbosity > 1 else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        # unearth and httpx log URLs at -vv; a credential in one must not reach the screen.
        handler.addFilter(RedactingFilter())
    try:
        code: int = args.func(args, out)
        out.finish()
        return code
    except OverlockError as exc:
        return _report(exc, out, json_mode, verbosity)
    except KeyboardInterrupt as exc:
        return _interrupt_code(exc)
    except BrokenPipeError:
        return 1
    except OSError as exc:
        return _report(os_error(exc), out, json_mode, verbosity)
    except ValueError as exc:
        if "null byte" not in str(exc):
            return _internal_error(exc, verbosity)
        error = BadInputError(
            "a path given to overlock contains a NUL character",
            hint="check the paths in overlay.toml and on the command line",
        )
        return _report(error, out, json_mode, verbosity)
    except Exception as exc:
        return _internal_error(exc, verbosity)


# Not 1: a script must tell "overlock found a problem" from "overlock broke".
INTERNAL_ERROR = 3


def _report(exc: OverlockError, out: Output, json_mode: bool, verbosity: int) -> int:
    if json_mode:
        out.json({"ok": False, **exc.to_json()})
    out.error(exc.message, exc.hint)
    if verbosity > 0:
        print(scrub(traceback.format_exc()), end="", file=sys.stderr)
    return exc.exit_code


def _internal_error(exc: Exception, verbosity: int) -> int:
    if verbosity > 0:
        print(scrub(traceback.format_exc()), end="", file=sys.stderr)
    print(
        f"overlock: internal error: {type(exc).__name__}: {scrub(str(exc))}\n"
        "  hint: rerun with -v for the traceback, and please report it",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


def _shown(path: object) -> str:
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    return text if text.isprintable() else repr(text)


def os_error(exc: OSError) -> OverlockError:
    """An error of the file system or the OS as a sentence, with what to do about it."""
    where = _shown(exc.filename) if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OverlockError(
            f"no space left writing {where} ({reason})",
            hint="free some space or quota; the shared download cache can be moved with"
            " $OVERLOCK_CACHE_DIR; nothing half-written was kept",
        )
    if code == errno.EROFS:
        return OverlockError(
            f"cannot write {where}: the file system is read-only",
            hint="choose a writable location (the overlay's prefix, the project directory,"
            " or $OVERLOCK_CACHE_DIR for the cache)",
        )
    if code in (errno.EACCES, errno.EPERM):
        return OverlockError(
            f"permission denied: {where}",
            hint="check the permissions of that path and its directory; the download cache"
            " can be moved with $OVERLOCK_CACHE_DIR",
        )
    if code == errno.ENAMETOOLONG:
        return BadInputError(
            f"a file name is too long: {where}",
            hint="a path component may be at most 255 bytes; shorten it",
        )
    if code in (errno.ENOENT, errno.ENOTDIR):
        return BadInputError(
            f"{where} does not exist, or a directory on its way does not ({reason})",
            hint="check the path; overlock creates files, not the directories above them",
        )
    if code == errno.EISDIR:
        return BadInputError(f"{where} is a directory", hint="name a file")
    if code == errno.ELOOP:
        return BadInputError(f"too many symbolic links resolving {where}")
    return OverlockError(
        f"{reason}: {where}",
        hint="the operating system refused the operation; check the path and retry",
    )


__all__ = ["main", "os_error"]
