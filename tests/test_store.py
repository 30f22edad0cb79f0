"""The unpacked store: wheels unpacked once per cache, generations hard-linked from it.

Real wheels, a real venv base, the harness index and the real CLI; the cross-filesystem
case puts the cache on /dev/shm (tmpfs) while the prefix stays on the test's file system.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.cache import Cache
from overlock.errors import SyncError
from overlock.prefix.state import current_generation, read_state
from overlock.sync.store import Store

Overlock = Callable[..., Run]

SCRIPT = "#!python\nimport beta; beta.main()\n"


@pytest.fixture
def project(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> tuple[Base, Path]:
    """A base with alpha 1.0; the index has alpha 2.0, gamma 1.0 and 2.0, and beta 1.0 with
    a console script and a ``#!python`` script in its .data directory."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec(name="alpha", version="2.0"))
    for version in ("1.0", "2.0"):
        index.add_spec(WheelSpec(name="gamma", version=version))
    index.add_spec(
        WheelSpec(
            name="beta",
            version="1.0",
            entry_points={"console_scripts": {"beta-tool": "beta:main"}},
            files={
                "beta/__init__.py": "def main():\n    import alpha; print(alpha.__version__)\n",
                "beta/data.txt": "some data\n",
                "beta-1.0.data/scripts/beta-script": SCRIPT,
            },
        )
    )
    return base, tmp_path


def _manifest(root: Path, base: Base, index: PackageIndex, name: str, gamma: str) -> Path:
    return write_manifest(root / name, base, ["alpha==2.0", "beta", f"gamma=={gamma}"], index=index)


def _prefix(manifest: Path, base: Base) -> Path:
    return manifest.parent / "overlay" / base.prefix.name


def _lock_and_sync(overlock: Overlock, manifest: Path, *more: str) -> Run:
    locked = overlock("lock", "-m", str(manifest))
    assert locked.code == 0, locked.err
    synced = overlock("sync", "-m", str(manifest), *more)
    assert synced.code == 0, synced.err
    return synced


def _store() -> Store:
    return Store(Cache.default().unpacked_root())


def _entries(store: Store) -> dict[str, int]:
    """sha256 -> inode of each entry's entry.json: a new unpack gives a new inode."""
    out = {}
    for path in store.root.glob("??/*/entry.json"):
        out[path.parent.name] = path.stat().st_ino
    return out


def _site(prefix: Path) -> Path:
    (site,) = prefix.glob("lib/python3.*/site-packages")
    return site


def _store_file(store: Store, rel: str) -> Path:
    (found,) = store.root.glob(f"??/*/tree/{rel}")
    return found


def _check(overlock: Overlock, manifest: Path) -> Run:
    return overlock("check", "-m", str(manifest), "--json")


# -- tests --------------------------------------------------------------------------------


