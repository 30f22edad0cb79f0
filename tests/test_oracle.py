"""Differential test: on an empty base, overlock's pins must agree with pip-compile's.

pip-tools is a test-time oracle only (its library API does not fit overlock; see the README).
On an empty base there is nothing to reuse or shadow, so both tools solve the same problem on
the same index, and any disagreement is a bug in one of them worth looking at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.index import PackageIndex
from harness.project import picks, write_manifest
from harness.wheels import WheelSpec
from overlock.cli.main import main
from overlock.lock.pylock import read_lock

GRAPH = [
    WheelSpec("webapp", "1.0", requires=("httpish>=2", "templating<3")),
    WheelSpec("webapp", "1.1", requires=("httpish>=2.5", "templating<3", "colorish; extra == 'x'")),
    WheelSpec("httpish", "2.0", requires=("certs",)),
    WheelSpec("httpish", "2.5", requires=("certs>=2", "charset<4")),
    WheelSpec("httpish", "3.0", requires=("certs>=3",)),
    WheelSpec("certs", "1.0"),
    WheelSpec("certs", "2.0"),
    WheelSpec("certs", "3.0", requires_python=">=3.99"),
    WheelSpec("charset", "3.3"),
    WheelSpec("charset", "4.0"),
    WheelSpec("templating", "2.11", requires=("markup>=2.0",)),
    WheelSpec("templating", "3.1", requires=("markup>=2.1",)),
    WheelSpec("markup", "2.0"),
    WheelSpec("markup", "2.1.5"),
    WheelSpec("markup", "3.0rc1"),
    WheelSpec("plotting", "0.9", requires=("arrays>=1.20", "tables>=1.2")),
    WheelSpec("arrays", "1.26.4"),
    WheelSpec("arrays", "2.0.0", requires_python=">=3.9"),
    WheelSpec(
        "tables",
        "2.0.3",
        requires=(
            "arrays>=1.22.4; python_version < '3.11'",
            "arrays>=1.23.2; python_version >= '3.11'",
            "tz>=2020.1",
        ),
    ),
    WheelSpec("tables", "2.2.0", requires=("arrays>=2",)),
    WheelSpec("tz", "2024.1"),
    WheelSpec("colorish", "0.4.6"),
    WheelSpec("lint", "1.0", extras={"color": ("colorish>=0.4",)}),
]

CASES = [
    ["webapp"],
    ["webapp<1.1", "httpish<3"],
    ["plotting", "tables<2.2"],
    ["plotting", "lint[color]", "markup<2.1"],
    ["httpish==2.5", "templating"],
]


def pip_compile(requirements: list[str], index: PackageIndex, work: Path) -> dict[str, str]:
    work.mkdir(parents=True, exist_ok=True)
    src = work / "requirements.in"
    src.write_text("\n".join(requirements) + "\n")
    out = work / "requirements.txt"
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "piptools",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--no-strip-extras",
            "--index-url",
            index.url,
            "--cache-dir",
            str(work / "pip-cache"),
            "--output-file",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    pins: dict[str, str] = {}
    for line in out.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


@pytest.mark.oracle
@pytest.mark.parametrize("requirements", CASES, ids=[" ".join(c) for c in CASES])
def test_pins_agree_with_pip_compile_on_an_empty_base(
    requirements: list[str],
    tmp_path: Path,
    index: PackageIndex,
    make_base: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for spec in GRAPH:
        index.add_spec(spec)
    base = make_base()  # python -m venv --without-pip: no distributions at all
    manifest = write_manifest(tmp_path / "p", base, requirements, index=index)

    code = main(["lock", "-m", str(manifest)])
    assert code == 0, capsys.readouterr().err

    ours = picks(read_lock(manifest.parent / "pylock.overlay.toml"))
    theirs = pip_compile(requirements, index, tmp_path / "pip-compile")
    assert ours == theirs
