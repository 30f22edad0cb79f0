"""What several commands do alike: the options they share, and the lock step.

The options are spelled once so that their help reads the same in every command.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from overlock.app.overlay import IndexOptions, Overlay, default_manifest_path
from overlock.cli.output import Output
from overlock.errors import BadInputError
from overlock.lock.pylock import LOCK_FILENAME, lock_path_for
from overlock.manifest.model import MANIFEST_FILENAME
from overlock.prefix.state import STATE_DIRNAME

if TYPE_CHECKING:  # the resolver loads only for commands that lock
    from overlock.base.env import BaseEnv
    from overlock.lock.pylock import Lock
    from overlock.manifest.policy import ResolvePolicy
    from overlock.resolve.model import Outcome


def add_json_option(parser: argparse.ArgumentParser, what: str = "result") -> None:
    parser.add_argument("--json", action="store_true", help=f"machine-readable {what} on stdout")


def add_no_build_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-build", action="store_true", help="refuse to build anything from source"
    )


def output_file(text: str) -> Path:
    """The file an ``-o FILE`` option names, checked before any work is done for it."""
    path = Path(text)
    if path.is_dir():
        raise BadInputError(
            f"-o {text} names a directory", hint="name the file to write, e.g. -o DIR/NAME"
        )
    parent = path.parent
    if not parent.is_dir():
        raise BadInputError(
            f"-o {text}: the directory {parent} does not exist",
            hint=f"create it first (`mkdir -p {parent}`), or write somewhere else",
        )
    return path


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"write FILE even if it is one of overlock's own ({MANIFEST_FILENAME},"
        f" {LOCK_FILENAME})",
    )


def output_path(text: str, *, manifest: Path | None, overwrite: bool) -> Path:
    """Where ``-o FILE`` writes: never onto overlock's own files unless ``overwrite``, and
    only a file whose directory exists (``output_file``).

    ``export -o overlay.toml`` or ``base snapshot -o pylock.overlay.toml`` would silently
    replace the very files the overlay is made from.
    """
    path = Path(text)
    if overwrite:
        return output_file(text)
    manifest = (manifest or default_manifest_path()).absolute()
    real = Path(os.path.realpath(path))
    own = {Path(os.path.realpath(p)): p.name for p in (manifest, lock_path_for(manifest))}
    what = None
    if real in own:
        what = f"this overlay's {own[real]}"
    elif path.name in (MANIFEST_FILENAME, LOCK_FILENAME):
        what = f"an overlay's {path.name}"
    elif STATE_DIRNAME in real.parts:
        what = f"inside an overlay's state directory ({STATE_DIRNAME}/)"
    if what is not None:
        raise BadInputError(
            f"refusing to write {path}: it is {what}",
            hint="choose another file, or pass --overwrite if you mean it",
        )
    return output_file(text)


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--prerelease``/``--only-binary``/``--no-binary``: [resolve] settings for this run."""
    from overlock.manifest.policy import PRERELEASE_MODES

    parser.add_argument(
        "--prerelease",
        choices=PRERELEASE_MODES,
        metavar="MODE",
        help="when pre-releases are candidates, instead of [resolve] prereleases: "
        + ", ".join(PRERELEASE_MODES),
    )
    for flag, what in (("--only-binary", "never build"), ("--no-binary", "build from the sdist")):
        parser.add_argument(
            flag,
            action="append",
            default=[],
            metavar="NAMES",
            help=f"projects to {what} (comma-separated, or :all:), added to [resolve]",
        )


def policy_given(args: argparse.Namespace) -> bool:
    """Whether the command line sets a [resolve] policy for this run (then a lock that is
    otherwise current is resolved again under it)."""
    return bool(
        getattr(args, "prerelease", None)
        or getattr(args, "only_binary", None)
        or getattr(args, "no_binary", None)
    )


def _policy(overlay: Overlay, options: argparse.Namespace | None) -> ResolvePolicy | None:
    if options is None:
        return None
    from overlock.lock.make import resolve_policy

    def names(values: list[str] | None) -> list[str]:
        return [n.strip() for v in values or () for n in v.split(",") if n.strip()]

    return resolve_policy(
        overlay.manifest,
        prereleases=getattr(options, "prerelease", None),
        only_binary=names(getattr(options, "only_binary", None)),
        no_binary=names(getattr(options, "no_binary", None)),
    )


def add_upgrade_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upgrade",
        "-U",
        action="store_true",
        help="move every package to the newest release the request allows (default: keep"
        " the versions of the existing lock that still fit)",
    )
    parser.add_argument(
        "--upgrade-package",
        "-P",
        action="append",
        default=[],
        metavar="NAME",
        help="move NAME to the newest release the request allows (repeat for more)",
    )


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """pip's index options, for this run, on top of overlay.toml's [index] (or pip's
    configuration): the lock records where each file came from, so sync needs none."""
    parser.add_argument("--index-url", "-i", metavar="URL", help="the primary package index")
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index to search (repeat for more)",
    )
    parser.add_argument(
        "--find-links",
        "-f",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="a directory or page of distribution files to search (repeat for more)",
    )
    parser.add_argument("--no-index", action="store_true", help="use only --find-links")
    add_network_options(parser)


