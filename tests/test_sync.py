# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""sync: exact, atomic generations of an overlay on a real base, checked with its interpreter."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

import pytest
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename

from harness.bases import Base, MakeBase, clean_env
from harness.wheels import MakeWheel
from overlock.base.env import BaseEnv, probe
from overlock.errors import BadInputError, HashMismatchError, SyncError
from overlock.lock.pylock import Lock, LockedFile, LockedPackage, lock_hash, same_lock
from overlock.prefix.activate import overlay_environ
from overlock.prefix.state import (
    STATE_DIRNAME,
    STATE_FILE,
    current_generation,
    read_state,
    state_root,
)
from overlock.sync.engine import plan, rollback, sync
from overlock.sync.generation import foreign_files
from overlock.sync.install import install_wheel

# -- helpers ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked(wheel: Path, *, direct: bool = False, requested: bool = True) -> LockedPackage:
    name, version, _, _ = parse_wheel_filename(wheel.name)
    f = LockedFile(wheel.name, wheel.as_uri(), wheel.stat().st_size, _sha256(wheel))
    return LockedPackage(
        name=canonicalize_name(name),
        version=str(version),
        wheel=None if direct else f,
        archive=f if direct else None,
        requested=("x",) if requested else (),
    )


def make_lock(*wheels: Path) -> Lock:
    return Lock(
        packages=tuple(locked(w) for w in wheels),
        base_fingerprint="sha256:test",
        manifest_hash="sha256:manifest",
        base_python_version="3.11",
    )


