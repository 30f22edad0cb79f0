"""Progress of a real `overlock sync` (downloads in bytes, builds, installs) on a real
terminal, and nothing of it when piped, with -q, NO_COLOR or TERM=dumb."""

from __future__ import annotations

import fcntl
import os
import pty
import random
import re
import select
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env
from harness.index import PackageIndex
from harness.sources import write_project
from harness.wheels import MakeWheel, WheelSpec

OVERLOCK = str(Path(sys.executable).with_name("overlock"))
# Incompressible, so the wheel itself is this big and the download takes many pieces.
BIG = 3_000_000


def on_a_terminal(
    argv: list[str],
    env: dict[str, str],
    *,
    when: tuple[str, Callable[[], object]] | None = None,
) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a real pty; return its exit code and everything
    it drew there. ``when=(text, act)``: call ``act`` once ``text`` has been drawn.

    Read until end of file: the pty's reading side reports EIO once the child (and anything
    it started) has exited and every byte has been read. The bytes are decoded only at the
    end, so a read that splits a character costs nothing. The select timeout only bounds a
    broken test; it is not a guess at how long the sync takes.
    """
    leader, follower = pty.openpty()
    # A wide terminal, as a desktop's is: status lines are cut to the terminal's width.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    drawn = bytearray()
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 600)
            if not ready:
                proc.kill()
                raise AssertionError(f"nothing drawn for 600 s: {bytes(drawn)!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: nothing holds the terminal any more
                break
            if not chunk:
                break
            drawn += chunk
            if when is not None and when[0].encode() in drawn:
                when[1]()
                when = None
    finally:
        os.close(leader)
    return proc.wait(), drawn.decode()


@pytest.fixture
def project(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> tuple[Base, Path]:
    """An overlay of a 3 MB wheel from the index plus a tree built from ./src/devpkg."""
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    noise = random.Random(13).randbytes(BIG)
    index.add_spec(WheelSpec(name="bigpkg", version="1.0", files={"bigpkg/blob.bin": noise}))
    write_project(tmp_path / "src" / "devpkg", "devpkg", "0.1")
    project = tmp_path / "p"
    project.mkdir()
    manifest = project / "overlay.toml"
    manifest.write_text(
        f'[overlay]\nbase = "{base.prefix}"\nprefix = "overlay/{{name}}"\n'
        'requires = ["bigpkg", { name = "devpkg", path = "../src/devpkg" }]\n\n'
        f'[index]\nurls = ["{index.url}"]\n'
    )
    return base, manifest


def _sync_env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    """The environment of one sync: a cache of its own, so it downloads and builds."""
    env = clean_env({"TERM": "xterm", "OVERLOCK_CACHE_DIR": str(tmp_path / name)})
    env.pop("NO_COLOR", None)
    return {**env, **extra}


def test_sync_draws_download_bytes_builds_and_installs_on_a_terminal(
    project: tuple[Base, Path], tmp_path: Path
) -> None:
    _base, manifest = project
    lock = subprocess.run(
        [OVERLOCK, "lock", "-m", str(manifest)],
        capture_output=True,
        text=True,
        env=_sync_env(tmp_path, "lock-cache", NO_COLOR="1"),
    )
    assert lock.returncode == 0, lock.stderr

    code, drawn = on_a_terminal(
        [OVERLOCK, "sync", "-m", str(manifest)], _sync_env(tmp_path, "cache-tty")
    )
    assert code == 0, drawn

    # Downloads: the file last heard from and the batch's bytes, redrawn in place, up to all.
    counts = re.findall(
        r"\rdownloading bigpkg-1\.0-py3-none-any\.whl (\d+\.\d)/(\d+\.\d) MB", drawn
    )
    assert len(counts) > 1, drawn  # more than one state was drawn, on one line
    total = counts[-1][1]
    assert float(total) == pytest.approx(BIG / 1e6, abs=0.1)
    assert counts[-1][0] == total and all(t == total for _, t in counts)
    done = [float(d) for d, _ in counts]
    assert done == sorted(done)

    # The build says what it is doing, then that it is done.
    assert re.search(r"building devpkg \(from \.\./src/devpkg\) … *\r", drawn), drawn
    assert "building devpkg (from ../src/devpkg) … done" in drawn, drawn

    # Installs, as before; then the byte-code still being compiled is said.
    assert "installing 1/2" in drawn and "installing 2/2" in drawn, drawn
    assert "compiling byte-code with the base interpreter …" in drawn, drawn
    assert "synced" in drawn


@pytest.mark.parametrize(
    ("how", "extra_env", "flags"),
    [
        ("NO_COLOR", {"NO_COLOR": "1"}, []),
        ("TERM=dumb", {"TERM": "dumb"}, []),
        ("-q", {}, ["-q"]),
        ("--color never", {}, ["--color", "never"]),
    ],
)
def test_no_progress_on_a_terminal_that_does_not_want_it(
    project: tuple[Base, Path],
    tmp_path: Path,
    how: str,
    extra_env: dict[str, str],
    flags: list[str],
) -> None:
    _base, manifest = project
    env = _sync_env(tmp_path, "cache", **extra_env)
    lock = subprocess.run(
        [OVERLOCK, "lock", "-m", str(manifest)], capture_output=True, text=True, env=env
    )
    assert lock.returncode == 0, lock.stderr
    code, drawn = on_a_terminal([OVERLOCK, *flags, "sync", "-m", str(manifest)], env)
    assert code == 0, drawn
    # The terminal turns each "\n" into "\r\n"; no other "\r" may be there.
    assert "\r" not in drawn.replace("\r\n", "\n"), (how, drawn)
    assert "downloading" not in drawn and "installing" not in drawn, (how, drawn)
    assert " MB" not in drawn and "… done" not in drawn, (how, drawn)


def test_piped_sync_has_no_progress_bytes(project: tuple[Base, Path], tmp_path: Path) -> None:
    _base, manifest = project
    env = _sync_env(tmp_path, "cache")
    lock = subprocess.run(
        [OVERLOCK, "lock", "-m", str(manifest)], capture_output=True, text=True, env=env
    )
    assert lock.returncode == 0, lock.stderr
    run = subprocess.run(
        [OVERLOCK, "sync", "-m", str(manifest)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    both = run.stdout + run.stderr
    assert "\r" not in both and "\033" not in both, both
    assert "downloading" not in both and " MB" not in both and "installing" not in both, both
    assert "compiling" not in both, both
    # A build is still named off a terminal, as a plain line.
    assert "building devpkg (from ../src/devpkg)\n" in run.stderr, run.stderr


def test_long_steps_say_what_they_are_doing_on_a_terminal(
    project: tuple[Base, Path], tmp_path: Path
) -> None:
    """lock says it is resolving; a sync that waits for another says so, and whose."""

    from overlock.prefix.state import state_root

    _base, manifest = project
    env = _sync_env(tmp_path, "cache")
    code, drawn = on_a_terminal([OVERLOCK, "lock", "-m", str(manifest)], env)
    assert code == 0, drawn
    # Said while it runs, then wiped before the result is printed.
    assert "reading the base environment …" in drawn, drawn  # a cold cache: a probe
    said = "resolving overlay.toml against the base and the index …"
    assert said in drawn, drawn
    assert drawn.index(said) < drawn.index("bigpkg 1.0"), drawn
    assert "\r" + " " * len(said) + "\r" in drawn, drawn

    first = subprocess.run(
        [OVERLOCK, "sync", "-m", str(manifest)], capture_output=True, text=True, env=env
    )
    assert first.returncode == 0, first.stderr
    assert "waiting" not in first.stderr and "switching" not in first.stderr  # not piped
    text = manifest.read_text().replace('"bigpkg", ', "")
    manifest.write_text(text)
    relock = subprocess.run(
        [OVERLOCK, "lock", "-m", str(manifest)], capture_output=True, text=True, env=env
    )
    assert relock.returncode == 0, relock.stderr

    prefix = manifest.parent / "overlay" / _base.prefix.name
    fd = os.open(state_root(prefix) / "sync.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    released: list[bool] = []

    def release() -> None:
        released.append(True)
        os.close(fd)

    try:
        # The sync blocks until this test lets go, which it does once the wait is shown.
        code, drawn = on_a_terminal(
            [OVERLOCK, "sync", "-m", str(manifest)],
            env,
            when=("waiting for another sync", release),
        )
    finally:
        if not released:
            os.close(fd)
    assert code == 0, drawn
    assert released and f"waiting for another sync of {prefix} to finish (held by pid" in drawn
    assert "switching" in drawn and "synced" in drawn, drawn


def test_a_retried_download_takes_back_the_bytes_of_its_failed_try(
    index: PackageIndex, tmp_path: Path
) -> None:
    """The bar counts each byte of the file once, however many tries it took."""
    from harness.clients import any_base
    from overlock.cache import Cache
    from overlock.dists.types import DistFile
    from overlock.index.client import Index
    from overlock.index.http import make_client
    from overlock.index.pipconfig import IndexConfig

    wheel = index.add_spec(
        WheelSpec(name="bigpkg", version="1.0", files={"bigpkg/blob.bin": os.urandom(BIG)})
    )
    base = any_base()
    index.fault("/files/" + wheel.name, "truncate")
    config = IndexConfig.from_manifest((index.url,), (), IndexConfig(retries=2, timeout=30))
    heard: list[int] = []
    dist = DistFile(filename=wheel.name, url=index.files_url(wheel.name), hashes={})
    with (
        make_client(config, backoff=0.01) as client,
        Index(config, base, Cache(tmp_path / "cache"), client=client) as ix,
    ):
        ix.download(dist, on_bytes=heard.append)
    size = wheel.stat().st_size
    assert len(index.requests) == 2  # cut off once, then whole
    assert any(n < 0 for n in heard), heard  # the first try's bytes, taken back
    assert sum(heard) == size