def add_network_options(parser: argparse.ArgumentParser, *, refresh: bool = True) -> None:
    """How a command that may ask an index uses the network (``--offline``, ``--refresh``).

    ``refresh=False`` for a command that reads no index page (only metadata and files,
    which are kept by their hash and never go stale)."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never use the network: only index pages, metadata and files already cached",
    )
    if refresh:
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="revalidate every cached index page, however fresh the index said it is",
        )
    add_proxy_option(parser)


def add_proxy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="send every index request through this proxy, [scheme://][user:passwd@]host:port"
        " (default: pip's `proxy` setting or $PIP_PROXY, else $HTTPS_PROXY/$HTTP_PROXY"
        " with $NO_PROXY); never written anywhere",
    )


def index_options(args: argparse.Namespace | None) -> IndexOptions:
    from overlock.index.pipconfig import absolute_location, proxy_url

    if args is None:
        return IndexOptions()
    here = Path.cwd()
    return IndexOptions(
        index_url=getattr(args, "index_url", None),
        extra_index_urls=tuple(getattr(args, "extra_index_url", None) or ()),
        find_links=tuple(absolute_location(f, here) for f in getattr(args, "find_links", ()) or ()),
        no_index=bool(getattr(args, "no_index", False)),
        offline=bool(getattr(args, "offline", False)),
        refresh=bool(getattr(args, "refresh", False)),
        proxy=proxy_url(getattr(args, "proxy", None)),
    )


def make_lock(
    overlay: Overlay,
    out: Output,
    *,
    no_build: bool,
    keep: Lock | None = None,
    args: argparse.Namespace | None = None,
) -> tuple[Lock, Outcome, dict[str, int]]:
    """Lock ``overlay`` against its base and index, as `lock`, `add` and `remove` do.

    The caller gives ``overlay`` this run's index options (``Overlay.with_index_options``).

    Versions of ``keep`` (the existing lock) that still fit are kept, unless ``args`` says
    ``--upgrade`` or names the package with ``--upgrade-package``. Returns the lock, the
    resolver's outcome and the index's request counts. Breakage the base already had is
    listed with -v and counted in one note otherwise.
    """
    from overlock.app.lock import lock_manifest
    from overlock.lock.make import preferred_versions

    prefer = preferred_versions(
        keep,
        upgrade=bool(getattr(args, "upgrade", False)),
        upgrade_packages=getattr(args, "upgrade_package", None) or (),
    )
    with (
        overlay.index() as index,
        out.status(f"resolving {overlay.manifest.path.name} against the base and the index"),
    ):
        lock, outcome = lock_manifest(
            overlay,
            overlay.base,
            index,
            no_build=no_build,
            reporter=out.note,
            prefer=prefer,
            policy=_policy(overlay, args),
            step=out.step,
        )
        index_stats = index.stats
    report_hide(out, overlay.manifest.hide, overlay.base, lock.hidden_breakage)
    for broken in outcome.preexisting:
        out.debug(f"base already inconsistent: {broken}")
    if outcome.preexisting:
        out.note(
            f"note: the base was already inconsistent in {len(outcome.preexisting)} place(s);"
            " the overlay does not make it worse (-v lists them)"
        )
    return lock, outcome, index_stats


def report_hide(out: Output, names: Sequence[str], base: BaseEnv, breakage: Sequence[str]) -> None:
    """Warnings about ``[overlay] hide`` (base/hiding.py), as pip warns about an installed
    package's missing dependency: a hidden name the base lacks, and base packages left
    requiring a hidden one."""
    from overlock.base.hiding import absent

    for name in absent(base, [canonicalize_name(n) for n in names]):
        out.note(f"warning: hide names {name}, which the base does not have")
    for line in breakage:
        out.note(f"warning: {line}")
    if breakage:
        out.note(
            "  hint: importing those may fail; add the hidden package to requires to install"
            " it in the overlay (the base's requirements on it are then enforced), or stop"
            " hiding it"
        )


__all__ = [
    "add_json_option",
    "add_network_options",
    "add_no_build_option",
    "add_overwrite_option",
    "add_policy_options",
    "add_upgrade_options",
    "make_lock",
    "output_file",
    "output_path",
    "policy_given",
]


def sync_and_report(overlay: Overlay, out: Output, *, as_json: bool = False, **options: Any) -> int:
    """``app.sync.sync_overlay`` with what it did printed (or given as JSON)."""
    from overlock.app.sync import sync_overlay

    result = sync_overlay(
        overlay,
        note=out.note,
        say=out.say,
        progress=out.progress,
        step=out.step,
        status=out.status,
        **options,
    )
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
    if result.dry_run:
        out.note("dry run: nothing changed")
    else:
        out.note(f"synced {overlay.prefix} (generation {result.generation})")
    return 0
