"""sync, run, activate and rollback through the real CLI, on a real base and the harness index."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.prefix.state import current_generation, state_root

Overlock = Callable[..., Run]


@pytest.fixture
def project(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> tuple[Base, Path, Path]:
    """A base with alpha 1.0; the index has alpha 1.0 and 2.0 and beta 1.0 (with a script)."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    for version in ("1.0", "2.0"):
        index.add_spec(WheelSpec(name="alpha", version=version))
    index.add_spec(
        WheelSpec(
            name="beta",
            version="1.0",
            entry_points={"console_scripts": {"beta-tool": "beta:main"}},
            files={"beta/__init__.py": "def main():\n    import alpha; print(alpha.__version__)\n"},
        )
    )
    manifest = write_manifest(tmp_path / "p", base, ["alpha==2.0", "beta"], index=index)
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    return base, manifest, prefix


def _in_overlay(overlock: Overlock, manifest: Path, tmp_path: Path, code: str) -> str:
    """``overlock run -- python -c CODE`` whose output goes to a file (it is a subprocess)."""
    out = tmp_path / "run-output"
    script = f"import sys; sys.stdout = open({str(out)!r}, 'w')\n{code}"
    run = overlock("run", "-m", str(manifest), "--", "python", "-c", script)
    assert run.code == 0, run.err
    return out.read_text()


def test_lock_sync_run_rollback_session(
    project: tuple[Base, Path, Path], overlock: Overlock, tmp_path: Path
) -> None:
    base, manifest, prefix = project
    before = base.checksum()
    m = str(manifest)
    assert overlock("lock", "-m", m).code == 0

    dry = overlock("sync", "-m", m, "--dry-run")
    assert dry.code == 0, dry.err
    assert "+ alpha 2.0" in dry.out and "+ beta 1.0" in dry.out
    assert "dry run: nothing changed" in dry.err
    assert not prefix.exists()

    first = overlock("sync", "-m", m, "--json")
    assert first.code == 0, first.err
    data = json.loads(first.out)
    assert data["changed"] and data["generation"] == 1 and data["previous"] is None
    assert sorted(data["plan"]) == ["+ alpha 2.0", "+ beta 1.0"]

    again = overlock("sync", "-m", m)
    assert again.code == 0 and "already holds exactly the lock" in again.out

    code = "import alpha, beta; print(alpha.__version__, alpha.__file__)"
    version, where = _in_overlay(overlock, manifest, tmp_path, code).split()
    assert version == "2.0" and where.startswith(str(prefix))
    # The console script runs without activation, with the overlay's alpha.
    tool = subprocess.run(
        [str(prefix / "bin" / "beta-tool")], capture_output=True, text=True, env=clean_env()
    )
    assert tool.stdout == "2.0\n", tool.stderr

    # Drop the hot-fix: the base's alpha is visible again; rollback brings 2.0 back.
    write_manifest(manifest.parent, base, ["beta"], index=manifest_index(manifest))
    stale = overlock("sync", "-m", m)
    assert stale.code == 1
    assert "refusing to sync" in stale.err and "overlock lock" in stale.err
    assert overlock("lock", "-m", m).code == 0
    behind = overlock("run", "-m", m, "--", "python", "-c", "pass")
    assert behind.code == 0 and "was synced from an earlier pylock.overlay.toml" in behind.err
    second = overlock("sync", "-m", m)
    assert second.code == 0 and "- alpha 2.0" in second.out
    assert _in_overlay(overlock, manifest, tmp_path, "import alpha; print(alpha.__version__)") == (
        "1.0\n"
    )
    back = overlock("rollback", "-m", m)
    assert back.code == 0 and "back at generation 1" in back.out
    assert current_generation(prefix) == 1
    assert _in_overlay(overlock, manifest, tmp_path, "import alpha; print(alpha.__version__)") == (
        "2.0\n"
    )
    assert base.checksum() == before


def manifest_index(manifest: Path) -> str:
    for line in manifest.read_text().splitlines():
        if line.startswith("urls = "):
            return str(json.loads(line.split("=", 1)[1])[0])
    raise AssertionError("no index in the manifest")


def test_offline_sync_uses_only_the_cache(
    project: tuple[Base, Path, Path], overlock: Overlock, index: PackageIndex
) -> None:
    _base, manifest, prefix = project
    m = str(manifest)
    assert overlock("lock", "-m", m).code == 0
    cold = overlock("sync", "-m", m, "--offline")
    assert cold.code == 1
    assert "--offline, and 2 locked file(s) are not in the cache" in cold.err
    assert not prefix.exists()

    assert overlock("sync", "-m", m).code == 0  # fills the cache
    assert overlock("rollback", "-m", m).code == 1  # nothing to go back to yet
    index.reset_log()
    # A fresh prefix from the cache alone: no request reaches the index.
    prefix_two = prefix.parent / "second"
    text = manifest.read_text().replace('prefix = "overlay/{name}"', 'prefix = "overlay/second"')
    manifest.write_text(text)
    assert overlock("lock", "-m", m).code == 0
    index.reset_log()
    warm = overlock("sync", "-m", m, "--offline")
    assert warm.code == 0, warm.err
    assert index.requests == []
    assert current_generation(prefix_two) == 1


