"""The commands that explain an overlay: show, why, export."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from overlock.app.overlay import Overlay
from overlock.atomic import write_text_atomic
from overlock.cli.common import (
    add_json_option,
    add_network_options,
    add_overwrite_option,
    index_options,
    output_path,
)
from overlock.cli.output import Output
from overlock.errors import OverlockError
from overlock.lock.pylock import Lock, LockedPackage, read_lock

log = logging.getLogger("overlock")


def _lock(overlay: Overlay) -> Lock:
    # read_lock says "does not exist" with the hint `overlock lock`.
    return read_lock(overlay.lock_path)


def cmd_show(args: argparse.Namespace, out: Output) -> int:
    from overlock.lock.make import lock_status
    from overlock.report.show import overview

    overlay = Overlay.load(args.manifest)
    lock = _lock(overlay)
    base = overlay.base
    view = overview(
        manifest=overlay.manifest.path,
        lock_path=overlay.lock_path,
        lock=lock,
        status=lock_status(overlay.manifest, base, lock),
        base=base,
        prefix=overlay.prefix,
        index=overlay.index_config.describe(),
        pip_config_files=overlay.index_config.config_files,
    )
    if args.json:
        out.json(view.to_json())
        return 0
    for line in view.lines(out.style):
        out.info(line)
    return 0


def _index_fallback(
    overlay: Overlay, out: Output
) -> Callable[[LockedPackage], Sequence[str] | None]:
    """Ask the index for a locked package's metadata; None when it cannot be had."""
    from overlock.dists.types import DistFile, Release

    failed: list[str] = []

    def fetch(pkg: LockedPackage) -> Sequence[str] | None:
        if failed:
            return None  # one failure is enough: do not wait on a dead index per package
        try:
            version = Version(pkg.version)
        except InvalidVersion:
            return None
        f = pkg.wheel or pkg.archive
        if f is None or not f.is_wheel:
            return None  # a source: its metadata comes from building it, not from the index
        release = Release(
            name=pkg.name,
            version=version,
            wheel=DistFile(
                filename=f.filename, url=f.url, hashes={"sha256": f.sha256}, size=f.size
            ),
            direct=pkg.is_direct,
        )
        try:
            with overlay.index() as index:
                return index.metadata(release).requires
        except OverlockError as exc:
            failed.append(str(exc))
            # Once (the others are not asked): the answer may lack this package's requirements.
            out.note(f"warning: cannot read the metadata of {pkg.name} {pkg.version}: {exc}")
            return None

    return fetch


def cmd_why(args: argparse.Namespace, out: Output) -> int:
    from overlock.report.why import local_requires, why

    overlay = Overlay.load(args.manifest).with_index_options(index_options(args))
    lock = _lock(overlay)
    base = overlay.base
    requires_of = local_requires(overlay.cache, overlay.prefix, base, _index_fallback(overlay, out))
    answer = why(args.name, lock, base, requires_of, requested=overlay.manifest.requires_text)
    if args.json:
        out.json(answer.to_json())
        return 0
    lines = answer.lines(all_base=out.verbosity > 0)
    out.info(out.style(lines[0], "bold"))
    for line in lines[1:]:
        out.info(line)
    return 0


def _export_modulefile(
    args: argparse.Namespace, out: Output, overlay: Overlay, path: Path | None
) -> int:
    from overlock.report.modulefile import module_spec, render

    prefix = overlay.prefix
    spec = module_spec(
        overlay.base,
        str(prefix),
        overlay.manifest.name or prefix.name,
        str(overlay.manifest.path),
    )
    text = render(args.format, spec)
    if path is None:
        sys.stdout.write(text)
        return 0
    write_text_atomic(path, text)
    out.note(f"wrote {path}: a {args.format} modulefile for the overlay at {prefix}")
    from overlock.prefix.bootstrap import boot_dir

    if not boot_dir(prefix).is_dir():
        out.note("  note: the prefix is not synced yet; run `overlock sync` before `module load`")
    return 0


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    from overlock.report.export import requirements

    path = None
    if args.output != "-":
        path = output_path(args.output, manifest=args.manifest, overwrite=args.overwrite)
    overlay = Overlay.load(args.manifest)
    if args.format != "requirements":
        return _export_modulefile(args, out, overlay, path)
    lock = _lock(overlay)
    if lock.manifest_hash != overlay.manifest.content_hash():
        out.note(
            "warning: overlay.toml changed since the lock was written; exporting the lock as it"
            " is (run `overlock lock` first to export the new request)"
        )
    # The lock names its base, so the prefix is known without probing the base.
    prefix = overlay.manifest.prefix(lock.base_prefix) if lock.base_prefix else overlay.prefix
    to_stdout = path is None
    exported = requirements(
        lock,
        lock_path=str(overlay.lock_path),
        prefix=str(prefix),
        config=overlay.index_config,
        filename="requirements.txt" if to_stdout else args.output,
    )
    if path is None:
        sys.stdout.write(exported.text)
        return 0
    write_text_atomic(path, exported.text)
    out.note(f"wrote {path}: {len(exported.packages)} package(s); install them with")
    out.note(f"  {exported.command}")
    return 0


EXAMPLES = {
    "show": "example:\n  overlock show\n  overlock show --json -m overlays/analysis/overlay.toml",
    "why": "example:\n  overlock why pandas\n  overlock why urllib3 --json",
    "export": (
        "example:\n  overlock export --format requirements -o requirements.txt\n"
        "  python -m pip install -I --no-deps --require-hashes --prefix PREFIX"
        " -r requirements.txt"
    ),
}


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    p = add(
        "show",
        cmd_show,
        "show the overlay: its base, prefix, and each package with why it is there",
        manifest_opt,
        example=EXAMPLES["show"],
    )
    add_json_option(p)

    p = add(
        "why",
        cmd_why,
        "explain why a package is in the overlay, or why the base's copy is used",
        manifest_opt,
        example=EXAMPLES["why"],
    )
    p.add_argument("name", metavar="NAME", help="a package name (any spelling)")
    add_json_option(p)
    # Locked metadata only (kept by its hash, never stale): no page, so no --refresh.
    add_network_options(p, refresh=False)

    p = add(
        "export",
        cmd_export,
        "write the lock as a hash-pinned requirements file for plain pip",
        manifest_opt,
        example=EXAMPLES["export"],
    )
    p.add_argument(
        "--format",
        choices=["requirements", "lmod", "envmodules"],
        default="requirements",
        help="`requirements`: a hash-pinned file for plain pip; `lmod` (Lua) or `envmodules`"
        " (Tcl): a modulefile that activates the overlay on `module load`",
    )
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write (default: - for stdout)",
    )
    add_overwrite_option(p)
