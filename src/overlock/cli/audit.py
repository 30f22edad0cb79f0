"""``overlock audit``: which overlays survive a candidate base (the edge: prints, exit codes)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from overlock.cli.common import add_index_options, add_json_option, index_options
from overlock.cli.output import Output

EXAMPLE = """\
example:
  overlock base snapshot --base /opt/conda/envs/analysis-2027 -o next.json
  overlock audit --base next.json overlays/*/overlay.toml
  overlock audit --base /opt/conda/envs/analysis-2027 --json users/*/overlay.toml"""


def cmd_audit(args: argparse.Namespace, out: Output) -> int:
    from overlock.app.audit import (
        BREAKS,
        CHANGES,
        ERROR,
        UNCHANGED,
        SharedSources,
        audit,
        load_candidate,
    )
    from overlock.base.probe_cache import probe_cached
    from overlock.cache import Cache

    candidate = load_candidate(args.base, lambda spec: probe_cached(spec, Cache.default().root))
    with ExitStack() as stack:
        report = audit(
            [Path(m).absolute() for m in args.manifests],
            candidate,
            described_as=args.base,
            source_for=SharedSources(stack, index_options(args)),
            progress=out.debug,
        )
    if args.json:
        out.json(report.to_json())
        return 1 if report.breaks else 0
    marks = {UNCHANGED: "✓", CHANGES: "!", BREAKS: "✗", ERROR: "✗"}
    out.info(
        f"auditing {len(report.verdicts)} overlay(s) against {args.base}"
        f" (Python {candidate.python_version}, {report.distributions} distributions)"
    )
    for v in report.verdicts:
        head = f"{marks[v.status]} {v.name} ({v.manifest}): "
        if v.status == UNCHANGED:
            out.info(head + "still locks; its lock would not change")
        elif v.status == CHANGES:
            out.info(head + "still locks; the lock would change: " + ", ".join(map(str, v.changes)))
        elif v.status == BREAKS:
            out.info(head + "BREAKS: " + v.problem.replace("\n", "\n    "))
        else:
            out.info(head + "cannot be audited: " + v.problem)
        for r in v.redundant:
            out.info(f"    redundant hot-fix: {r}")
        if v.hint and v.status in (BREAKS, ERROR):
            out.info(f"    hint: {v.hint}")
    counts = {s: sum(1 for v in report.verdicts if v.status == s) for s in marks}
    out.info(
        f"{counts[UNCHANGED]} unchanged, {counts[CHANGES]} would change,"
        f" {counts[BREAKS]} break, {counts[ERROR]} could not be audited"
        f" ({report.resolutions} resolution(s) for {len(report.verdicts)} overlay(s))"
    )
    return 1 if report.breaks else 0


def register(add: Callable[..., Any], manifest_opt: argparse.ArgumentParser) -> None:
    p = add(
        "audit",
        cmd_audit,
        "report, for a candidate base, which overlays still lock, what their locks would"
        " change, which hot-fixes become redundant and which overlays break; writes nothing",
        example=EXAMPLE,
    )
    p.add_argument(
        "--base",
        required=True,
        metavar="PATH_OR_SNAPSHOT",
        help="the candidate base: an environment, or a file from `overlock base snapshot`",
    )
    p.add_argument("manifests", nargs="+", metavar="MANIFEST", help="overlay.toml files")
    add_json_option(p)
    add_index_options(p)  # for this audit, on top of each overlay's [index]