class FileFetcher:
    """A real downloader for file:// URLs; counts what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, files: Sequence[LockedFile]) -> Mapping[str, Path]:
        self.calls.append([f.filename for f in files])
        return {f.sha256: Path(urlparse(f.url).path) for f in files}


def run_overlay(base_env: BaseEnv, prefix: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = overlay_environ(base_env, prefix, clean_env())
    return subprocess.run(
        [base_env.python, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def site_dists(prefix: Path, env: BaseEnv) -> dict[NormalizedName, str]:
    site = prefix / env.scheme["purelib"]
    out = {}
    for d in site.glob("*.dist-info"):
        name, _, version = d.name[: -len(".dist-info")].partition("-")
        out[canonicalize_name(name)] = version
    return out


@pytest.fixture
def shadow_base(make_base: MakeBase, make_wheel: MakeWheel) -> Base:
    """A venv base holding alpha 1.0 and toolpkg 1.0 (with a console script)."""
    return make_base(
        "venv",
        wheels=[
            make_wheel(name="alpha", version="1.0"),
            make_wheel(
                name="toolpkg",
                version="1.0",
                entry_points={"console_scripts": {"tool": "toolpkg:main"}},
            ),
        ],
    )


# -- tests --------------------------------------------------------------------------------


def test_fresh_sync_shadows_base_and_never_writes_it(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    before = shadow_base.checksum()
    shadow_base.make_readonly()
    prefix = tmp_path / "ov"
    lock = make_lock(
        make_wheel(name="alpha", version="2.0"), make_wheel(name="beta", version="1.0")
    )

    result = sync(lock, env, prefix, fetch=FileFetcher())

    assert result.changed and result.generation == 1
    assert prefix.is_symlink() and current_generation(prefix) == 1
    out = run_overlay(
        env,
        prefix,
        "import alpha, beta, importlib.metadata as m;"
        "print(alpha.__version__, m.version('alpha'), beta.__version__, alpha.__file__)",
    )
    assert out.returncode == 0, out.stderr
    version, meta_version, beta, where = out.stdout.split()
    assert (version, meta_version, beta) == ("2.0", "2.0", "1.0")
    # Through the stable prefix, never a generation directory.
    assert where.startswith(str(prefix) + "/")
    site = prefix / env.scheme["purelib"]
    assert (site / "alpha-2.0.dist-info" / "INSTALLER").read_text() == "overlock\n"
    assert not (site / "alpha-2.0.dist-info" / "direct_url.json").exists()
    # Byte-code was compiled by the base interpreter, for its version.
    tag = f"cpython-{env.py_short.replace('.', '')}"
    assert list((site / "alpha" / "__pycache__").glob(f"__init__.{tag}.pyc"))
    shadow_base.make_writable()
    assert shadow_base.checksum() == before


def test_resync_add_remove_upgrade_downgrade_is_exact(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    before = shadow_base.checksum()
    prefix = tmp_path / "ov"
    fetch = FileFetcher()
    a2, a3 = make_wheel(name="alpha", version="2.0"), make_wheel(name="alpha", version="3.0")
    b1, c1 = make_wheel(name="beta", version="1.0"), make_wheel(name="gamma", version="1.0")

    steps = [
        (a2, b1, c1),  # fresh
        (a3, b1),  # upgrade alpha, remove gamma, keep beta
        (a2, b1, make_wheel(name="delta", version="0.1")),  # downgrade, add
        (b1,),  # remove a shadow: the base's alpha is visible again
    ]
    for number, wheels in enumerate(steps, start=1):
        lock = make_lock(*wheels)
        result = sync(lock, env, prefix, fetch=fetch)
        assert result.generation == number
        assert site_dists(prefix, env) == {p.name: p.version for p in lock.packages}
        assert plan(lock, prefix, env).is_noop
    # Only changed packages were fetched; beta 1.0 was reused each time.
    assert fetch.calls[1] == [a3.name]
    assert "beta-1.0-py3-none-any.whl" not in [n for call in fetch.calls[1:] for n in call]
    out = run_overlay(env, prefix, "import alpha, os; print(alpha.__version__)")
    assert out.stdout.split() == ["1.0"], out.stderr
    assert not (prefix / env.scheme["purelib"] / "gamma").exists()
    # Two generations are kept: current and previous.
    gens = sorted(p.name for p in state_root(prefix).iterdir() if p.name.startswith("gen-"))
    assert gens == ["gen-3", "gen-4"]
    assert shadow_base.checksum() == before


def test_a_resync_recycles_the_retired_generation_keeping_only_what_the_lock_keeps(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    site = prefix / env.scheme["purelib"]
    fetch = FileFetcher()
    a2, a3 = make_wheel(name="alpha", version="2.0"), make_wheel(name="alpha", version="3.0")
    b1, c1 = make_wheel(name="beta", version="1.0"), make_wheel(name="gamma", version="1.0")
    sync(make_lock(a2, b1, c1), env, prefix, fetch=fetch)  # gen-1
    first = (site / "alpha" / "__init__.py").stat().st_ino
    (site / "mine.txt").write_text("a file of the user's")
    sync(make_lock(a3, b1), env, prefix, fetch=fetch)  # gen-2: mine.txt carried over
    assert (site / "mine.txt").exists()
    (site / "mine.txt").unlink()  # ... and deleted there
    sync(make_lock(a3, b1, make_wheel(name="delta", version="0.1")), env, prefix, fetch=fetch)
    spare = state_root(prefix) / "spare"  # gen-1, retired: gen-3 and gen-2 are kept
    assert spare.is_dir() and (spare / env.scheme["purelib"] / "gamma").is_dir()

    result = sync(make_lock(a2, b1), env, prefix, fetch=fetch)  # gen-4, from the spare

    assert result.generation == 4 and current_generation(prefix) == 4
    # alpha 2.0 was kept from the spare: neither fetched nor installed again.
    assert (site / "alpha" / "__init__.py").stat().st_ino == first
    assert a2.name not in fetch.calls[-1]
    assert site_dists(prefix, env) == {"alpha": "2.0", "beta": "1.0"}
    # What the lock dropped went, byte-code and directories too; the file the user deleted
    # from the current generation did not come back from the spare.
    assert not (site / "gamma").exists() and not (site / "delta").exists()
    assert not (site / "mine.txt").exists()
    assert foreign_files(prefix.resolve(), read_state(prefix)) == []  # type: ignore[arg-type]
    out = run_overlay(env, prefix, "import alpha, beta; print(alpha.__version__)")
    assert out.stdout.split() == ["2.0"], out.stderr
    gens = sorted(p.name for p in state_root(prefix).iterdir() if p.name.startswith("gen-"))
    assert gens == ["gen-3", "gen-4"] and spare.is_dir()  # gen-2 is the spare now
    assert rollback(prefix) == 3
    # A spare whose state cannot be read keeps nothing: the sync builds from nothing.
    (spare / STATE_DIRNAME / STATE_FILE).write_text("{not json")
    again = sync(make_lock(a3, b1), env, prefix, fetch=fetch)
    assert again.changed and current_generation(prefix) == again.generation
    assert site_dists(prefix, env) == {"alpha": "3.0", "beta": "1.0"}
    assert not (site / "gamma").exists() and not (site / "mine.txt").exists()


def test_a_reused_file_replaced_by_a_symbolic_link_is_installed_again_not_linked(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    b1 = make_wheel(name="beta", version="1.0")
    sync(make_lock(b1), env, prefix, fetch=FileFetcher())
    module = prefix / env.scheme["purelib"] / "beta" / "__init__.py"
    shipped = module.read_bytes()
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("print('not beta')\n")
    module.unlink()
    module.symlink_to(elsewhere)

    sync(make_lock(b1, make_wheel(name="gamma", version="1.0")), env, prefix, fetch=FileFetcher())

    assert not module.is_symlink() and module.read_bytes() == shipped
    assert elsewhere.stat().st_nlink == 1


def test_replace_shares_unchanged_files_by_hard_link(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    b1 = make_wheel(name="beta", version="1.0")
    sync(make_lock(b1), env, prefix, fetch=FileFetcher())
    old = (prefix / env.scheme["purelib"] / "beta" / "__init__.py").resolve()
    sync(make_lock(b1, make_wheel(name="gamma", version="1.0")), env, prefix, fetch=FileFetcher())
    new = (prefix / env.scheme["purelib"] / "beta" / "__init__.py").resolve()
    assert old != new and old.stat().st_ino == new.stat().st_ino


def test_noop_is_instant_and_fetches_nothing(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    lock = make_lock(make_wheel(name="beta", version="1.0"))
    sync(lock, env, prefix, fetch=FileFetcher())

    def no_fetch(files: Sequence[LockedFile]) -> Mapping[str, Path]:
        raise AssertionError("a no-op sync must not fetch")

    assert plan(lock, prefix, env).is_noop
    start = time.perf_counter()
    result = sync(lock, env, prefix, fetch=no_fetch)
    elapsed = time.perf_counter() - start
    assert not result.changed and result.generation == 1
    assert elapsed < 0.5
    dry = sync(
        make_lock(make_wheel(name="gamma", version="1.0")),
        env,
        prefix,
        fetch=no_fetch,
        dry_run=True,
    )
    assert [p.name for p in dry.plan.add] == ["gamma"]
    assert [p.name for p in dry.plan.remove] == ["beta"]
    assert current_generation(prefix) == 1


def test_a_prefix_synced_before_the_lock_hash_changed_is_still_current(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    lock = make_lock(make_wheel(name="beta", version="1.0"))
    sync(lock, env, prefix, fetch=FileFetcher())
    # As an earlier overlock recorded it: a digest of the lock's TOML text.
    state_file = prefix / STATE_DIRNAME / STATE_FILE
    data = json.loads(state_file.read_text())
    legacy = "sha256:" + hashlib.sha256(lock.dumps().encode()).hexdigest()
    data["lock-hash"] = legacy
    state_file.write_text(json.dumps(data))

    again = sync(lock, env, prefix, fetch=FileFetcher())

    assert not again.changed and again.generation == 1
    # Kept as it was: an overlay above this one locked against a fingerprint made of it.
    assert json.loads(state_file.read_text())["lock-hash"] == legacy
    state = read_state(prefix)
    assert state is not None and same_lock(state.lock_hash, lock)
    # Another lock text for the same packages: the new kind of hash is recorded.
    other = dataclasses.replace(lock, manifest_hash="sha256:other")
    assert not sync(other, env, prefix, fetch=FileFetcher()).changed
    assert json.loads(state_file.read_text())["lock-hash"] == lock_hash(other)


def test_hash_mismatch_switches_nothing(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    sync(make_lock(make_wheel(name="beta", version="1.0")), env, prefix, fetch=FileFetcher())
    good = make_wheel(name="alpha", version="2.0")
    lock = make_lock(good)
    evil = make_wheel(name="alpha", version="2.0", files={"alpha/__init__.py": "x = 'evil'\n"})

    def wrong_bytes(files: Sequence[LockedFile]) -> Mapping[str, Path]:
        return {f.sha256: evil for f in files}

    with pytest.raises(HashMismatchError):
        sync(lock, env, prefix, fetch=wrong_bytes)
    assert current_generation(prefix) == 1
    assert site_dists(prefix, env) == {"beta": "1.0"}
    leftovers = [p.name for p in state_root(prefix).iterdir() if "partial" in p.name]
    assert leftovers == []


def _escaping_wheel(path: Path) -> Path:
    """A hand-made wheel with a consistent RECORD that writes ../escaped.py."""
    wheel = path / "evil-1.0-py3-none-any.whl"
    members = {
        "evil/__init__.py": b"",
        "../escaped.py": b"print('escaped')\n",
        "evil-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n\n",
        "evil-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = ""
    for name, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    record += "evil-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("evil-1.0.dist-info/RECORD", record)
    return wheel


def test_wheel_escaping_the_prefix_is_rejected(shadow_base: Base, tmp_path: Path) -> None:
    env = probe(shadow_base.prefix)
    wheel = _escaping_wheel(tmp_path)
    target = tmp_path / "deep" / "target"
    with pytest.raises(SyncError, match=r"evil-1\.0-py3-none-any\.whl contains '\.\./escaped\.py'"):
        install_wheel(wheel, target, env)
    assert not list(tmp_path.rglob("escaped.py"))

    prefix = tmp_path / "ov"
    with pytest.raises(SyncError, match="outside the overlay"):
        sync(make_lock(wheel), env, prefix, fetch=FileFetcher())
    assert not os.path.lexists(prefix)
    assert not list(tmp_path.rglob("escaped.py"))


def test_console_script_runs_without_activation(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    tool2 = make_wheel(
        name="toolpkg",
        version="2.0",
        entry_points={"console_scripts": {"tool": "toolpkg:main"}},
        pth={"toolpkg_extra.pth": str(tmp_path / "extra") + "\n"},
    )
    (tmp_path / "extra").mkdir()
    sync(
        make_lock(tool2, make_wheel(name="alpha", version="2.0")), env, prefix, fetch=FileFetcher()
    )
    script = prefix / env.scheme["scripts"] / "tool"
    assert script.read_text().startswith(f"#!{env.python}\n")
    out = subprocess.run(
        [str(script)], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "toolpkg 2.0\n"
    # Launchers also process the overlay's .pth files and put its entries before the base.
    probe_code = (
        "import sys; from toolpkg import main; "
        f"print(sys.path.index({str(tmp_path / 'extra')!r}) < "
        f"sys.path.index({env.site_dirs[0]!r}))"
    )
    (tmp_path / "extra" / "probe_mod.py").write_text(probe_code)
    helper = tmp_path / "helper"
    text = script.read_text().replace("from toolpkg import main", "import probe_mod")
    helper.write_text(text.replace("sys.exit(main())", "pass"))
    out = subprocess.run(
        [env.python, str(helper)], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert out.stdout.strip() == "True", out.stderr


def test_rollback_returns_to_previous_generation(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    sync(make_lock(make_wheel(name="alpha", version="2.0")), env, prefix, fetch=FileFetcher())
    sync(make_lock(make_wheel(name="alpha", version="3.0")), env, prefix, fetch=FileFetcher())
    assert run_overlay(env, prefix, "import alpha; print(alpha.__version__)").stdout == "3.0\n"
    assert rollback(prefix) == 1
    assert run_overlay(env, prefix, "import alpha; print(alpha.__version__)").stdout == "2.0\n"
    with pytest.raises(SyncError, match="no previous generation"):
        rollback(prefix)


def test_failed_build_leaves_previous_overlay(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    sync(make_lock(make_wheel(name="alpha", version="2.0")), env, prefix, fetch=FileFetcher())
    # Two packages shipping the same file: the second install fails mid-build.
    clash = make_wheel(name="clash", version="1.0", files={"alpha/__init__.py": "x = 1\n"})
    with pytest.raises(SyncError, match="another locked package"):
        sync(
            make_lock(make_wheel(name="alpha", version="3.0"), clash),
            env,
            prefix,
            fetch=FileFetcher(),
        )
    assert current_generation(prefix) == 1
    assert run_overlay(env, prefix, "import alpha; print(alpha.__version__)").stdout == "2.0\n"


_KILLER = """
import os, signal, sys
from pathlib import Path
from urllib.parse import urlparse
sys.path.insert(0, {tests!r})
from test_sync import FileFetcher, make_lock
from overlock.base.env import probe
from overlock.sync.engine import sync

