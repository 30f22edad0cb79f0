"""`overlock kernel install|remove|list`: Jupyter kernels with the overlay active."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overlock.app.overlay import Overlay
from overlock.cli.common import add_json_option
from overlock.cli.output import Output


def _where(args: argparse.Namespace) -> Path:
    from overlock.app.kernel import kernels_dir

    return kernels_dir(args.prefix, os.environ)


def cmd_kernel(args: argparse.Namespace, out: Output) -> int:
    args.kernel_parser.print_help(sys.stderr)
    return 2


def cmd_kernel_install(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.kernel import (
        check_name,
        default_display_name,
        default_name,
        install,
        kernel_spec,
    )
    from overlock.app.live import live_base
    from overlock.prefix.bootstrap import boot_dir

    overlay = Overlay.load(args.manifest)
    base = live_base(overlay)  # the kernel runs a real interpreter, never a snapshot's
    overlay_name = overlay.manifest.overlay_name(base.prefix)
    name = check_name(args.name) if args.name else default_name(overlay_name)
    spec = kernel_spec(
        base,
        overlay.prefix,
        name=name,
        display_name=args.display_name or default_display_name(overlay_name, base),
        manifest=overlay.manifest.path,
        lock=overlay.read_lock(),
    )
    target = install(spec, _where(args), base, replace=args.replace)
    if args.json:
        out.json({"name": name, "path": str(target), "kernelspec": spec.to_json()})
    out.info(f"installed kernel {name!r} ({spec.display_name}) in {target}")
    if not boot_dir(Path(spec.prefix)).is_dir():
        out.note("  note: the prefix is not synced yet; run `overlock sync` before starting it")
    return 0


def cmd_kernel_remove(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.kernel import remove

    target = remove(args.name, _where(args))
    out.info(f"removed kernel {target.name!r} from {target.parent}")
    return 0


def cmd_kernel_list(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.kernel import installed

    where = _where(args)
    kernels = installed(where)
    if args.json:
        out.json(
            [
                {
                    "name": k.name,
                    "path": str(k.path),
                    "display_name": k.display_name,
                    "manifest": k.manifest,
                    "prefix": k.prefix,
                }
                for k in kernels
            ]
        )
    if not kernels:
        out.note(f"no kernels installed by overlock in {where}")
    for k in kernels:
        out.info(f"{k.name}  {k.display_name}  {k.prefix}  ({k.manifest})")
    return 0


EXAMPLES = {
    "kernel": (
        "example:\n  overlock kernel install --display-name 'Analysis (hotfix)'\n"
        "  overlock kernel list\n  overlock kernel remove analysis"
    ),
    "install": "example:\n  overlock kernel install --name analysis\n"
    "  overlock kernel install --prefix /opt/jupyterhub  # DIR/share/jupyter/kernels/NAME",
    "remove": "example:\n  overlock kernel remove analysis",
    "list": "example:\n  overlock kernel list --json",
}


def _location(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--user",
        action="store_true",
        help="the user's Jupyter data directory: $JUPYTER_DATA_DIR/kernels, else"
        " ~/.local/share/jupyter/kernels on Linux (the default)",
    )
    where.add_argument(
        "--prefix",
        type=Path,
        metavar="DIR",
        help="DIR/share/jupyter/kernels, as `ipykernel install --prefix` (for example a"
        " JupyterHub's own environment)",
    )


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    group = add(
        "kernel",
        cmd_kernel,
        "Jupyter kernels: the base's python with the overlay active",
        example=EXAMPLES["kernel"],
    )
    verbosity = argparse.ArgumentParser(add_help=False)
    # The names cli.build_parser gives a command's own -v/-q (the global ones stay apart).
    verbosity.add_argument(
        "-v", "--verbose", dest="command_verbose", action="count", default=0, help="say more"
    )
    verbosity.add_argument(
        "-q", "--quiet", dest="command_quiet", action="count", default=0, help="say less"
    )
    sub = group.add_subparsers(dest="kernel_command", metavar="SUBCOMMAND")
    group.set_defaults(kernel_parser=group)

    def nested(name: str, func: Callable[..., int], help_text: str, *parents: Any) -> Any:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[verbosity, *parents],
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = nested(
        "install",
        cmd_kernel_install,
        "write a kernelspec that starts the base's python with the overlay active; it names"
        " the stable prefix, so it follows every sync and rollback",
        manifest_opt,
    )
    p.add_argument(
        "--name",
        metavar="NAME",
        help="the kernel's name: letters, digits, '.', '_', '-' (default: the overlay's name)",
    )
    p.add_argument(
        "--display-name",
        metavar="TEXT",
        help="what Jupyter shows (default: 'Python X.Y (OVERLAY, overlock)')",
    )
    _location(p)
    p.add_argument(
        "--replace",
        action="store_true",
        help="overwrite a kernelspec of that name that overlock did not write for this overlay",
    )
    add_json_option(p)

    p = nested("remove", cmd_kernel_remove, "delete a kernelspec that overlock installed")
    p.add_argument("name", metavar="NAME", help="the kernel's name")
    _location(p)

    p = nested("list", cmd_kernel_list, "list the kernelspecs overlock installed")
    _location(p)
    add_json_option(p)
