# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""lock and sync against a real, independent index server: pypiserver on 127.0.0.1.

The harness index is ours; this one is not, so what overlock assumes about index pages (PEP 503
HTML with hash fragments, 404 for an unknown project, no PEP 658 metadata files, no sizes) is
checked against another implementation. pypiserver runs with ``--disable-fallback`` so an
unknown name is a 404 here, never a redirect to a public index.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.project import Run, picks, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.lock.pylock import read_lock

Overlock = Callable[..., Run]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PyPIServer:
    def __init__(self, root: Path) -> None:
        self.packages = root / "packages"
        self.packages.mkdir(parents=True)
        self.log = root / "pypiserver.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def add(self, wheel: Path) -> None:
        shutil.copy2(wheel, self.packages / wheel.name)

    def start(self) -> None:
        # A port picked free may be taken before the server binds it: try a few.
        for _ in range(5):
            self.port = _free_port()
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pypiserver",
                        "run",
                        "-p",
                        str(self.port),
                        "-i",
                        "127.0.0.1",
                        "--disable-fallback",
                        "--hash-algo",
                        "sha256",
                        "-a",
                        ".",
                        "-P",
                        ".",
                        "--",
                        str(self.packages),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._ready():
                return
            self.stop()
        raise RuntimeError(f"pypiserver did not start: {self.log.read_text(errors='replace')}")

    def _ready(self) -> bool:
        # Readiness, not timing: poll until it answers or exits; the bound only stops a hang.
        assert self.proc is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url, timeout=10) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PyPIServer]:
    if importlib.util.find_spec("pypiserver") is None:
        if os.environ.get("CI"):
            pytest.fail("pypiserver is in the [test] extras and must be installed under CI")
        pytest.skip("pypiserver is not installed (pip install -e '.[test]')")
    server = PyPIServer(tmp_path / "pypiserver")
    yield server
    server.stop()


def test_lock_and_sync_against_pypiserver(
    pypiserver: PyPIServer,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: Overlock,
    tmp_path: Path,
) -> None:
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    before = base.checksum()
    for spec in (
        WheelSpec("alpha", "2.0"),
        WheelSpec("beta", "1.0", requires=("alpha>=2",)),
        WheelSpec("gamma", "2.0", tag="cp27-cp27mu-manylinux1_x86_64"),
        WheelSpec("gamma", "1.0"),
    ):
        pypiserver.add(make_wheel(spec))
    pypiserver.start()
    manifest = write_manifest(tmp_path / "p", base, ["beta", "gamma"], index=pypiserver.url)

    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {"alpha": "2.0", "beta": "1.0", "gamma": "1.0"}
    by_name = lock.by_name
    assert by_name["alpha"].shadows == "1.0"
    assert all(p.file.sha256 and p.file.size for p in lock.packages)
    assert all(
        p.locked_url.startswith(f"http://127.0.0.1:{pypiserver.port}/") for p in lock.packages
    )

    run = overlock("sync", "-m", str(manifest))
    assert run.code == 0, run.err
    out = tmp_path / "out"
    script = f"import sys, alpha; sys.stdout = open({str(out)!r}, 'w'); print(alpha.__version__)"
    assert overlock("run", "-m", str(manifest), "--", "python", "-c", script).code == 0
    assert out.read_text() == "2.0\n"
    assert base.checksum() == before


def test_messages_against_pypiserver(
    pypiserver: PyPIServer,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: Overlock,
    tmp_path: Path,
) -> None:
    base = make_base("venv")
    pypiserver.add(make_wheel(WheelSpec("gamma", "2.0", tag="cp27-cp27mu-manylinux1_x86_64")))
    pypiserver.add(make_wheel(WheelSpec("gamma", "1.0")))
    pypiserver.start()

    manifest = write_manifest(tmp_path / "p", base, ["gamma>=2"], index=pypiserver.url)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "gamma 2.0: no wheel matches the base (its best tag is cp" in run.err

    write_manifest(tmp_path / "p", base, ["ghostpkg"], index=pypiserver.url)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 1
    assert "the index has no project named ghostpkg" in run.err
