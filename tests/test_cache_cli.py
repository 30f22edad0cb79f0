"""`overlock cache dir|info|prune|clean`: real syncs into real prefixes from the harness's
index, then the real CLI on the cache they filled (``$OVERLOCK_CACHE_DIR``, per test)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bases import Base, MakeBase, clean_env
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import WheelSpec
from overlock.cache import Cache
from overlock.filelock import flocked
from overlock.prefix.state import state_root
from overlock.sync.stamp import stamp_path
from overlock.sync.store import LOCK_FILE, Store

Overlock = Callable[..., Run]
OVERLOCK = str(Path(sys.executable).with_name("overlock"))
HOUR = 3600


@pytest.fixture
def two(make_base: MakeBase, index: PackageIndex, tmp_path: Path) -> tuple[Base, Path, Path]:
    """Two overlays of one base: ``one`` locks gamma 1.0 and delta, ``two`` gamma 2.0 and
    delta (so delta's store entry is linked by both)."""
    base = make_base("venv")
    for version in ("1.0", "2.0"):
        index.add_spec(WheelSpec(name="gamma", version=version))
    index.add_spec(WheelSpec(name="delta", version="1.0"))
    one = write_manifest(tmp_path / "one", base, ["gamma==1.0", "delta"], index=index)
    two = write_manifest(tmp_path / "two", base, ["gamma==2.0", "delta"], index=index)
    return base, one, two


def _sync(overlock: Overlock, *manifests: Path) -> None:
    for manifest in manifests:
        locked = overlock("lock", "-m", str(manifest))
        assert locked.code == 0, locked.err
        synced = overlock("sync", "-m", str(manifest))
        assert synced.code == 0, synced.err


def _prefix(manifest: Path, base: Base) -> Path:
    return manifest.parent / "overlay" / base.prefix.name


def _delete_prefix(prefix: Path) -> None:
    prefix.unlink()  # the prefix is a link to its current generation
    shutil.rmtree(state_root(prefix))


def _orphan(overlock: Overlock, two: tuple[Base, Path, Path], *gone: Path) -> dict[str, str]:
    """Sync both overlays, delete the prefixes of those in ``gone``; the store's entries."""
    base, one, two_ = two
    _sync(overlock, one, two_)
    for manifest in gone:
        _delete_prefix(_prefix(manifest, base))
    return _entries(_store())


def _store() -> Store:
    return Store(Cache.default().unpacked_root())


def _entries(store: Store) -> dict[str, str]:
    """The dist-info directory (``gamma-1.0.dist-info``) -> sha256 of each store entry."""
    out = {}
    for path in store.root.glob("??/*/entry.json"):
        out[json.loads(path.read_text())["dist-info"]] = path.parent.name
    return out


def _json(run: Run) -> dict[str, Any]:
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert isinstance(data, dict)
    return data


def _kinds(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    kinds = data["kinds"]
    assert isinstance(kinds, dict)
    return kinds


def _imports(base: Base, prefix: Path, module: str) -> str:
    (site,) = prefix.glob("lib/python3.*/site-packages")
    run = subprocess.run(
        [str(base.python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        env=clean_env({"PYTHONPATH": str(site)}),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def _age(path: Path, seconds: float) -> None:
    """Make ``path`` and everything in it look untouched for ``seconds``."""
    then = time.time() - seconds
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(Path(root) / name, (then, then), follow_symlinks=False)
    os.utime(path, (then, then), follow_symlinks=False)


# -- dir and info ------------------------------------------------------------------------


def test_dir_is_the_cache_root_of_the_environment(overlock: Overlock, tmp_path: Path) -> None:
    run = overlock("cache", "dir")
    assert run.code == 0
    assert run.out.strip() == os.environ["OVERLOCK_CACHE_DIR"] == str(Cache.default().root)
    env = clean_env({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    del env["OVERLOCK_CACHE_DIR"]
    run2 = subprocess.run([OVERLOCK, "cache", "dir"], capture_output=True, text=True, env=env)
    assert run2.returncode == 0 and run2.stdout == f"{tmp_path / 'xdg' / 'overlock'}\n"


def test_info_counts_entries_and_each_inode_once(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, one, _two = two
    _sync(overlock, one)
    data = _json(overlock("cache", "info", "--json"))
    assert data["root"] == str(Cache.default().root) and data["exists"] is True
    kinds = _kinds(data)
    assert set(kinds) == {
        *("wheels", "metadata", "built", "pages", "git", "probes", "checks", "hashes"),
        *("stamps", "store", "scratch"),
    }
    assert set(kinds["store"]) == {"entries", "bytes", "linked", "linked_bytes"}
    assert kinds["wheels"]["entries"] == 2  # gamma 1.0, delta 1.0
    assert kinds["store"]["entries"] == kinds["store"]["linked"] == 2
    assert kinds["probes"]["entries"] >= 1
    assert kinds["stamps"]["entries"] == 1
    # The prefix links the trees' files but RECORD (written per generation); entry.json
    # is the store's own.
    store = _store()
    files = [p.stat() for p in store.root.glob("??/*/**/*") if p.is_file()]
    assert kinds["store"]["bytes"] == sum(st.st_size for st in files)
    shared = sum(st.st_size for st in files if st.st_nlink > 1)
    assert kinds["store"]["linked_bytes"] == shared > 0
    total = data["total"]
    assert isinstance(total, dict)
    assert total["bytes"] == sum(k["bytes"] for k in kinds.values())

    # A second link to a store file inside the cache adds an entry, not bytes.
    (stored,) = store.root.glob("??/*/tree/gamma/__init__.py")
    scratch = Cache.default().root / "tmp" / "leftover"
    scratch.mkdir(parents=True)
    os.link(stored, scratch / "again.py")
    again = _kinds(_json(overlock("cache", "info", "--json")))
    assert again["scratch"]["entries"] == 1
    assert again["scratch"]["bytes"] == 0
    assert again["store"] == kinds["store"]

    text = overlock("cache", "info")
    assert text.code == 0
    assert "2 still linked into prefixes" in text.out


def test_a_missing_cache_is_nothing_to_do(overlock: Overlock) -> None:
    root = Cache.default().root
    assert not root.exists()
    info = _json(overlock("cache", "info", "--json"))
    assert info["exists"] is False and info["total"] == {"entries": 0, "bytes": 0}
    for command in (("prune",), ("clean",), ("clean", "pages")):
        run = overlock("cache", *command)
        assert run.code == 0, run.err
        assert "nothing to do" in run.out
    assert not root.exists()  # not created by looking at it


def test_clean_of_an_unknown_kind_names_the_kinds() -> None:
    run = subprocess.run(
        [OVERLOCK, "cache", "clean", "wheel"], capture_output=True, text=True, env=clean_env()
    )
    assert run.returncode == 2
    assert "invalid choice: 'wheel'" in run.stderr
    assert "'wheels'" in run.stderr and "'store'" in run.stderr


# -- prune -------------------------------------------------------------------------------

G1, G2, D1 = "gamma-1.0.dist-info", "gamma-2.0.dist-info", "delta-1.0.dist-info"


def test_prune_removes_entries_no_prefix_links_and_keeps_the_others(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    base, one, two_ = two
    _sync(overlock, one, two_)
    store = _store()
    entries = _entries(store)
    assert set(entries) == {G1, G2, D1}

    nothing = _json(overlock("cache", "prune", "--json"))
    assert nothing["removed"] == [] and nothing["freed_bytes"] == 0
    assert nothing["kept"] == {"linked_store_entries": 3, "fresh_scratch": []}

    _delete_prefix(_prefix(two_, base))  # the only prefix that linked gamma 2.0

    # --dry-run says what would go and removes nothing.
    dry = _json(overlock("cache", "prune", "--dry-run", "--json"))
    assert dry["dry_run"] is True
    assert dry["removed"] == [
        {"kind": "store", "path": str(store.entry_dir(entries[G2])), "bytes": dry["freed_bytes"]}
    ]
    freed = dry["freed_bytes"]
    assert isinstance(freed, int) and freed > 0
    assert _entries(store) == entries

    done = _json(overlock("cache", "prune", "--json"))
    assert done["dry_run"] is False and done["failed"] == []
    assert done["removed"] == dry["removed"] and done["freed_bytes"] == freed
    assert done["kept"] == {"linked_store_entries": 2, "fresh_scratch": []}
    assert _entries(store) == {G1: entries[G1], D1: entries[D1]}
    assert not store.entry_dir(entries[G2]).exists()
    shard = store.entry_dir(entries[G2]).parent
    assert shard.exists() == any(
        store.entry_dir(sha).parent == shard for sha in entries.values() if sha != entries[G2]
    )
    assert list((store.root / "trash").iterdir()) == []
    # What stays is what overlay one links; it still imports and checks out.
    assert _imports(base, _prefix(one, base), "gamma") == "1.0"
    assert overlock("check", "-m", str(one)).code == 0
    text = overlock("cache", "prune")
    assert text.code == 0 and "removed nothing" in text.out and "kept 2 store entries" in text.out


def test_prune_removes_an_entry_once_no_generation_links_it(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    base, one, _two = two
    text = one.read_text()
    _sync(overlock, one)
    one.write_text(text.replace('"gamma==1.0"', '"gamma==2.0"'))
    _sync(overlock, one)
    store = _store()
    entries = _entries(store)
    # gamma 1.0 is linked by the previous generation, the one `rollback` returns to.
    assert _json(overlock("cache", "prune", "--json"))["removed"] == []
    one.write_text(text.replace('"gamma==1.0", "delta"', '"gamma==2.0"'))
    _sync(overlock, one)  # generation 1 retires to the spare, still linking gamma 1.0
    assert _json(overlock("cache", "prune", "--json"))["removed"] == []
    one.write_text(text.replace('"gamma==1.0"', '"gamma==2.0"'))
    _sync(overlock, one)  # the spare is recycled, trimmed of gamma 1.0; 3 is the rollback one
    pruned = _json(overlock("cache", "prune", "--json"))
    assert pruned["removed"] == [
        {"kind": "store", "path": str(store.entry_dir(entries[G1])), "bytes": pruned["freed_bytes"]}
    ]
    assert _entries(store) == {G2: entries[G2], D1: entries[D1]}
    assert overlock("rollback", "-m", str(one)).code == 0
    assert _imports(base, _prefix(one, base), "gamma") == "2.0"


def test_prune_removes_old_leftovers_and_stamps_of_deleted_overlays(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, one, two_ = two
    _sync(overlock, one, two_)
    cache = Cache.default()
    store = _store()
    leftovers = {}
    for where in (store.root / "tmp", store.root / "trash", cache.root / "tmp"):
        for age in ("old", "fresh"):
            path = where / f"{age}-leftover"
            (path / "sub").mkdir(parents=True)
            (path / "sub" / "file").write_text("x" * 100)
            leftovers[path] = age
    for path, age in leftovers.items():
        if age == "old":
            _age(path, 2 * HOUR)
    # Old outside, fresh within: a process still writing into it.
    mixed = cache.root / "tmp" / "old-outside"
    (mixed / "part").mkdir(parents=True)
    _age(mixed, 2 * HOUR)
    (mixed / "part" / "being-written").write_text("y")
    stamps = {m: Path(stamp_path(cache.root, m)) for m in (one, two_)}
    gamma2 = _entries(store)[G2]
    assert all(s.is_file() for s in stamps.values())
    shutil.rmtree(two_.parent)  # the overlay two is deleted (its prefix goes with it)

    dry = _json(overlock("cache", "prune", "--dry-run", "--json"))
    assert all(path.exists() for path in leftovers) and stamps[two_].exists()
    assert G2 in _entries(store)
    pruned = _json(overlock("cache", "prune", "--json"))
    assert pruned["removed"] == dry["removed"] and pruned["freed_bytes"] == dry["freed_bytes"]
    kinds = sorted((r["kind"], Path(r["path"]).name) for r in pruned["removed"])
    assert kinds == [
        ("scratch", "old-leftover"),
        ("stamps", stamps[two_].name),
        ("store", gamma2),
        ("store", "old-leftover"),
        ("store", "old-leftover"),
    ]
    for path, age in leftovers.items():
        assert path.exists() == (age == "fresh"), path
    assert mixed.exists()
    kept = pruned["kept"]
    assert isinstance(kept, dict)
    assert sorted(kept["fresh_scratch"]) == sorted(
        [str(p) for p, age in leftovers.items() if age == "fresh"] + [str(mixed)]
    )
    assert stamps[one].is_file() and not stamps[two_].exists()
    assert G2 not in _entries(store)


def test_clean_leaves_synced_prefixes_working(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    base, one, _two = two
    _sync(overlock, one)
    cache = Cache.default()
    before = _kinds(_json(overlock("cache", "info", "--json")))
    assert before["wheels"]["entries"] == 2 and before["store"]["entries"] == 2

    cleaned = _json(overlock("cache", "clean", "--json"))
    assert cleaned["failed"] == [] and cleaned["dry_run"] is False
    after = _json(overlock("cache", "info", "--json"))
    assert after["total"] == {"entries": 0, "bytes": 0}
    assert (cache.unpacked_root() / LOCK_FILE).is_file()  # syncs keep locking the same file
    # The store's files were the prefix's own links: nothing it needs went with the cache.
    freed = cleaned["freed_bytes"]
    assert isinstance(freed, int)
    assert freed < sum(k["bytes"] for k in before.values())
    assert _imports(base, _prefix(one, base), "gamma") == "1.0"
    checked = overlock("check", "-m", str(one))
    assert checked.code == 0, checked.out + checked.err
    # And the next sync fills the cache again.
    one.write_text(one.read_text().replace('"gamma==1.0"', '"gamma==2.0"'))
    _sync(overlock, one)
    assert _imports(base, _prefix(one, base), "gamma") == "2.0"


def test_clean_of_named_kinds_removes_only_those(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, one, _two = two
    _sync(overlock, one)
    before = _kinds(_json(overlock("cache", "info", "--json")))
    cleaned = _json(overlock("cache", "clean", "wheels", "metadata", "--json"))
    assert {r["kind"] for r in cleaned["removed"]} == {"wheels", "metadata"}
    after = _kinds(_json(overlock("cache", "info", "--json")))
    assert after["wheels"]["entries"] == after["metadata"]["entries"] == 0
    assert {k: v for k, v in after.items() if k not in ("wheels", "metadata")} == {
        k: v for k, v in before.items() if k not in ("wheels", "metadata")
    }


# -- never through a symbolic link ---------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A stand-in for $HOME (the real one is not risked): files that must survive."""
    path = tmp_path / "home"
    (path / "projects").mkdir(parents=True)
    (path / "notes.txt").write_text("precious\n")
    (path / "projects" / "thesis.tex").write_text("precious\n")
    yield path
    assert (path / "notes.txt").read_text() == "precious\n"
    assert (path / "projects" / "thesis.tex").read_text() == "precious\n"


def _plant(cache: Cache, home: Path) -> list[Path]:
    """Links to ``home`` wherever a kind's walk or removal could meet them."""
    store = cache.unpacked_root()
    links = [
        cache.root / "wheels" / "ab" / "link-to-home",  # inside a kind's directory
        cache.root / "pages",  # a kind's directory itself
        store / "cd" / ("e" * 64),  # a store entry
        store / "ef",  # a store shard
        store / "trash" / "link-to-home",  # a leftover
        cache.root / "tmp" / "link-to-home",  # a scratch directory
        cache.root / "sync-stamps" / "0000000000000000.stamp",
    ]
    for link in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(home, target_is_directory=True)
        _age(link, 2 * HOUR)
    return links


def test_clean_and_prune_never_follow_a_symlink_out_of_the_cache(
    two: tuple[Base, Path, Path], overlock: Overlock, home: Path
) -> None:
    _base, one, _two = two
    _sync(overlock, one)
    cache = Cache.default()
    links = _plant(cache, home)
    info = _json(overlock("cache", "info", "--json"))
    assert info["symlinks_skipped"] == [str(cache.root / "pages")]
    assert _kinds(info)["wheels"]["bytes"] > 0

    pruned = _json(overlock("cache", "prune", "--json"))
    assert pruned["failed"] == []
    cleaned = _json(overlock("cache", "clean", "--json"))
    assert cleaned["failed"] == [] and cleaned["symlinks_skipped"] == [str(cache.root / "pages")]
    for link in links:
        # Removed as a link, or (a kind's own directory) left alone: never followed.
        assert not link.exists() or link.is_symlink(), link
    assert (cache.root / "pages").is_symlink()
    assert not any(Path(r["path"]) == home for r in cleaned["removed"])


# -- concurrency with syncs --------------------------------------------------------------


def test_prune_waits_while_a_sync_uses_the_store_or_refuses_with_no_wait(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, _one, two_ = two
    gamma2 = _orphan(overlock, two, two_)[G2]
    store = _store()
    # The syncs are over: their lock (and their forked workers') is released.
    assert _json(overlock("cache", "prune", "--dry-run", "--no-wait", "--json"))["removed"]

    with store.using():  # what a sync holds from choosing entries until it linked them
        refused = overlock("cache", "prune", "--no-wait")
        assert refused.code == 1
        assert "a sync is using the unpacked store" in refused.err
        assert "without --no-wait" in refused.err
        refused = overlock("cache", "clean", "store", "--no-wait", "--json")
        assert refused.code == 1
        assert _entries(store)[G2] == gamma2

        waiting = subprocess.Popen(
            [OVERLOCK, "cache", "prune", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert waiting.stderr is not None
        said = waiting.stderr.readline()  # said before it blocks on the lock
        assert "waiting for the syncs using" in said, said
        assert waiting.poll() is None  # it cannot finish: the lock is still held
        assert _entries(store)[G2] == gamma2
    out, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, err
    removed = json.loads(out)["removed"]
    assert [Path(r["path"]).name for r in removed] == [gamma2]
    assert G2 not in _entries(store)


def _waits_for_lock(pid: int, inode: int) -> bool:
    """Whether process ``pid`` is blocked on a flock of the file with ``inode``."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if (
            len(fields) > 6
            and fields[1:3] == ["->", "FLOCK"]
            and int(fields[5]) == pid
            and int(fields[6].rsplit(":", 1)[1]) == inode
        ):
            return True
    return False


@pytest.mark.skipif(not Path("/proc/locks").is_file(), reason="needs Linux's /proc/locks")
def test_a_sync_waits_for_a_prune_or_clean_and_then_succeeds(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    base, one, two_ = two
    _sync(overlock, one)
    assert overlock("lock", "-m", str(two_)).code == 0
    store = _store()
    lock_file = store.root / LOCK_FILE
    with flocked(lock_file, exclusive=True):  # what prune and clean hold
        syncing = subprocess.Popen(
            [OVERLOCK, "sync", "-v", "-m", str(two_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        inode = lock_file.stat().st_ino
        while not _waits_for_lock(syncing.pid, inode):
            assert syncing.poll() is None, "the sync used the store without its lock"
            time.sleep(0.05)
        # Meanwhile the "clean" removes every entry, delta's too, which the sync would have
        # linked without fetching had it looked before the lock was free.
        for entry in store.root.glob("??/*"):
            store.discard(entry.name)
        assert _entries(store) == {}
    _out, err = syncing.communicate(timeout=600)
    assert syncing.returncode == 0, err
    assert "waiting for `overlock cache prune` or `clean` to finish" in err
    assert _imports(base, _prefix(two_, base), "gamma") == "2.0"
    checked = overlock("check", "-m", str(two_))
    assert checked.code == 0, checked.out + checked.err
    # Overlay one, synced before, was not disturbed by its entries going.
    assert overlock("check", "-m", str(one)).code == 0


# -- a cache a group shares ----------------------------------------------------------------

# Root without the capabilities that bypass file permissions: it then meets another user's
# files as any member of a group sharing the cache would.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _as_another_user(path: Path) -> None:
    """Hand ``path`` and everything in it to ``nobody``, as another member would own it."""
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(Path(root) / name, 65534, 65534, follow_symlinks=False)
    os.chown(path, 65534, 65534)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="drops root's permission bypass with setpriv, so needs root and setpriv",
)
def test_prune_in_a_shared_cache_reports_what_it_cannot_read_or_remove(
    two: tuple[Base, Path, Path], overlock: Overlock
) -> None:
    _base, one, two_ = two
    entries = _orphan(overlock, two, one, two_)  # no entry is linked any more
    store = _store()
    # gamma 2.0: another user's entry, in a directory only they may change.
    _as_another_user(store.entry_dir(entries[G2]))
    # gamma 1.0: another user's tree this one cannot even list (it might be linked).
    _as_another_user(store.entry_dir(entries[G1]) / "tree")
    (store.entry_dir(entries[G1]) / "tree").chmod(0o700)

    run = subprocess.run(
        [*UNPRIVILEGED, OVERLOCK, "cache", "prune", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert run.returncode == 1, run.stderr
    data = json.loads(run.stdout)
    assert [Path(r["path"]).name for r in data["removed"]] == [entries[D1]]
    failed = {Path(f["path"]): f["error"] for f in data["failed"]}
    assert failed == {
        store.entry_dir(entries[G2]): "Permission denied",
        store.entry_dir(entries[G1]) / "tree": "Permission denied",
    }
    assert "skipped" in run.stderr and "only their owner" in run.stderr
    assert _entries(store) == {G1: entries[G1], G2: entries[G2]}
    assert list((store.root / "trash").iterdir()) == []
