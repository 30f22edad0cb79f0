# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""Overlays on overlays (facility base -> group overlay -> user overlay), end to end.

A real venv base, the harness index on 127.0.0.1 and the real CLI: the user overlay resolves
against the base and the group overlay as it is synced, reuses the group's packages, shadows
one only when needed, names the group in conflicts and drift, and runs with the whole stack
active; nothing the user overlay does writes to the base or to the group overlay.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env, tree_checksum
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.lock.pylock import read_lock

Overlock = Callable[..., Run]

pytestmark = pytest.mark.slow


def _manifest(
    directory: Path,
    base: str,
    requires: list[str],
    index: PackageIndex,
    *,
    name: str,
    resolve: str = "",
) -> Path:
    return write_manifest(
        directory, base, requires, index=index, name=name, resolve=[resolve] if resolve else []
    )


@dataclass
class Stack:
    base: Base
    group: Path  # the group's overlay.toml
    group_prefix: Path
    user_dir: Path
    index: PackageIndex

    def user(self, requires: list[str], *, name: str = "alice", resolve: str = "") -> Path:
        directory = self.user_dir / name
        return _manifest(
            directory, "../../group/overlay.toml", requires, self.index, name=name, resolve=resolve
        )

    def lower_checksums(self) -> tuple[str, str, str]:
        """The base, the group's project directory and its current generation's tree."""
        return (
            self.base.checksum(),
            tree_checksum(self.group.parent),
            tree_checksum(self.group_prefix.resolve()),
        )


@pytest.fixture
def stack(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> Stack:
    """Base: scanlib 1.4.0 (hdfio<3), hdfio 2.1.0. Group 'beamline-7' (synced): hdfio 2.2.0,
    netlib 1.0 (hdfio<3, a .pth file), grouptool 1.0 (hdfio<3, no newer release)."""
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="scanlib", version="1.4.0", requires=("hdfio>=2,<3",)),
            make_wheel(name="hdfio", version="2.1.0"),
        ],
    )
    base.make_readonly()
    for version in ("2.1.0", "2.2.0", "3.0.0"):
        index.add_spec(WheelSpec("hdfio", version))
    index.add_spec(WheelSpec("scanlib", "1.5.0", requires=("hdfio>=3",)))
    index.add_spec(
        WheelSpec("netlib", "1.0", requires=("hdfio>=2,<3",), pth={"netlib-extra.pth": "import os"})
    )
    # netlib 2.0 imports grouptool, which only the group has: the import check at the user's
    # sync (netlib shadows the group's copy) must see the whole stack.
    netlib2 = {"netlib/__init__.py": "import grouptool\n__version__ = '2.0'\n"}
    index.add_spec(WheelSpec("netlib", "2.0", requires=("hdfio>=2", "grouptool"), files=netlib2))
    index.add_spec(WheelSpec("grouptool", "1.0", requires=("hdfio<3",)))
    index.add_spec(WheelSpec("plotkit", "1.0", requires=("netlib>=2", "hdfio>=2")))
    index.add_spec(WheelSpec("calib", "1.0"))
    group = _manifest(
        tmp_path / "group",
        str(base.prefix),
        ["hdfio==2.2.0", "netlib==1.0", "grouptool"],
        index,
        name="beamline-7",
    )
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(group))
        assert run.code == 0, run.err
    return Stack(
        base, group, tmp_path / "group" / "overlay" / "beamline-7", tmp_path / "users", index
    )


def _python(overlock: Overlock, manifest: Path, tmp_path: Path, code: str) -> str:
    out = tmp_path / "run-output"
    script = f"import sys; sys.stdout = open({str(out)!r}, 'w')\n{code}"
    run = overlock("run", "-m", str(manifest), "--", "python", "-c", script)
    assert run.code == 0, run.err
    return out.read_text()


_WHERE = """
import hdfio, netlib, plotkit, grouptool, scanlib
for m in (hdfio, netlib, plotkit, grouptool, scanlib):
    print(m.__name__, m.__version__, m.__file__)
print("PATH", json.dumps(sys.path))
"""


