"""What an ``overlock`` command imports, measured in a new process (``python -X importtime``):
for tests that a command loads no stage it does not use."""

from __future__ import annotations

import subprocess
import sys


def imported(argv: list[str]) -> tuple[int, set[str]]:
    """Run ``python -m overlock *argv``: its exit code and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "overlock", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    names = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return proc.returncode, names