def test_run_and_sync_errors_are_one_sentence_and_a_hint(
    project: tuple[Base, Path, Path], overlock: Overlock, tmp_path: Path
) -> None:
    _base, manifest, _prefix = project
    m = str(manifest)
    nolock = overlock("sync", "-m", m)
    assert nolock.code in (1, 2) and "error:" in nolock.err and "hint:" in nolock.err
    assert "Traceback" not in nolock.err
    assert overlock("lock", "-m", m).code == 0
    unsynced = overlock("run", "-m", m, "--", "python", "-c", "pass")
    assert unsynced.code == 1 and "run `overlock sync` first" in unsynced.err
    assert overlock("sync", "-m", m).code == 0
    missing = overlock("run", "-m", m, "--", "no-such-command-here")
    assert missing.code == 127 and "command not found: no-such-command-here" in missing.err
    not_executable = tmp_path / "not-executable"
    not_executable.write_text("echo hi\n")
    denied = overlock("run", "-m", m, "--", str(not_executable))
    assert denied.code == 126 and "cannot execute" in denied.err
    nothing = overlock("run", "-m", m)
    assert nothing.code == 2 and "nothing to run" in nothing.err


def test_activate_output_activates_in_bash(
    project: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, manifest, prefix = project
    m = str(manifest)
    assert overlock("lock", "-m", m).code == 0
    assert overlock("sync", "-m", m).code == 0
    script = overlock("activate", "-m", m, "--shell", "bash")
    assert script.code == 0
    base_python = json.loads(overlock("lock", "-m", m, "--json").out)["base"]["python"]
    check = f'\n"{base_python}" -c "import alpha; print(alpha.__version__)"'
    proc = subprocess.run(
        ["bash", "-c", script.out + check],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout == "2.0\n", proc.stderr
    assert str(prefix / "bin") in script.out


def test_force_is_split_into_flags_that_say_what_they_do(
    project: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    base, manifest, prefix = project
    m = str(manifest)
    assert overlock("lock", "-m", m).code == 0
    old = overlock("sync", "-m", m, "--force")
    assert old.code == 2 and not prefix.exists()
    assert "--force is gone" in old.err
    assert all(flag in old.err for flag in ("--allow-stale", "--drop-foreign", "--move-aside"))

    # --allow-stale: a stale lock is synced as it is (and only that).
    write_manifest(manifest.parent, base, ["beta"], index=manifest_index(manifest))
    assert overlock("sync", "-m", m).code == 1
    stale = overlock("sync", "-m", m, "--allow-stale")
    assert stale.code == 0, stale.err
    assert "+ alpha 2.0" in stale.out

    # --move-aside: an old `pip install --prefix` tree in the overlay's place, at the CLI.
    other = manifest.parent / "other-prefix"
    (other / "bin").mkdir(parents=True)
    text = manifest.read_text().replace('prefix = "overlay/{name}"', 'prefix = "other-prefix"')
    manifest.write_text(text)
    assert overlock("lock", "-m", m).code == 0
    refused = overlock("sync", "-m", m)
    assert refused.code == 2 and "--move-aside" in refused.err
    # Not an install prefix (no site-packages): refused even with the flag.
    refused = overlock("sync", "-m", m, "--move-aside")
    assert refused.code == 2 and "does not look like an install prefix" in refused.err
    assert (other / "bin").is_dir() and current_generation(other) is None


def test_a_prefix_holding_the_project_is_never_moved_aside(
    project: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, manifest, _prefix = project
    m = str(manifest)
    # prefix = "." : the directory that holds the project (as "~" held it, and was renamed).
    manifest.write_text(manifest.read_text().replace('prefix = "overlay/{name}"', 'prefix = "."'))
    assert overlock("lock", "-m", m).code == 0
    run = overlock("sync", "-m", m, "--move-aside")
    assert run.code == 2 and "holds the project" in run.err
    assert manifest.is_file()


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with stderr on a real pty; return its exit code and what it drew there."""
    import os
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    # Read until the process has exited and the pty is drained (EIO once nothing holds it).
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=600), drawn.decode(errors="replace")


def test_sync_shows_its_progress_on_a_terminal_only(
    project: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    import shutil
    import sys

    _base, manifest, prefix = project
    assert overlock("lock", "-m", str(manifest)).code == 0
    command = [str(Path(sys.executable).with_name("overlock")), "sync", "-m", str(manifest)]
    env = clean_env({"TERM": "xterm"})
    env.pop("NO_COLOR", None)
    # NO_COLOR (or TERM=dumb, -q, --json, a pipe): the same sync draws nothing.
    code, drawn = _on_a_terminal(command, {**env, "NO_COLOR": "1"})
    assert code == 0, drawn
    assert "installing" not in drawn, drawn
    prefix.unlink()  # the stable link; the generations live beside it
    shutil.rmtree(state_root(prefix))
    code, drawn = _on_a_terminal(command, env)
    assert code == 0, drawn
    assert "installing 1/2" in drawn and "installing 2/2" in drawn, drawn
