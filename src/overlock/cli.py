"""Command-line interface: the only place that prints and picks exit codes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("overlock: not implemented yet", file=sys.stderr)
    return 2