def test_a_user_overlay_reuses_the_group_and_shadows_only_what_it_must(
    stack: Stack, overlock: Overlock, tmp_path: Path
) -> None:
    before = stack.lower_checksums()
    user = stack.user(["plotkit"])
    m = str(user)
    lock = overlock("lock", "-m", m)
    assert lock.code == 0, lock.err
    locked = read_lock(user.parent / "pylock.overlay.toml")
    # hdfio 2.2.0 and grouptool come from the group; netlib 1.0 does not fit plotkit.
    assert {p.name: p.version for p in locked.packages} == {"netlib": "2.0", "plotkit": "1.0"}
    assert locked.by_name["netlib"].shadows == "1.0"
    assert [layer["name"] for layer in locked.layers] == ["beamline-7"]

    sync = overlock("sync", "-m", m)
    assert sync.code == 0, sync.err
    user_prefix = user.parent / "overlay" / "alice"
    lines = _python(overlock, user, tmp_path, "import json\n" + _WHERE).splitlines()
    where = {line.split()[0]: line.split()[1:] for line in lines if not line.startswith("PATH")}
    assert where["plotkit"][0] == "1.0" and where["plotkit"][1].startswith(str(user_prefix))
    assert where["netlib"][0] == "2.0" and where["netlib"][1].startswith(str(user_prefix))
    assert where["hdfio"][0] == "2.2.0"
    assert where["hdfio"][1].startswith(str(stack.group_prefix))
    assert where["grouptool"][1].startswith(str(stack.group_prefix))
    assert where["scanlib"][0] == "1.4.0" and where["scanlib"][1].startswith(str(stack.base.prefix))
    path = json.loads(lines[-1].split(" ", 1)[1])
    mine = [p for p in path if p.startswith(str(user_prefix))]
    theirs = [p for p in path if p.startswith(str(stack.group_prefix))]
    base_site = path.index(str(stack.base.site_packages()))
    assert mine and theirs and path.index(mine[0]) < path.index(theirs[0]) < base_site
    assert len(path) == len(set(path)), "no duplicate sys.path entries"

    why = overlock("why", "-m", m, "hdfio")
    assert why.code == 0, why.err
    assert "group overlay 'beamline-7'" in why.out
    show = overlock("show", "-m", m)
    assert show.code == 0 and "group overlay 'beamline-7'" in show.out, show.out
    check = overlock("check", "-m", m)
    assert check.code == 0, check.out + check.err
    assert overlock("lock", "-m", m, "--check").code == 0

    # `overlock activate` in a real bash: both overlays' commands, the whole stack importable.
    script = overlock("activate", "-m", m, "--shell", "bash")
    assert script.code == 0, script.err
    probe = (
        'echo "$PATH"\n'
        f"{stack.base.python} -c 'import netlib, grouptool; print(netlib.__version__)'\n"
        'deactivate_overlay; echo "$PATH"'
    )
    shell = subprocess.run(
        ["bash", "-c", script.out + "\n" + probe], capture_output=True, text=True, env=clean_env()
    )
    active, version, restored = shell.stdout.splitlines()
    bins = active.split(os.pathsep)
    assert bins[:2] == [str(user_prefix / "bin"), str(stack.group_prefix / "bin")], active
    assert version == "2.0", shell.stderr
    assert str(stack.group_prefix / "bin") not in restored.split(os.pathsep)
    assert stack.lower_checksums() == before


def test_a_conflict_with_a_group_package_names_the_group(stack: Stack, overlock: Overlock) -> None:
    before = stack.lower_checksums()
    run = overlock("lock", "-m", str(stack.user(["hdfio>=3"])))
    assert run.code == 1
    assert "grouptool 1.0 (group overlay 'beamline-7')" in run.err, run.err
    assert stack.lower_checksums() == before


def test_keep_refuses_to_shadow_a_kept_package(stack: Stack, overlock: Overlock) -> None:
    kept = overlock("lock", "-m", str(stack.user(["plotkit"], resolve='keep = ["netlib"]')))
    assert kept.code == 1
    assert '[resolve] keep = ["netlib"]' in kept.err, kept.err
    assert "group overlay 'beamline-7' has 1.0" in kept.err
    # Without the kept package in the way, keep changes nothing.
    free = overlock(
        "lock", "-m", str(stack.user(["plotkit"], name="bob", resolve='keep = ["hdfio"]'))
    )
    assert free.code == 0, free.err


def test_a_resynced_group_is_drift_upstairs_and_activation_follows_it(
    stack: Stack, overlock: Overlock, tmp_path: Path
) -> None:
    user = stack.user(["plotkit"])
    m = str(user)
    assert overlock("lock", "-m", m).code == 0
    assert overlock("sync", "-m", m).code == 0
    # The group maintainer adds a package and syncs: a new generation behind the same prefix.
    _manifest(
        stack.group.parent,
        str(stack.base.prefix),
        ["hdfio==2.2.0", "netlib==1.0", "grouptool", "calib"],
        stack.index,
        name="beamline-7",
    )
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(stack.group))
        assert run.code == 0, run.err
    before = stack.lower_checksums()

    stale = overlock("lock", "-m", m, "--check")
    assert stale.code == 1
    assert "group overlay 'beamline-7' changed since the lock: calib 1.0 appeared" in stale.out
    check = overlock("check", "-m", m)
    assert check.code == 1
    assert "group overlay 'beamline-7' changed since the lock: calib 1.0 appeared" in check.out
    refused = overlock("sync", "-m", m)
    assert refused.code == 1 and "beamline-7" in refused.err
    # The stack still activates, with the group's new generation and no stale entries.
    code = "import json, calib, netlib; print(calib.__file__); print(json.dumps(sys.path))"
    lines = _python(overlock, user, tmp_path, code).splitlines()
    assert lines[0].startswith(str(stack.group_prefix))
    path = json.loads(lines[1])
    assert not [p for p in path if ".beamline-7.overlock" in p or "gen-" in p], path
    assert len(path) == len(set(path))
    assert overlock("lock", "-m", m).code == 0
    assert overlock("check", "-m", m).code == 0
    assert stack.lower_checksums() == before


