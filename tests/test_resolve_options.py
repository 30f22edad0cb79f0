"""[resolve] prereleases / only-binary / no-binary and the resolver's messages, end to end:
the real CLI on a real base against the harness index on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.index import PackageIndex
from harness.project import picks, write_manifest
from harness.wheels import WheelSpec, build_sdist
from overlock.lock.pylock import read_lock


def _with_resolve(manifest: Path, *lines: str) -> Path:
    manifest.write_text(manifest.read_text() + "\n[resolve]\n" + "\n".join(lines) + "\n")
    return manifest


def _lock_picks(manifest: Path) -> dict[str, str]:
    return picks(read_lock(manifest.parent / "pylock.overlay.toml"))


def test_prerelease_mode_from_overlay_toml_and_the_command_line(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("alpha", "0.1.0"))
    index.add_spec(WheelSpec("alpha", "1.0.0a1"))
    manifest = write_manifest(tmp_path / "p", base, ["alpha>0.1.0"], index=index)

    # Default: PEP 440 as pip does it (no final release in range: the pre-release).
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert _lock_picks(manifest) == {"alpha": "1.0.0a1"}

    _with_resolve(manifest, 'prereleases = "if-necessary-or-explicit"')
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "alpha 1.0.0a1: a pre-release" in run.err
    assert "--prerelease allow" in run.err

    run = overlock("lock", "-m", str(manifest), "--prerelease", "allow")
    assert run.code == 0, run.err
    assert _lock_picks(manifest) == {"alpha": "1.0.0a1"}

    with pytest.raises(SystemExit) as usage:  # argparse rejects an unknown mode
        overlock("lock", "-m", str(manifest), "--prerelease", "sometimes")
    assert usage.value.code == 2


def test_a_dependency_pin_on_a_yanked_release_fails_and_says_why(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("app", "1.0", requires=("cdep==2.0.0",)))
    index.add_spec(WheelSpec("cdep", "1.0.0"))
    index.add_spec(WheelSpec("cdep", "2.0.0"), yanked="broken upload")
    manifest = write_manifest(tmp_path / "p", base, ["app"], index=index)

    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "cdep 2.0.0: yanked (broken upload)" in run.err

    # The user's own exact pin admits it (PEP 592).
    write_manifest(tmp_path / "p", base, ["app", "cdep==2.0.0"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert _lock_picks(manifest) == {"app": "1.0", "cdep": "2.0.0"}


def test_releases_set_aside_are_explained_in_text_and_json(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    py = base.run("import platform; print(platform.python_version())").stdout.strip()
    index.add_spec(WheelSpec("modern", "3.0", requires_python=">=3.99"))
    index.add_spec(WheelSpec("modern", "2.0"))
    index.add_spec(WheelSpec("fastlib", "2.0", tag="cp27-cp27mu-manylinux1_x86_64"))
    index.add_spec(WheelSpec("fastlib", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["modern>=3"], index=index)

    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert f"modern 3.0: the base's Python {py} does not satisfy Requires-Python >=3.99" in run.err
    assert "was the index reachable" not in run.err
    run = overlock("lock", "-m", str(manifest), "--json")
    assert run.code == 1
    [conflict] = run.json()["conflicts"]
    assert conflict["set_aside"] == [
        {
            "version": "3.0",
            "reason": f"the base's Python {py} does not satisfy Requires-Python >=3.99",
        }
    ]

    write_manifest(tmp_path / "p", base, ["fastlib>=2"], index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "fastlib 2.0: no wheel matches the base (its best tag is cp" in run.err
    run = overlock("lock", "-m", str(manifest), "--json")
    [conflict] = run.json()["conflicts"]
    assert [a["version"] for a in conflict["set_aside"]] == ["2.0"]
    assert "no wheel matches the base" in conflict["set_aside"][0]["reason"]


def test_a_missing_name_is_said_plainly_without_library_log_lines(
    tmp_path: Path, index: PackageIndex, make_base: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("tool", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["tool", "ghostpkg"], index=index)
    # A real process: the CLI's own logging set-up, not pytest's capture.
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", "lock", "-m", str(manifest)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 1
    assert "the index has no project named ghostpkg" in proc.stderr
    assert "unearth" not in proc.stderr
    assert "404" not in proc.stderr


def test_two_entries_for_one_name_are_intersected(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    for version in ("1.0.0", "1.5.0", "2.0.0"):
        index.add_spec(WheelSpec("dup", version))
    manifest = write_manifest(tmp_path / "p", base, ["dup>=1", "dup<2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert _lock_picks(manifest) == {"dup": "1.5.0"}

    write_manifest(tmp_path / "p", base, ["dup==1.0.0", "dup==2.0.0"], index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1  # a conflict, not a manifest error (2)
    assert "dup==1.0.0 (requested in overlay.toml) conflicts with dup==2.0.0" in run.err


@pytest.fixture
def sdist_newer(tmp_path: Path, index: PackageIndex) -> PackageIndex:
    index.add(build_sdist("srcpkg", "1.0", tmp_path / "sd"))
    index.add_spec(WheelSpec("srcpkg", "0.9"))
    return index


def test_binary_policy_and_allow_build(
    tmp_path: Path, sdist_newer: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    manifest = write_manifest(tmp_path / "p", base, ["srcpkg"], index=sdist_newer)
    # Without allow-build the sdist-only release is set aside: the wheel's release is locked.
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert _lock_picks(manifest) == {"srcpkg": "0.9"}

    # only-binary wins over allow-build: nothing is built.
    _with_resolve(manifest, "allow-build = true", 'only-binary = [":all:"]')
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    assert _lock_picks(manifest) == {"srcpkg": "0.9"}
    write_manifest(tmp_path / "p", base, ["srcpkg>=1"], index=sdist_newer)
    _with_resolve(manifest, "allow-build = true", 'only-binary = [":all:"]')
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert (
        'srcpkg 1.0: no wheel for the base, only an sdist, and only-binary = [":all:"]' in run.err
    )

    # no-binary needs allow-build, and says so.
    write_manifest(tmp_path / "p", base, ["srcpkg"], index=sdist_newer)
    run = overlock("lock", "-m", str(manifest), "--no-binary", "srcpkg")
    assert run.code == 1
    assert 'no-binary = ["srcpkg"]' in run.err and "allow-build = true" in run.err


def test_policy_errors_in_overlay_toml_are_manifest_errors(
    tmp_path: Path, make_base: Any, overlock: Any
) -> None:
    manifest = write_manifest(tmp_path / "p", make_base(), ["x"])
    _with_resolve(manifest, 'prereleases = "yes"', 'no-binary = ["ok", 3]')
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 2
    assert "[resolve] prereleases" in run.err and "[resolve] no-binary[1]" in run.err


def test_lock_json_reports_a_move_to_the_base_as_a_change(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    index.add_spec(WheelSpec("mover", "2.0"))
    old_base = make_base(wheels=[make_wheel(name="mover", version="1.0")])
    manifest = write_manifest(tmp_path / "p", old_base, ["mover>=1.5"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert _lock_picks(manifest) == {"mover": "2.0"}

    new_base = make_base(wheels=[make_wheel(name="mover", version="1.8")])
    write_manifest(tmp_path / "p", new_base, ["mover>=1.5"], index=index)
    run = overlock("lock", "-m", str(manifest), "--json")
    assert run.code == 0, run.err
    [change] = run.json()["changes"]
    assert change == {
        "name": "mover",
        "kind": "change",
        "old": "2.0",
        "new": "1.8",
        "to_base": True,
    }
    run = overlock("lock", "-m", str(manifest), "--dry-run")
    assert json.dumps(run.out)  # text mode prints the plan


def test_add_takes_the_prerelease_mode_too(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("beta", "1.0.0"))
    index.add_spec(WheelSpec("beta", "2.0.0rc1"))
    manifest = write_manifest(tmp_path / "p", base, [], index=index)
    assert overlock("add", "-m", str(manifest), "beta").code == 0
    assert _lock_picks(manifest) == {"beta": "1.0.0"}
    run = overlock("add", "-m", str(manifest), "beta", "--prerelease", "allow", "-U")
    assert run.code == 0, run.err
    assert _lock_picks(manifest) == {"beta": "2.0.0rc1"}
    assert "beta 1.0.0 -> 2.0.0rc1" in run.out + run.err
