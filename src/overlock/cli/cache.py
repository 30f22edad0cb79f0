"""`overlock cache dir|info|prune|clean`: the shared cache, seen and trimmed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from overlock.cache import KINDS, Cache
from overlock.cli.common import add_json_option
from overlock.cli.output import Output
from overlock.errors import OverlockError


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # not reached


def cmd_cache(args: argparse.Namespace, out: Output) -> int:
    args.cache_parser.print_help(sys.stderr)
    return 2


def cmd_cache_dir(args: argparse.Namespace, out: Output) -> int:
    print(Cache.default().root)
    return 0


def cmd_cache_info(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.cachetool import info

    found = info(Cache.default())
    if args.json:
        out.json(found.to_json())
    out.info(f"cache: {found.root}" + ("" if found.exists else " (does not exist yet)"))
    for kind in KINDS:
        u = found.usage[kind.name]
        line = f"  {kind.name:<9} {u.entries:>7} entries  {_human(u.bytes):>10}"
        if kind.name == "store":
            line += (
                f"  ({u.linked} still linked into prefixes, {_human(u.linked_bytes)} of it"
                " shared with them)"
            )
        out.info(line)
    total = found.to_json()["total"]
    out.info(f"  {'total':<9} {total['entries']:>7} entries  {_human(total['bytes']):>10}")
    for path in found.links:
        out.note(f"  {path} is a symbolic link: not looked into")
    for path, why in found.problems.items:
        out.note(f"  cannot read {path}: {why}")
    return 0


def _waiting(out: Output, cache: Cache) -> Callable[[], None]:
    def say() -> None:
        out.note(
            f"waiting for the syncs using {cache.unpacked_root()} to finish linking from it"
            " (--no-wait gives up instead)"
        )

    return say


def _busy(cache: Cache) -> OverlockError:
    return OverlockError(
        f"a sync is using the unpacked store at {cache.unpacked_root()}",
        hint="run again when it is done, or without --no-wait to wait for it",
    )


def _report(out: Output, outcome: Any, verb: str, json_mode: bool) -> int:
    if json_mode:
        out.json(outcome.to_json())
    if not outcome.root.is_dir():
        out.info(f"nothing to do: {outcome.root} does not exist")
        return 0
    for r in outcome.removed:
        out.debug(f"{verb} {r.kind}: {r.path}")
    counts: dict[str, int] = {}
    for r in outcome.removed:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    what = ", ".join(f"{n} {kind} {'entry' if n == 1 else 'entries'}" for kind, n in counts.items())
    freed = "would free" if outcome.dry_run else "freed"
    out.info(f"{verb} {what or 'nothing'}; {freed} {_human(outcome.freed)}")
    if outcome.kept_linked:
        out.info(f"kept {outcome.kept_linked} store entries that prefixes still link")
    if outcome.kept_fresh:
        out.note(f"kept {len(outcome.kept_fresh)} scratch directories changed within the hour")
    for path in outcome.links:
        out.note(f"left the symbolic link {path} alone (not followed)")
    for path, why in outcome.problems.items:
        out.note(f"skipped {path}: {why}")
    if outcome.problems.items:
        out.note("  hint: in a cache a group shares, only their owner can remove some files")
        return 1
    return 0


def cmd_cache_prune(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.cachetool import StoreBusy, prune

    cache = Cache.default()
    try:
        outcome = prune(
            cache, dry_run=args.dry_run, wait=not args.no_wait, on_wait=_waiting(out, cache)
        )
    except StoreBusy:
        raise _busy(cache) from None
    return _report(out, outcome, "would remove" if args.dry_run else "removed", args.json)


def cmd_cache_clean(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.cachetool import StoreBusy, clean

    cache = Cache.default()
    try:
        kinds = () if args.kinds == "all" or "all" in args.kinds else args.kinds
        outcome = clean(cache, kinds, wait=not args.no_wait, on_wait=_waiting(out, cache))
    except StoreBusy:
        raise _busy(cache) from None
    return _report(out, outcome, "removed", args.json)


EXAMPLES = {
    "cache": "examples:\n  overlock cache info\n  overlock cache prune --dry-run\n"
    "  overlock cache clean pages",
    "dir": 'example:\n  du -sh "$(overlock cache dir)"',
    "info": "example:\n  overlock cache info --json",
    "prune": "example:\n  overlock cache prune --dry-run   # what would go\n  overlock cache prune",
    "clean": "examples:\n  overlock cache clean             # everything\n"
    "  overlock cache clean pages metadata",
}


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    kinds_help = "; ".join(f"{k.name}: {k.what}" for k in KINDS)
    group = add(
        "cache",
        cmd_cache,
        "the download and unpack cache all overlays share ($OVERLOCK_CACHE_DIR)",
        example=EXAMPLES["cache"],
    )
    verbosity = argparse.ArgumentParser(add_help=False)
    # The names cli.build_parser gives a command's own -v/-q (the global ones stay apart).
    verbosity.add_argument(
        "-v", "--verbose", dest="command_verbose", action="count", default=0, help="say more"
    )
    verbosity.add_argument(
        "-q", "--quiet", dest="command_quiet", action="count", default=0, help="say less"
    )
    sub = group.add_subparsers(dest="cache_command", metavar="SUBCOMMAND")
    group.set_defaults(cache_parser=group)

    def nested(name: str, func: Callable[..., int], help_text: str) -> Any:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[verbosity],
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    def no_wait(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--no-wait",
            action="store_true",
            help="exit 1 at once if a sync is using the store, instead of waiting for it",
        )

    nested(
        "dir",
        cmd_cache_dir,
        "print the cache's directory: $OVERLOCK_CACHE_DIR, else $XDG_CACHE_HOME/overlock,"
        " else ~/.cache/overlock",
    )
    p = nested(
        "info",
        cmd_cache_info,
        "entries and bytes of each kind of cache entry (a file linked twice counts once),"
        f" and how many store entries prefixes still link. Kinds: {kinds_help}",
    )
    add_json_option(p)
    p = nested(
        "prune",
        cmd_cache_prune,
        "remove what nothing needs: unpacked-store entries no prefix links any more, leftovers"
        " of killed processes untouched for an hour, and sync stamps of deleted overlays."
        " Wheels, metadata and index pages are kept: they are what makes the next lock and"
        " sync fast (`overlock cache clean KIND` removes them). Waits for running syncs to"
        " finish linking from the store",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    no_wait(p)
    add_json_option(p)
    p = nested(
        "clean",
        cmd_cache_clean,
        "remove every entry of the KINDs named, or of all kinds. Safe for synced prefixes:"
        " they hold their own hard links to the store's files, so they keep working (the next"
        " sync downloads and unpacks again). Scratch directories changed within the hour may"
        " be in use and stay; symbolic links are removed as links, never followed",
    )
    p.add_argument(
        "kinds",
        nargs="*",
        metavar="KIND",
        # "all" is also the default: argparse checks a default against the choices.
        choices=[*(k.name for k in KINDS), "all"],
        default="all",
        help=f"what to remove: all (the default), or {kinds_help}",
    )
    no_wait(p)
    add_json_option(p)
