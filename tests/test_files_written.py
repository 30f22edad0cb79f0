"""Files overlock writes: with the permissions the umask gives, and never over its own
files by accident (``export -o overlay.toml``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.index import PackageIndex
from harness.project import write_manifest
from harness.wheels import WheelSpec
from overlock.atomic import current_umask, write_text_atomic


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def locked(tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any) -> Path:
    base = make_base()
    index.add_spec(WheelSpec("alpha", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["alpha"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    return manifest


def test_lock_export_and_snapshot_follow_the_umask(
    umask_022: None, locked: Path, overlock: Any
) -> None:
    project = locked.parent
    m = str(locked)
    assert overlock("export", "-m", m, "-o", str(project / "req.txt")).code == 0
    assert overlock("base", "snapshot", "-m", m, "-o", str(project / "base.json")).code == 0
    assert overlock("sync", "-m", m).code == 0
    prefix = project / "overlay"
    [state] = prefix.glob("*/.overlock/state.json")
    for path in (
        project / "pylock.overlay.toml",
        project / "req.txt",
        project / "base.json",
        state,
    ):
        assert _mode(path) == 0o644, path  # group members sharing the overlay can read it

    # A file the user made private stays private when overlock rewrites it.
    lock = project / "pylock.overlay.toml"
    lock.chmod(0o600)
    lock.write_text(lock.read_text() + "\n")  # make the next lock rewrite it
    assert overlock("lock", "-m", m).code == 0
    assert _mode(lock) == 0o600


def test_a_new_file_follows_a_stricter_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        write_text_atomic(tmp_path / "x", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "x") == 0o640


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["export"], "overlay.toml"),
        (["export"], "pylock.overlay.toml"),
        (["base", "snapshot"], "pylock.overlay.toml"),
        (["base", "snapshot"], "overlay.toml"),
        (["export"], "elsewhere/overlay.toml"),
    ],
)
def test_output_onto_overlocks_own_files_is_refused_unless_overwrite(
    locked: Path, overlock: Any, command: list[str], target: str
) -> None:
    project = locked.parent
    dest = project / target
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        dest.write_text("mine\n")
    before = dest.read_bytes()
    run = overlock(*command, "-m", str(locked), "-o", str(dest))
    assert run.code == 2, run.err
    assert run.err.startswith(f"overlock: error: refusing to write {dest}: it is ")
    assert "--overwrite" in run.err
    assert dest.read_bytes() == before
    forced = overlock(*command, "-m", str(locked), "-o", str(dest), "--overwrite")
    assert forced.code == 0, forced.err
    assert dest.read_bytes() != before


def test_output_through_a_symlink_to_the_lock_is_refused(locked: Path, overlock: Any) -> None:
    link = locked.parent / "requirements.txt"
    link.symlink_to("pylock.overlay.toml")
    before = (locked.parent / "pylock.overlay.toml").read_bytes()
    run = overlock("export", "-m", str(locked), "-o", str(link))
    assert run.code == 2 and "this overlay's pylock.overlay.toml" in run.err
    assert (locked.parent / "pylock.overlay.toml").read_bytes() == before
