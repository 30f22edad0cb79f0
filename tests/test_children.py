"""No child process outlives the command: the byte-compiler's pool of the base interpreter
is gone after a failed, interrupted or terminated sync, and the CLI ends such a sync with
one line and the signal's exit code.

Processes are found by scanning /proc. Every wait is for a condition, with a generous
deadline, so a loaded machine only makes the tests slower.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.clients import PATIENCE, wait_for
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import WheelSpec
from overlock import children
from overlock.base.env import probe
from overlock.sync.bytecode import ByteCompiler

needs_a_pool = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="the compiler uses a process pool only on 2+ CPUs"
)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _live_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def children_of(pid: int) -> list[int]:
    out = []
    for p in _live_pids():
        st = _stat(p)
        if st is not None and st[0] != "Z" and st[1] == pid:
            out.append(p)
    return out


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``."""
    out = []
    for p in _live_pids():
        st = _stat(p)
        if st is not None and st[0] != "Z" and st[2] == pgid:
            out.append(p)
    return out


def py_tree(root: Path, count: int) -> list[str]:
    pkg = root / "lib" / "pkg"
    pkg.mkdir(parents=True)
    names = []
    for i in range(count):
        (pkg / f"m{i}.py").write_text(f"VALUE = {i}\n" + "def f(x):\n    return x + 1\n" * 20)
        names.append(f"lib/pkg/m{i}.py")
    return names


# -- the compiler on its own -------------------------------------------------------------------


@needs_a_pool
def test_closing_the_compiler_kills_its_pool(make_base: MakeBase, tmp_path: Path) -> None:
    """What a sync that fails mid-install does: leave the ``with`` block without finish().
    Killing only the compiler left its pool workers waiting for work forever."""
    env = probe(make_base("venv").prefix)
    built = tmp_path / "gen"
    names = py_tree(built, 40)
    compiler = ByteCompiler(env, built, tmp_path / "seen")
    pid = compiler._proc.pid
    try:
        compiler.add(names)
        assert wait_for(lambda: bool(children_of(pid))), "the compile pool never started"
        assert len(group_members(pid)) >= 2
    finally:
        compiler.close()
    assert wait_for(lambda: not group_members(pid)), group_members(pid)


def gone(pid: int) -> bool:
    st = _stat(pid)
    return st is None or st[0] == "Z"


_SPAWNER = (
    "import subprocess, sys\n"
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open(sys.argv[1], 'w').write(str(p.pid))\n"
)


def test_run_leaves_no_grandchild(tmp_path: Path) -> None:
    """children.run: a child that started a process of its own takes it along, even when
    it exits normally (a build backend leaving a compiler server behind, say)."""
    marker = tmp_path / "pid"
    proc = children.run([sys.executable, "-c", _SPAWNER, str(marker)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    grandchild = int(marker.read_text())
    assert wait_for(lambda: gone(grandchild))
    assert children._live == set()


def test_closing_a_child_kills_what_it_started(tmp_path: Path) -> None:
    """What every error and interrupt does to a running child (``with Child(...)``)."""
    marker = tmp_path / "pid"
    script = _SPAWNER + "import time; time.sleep(600)\n"
    with children.Child([sys.executable, "-c", script, str(marker)]) as child:
        assert wait_for(lambda: marker.exists() and bool(marker.read_text()))
        grandchild = int(marker.read_text())
        assert not gone(grandchild) and not gone(child.proc.pid)
    assert wait_for(lambda: gone(grandchild))
    assert gone(child.proc.pid)


# -- the CLI, interrupted or failing during the compile -----------------------------------------

# Runs `overlock sync` through the real CLI. When the compiler gets its first files, waits
# until its pool is up, prints "ready PID" and then either waits for the test's signal or
# fails the way a full disk fails an install.
_DRIVER = """
import errno, os, sys, time
from overlock.sync import bytecode
real_add = bytecode.ByteCompiler.add

def children_of(pid):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                text = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found.append(p)
    return found

def add(self, rel_paths):
    real_add(self, rel_paths)
    if getattr(bytecode, "_seen", False):
        return
    bytecode._seen = True
    pid = self._proc.pid
    deadline = time.monotonic() + 120
    while not children_of(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("ready", pid, flush=True)
    if MODE == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device", "/overlay/gen-2.partial/x.py")
    while True:
        time.sleep(1)

bytecode.ByteCompiler.add = add
MODE = sys.argv[1]
from overlock.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def locked_project(
    make_base: MakeBase,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Callable[..., Run],
) -> Path:
    files = {f"many/m{i}.py": f"X = {i}\n" + "def f(x):\n    return x\n" * 20 for i in range(60)}
    files["many/__init__.py"] = ""
    index.add_spec(WheelSpec(name="many", version="1.0", files=files))
    base = make_base("venv")
    manifest = write_manifest(tmp_path / "p", base, ["many"], index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    return manifest


def _start(mode: str, manifest: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, mode, "sync", "-m", str(manifest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the pool is up (or the driver died)
    if not line.startswith("ready "):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the sync never reached the compile: {line!r}\n{err}")
    return proc, int(line.split()[1])


@needs_a_pool
@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_during_compile_ends_with_one_line_and_no_process_left(
    locked_project: Path, signum: int, code: int, word: str
) -> None:
    proc, compiler = _start("wait", locked_project)
    assert group_members(compiler), "the compiler's pool should be running now"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"overlock: {word}", err
    assert "Traceback" not in err
    assert wait_for(lambda: not group_members(compiler)), group_members(compiler)
    # Nothing of the half-built generation is left, and the prefix was never switched.
    state = locked_project.parent / "overlay"
    assert not any(p.name.endswith(".partial") for p in state.rglob("gen-*"))


@needs_a_pool
def test_a_sync_failing_during_compile_leaves_no_process(locked_project: Path) -> None:
    proc, compiler = _start("enospc", locked_project)
    _, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 1, err
    assert "overlock: error: no space left writing /overlay/gen-2.partial/x.py" in err
    assert "internal error" not in err and "Traceback" not in err
    assert wait_for(lambda: not group_members(compiler)), group_members(compiler)
