"""Results (stdout) and notes (stderr) reach one pipe in the order they were written.

Piped, Python block-buffers stdout and not stderr, so ``overlock init 2>&1 | tee log`` used
to show ``wrote overlay.toml`` after the ``next:`` lines that follow it. The test runs the real
command with both streams on one file and without ``PYTHONUNBUFFERED`` (which would hide the
bug).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.bases import MakeBase


def test_stdout_and_stderr_keep_their_order_in_one_pipe(
    make_base: MakeBase, tmp_path: Path
) -> None:
    base = make_base("venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    log = tmp_path / "log"
    with open(log, "wb") as fh:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "overlock",
                "init",
                "-m",
                str(tmp_path / "project" / "overlay.toml"),
                "--base",
                str(base.prefix),
                "--prefix",
                str(tmp_path / "overlay"),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    lines = log.read_text().splitlines()
    assert proc.returncode == 0, lines
    # stderr, stdout, stderr: the result line sits between the notes around it.
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(start))
        for start in ("using the base", "wrote ", "next:")
    ]
    assert order == sorted(order), lines