def test_fresh_sync_hard_links_read_only_store_files(
    project: tuple[Base, Path], index: PackageIndex, overlock: Overlock
) -> None:
    base, root = project
    before = base.checksum()
    manifest = _manifest(root, base, index, "one", "1.0")
    _lock_and_sync(overlock, manifest)
    prefix = _prefix(manifest, base)
    store = _store()
    site = _site(prefix)

    # The wheel's members are the store's files: one inode, linked once per generation.
    for rel in (
        "beta/__init__.py",
        "beta/data.txt",
        "alpha/__init__.py",
        "beta-1.0.dist-info/METADATA",
    ):
        installed, stored = site / rel, _store_file(store, rel)
        assert installed.stat().st_ino == stored.stat().st_ino, rel
        assert installed.stat().st_nlink == 2, rel
        # Read-only: an edit through the prefix would edit the store, so it is refused.
        assert stat.S_IMODE(stored.stat().st_mode) == 0o444, rel
    # Per-prefix files are written, never linked: the launcher, the rewritten #!python
    # script, and the metadata that names this installation.
    launcher = prefix / "bin" / "beta-tool"
    script = prefix / "bin" / "beta-script"
    assert launcher.stat().st_nlink == 1 and str(prefix) in launcher.read_text()
    assert script.stat().st_nlink == 1
    assert script.read_text().startswith(f"#!{base.prefix}/bin/python")
    assert _store_file(store, "beta-1.0.data/scripts/beta-script").read_text() == SCRIPT
    for name in ("RECORD", "INSTALLER"):
        assert (site / "beta-1.0.dist-info" / name).stat().st_nlink == 1
    # Byte-code is compiled per generation, beside the linked sources, not in the store.
    assert list((site / "beta" / "__pycache__").glob("__init__.cpython-*.pyc"))
    assert not list(store.root.rglob("__pycache__"))

    state = read_state(prefix)
    assert state is not None and state.placement is not None
    assert state.placement["hardlink"] > 0
    assert "copy" not in state.placement and "reflink" not in state.placement
    shown = overlock("show", "-m", str(manifest), "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["prefix"]["placement"] == dict(state.placement)
    text = overlock("show", "-m", str(manifest))
    assert f"{state.placement['hardlink']} hard-linked" in text.out

    checked = _check(overlock, manifest)
    assert checked.code == 0, checked.out
    ran = overlock("run", "-m", str(manifest), "--", "beta-tool")
    assert ran.code == 0
    assert base.checksum() == before


def test_a_second_overlay_reuses_the_store_without_fetching_or_unpacking(
    project: tuple[Base, Path], index: PackageIndex, overlock: Overlock
) -> None:
    base, root = project
    one = _manifest(root, base, index, "one", "1.0")
    two = _manifest(root, base, index, "two", "1.0")
    _lock_and_sync(overlock, one)
    assert overlock("lock", "-m", str(two)).code == 0
    store = _store()
    entries = _entries(store)
    assert len(entries) == 3  # alpha 2.0, beta 1.0, gamma 1.0
    # Without the wheels (and offline), only the store can provide the files.
    shutil.rmtree(Cache.default().root / "wheels")
    index.reset_log()

    synced = overlock("sync", "-m", str(two), "--offline")
    assert synced.code == 0, synced.err

    assert _entries(store) == entries  # not one wheel unpacked again
    assert index.count("*.whl") == 0
    rel = "beta/__init__.py"
    first, second = _site(_prefix(one, base)) / rel, _site(_prefix(two, base)) / rel
    assert first.stat().st_ino == second.stat().st_ino == _store_file(store, rel).stat().st_ino
    assert first.stat().st_nlink == 3
    assert _check(overlock, two).code == 0


def test_resync_changing_one_package_unpacks_only_that_package_and_rollback_works(
    project: tuple[Base, Path], index: PackageIndex, overlock: Overlock
) -> None:
    base, root = project
    manifest = _manifest(root, base, index, "one", "1.0")
    _lock_and_sync(overlock, manifest)
    prefix = _prefix(manifest, base)
    store = _store()
    before = _entries(store)
    beta_ino = (_site(prefix) / "beta/__init__.py").stat().st_ino
    index.reset_log()

    _manifest(root, base, index, "one", "2.0")
    _lock_and_sync(overlock, manifest)

    after = _entries(store)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == len(before) + 1  # gamma 2.0 alone
    assert index.count("*.whl") == 1
    assert current_generation(prefix) == 2
    assert (_site(prefix) / "beta/__init__.py").stat().st_ino == beta_ino
    assert '"2.0"' in (_site(prefix) / "gamma/__init__.py").read_text()
    assert _check(overlock, manifest).code == 0

    back = overlock("rollback", "-m", str(manifest))
    assert back.code == 0, back.err
    assert current_generation(prefix) == 1
    assert '"1.0"' in (_site(prefix) / "gamma/__init__.py").read_text()


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A directory on another file system than ``tmp_path`` (tmpfs at /dev/shm)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no /dev/shm on another file system than the test's")
    path = Path(tempfile.mkdtemp(dir=shm, prefix="overlock-store-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_store_on_another_file_system_is_copied_from(
    project: tuple[Base, Path],
    index: PackageIndex,
    overlock: Overlock,
    other_filesystem: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, root = project
    monkeypatch.setenv("OVERLOCK_CACHE_DIR", str(other_filesystem / "cache"))
    manifest = _manifest(root, base, index, "one", "1.0")
    _lock_and_sync(overlock, manifest)
    prefix = _prefix(manifest, base)
    store = _store()
    assert store.root.stat().st_dev != prefix.resolve().stat().st_dev

    rel = "beta/__init__.py"
    installed, stored = _site(prefix) / rel, _store_file(store, rel)
    assert installed.stat().st_ino != stored.stat().st_ino
    assert installed.stat().st_nlink == 1 and installed.read_bytes() == stored.read_bytes()
    state = read_state(prefix)
    assert state is not None and state.placement is not None
    assert state.placement["copy"] > 0 and "hardlink" not in state.placement
    assert "copied" in overlock("show", "-m", str(manifest)).out
    assert _check(overlock, manifest).code == 0


def test_a_damaged_store_file_is_unpacked_again_not_linked_and_check_finds_the_edit(
    project: tuple[Base, Path], index: PackageIndex, overlock: Overlock
) -> None:
    base, root = project
    one = _manifest(root, base, index, "one", "1.0")
    two = _manifest(root, base, index, "two", "1.0")
    _lock_and_sync(overlock, one)
    store = _store()
    rel = "beta/__init__.py"
    stored = _store_file(store, rel)
    original = stored.read_bytes()
    # An edit in place, as root (or after a chmod) can make it: same size, mode restored.
    stored.chmod(0o644)
    stored.write_bytes(original.replace(b"print", b"quit("[:5]))
    stored.chmod(0o444)
    edited = stored.read_bytes()
    assert edited != original and len(edited) == len(original)

    synced = _lock_and_sync(overlock, two, "-v")

    assert "damaged" in synced.err
    fresh = _site(_prefix(two, base)) / rel
    assert fresh.read_bytes() == original
    assert fresh.stat().st_ino != (_site(_prefix(one, base)) / rel).stat().st_ino
    assert _store_file(store, rel).read_bytes() == original
    assert _check(overlock, two).code == 0
    # The first overlay shared the edited inode: check sees it against RECORD.
    found = _check(overlock, one)
    assert found.code != 0
    assert "beta" in found.out and "modified" in found.out
    # The repair check suggests builds a fresh generation, from the store's fresh entry.
    _prefix(one, base).unlink()
    assert overlock("sync", "-m", str(one)).code == 0
    assert (_site(_prefix(one, base)) / rel).read_bytes() == original
    assert _check(overlock, one).code == 0


def test_two_unpacks_of_one_wheel_leave_one_entry(make_wheel: MakeWheel, tmp_path: Path) -> None:
    wheel = make_wheel(name="alpha", version="2.0")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    store = Store(tmp_path / "store")
    # Two syncs unpacked the same wheel at once; the first rename wins.
    first, second = store.unpack(wheel, sha), store.unpack(wheel, sha)
    assert first.root != second.root
    won = store.commit(first)
    lost = store.commit(second)
    assert lost.root == won.root == store.entry_dir(sha)
    assert not second.root.exists()
    assert list((store.root / "tmp").iterdir()) == []
    assert lost.damage() is None
    assert store.add(wheel, sha).root == won.root


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o277])
def test_stored_files_are_read_only_whatever_the_umask(
    make_wheel: MakeWheel, tmp_path: Path, umask: int
) -> None:
    source = make_wheel(name="beta", version="1.0", files={"beta/__init__.py": "x = 1\n"})
    # The same wheel with one member marked executable in the archive.
    wheel = tmp_path / source.name
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(wheel, "w") as new:
        for info in old.infolist():
            if info.filename == "beta/__init__.py":
                info.external_attr = (stat.S_IFREG | 0o755) << 16
            new.writestr(info, old.read(info))
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    old_umask = os.umask(umask)
    try:
        entry = Store(tmp_path / "store").add(wheel, sha)
    finally:
        os.umask(old_umask)
    modes = {f.path: stat.S_IMODE(os.lstat(entry.tree / f.path).st_mode) for f in entry.files}
    assert modes.pop("beta/__init__.py") == 0o555
    assert modes and set(modes.values()) == {0o444}
    # The stat keys recorded are the files' own: the entry is intact.
    assert entry.damage() is None


def _hostile_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A wheel whose RECORD truthfully lists ``members`` (name, hash and size)."""
    import base64
    import csv

    dist_info = "alpha-2.0.dist-info"
    members = {
        **members,
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: alpha\nVersion: 2.0\n",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", record.getvalue())
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../../outside.py": b"x = 1\n"}, "outside the overlay"),
        ({"alpha/__init__.py": b"\0" * (260 * 1024 * 1024)}, "inflate"),
    ],
    ids=["path-traversal", "zip-bomb"],
)
def test_hostile_wheels_never_reach_the_store(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    wheel = _hostile_wheel(tmp_path / "alpha-2.0-py3-none-any.whl", members)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    store = Store(tmp_path / "store" / "unpacked")
    with pytest.raises(SyncError, match=message):
        store.add(wheel, sha)
    assert store.get(sha) is None
    assert list((store.root / "tmp").iterdir()) == []
    assert not (tmp_path / "outside.py").exists()
    assert not (tmp_path / "store" / "outside.py").exists()
    assert [p.name for p in store.root.iterdir()] == ["tmp"]


@pytest.fixture
def btrfs_subvolumes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two subvolumes of a fresh btrfs file system (a loop device): hard links between
    them fail with EXDEV, clones (reflinks) work. Skipped without root or btrfs-progs."""
    mkfs, btrfs = shutil.which("mkfs.btrfs"), shutil.which("btrfs")
    if os.geteuid() != 0 or mkfs is None or btrfs is None:
        pytest.skip("needs root and btrfs-progs (mkfs.btrfs) to make a btrfs file system")
    image, mount = tmp_path / "btrfs.img", tmp_path / "btrfs"
    with image.open("wb") as fh:
        fh.truncate(256 * 1024 * 1024)
    mount.mkdir()
    made = subprocess.run([mkfs, "-q", str(image)], capture_output=True, check=False)
    mounted = made.returncode == 0 and (
        subprocess.run(
            ["mount", "-o", "loop", "--", str(image), str(mount)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("cannot mount a btrfs image here (no loop devices?)")
    try:
        subvolumes = (mount / "cache", mount / "work")
        for sub in subvolumes:
            subprocess.run(
                [btrfs, "subvolume", "create", str(sub)], capture_output=True, check=True
            )
        yield subvolumes
    finally:
        subprocess.run(["umount", "--", str(mount)], capture_output=True, check=False)


def test_a_store_in_another_btrfs_subvolume_is_cloned_from_and_an_edit_stays_local(
    project: tuple[Base, Path],
    index: PackageIndex,
    overlock: Overlock,
    btrfs_subvolumes: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, _root = project
    cache, work = btrfs_subvolumes
    monkeypatch.setenv("OVERLOCK_CACHE_DIR", str(cache / "overlock"))
    manifest = _manifest(work, base, index, "one", "1.0")
    _lock_and_sync(overlock, manifest)
    prefix = _prefix(manifest, base)
    state = read_state(prefix)
    assert state is not None and state.placement is not None
    assert state.placement["reflink"] > 0 and "hardlink" not in state.placement
    assert "cloned (reflink)" in overlock("show", "-m", str(manifest)).out
    assert _check(overlock, manifest).code == 0

    # A clone is copy-on-write: an edit in the prefix (made writable first) stays there.
    rel = "beta/__init__.py"
    installed, stored = _site(prefix) / rel, _store_file(_store(), rel)
    original = stored.read_bytes()
    assert installed.read_bytes() == original
    installed.chmod(0o644)
    installed.write_bytes(b"edited = True\n")
    assert stored.read_bytes() == original
    sha = next(p for p in stored.parents if p.name == "tree").parent.name
    entry = _store().get(sha)
    assert entry is not None and entry.damage() is None
