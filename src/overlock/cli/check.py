"""``overlock check``: is this overlay still right? Exit 0 when all is well, 1 otherwise."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from overlock.app.overlay import Overlay
from overlock.cli.common import add_json_option
from overlock.cli.output import Output
from overlock.errors import StaleLockError

if TYPE_CHECKING:  # the checks load only when `check` runs
    from overlock.check import Finding, Report

LABELS = {
    "drift": "drift",
    "stale": "lock",
    "integrity": "integrity",
    "consistency": "consistency",
    "upstream": "upstream",
    "redundant": "redundant",
    "shadow": "shadowing",
    "imports": "imports",
    "sources": "sources",
}
_WIDTH = max(len(v) for v in LABELS.values())
_DETAILS_SHOWN = 8  # per finding, unless -v

EXAMPLE = """\
example:
  overlock check
  overlock check -m overlays/analysis/overlay.toml --json

checks: drift (the base changed since the lock), lock (overlay.toml changed since the
lock), integrity (prefix vs lock and RECORD hashes), consistency (every Requires-Dist of
base + overlay), upstream (caps the index's metadata of Debian/conda base packages declares),
redundant (requested packages the base now provides), shadowing (overlay
copies are the ones imported), imports (shadowing packages and the base packages that
require or import them import in the base interpreter; the verdict is kept per generation
and base, and reused while every file matches its RECORD: --refresh imports again), sources
(a locked git branch has a newer commit). Exit status 0: all well; 1: a problem was found."""


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.live import live_base
    from overlock.check import check_overlay

    overlay = Overlay.load(args.manifest)
    lock = overlay.read_lock()
    if lock is None:
        raise StaleLockError(
            f"there is no lock to check: {overlay.lock_path} does not exist",
            hint="run `overlock lock`, then `overlock sync`",
        )
    base = live_base(overlay)
    prefix = overlay.prefix
    report = check_overlay(
        overlay.manifest, lock, base, prefix, cache=overlay.cache, refresh=args.refresh
    )
    if args.json:
        out.json(
            {
                "manifest": str(overlay.manifest.path),
                "lock": str(overlay.lock_path),
                "prefix": str(prefix),
                "base": {"python": base.python, "fingerprint": base.fingerprint()},
                **report.to_json(),
            }
        )
    _print_report(out, report)
    return 0 if report.ok else 1


def _marker(out: Output, severity: str | None) -> str:
    """✗ error, ! warning, · info, ✓ a check that found nothing wrong."""
    if severity == "error":
        return out.style("✗", "red", "bold")
    if severity == "warning":
        return out.style("!", "yellow", "bold")
    if severity == "info":
        return out.style("·", "dim")
    return out.style("✓", "green")


def _print_report(out: Output, report: Report) -> None:
    hints: list[str] = []
    notes = 0
    for section in report.sections:
        label = LABELS.get(section.kind, section.kind).ljust(_WIDTH)
        infos = [f for f in section.findings if not f.is_problem]
        if section.ok:
            out.info(f"{_marker(out, None)} {label}  {section.summary}")
        for finding in (f for f in section.findings if f.is_problem):
            _print_finding(out, label, finding)
            if finding.hint and finding.hint not in hints:
                hints.append(finding.hint)
        notes += len(infos)
        if out.verbosity > 0:
            for finding in infos:
                out.info(f"{_marker(out, finding.severity)} {label}  {finding.message}")
    if notes and out.verbosity == 0:
        out.note(
            f"note: {notes} finding(s) are not problems (breakage the base already had);"
            " -v lists them"
        )
    if report.ok:
        out.info(out.style("all well", "green"))
        return
    problems = report.problems
    errors = sum(1 for f in problems if f.severity == "error")
    warnings = len(problems) - errors
    counts = ", ".join(
        part
        for part in (
            f"{errors} error(s)" if errors else "",
            f"{warnings} warning(s)" if warnings else "",
        )
        if part
    )
    out.info(out.style(f"{len(problems)} problem(s) found: {counts}", "bold"))
    for hint in hints:
        out.note(out.style("  hint:", "cyan", stream=out.err) + f" {hint}")


def _print_finding(out: Output, label: str, finding: Finding) -> None:
    out.info(f"{_marker(out, finding.severity)} {label}  {finding.message}")
    indent = " " * (_WIDTH + 6)
    shown = finding.details if out.verbosity > 0 else finding.details[:_DETAILS_SHOWN]
    for line in shown:
        out.info(f"{indent}{line}")
    hidden = len(finding.details) - len(shown)
    if hidden:
        out.info(f"{indent}... and {hidden} more (-v lists them)")


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    p = add(
        "check",
        cmd_check,
        "check that the overlay is still right: drift, stale lock, prefix integrity,"
        " consistency, redundant entries, shadowing, imports, newer git commits",
        manifest_opt,
        example=EXAMPLE,
    )
    add_json_option(p, "report")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="run the import check again even if a verdict is kept for this generation and base",
    )


__all__ = ["cmd_check", "register"]
