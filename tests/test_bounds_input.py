"""Bounded reads of the files a user names, bounded work on source trees, and failures of
the file system as clean errors: all through the real CLI, in this process."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from overlock.cli.main import os_error
from overlock.errors import BadInputError
from overlock.limits import MAX_INPUT_BYTES

Overlock = Callable[..., Run]


@contextlib.contextmanager
def fifo_with_writer(path: Path, data: bytes) -> Iterator[Path]:
    """A FIFO at ``path`` whose writer sends ``data`` once a reader opens it.

    A reader that opens it blocking gets ``data`` (and so answers about *that*, not about
    a FIFO); a reader that refuses non-regular files never waits. The writer is released
    at the end either way.
    """
    os.mkfifo(path)

    def write() -> None:
        # Blocks until someone opens the read end. A reader that only looked (overlock opens
        # with O_NONBLOCK to see what the file is) may be gone by the time this writes: the
        # broken pipe then is the expected end, not an error.
        with contextlib.suppress(BrokenPipeError), open(path, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # releases a waiting writer
            writer.join(timeout=60)
            os.close(fd)


@pytest.fixture
def snapshot_project(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path, overlock: Overlock
) -> tuple[Path, Path]:
    """(manifest, snapshot): an overlay locked from a saved probe of a real base."""
    base = make_base("venv")
    snapshot = tmp_path / "base.json"
    run = overlock("base", "snapshot", "--base", str(base.prefix), "-o", str(snapshot))
    assert run.code == 0, run.err
    manifest = write_manifest(tmp_path / "p", None, [], index=index, snapshot=snapshot)
    return manifest, snapshot


# -- files named by the user: regular files only, and at most 16 MiB --------------------------


def test_a_fifo_as_manifest_is_refused_without_waiting(tmp_path: Path, overlock: Overlock) -> None:
    with fifo_with_writer(tmp_path / "overlay.toml", b"x") as fifo:
        run = overlock("lock", "-m", str(fifo))
    assert run.code == 2, run.err
    assert "not a regular file (a FIFO)" in run.err


def test_a_device_as_manifest_is_refused(overlock: Overlock) -> None:
    run = overlock("show", "-m", "/dev/zero")
    assert run.code == 2
    assert "not a regular file (a character device)" in run.err


def test_a_huge_manifest_is_not_read(tmp_path: Path, overlock: Overlock) -> None:
    manifest = tmp_path / "overlay.toml"
    with open(manifest, "wb") as fh:
        fh.truncate(MAX_INPUT_BYTES + 1)  # sparse: costs no disk
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 2, run.err
    assert "larger than 16 MiB" in run.err


def test_a_fifo_as_lock_is_refused(snapshot_project: tuple[Path, Path], overlock: Overlock) -> None:
    manifest, _ = snapshot_project
    lock = manifest.parent / "pylock.overlay.toml"
    with fifo_with_writer(lock, b'lock-version = "1.0"\n'):
        run = overlock("lock", "--check", "-m", str(manifest))
    assert run.code != 0
    assert "not a regular file (a FIFO)" in run.out + run.err
    assert "internal error" not in run.err


def test_a_fifo_as_snapshot_is_refused(
    snapshot_project: tuple[Path, Path], overlock: Overlock, tmp_path: Path
) -> None:
    manifest, snapshot = snapshot_project
    snapshot.unlink()
    with fifo_with_writer(snapshot, b"{}"):
        run = overlock("lock", "--dry-run", "-m", str(manifest))
    assert run.code == 2, run.err
    assert "not a regular file (a FIFO)" in run.err


# -- source trees: refused before hashing, and hashing bounded ---------------------------------


def _tree_manifest(project: tuple[Path, Path], tree: Path) -> Path:
    manifest, _ = project
    text = manifest.read_text().replace(
        "requires = []", f'requires = [{{ name = "src", path = "{tree}" }}]'
    )
    manifest.write_text(text)
    return manifest


def test_a_tree_that_is_no_project_is_refused_before_hashing(
    snapshot_project: tuple[Path, Path], overlock: Overlock, tmp_path: Path
) -> None:
    """``path = "/"`` once hashed the whole file system before --no-build said no. Here a
    small tree stands in for "/": without the guard it is hashed and refused for --no-build."""
    tree = tmp_path / "not-a-project"
    (tree / "data").mkdir(parents=True)
    (tree / "data" / "file.bin").write_bytes(b"x" * 100)
    manifest = _tree_manifest(snapshot_project, tree)
    run = overlock("lock", "--no-build", "-m", str(manifest))
    assert run.code == 2, run.err
    assert "is not a Python source tree" in run.err


def test_hashing_a_source_tree_is_bounded(
    snapshot_project: tuple[Path, Path],
    overlock: Overlock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("overlock.build.backend.MAX_TREE_FILES", 5)
    tree = tmp_path / "big-project"
    tree.mkdir()
    (tree / "pyproject.toml").write_text('[project]\nname = "src"\nversion = "1"\n')
    for i in range(10):
        (tree / f"f{i}.txt").write_text(str(i))
    manifest = _tree_manifest(snapshot_project, tree)
    run = overlock("lock", "--no-build", "-m", str(manifest))
    assert run.code == 2, run.err
    assert "is larger than a source tree may be here" in run.err


# -- failures of the file system are sentences ---------------------------------------------------


def test_output_into_a_missing_directory(
    snapshot_project: tuple[Path, Path], overlock: Overlock, tmp_path: Path
) -> None:
    manifest, _ = snapshot_project
    target = tmp_path / "newdir" / "x.json"
    for argv in (
        ("base", "snapshot", "-m", str(manifest), "-o", str(target)),
        ("export", "-m", str(manifest), "-o", str(target)),
    ):
        run = overlock(*argv)
        assert run.code == 2, run.err
        assert f"the directory {target.parent} does not exist" in run.err
        assert "internal error" not in run.err


def test_output_onto_a_directory(snapshot_project: tuple[Path, Path], overlock: Overlock) -> None:
    manifest, _ = snapshot_project
    run = overlock("base", "snapshot", "-m", str(manifest), "-o", str(manifest.parent))
    assert run.code == 2, run.err
    assert "names a directory" in run.err


def test_os_errors_reaching_the_cli_are_sentences(
    snapshot_project: tuple[Path, Path], overlock: Overlock
) -> None:
    """A file name over 255 bytes fails deep in the OS; the CLI still says what it was."""
    manifest, _ = snapshot_project
    long_name = manifest.parent / ("x" * 300 + ".json")
    run = overlock("base", "snapshot", "-m", str(manifest), "-o", str(long_name))
    assert run.code == 2, run.err
    assert "overlock: error: a file name is too long" in run.err
    assert "internal error" not in run.err


def test_a_nul_in_a_path_is_a_clean_error(
    snapshot_project: tuple[Path, Path], overlock: Overlock
) -> None:
    manifest, _ = snapshot_project
    run = overlock("base", "snapshot", "-m", str(manifest), "-o", "x\x00y.json")
    assert run.code == 2, run.err
    assert "contains a NUL character" in run.err


@pytest.mark.parametrize(
    ("code", "expected", "exit_code"),
    [
        (errno.ENOSPC, "no space left writing /p/sync.lock", 1),
        (errno.EDQUOT, "no space left writing /p/sync.lock", 1),
        (errno.EROFS, "cannot write /p/sync.lock: the file system is read-only", 1),
        (errno.EACCES, "permission denied: /p/sync.lock", 1),
        (errno.EPERM, "permission denied: /p/sync.lock", 1),
        (errno.ENAMETOOLONG, "a file name is too long: /p/sync.lock", 2),
        (errno.ENOENT, "/p/sync.lock does not exist", 2),
        (errno.EISDIR, "/p/sync.lock is a directory", 2),
        (errno.EIO, "Input/output error: /p/sync.lock", 1),
    ],
)
def test_os_error_mapping(code: int, expected: str, exit_code: int) -> None:
    """ENOSPC and EROFS cannot be caused here without root-only mounts; the mapping the CLI
    applies to them is checked on the exception itself."""
    error = os_error(OSError(code, os.strerror(code), "/p/sync.lock"))
    assert expected in error.message
    assert error.hint
    assert error.exit_code == exit_code
    assert isinstance(error, BadInputError) == (exit_code == 2)


def test_an_unusable_cache_directory_is_a_clean_error(
    snapshot_project: tuple[Path, Path],
    overlock: Overlock,
    index: PackageIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cache below a regular file cannot be created (as root too, unlike a chmod)."""
    from harness.wheels import WheelSpec

    index.add_spec(WheelSpec(name="alpha", version="1.0"))
    manifest, _ = snapshot_project
    manifest.write_text(manifest.read_text().replace("requires = []", 'requires = ["alpha"]'))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("OVERLOCK_CACHE_DIR", str(blocker / "cache"))
    run = overlock("lock", "-m", str(manifest))
    assert run.code in (1, 2), run.err
    assert run.err.startswith("overlock: error:"), run.err
    assert str(blocker) in run.err
    assert "internal error" not in run.err


def test_a_snapshot_tag_that_does_not_parse_is_refused(
    snapshot_project: tuple[Path, Path], overlock: Overlock
) -> None:
    import json

    manifest, snapshot = snapshot_project
    data = json.loads(snapshot.read_text())
    data["tags"] = ["[]", *data["tags"]]
    snapshot.write_text(json.dumps(data))
    run = overlock("lock", "--dry-run", "-m", str(manifest))
    assert run.code == 2, run.err
    assert "holds a wheel tag that does not parse" in run.err
