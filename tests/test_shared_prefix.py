"""A prefix belongs to one overlay: the manifest that synced it.

End to end: the real CLI as a subprocess, real bases, the harness's index on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.manifest.load import load_manifest

STATE = Path(".overlock") / "state.json"


def cli(*args: str, cwd: Path | None = None) -> Run:
    """The real CLI, as a subprocess of its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def ok(*args: str, cwd: Path | None = None) -> Run:
    run = cli(*args, cwd=cwd)
    assert run.code == 0, (args, run.out, run.err)
    return run


def installed(prefix: Path, base: Base) -> set[str]:
    site = prefix / os.path.relpath(base.site_packages(), base.prefix)
    return {p.name for p in site.glob("*.dist-info")}


@pytest.fixture
def two_overlays(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> tuple[Base, Path, Path, Path]:
    """One base; manifests ``a/`` (alpha 2.0, beta) and ``b/`` (gamma) on one prefix."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    for spec in (
        WheelSpec(name="alpha", version="2.0"),
        WheelSpec(name="beta", version="1.0"),
        WheelSpec(name="gamma", version="1.0"),
    ):
        index.add_spec(spec)
    shared = tmp_path / "overlays" / "shared"
    a = write_manifest(
        tmp_path / "a", base, ["alpha==2.0", "beta"], index=index, prefix=str(shared)
    )
    b = write_manifest(tmp_path / "b", base, ["gamma"], index=index, prefix=str(shared))
    return base, a, b, shared


def test_a_second_manifest_is_refused_naming_both_until_it_takes_over(
    two_overlays: tuple[Base, Path, Path, Path],
) -> None:
    base, a, b, shared = two_overlays
    ok("lock", "-m", str(a))
    ok("sync", "-m", str(a))
    ok("lock", "-m", str(b))
    first = installed(shared, base)
    assert first == {"alpha-2.0.dist-info", "beta-1.0.dist-info"}

    refused = cli("sync", "-m", str(b))

    assert refused.code == 1
    assert f"{shared} belongs to another overlay" in refused.err
    assert f"synced from {a}" in refused.err and f"not from {b}" in refused.err
    assert "--take-over" in refused.err
    assert installed(shared, base) == first
    ok("check", "-m", str(a))
    # Every command of the other overlay says whose prefix it is.
    dry = cli("sync", "-m", str(b), "--dry-run")
    assert dry.code == 1 and "belongs to another overlay" in dry.err
    shown = json.loads(ok("show", "-m", str(b), "--json").out)
    assert shown["prefix"]["state"] == "another-overlay"
    assert shown["prefix"]["owner"] == str(a)
    check = cli("check", "-m", str(b))
    assert check.code == 1 and f"synced from {a}" in check.err
    run = ok("run", "-m", str(b), "--", "python", "-c", "pass")
    assert f"{shared} belongs to another overlay" in run.err
    back = cli("rollback", "-m", str(b))
    assert back.code == 1 and "belongs to another overlay" in back.err

    taken = ok("sync", "-m", str(b), "--take-over")

    assert f"took {shared} over from {a}" in taken.err
    assert installed(shared, base) == {"gamma-1.0.dist-info"}
    owner = json.loads((shared / STATE).read_text())["owner"]
    assert owner["manifest"] == str(b)
    again = cli("sync", "-m", str(a))
    assert again.code == 1 and f"synced from {b}" in again.err and f"not from {a}" in again.err
    ok("check", "-m", str(b))


def test_a_take_over_with_nothing_to_install_still_changes_the_owner(
    two_overlays: tuple[Base, Path, Path, Path], tmp_path: Path
) -> None:
    _, a, _, shared = two_overlays
    ok("lock", "-m", str(a))
    ok("sync", "-m", str(a))
    twin = tmp_path / "twin" / "overlay.toml"
    twin.parent.mkdir()
    shutil.copy(a, twin)
    shutil.copy(a.parent / "pylock.overlay.toml", twin.parent / "pylock.overlay.toml")
    assert cli("sync", "-m", str(twin)).code == 1  # same name, but its manifest still exists

    ok("sync", "-m", str(twin), "--take-over")

    assert json.loads((shared / STATE).read_text())["owner"]["manifest"] == str(twin)
    assert cli("sync", "-m", str(a)).code == 1


def test_a_moved_manifest_keeps_its_prefix(
    two_overlays: tuple[Base, Path, Path, Path], tmp_path: Path
) -> None:
    base, a, _, shared = two_overlays
    ok("lock", "-m", str(a))
    ok("sync", "-m", str(a))
    moved = tmp_path / "renamed"
    a.parent.rename(moved)

    run = ok("sync", "-m", str(moved / "overlay.toml"))

    assert f"{shared} was synced from {a}, which no longer exists" in run.err
    assert installed(shared, base) == {"alpha-2.0.dist-info", "beta-1.0.dist-info"}
    state = json.loads((shared / STATE).read_text())
    assert state["owner"]["manifest"] == str(moved / "overlay.toml")


def test_a_state_without_an_owner_is_adopted_by_the_next_sync(
    two_overlays: tuple[Base, Path, Path, Path],
) -> None:
    _, a, b, shared = two_overlays
    ok("lock", "-m", str(a))
    ok("lock", "-m", str(b))
    ok("sync", "-m", str(a))
    # As an overlock from before prefixes had owners wrote it.
    state_file = (shared / STATE).resolve()
    data = json.loads(state_file.read_text())
    del data["owner"]
    state_file.write_text(json.dumps(data))

    assert "already holds exactly the lock" in ok("sync", "-m", str(a)).out

    assert json.loads(state_file.read_text())["owner"]["manifest"] == str(a)
    assert cli("sync", "-m", str(b)).code == 1


def test_init_names_the_overlay_after_its_directory_so_default_prefixes_differ(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The case: `overlock init --base /usr/bin/python3` in two directories gave both
    # overlays the prefix ~/overlays/usr.
    base = make_base("venv")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the default prefix is ~/overlays/...
    prefixes = {}
    for where in ("beamline", "analysis", "x/work", "y/work"):
        project = tmp_path / where
        project.mkdir(parents=True)
        ok("init", "--base", str(base.prefix), cwd=project)
        manifest = load_manifest(project / "overlay.toml")
        prefixes[where] = manifest.prefix(str(base.prefix))
        if where == "x/work":  # synced, so its prefix is taken when y/work is made
            text = (project / "overlay.toml").read_text()
            (project / "overlay.toml").write_text(
                text.replace("# [index]", f'[index]\nurls = ["{index.url}"]\n# [index]', 1)
            )
            ok("lock", cwd=project)
            ok("sync", cwd=project)

    overlays = tmp_path / "home" / "overlays"
    assert prefixes == {
        "beamline": overlays / "beamline",
        "analysis": overlays / "analysis",
        "x/work": overlays / "work",
        "y/work": overlays / "work-2",
    }
    # Made again where it was, an overlay finds its own prefix back.
    (tmp_path / "x" / "work" / "overlay.toml").unlink()
    ok("init", "--base", str(base.prefix), cwd=tmp_path / "x" / "work")
    assert load_manifest(tmp_path / "x" / "work" / "overlay.toml").name == "work"
    # Two names given on one base: two prefixes.
    for name in ("one", "two"):
        target = tmp_path / name / "overlay.toml"
        ok("init", "-m", str(target), "--base", str(base.prefix), "--name", name)
    assert load_manifest(tmp_path / "one" / "overlay.toml").prefix(str(base.prefix)) != (
        load_manifest(tmp_path / "two" / "overlay.toml").prefix(str(base.prefix))
    )
