"""The README's facility -> group -> user walkthrough (examples/stack.py) runs as described."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_the_stack_walkthrough_behaves_as_the_readme_says(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "stack.py"), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stack: all steps behaved as described" in proc.stdout
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Facility, group, user: overlays on overlays", 1)[1]
    # The README shows lines of a real run; they must still be what the example prints.
    for line in (
        "netlib 2.0 (shadows group overlay 'beamline-7' 1.0): required by plotkit 1.0",
        "hdfio 2.2.0 from the group overlay 'beamline-7' is used: it satisfies every requirement",
        "! drift        group overlay 'beamline-7' changed since the lock: calib 1.0 appeared",
        "✓ alice (",
    ):
        assert line in section, line
        assert line in proc.stdout, line
