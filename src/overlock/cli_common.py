"""What several commands do alike: the options they share, and the lock step.

The options are spelled once so that their help reads the same in every command.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from overlock.context import Overlay
from overlock.output import Output

if TYPE_CHECKING:  # the resolver loads only for commands that lock
    from overlock.lockfile import Lock
    from overlock.policy import ResolvePolicy
    from overlock.resolve import Outcome


def add_json_option(parser: argparse.ArgumentParser, what: str = "result") -> None:
    parser.add_argument("--json", action="store_true", help=f"machine-readable {what} on stdout")


def add_no_build_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-build", action="store_true", help="refuse to build anything from source"
    )


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--prerelease``/``--only-binary``/``--no-binary``: [resolve] settings for this run."""
    from overlock.policy import PRERELEASE_MODES

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
    from overlock.locking import resolve_policy

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


def make_lock(
    overlay: Overlay,
    out: Output,
    *,
    no_build: bool,
    keep: Lock | None = None,
    args: argparse.Namespace | None = None,
) -> tuple[Lock, Outcome, dict[str, int]]:
    """Lock ``overlay`` against its base and index, as `lock`, `add` and `remove` do.

    Versions of ``keep`` (the existing lock) that still fit are kept, unless ``args`` says
    ``--upgrade`` or names the package with ``--upgrade-package``. Returns the lock, the
    resolver's outcome and the index's request counts. Breakage the base already had is
    listed with -v and counted in one note otherwise.
    """
    from overlock.devsources import lock_manifest
    from overlock.locking import preferred_versions

    prefer = preferred_versions(
        keep,
        upgrade=bool(getattr(args, "upgrade", False)),
        upgrade_packages=getattr(args, "upgrade_package", None) or (),
    )
    with overlay.index() as index:
        lock, outcome = lock_manifest(
            overlay,
            overlay.base,
            index,
            no_build=no_build,
            reporter=out.note,
            prefer=prefer,
            policy=_policy(overlay, args),
        )
        index_stats = index.stats
    for broken in outcome.preexisting:
        out.debug(f"base already inconsistent: {broken}")
    if outcome.preexisting:
        out.note(
            f"note: the base was already inconsistent in {len(outcome.preexisting)} place(s);"
            " the overlay does not make it worse (-v lists them)"
        )
    return lock, outcome, index_stats


__all__ = [
    "add_json_option",
    "add_no_build_option",
    "add_policy_options",
    "add_upgrade_options",
    "make_lock",
    "policy_given",
]