def test_stack_errors_say_what_to_do(stack: Stack, overlock: Overlock, tmp_path: Path) -> None:
    # A lower overlay that was never synced.
    lone = _manifest(tmp_path / "lone", str(stack.base.prefix), ["calib"], stack.index, name="lone")
    upper = _manifest(tmp_path / "up", "../lone/overlay.toml", ["plotkit"], stack.index, name="up")
    run = overlock("lock", "-m", str(upper))
    assert run.code == 2
    assert "group overlay 'lone'" in run.err and "is not synced" in run.err
    assert f"overlock -m {lone} sync" in run.err
    # A prefix that is the group's own: refused before anything is written.
    same = _manifest(
        tmp_path / "same", "../group/overlay.toml", ["calib"], stack.index, name="beamline-7"
    )
    (tmp_path / "same" / "overlay.toml").write_text(
        same.read_text().replace('prefix = "overlay/{name}"', 'prefix = "../group/overlay/{name}"')
    )
    before = stack.lower_checksums()
    for command in ("lock", "sync"):
        refused = overlock(command, "-m", str(same))
        assert refused.code == 2, refused.out + refused.err
        assert "is the group overlay 'beamline-7''s own" in refused.err
    assert stack.lower_checksums() == before
    # A cycle, named link by link.
    a = _manifest(tmp_path / "a", "../b/overlay.toml", [], stack.index, name="a")
    _manifest(tmp_path / "b", "../a/overlay.toml", [], stack.index, name="b")
    cycle = overlock("lock", "-m", str(a))
    assert cycle.code == 2
    assert "overlays stack in a cycle" in cycle.err
    assert str(tmp_path / "b" / "overlay.toml") in cycle.err


def test_three_overlays_deep(stack: Stack, overlock: Overlock, tmp_path: Path) -> None:
    """A layer on a layer on a layer: the nearest copy wins, each layer named."""
    alice = stack.user(["plotkit"])
    for command in ("lock", "sync"):
        assert overlock(command, "-m", str(alice)).code == 0
    top = _manifest(
        tmp_path / "top", "../users/alice/overlay.toml", ["calib"], stack.index, name="top"
    )
    assert overlock("lock", "-m", str(top)).code == 0
    assert overlock("sync", "-m", str(top)).code == 0
    out = _python(
        overlock,
        top,
        tmp_path,
        "import netlib, hdfio, calib; print(netlib.__file__, hdfio.__version__)",
    )
    netlib_file, hdfio_version = out.split()
    assert netlib_file.startswith(str(alice.parent / "overlay" / "alice"))
    assert hdfio_version == "2.2.0"
    assert [layer["name"] for layer in read_lock(top.parent / "pylock.overlay.toml").layers] == [
        "alice",
        "beamline-7",
    ]
    assert (tmp_path / "top" / "overlay" / "top").is_dir()


def test_a_group_locked_from_a_snapshot_is_live_when_a_user_overlay_syncs(
    stack: Stack, overlock: Overlock, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    # The group locks from a snapshot of the base (made where the base lives, read anywhere);
    # sync, check and run must look at the real base under the whole stack, not the snapshot.
    snapshot = tmp_path / "base.json"
    made = overlock("base", "snapshot", "--base", str(stack.base.prefix), "-o", str(snapshot))
    assert made.code == 0, made.err
    write_manifest(
        stack.group.parent,
        None,
        ["hdfio==2.2.0", "netlib==1.0", "grouptool"],
        index=stack.index,
        name="beamline-7",
        snapshot=snapshot,
    )
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(stack.group))
        assert run.code == 0, run.err
    user = stack.user(["calib"])
    m = str(user)
    for command in ("lock", "sync"):
        run = overlock(command, "-m", m)
        assert run.code == 0, run.err

    # The base changes after the snapshot: the snapshot no longer says what it holds.
    stack.base.make_writable()
    stack.base.install(make_wheel(name="sidecar", version="1.0"))
    stack.base.make_readonly()
    refused = overlock("sync", "-m", m)
    assert refused.code == 1, refused.out + refused.err
    assert "refusing to sync: the base changed since the lock" in refused.err, refused.err
    check = overlock("check", "-m", m)
    assert check.code == 1 and "the base changed since the lock" in check.out, check.out
