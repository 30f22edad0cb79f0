"""Print the issue's comparison table, in Markdown, from the benches' JSON files.

    python bench/table.py bench/_work/startup.json bench/_work/lock.json bench/_work/sync.json

Every bench that takes ``--json FILE`` records its comparison rows under ``"table"``: the job,
overlock's median seconds, the peer and its median seconds, the ratio overlock / peer (above
1: overlock is slower) and the target, if the issue sets one. This prints those rows in the
order of the files given, with the machine and tool versions of each file below the table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| job | overlock | peer | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        peer = f"{r['peer']} {seconds(r['peer_seconds'])}" if r["peer"] else "—"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "—"
        target = r["target"] or ""
        if r["met"] is not None:
            target += " met" if r["met"] else " **not met**"
        cells = [r["job"], seconds(r["overlock"]), peer, ratio, target.strip() or "—"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="JSON files written with --json")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in args.files:
        doc = json.loads(path.read_text())
        if "table" not in doc:
            raise SystemExit(f"{path}: no comparison rows (written by an older bench?)")
        rows.extend(doc["table"])
        env = doc.get("environment", {})
        what = ", ".join(f"{k} {v}" for k, v in env.items())
        notes.append(
            f"- `{path.name}` ({doc.get('bench', '?')} bench, runs {doc.get('runs')}): {what}"
        )
    print("\n".join(markdown(rows)))
    print()
    print("Medians; ratio = overlock / peer (above 1: overlock is slower).")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
