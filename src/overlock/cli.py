"""Command-line interface: the only place that prints and picks exit codes.

Exit codes: 0 success; 1 the request cannot be satisfied, or an operation failed or was
refused; 2 bad input (manifest, arguments, unreachable base).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.cli_common import (
    add_json_option,
    add_no_build_option,
    add_policy_options,
    add_upgrade_options,
    make_lock,
    policy_given,
)
from overlock.context import Overlay
from overlock.errors import OverlockError
from overlock.output import Output

log = logging.getLogger("overlock")


# -- commands ----------------------------------------------------------------------------


def cmd_lock(args: argparse.Namespace, out: Output) -> int:
    from overlock.lockfile import write_lock
    from overlock.locking import diff_locks, lock_status

    overlay = Overlay.load(args.manifest)
    base = overlay.base
    old = overlay.read_lock()

    if args.check:
        from overlock.devsources import source_checker

        checker = source_checker(overlay, base, no_build=args.no_build, reporter=out.note)
        status = lock_status(overlay.manifest, base, old, source_changes=checker)
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
        and not args.dry_run
    ):
        # Nothing changed since the lock was made (overlay.toml, the base, locked sources):
        # keep it, as uv and pip-compile keep their pins; --upgrade re-resolves.
        from overlock.devsources import source_checker

        checker = source_checker(overlay, base, no_build=args.no_build, reporter=out.note)
        if lock_status(overlay.manifest, base, old, source_changes=checker).current:
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
        layer = shadowed.layer_label if shadowed is not None else "base"  # layers.py
        shadow = f" (shadows {layer} {p.shadows})" if p.shadows else ""
        out.info(f"  {p.name} {p.version}{shadow}: {p.reason}")
    if reused:
        out.debug("reused from the base: " + ", ".join(reused))


def cmd_base_snapshot(args: argparse.Namespace, out: Output) -> int:
    from overlock.base import probe

    if args.base:
        base = probe(args.base)
    else:
        overlay = Overlay.load(args.manifest)
        base = overlay.base
    text = base.dumps()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        path = Path(args.output)
        write_text_atomic(path, text)
        out.note(
            f"wrote {path}: Python {base.python_version}, {len(base.distributions)} distributions,"
            f" fingerprint {base.fingerprint()}"
        )
    return 0


# -- the parser --------------------------------------------------------------------------

COMMAND_MODULES = (
    "overlock.cli_sync",
    "overlock.cli_edit",
    "overlock.cli_show",
    "overlock.cli_check",
    "overlock.cli_audit",
)


EXAMPLES = {
    "lock": "example:\n  overlock lock -m overlays/analysis/overlay.toml\n  overlock lock --check",
    "base snapshot": (
        "example:\n  overlock base snapshot --base /opt/conda/envs/analysis -o base.json"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    common.add_argument("-q", "--quiet", action="count", default=0, help="say less")

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
        epilog="run `overlock COMMAND --help` for a command's options and an example",
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
            parents=[common, *parents],
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

    base_parser = sub.add_parser("base", help="inspect the base environment")
    base_sub = base_parser.add_subparsers(dest="base_command", metavar="SUBCOMMAND")
    p = base_sub.add_parser(
        "snapshot",
        help="save the base probe to a file (lock elsewhere with base-snapshot = FILE)",
        description="save the base probe to a file; locking from it gives the same lock",
        parents=[common, manifest_opt],
        epilog=EXAMPLES["base snapshot"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd_base_snapshot)
    p.add_argument("--base", help="environment prefix or python (default: the manifest's base)")
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write; - for stdout"
    )

    # Each group of commands lives in its own module with a ``register(add, manifest_opt)``,
    # so that no module grows into a 2,000-line CLI.
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add, manifest_opt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    verbosity = args.verbose - args.quiet
    out = Output(verbosity, json_mode=bool(getattr(args, "json", False)))
    logging.basicConfig(
        level=logging.DEBUG if verbosity > 1 else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    try:
        code: int = args.func(args, out)
        return code
    except OverlockError as exc:
        if getattr(args, "json", False):
            out.json({"ok": False, **exc.to_json()})
        out.error(exc.message, exc.hint)
        if verbosity > 0:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        print("overlock: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if verbosity > 0:
            traceback.print_exc()
        print(
            f"overlock: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: rerun with -v for the traceback, and please report it",
            file=sys.stderr,
        )
        return 1


__all__ = ["main"]
