"""The README's two set-up commands are what CI runs, and the examples are valid."""

from __future__ import annotations

import re
from pathlib import Path

from overlock.manifest.load import load_manifest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it: two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_both_verbatim() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert "examples/quickstart.py" in main_job
    assert "pytest" in tests and "[test]" in tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert main_job in ci_lines
    assert tests in ci_lines


def test_example_manifest_is_valid() -> None:
    manifest = load_manifest(ROOT / "examples" / "beamline-hotfix" / "overlay.toml")
    assert manifest.shadow == "auto"
    assert "urllib3" in manifest.requirement_names
    assert manifest.prefix("/opt/conda/envs/analysis").name == "analysis-hotfix"