point = sys.argv[1]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def fetch(files):
    if point == "fetch":  # the new generation is half built (reused files linked)
        die()
    return FileFetcher()(files)

def report(message):
    if point in message:
        die()

env = probe({base!r})
lock = make_lock(*[Path(p) for p in sys.argv[2:]])
sync(lock, env, Path({prefix!r}), fetch=fetch, reporter=report)
"""

# Moments a sync can die at: while fetching, half-way through installing, while importing
# in the import check, with the new generation complete but not yet switched in, and after
# the switch but before the old generations are pruned.
KILL_POINTS = ("fetch", "installing alpha", "checking", "switching", "now holds")


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_sync_leaves_a_complete_overlay_and_the_next_sync_repairs(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path, point: str
) -> None:
    env = probe(shadow_base.prefix)
    before = shadow_base.checksum()
    prefix = tmp_path / "ov"
    b1, a2 = make_wheel(name="beta", version="1.0"), make_wheel(name="alpha", version="2.0")
    sync(make_lock(b1, a2), env, prefix, fetch=FileFetcher())
    code = _KILLER.format(
        tests=str(Path(__file__).parent), base=str(shadow_base.prefix), prefix=str(prefix)
    )
    a3, g1 = make_wheel(name="alpha", version="3.0"), make_wheel(name="gamma", version="1.0")
    proc = subprocess.run(
        [sys.executable, "-c", code, point, str(b1), str(a3), str(g1)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr  # it really died at that point

    # Whatever the moment, the prefix is one complete generation: the old or the new.
    gen = current_generation(prefix)
    expected = {1: ("2.0", 2), 2: ("3.0", 3)}[gen] if gen in (1, 2) else None
    assert expected is not None, gen
    state = read_state(prefix)
    assert state is not None and len(state.packages) == expected[1]
    out = run_overlay(env, prefix, "import alpha, beta; print(alpha.__version__)")
    assert out.stdout == f"{expected[0]}\n", out.stderr
    if point in ("fetch", "installing alpha", "checking"):
        assert gen == 1
        assert any(p.name.endswith(".partial") for p in state_root(prefix).iterdir())
    else:
        assert gen == (1 if point == "switching" else 2)

    # The next sync cleans up and completes.
    sync(make_lock(b1, a3, g1), env, prefix, fetch=FileFetcher())
    leftovers = [p.name for p in state_root(prefix).iterdir() if not p.name.startswith("gen-")]
    assert sorted(leftovers) == ["sync.lock"]
    assert run_overlay(env, prefix, "import alpha, gamma; print(alpha.__version__)").stdout == (
        "3.0\n"
    )
    assert plan(make_lock(b1, a3, g1), prefix, env).is_noop
    assert shadow_base.checksum() == before


def test_concurrent_syncs_do_not_interleave(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    import fcntl

    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    lock = make_lock(make_wheel(name="beta", version="1.0"))
    sync(lock, env, prefix, fetch=FileFetcher())
    messages: list[str] = []
    fd = os.open(state_root(prefix) / "sync.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    worker = threading.Thread(
        target=sync,
        args=(make_lock(make_wheel(name="gamma", version="1.0")), env, prefix),
        kwargs={"fetch": FileFetcher(), "reporter": messages.append},
    )
    worker.start()
    # Until the worker says it waits (however long a loaded machine takes to get there).
    deadline = time.monotonic() + 60
    while not any("waiting for another sync" in m for m in messages):
        assert time.monotonic() < deadline, messages
        time.sleep(0.05)
    assert current_generation(prefix) == 1  # still waiting
    waiting = [m for m in messages if "waiting for another sync" in m]
    # The holder recorded itself when it last held the lock (the first sync, this process).
    assert waiting and f"held by pid {os.getpid()} on " in waiting[0], messages
    os.close(fd)
    worker.join(timeout=30)
    assert current_generation(prefix) == 2


def test_direct_reference_gets_direct_url_json(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    wheel = make_wheel(name="beta", version="1.0")
    lock = Lock(
        packages=(locked(wheel, direct=True),),
        base_fingerprint="sha256:test",
        manifest_hash="m",
        base_python_version="3.11",
    )
    sync(lock, env, prefix, fetch=FileFetcher())
    data = (prefix / env.scheme["purelib"] / "beta-1.0.dist-info" / "direct_url.json").read_text()
    assert wheel.as_uri() in data and _sha256(wheel) in data
    state = read_state(prefix)
    assert state is not None and state.packages[0].url == wheel.as_uri()


def test_refuses_foreign_directory_and_base_paths(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    lock = make_lock(make_wheel(name="beta", version="1.0"))
    # What `pip install --prefix` leaves: the install scheme's directories only.
    foreign = tmp_path / "mine"
    old_module = foreign / env.scheme["purelib"] / "old.py"
    old_module.parent.mkdir(parents=True)
    old_module.write_text("keep me")
    (foreign / "bin").mkdir()
    with pytest.raises(BadInputError, match="not made by overlock") as refused:
        sync(lock, env, foreign, fetch=FileFetcher())
    assert "--move-aside" in (refused.value.hint or "")
    result = sync(lock, env, foreign, fetch=FileFetcher(), move_aside=True)
    assert result.generation == 1
    moved = list(state_root(foreign).glob(f"replaced-*/{env.scheme['purelib']}/old.py"))
    assert [p.read_text() for p in moved] == ["keep me"]

    before = shadow_base.checksum()
    with pytest.raises(BadInputError, match="never writes into the base"):
        sync(lock, env, shadow_base.prefix / "overlay", fetch=FileFetcher())
    assert shadow_base.checksum() == before

    empty = tmp_path / "empty"
    empty.mkdir()
    assert sync(lock, env, empty, fetch=FileFetcher()).generation == 1


def _pip_prefix(path: Path, env: BaseEnv) -> Path:
    """A directory as `pip install --prefix` leaves it: one module in site-packages."""
    module = path / env.scheme["purelib"] / "old.py"
    module.parent.mkdir(parents=True)
    module.write_text("old = True\n")
    return path


def test_move_aside_never_takes_home_the_project_or_a_directory_of_other_things(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = probe(shadow_base.prefix)
    lock = make_lock(make_wheel(name="beta", version="1.0"))

    # prefix = "~" once renamed $HOME aside. Even when it looks like an install prefix.
    home = _pip_prefix(tmp_path / "users" / "home", env)
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(BadInputError, match=r"refusing to move .* aside: .*home directory"):
        sync(lock, env, home, fetch=FileFetcher(), move_aside=True)
    # ... nor a directory holding the home directory.
    with pytest.raises(BadInputError, match="home directory"):
        sync(lock, env, tmp_path / "users", fetch=FileFetcher(), move_aside=True)
    assert (home / env.scheme["purelib"] / "old.py").is_file()

    # A directory holding the project (overlay.toml) or the current directory.
    work = _pip_prefix(tmp_path / "work", env)
    project = work / "lib" / "project"
    project.mkdir(parents=True)
    with pytest.raises(BadInputError, match="holds the project"):
        sync(lock, env, work, fetch=FileFetcher(), move_aside=True, protect=(project,))
    monkeypatch.chdir(project)
    with pytest.raises(BadInputError, match="holds the project"):
        sync(lock, env, work, fetch=FileFetcher(), move_aside=True)
    monkeypatch.chdir(tmp_path)

    # A directory holding anything an install scheme does not make.
    docs = _pip_prefix(tmp_path / "docs", env)
    (docs / "thesis.tex").write_text("years of work")
    with pytest.raises(BadInputError, match=r"does not look like an install prefix \(thesis.tex\)"):
        sync(lock, env, docs, fetch=FileFetcher(), move_aside=True)
    bare = tmp_path / "bare"
    (bare / "bin").mkdir(parents=True)
    with pytest.raises(BadInputError, match="no site-packages"):
        sync(lock, env, bare, fetch=FileFetcher(), move_aside=True)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(BadInputError, match="not a directory"):
        sync(lock, env, a_file, fetch=FileFetcher(), move_aside=True)
    assert (docs / "thesis.tex").is_file() and a_file.read_text() == "x"
    for refused in (home, work, docs, bare):
        assert not state_root(refused).exists() or not any(state_root(refused).glob("replaced-*"))


def test_files_overlock_did_not_install_are_kept_and_reported_unless_dropped(
    shadow_base: Base, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(shadow_base.prefix)
    prefix = tmp_path / "ov"
    b1 = make_wheel(name="beta", version="1.0")
    sync(make_lock(b1, make_wheel(name="alpha", version="2.0")), env, prefix, fetch=FileFetcher())
    state = read_state(prefix)
    assert state is not None
    # Everything a sync writes is accounted for: launchers, byte-code, the bootstrap.
    assert foreign_files(prefix.resolve(), state) == []

    site = prefix / env.scheme["purelib"]
    (site / "mine.py").write_text("VALUE = 'hand-made'\n")
    hand = site / "handpkg-0.1.dist-info"  # as `pip install --prefix` into it would leave
    hand.mkdir()
    (hand / "METADATA").write_text("Metadata-Version: 2.1\nName: handpkg\nVersion: 0.1\n")
    (prefix / "bin").mkdir(exist_ok=True)
    (prefix / "bin" / "mytool").write_text("#!/bin/sh\necho mine\n")
    (prefix / "notes").symlink_to("/nonexistent/target")

    (prefix / "bin" / "tool-alias").symlink_to("mytool")  # a link inside the prefix

    result = sync(make_lock(b1), env, prefix, fetch=FileFetcher())
    assert result.generation == 2
    # A link out of the prefix is never carried (nothing may be written through it).
    dropped, warning = result.warnings
    assert "dropped 1 symbolic link(s) leading out of" in dropped
    assert "notes -> /nonexistent/target" in dropped
    assert "4 file(s) that overlock did not install" in warning and "--drop-foreign" in warning
    assert "lib/" in warning and "mine.py" in warning
    assert (site / "mine.py").read_text() == "VALUE = 'hand-made'\n"
    assert (site / "handpkg-0.1.dist-info" / "METADATA").is_file()
    assert (prefix / "bin" / "mytool").is_file()
    assert str((prefix / "bin" / "tool-alias").readlink()) == "mytool"
    assert not os.path.lexists(prefix / "notes")
    out = run_overlay(env, prefix, "import mine, alpha; print(mine.VALUE, alpha.__version__)")
    assert out.stdout == "hand-made 1.0\n", out.stderr

    forced = sync(
        make_lock(b1, make_wheel(name="gamma", version="1.0")),
        env,
        prefix,
        fetch=FileFetcher(),
        drop_foreign=True,
    )
    assert any("dropped 4 file(s)" in w for w in forced.warnings)
    assert not (site / "mine.py").exists() and not (prefix / "bin" / "tool-alias").is_symlink()
    # Not lost: the previous generation, one rollback away, still has them.
    assert rollback(prefix) == 2
    assert (site / "mine.py").is_file()
