"""Servers that accept a connection and then stall never hang ``overlock lock``: git (a
server that never answers, a transfer that stalls, a password nobody is there to type) and
an index that dribbles its status line and headers.

The CLI runs as a subprocess, with a generous timeout of its own: a regression fails the
test instead of hanging it. Processes are found by scanning /proc; every wait is for a
condition, so a loaded machine only makes these tests slower.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.clients import PATIENCE, wait_for
from harness.gitserve import GitServer
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.sources import GIT_ENV, commit_all, git_init, write_project
from harness.wheels import WheelSpec
from overlock.limits import GIT_TIMEOUT_ENV, git_timeout

SECRET = "StallPw-4c2e8a1f"


@pytest.fixture(autouse=True)
def _git_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


class SilentServer:
    """Accepts connections on 127.0.0.1, reads whatever comes, never answers; knows which
    connections the client has closed."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.accepted = 0
        self.open = 0
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.accepted += 1
                self.open += 1
            thread = threading.Thread(target=self._drain, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _drain(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        try:
            while not self._stop.is_set():
                try:
                    if not conn.recv(65536):
                        break  # the client closed its end
                except TimeoutError:
                    continue
                except OSError:
                    break
        finally:
            conn.close()
            with self._lock:
                self.open -= 1

    def __enter__(self) -> SilentServer:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=10)
        self._sock.close()


def processes_naming(text: str) -> list[str]:
    """Command lines of live (not zombie) processes that contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].split()[0] != "Z" and text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def lock(manifest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "overlock", "lock", "-m", str(manifest)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"overlock lock hung for {PATIENCE:g} s:\n{exc.stderr!r}")


# -- git -----------------------------------------------------------------------------------


def test_a_git_server_that_never_answers_is_given_up_on(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path
) -> None:
    """The connection is accepted and the request read; no answer ever comes. With git's
    low-speed limit turned off (as a user may), git has no timeout of its own for that: the
    command's deadline stops git and its ``git-remote-http`` together (killing git alone
    leaves the helper waiting, and holding git's output pipe), and the error names the
    repository without its password."""
    with SilentServer() as server:
        url = f"http://gituser:{SECRET}@127.0.0.1:{server.port}/x.git"
        manifest = write_manifest(tmp_path / "p", make_base(), [f"x @ git+{url}"], index=index)
        run = lock(manifest, GIT_HTTP_LOW_SPEED_LIMIT="0", **{GIT_TIMEOUT_ENV: "2"})
        assert server.accepted >= 1, run.stderr  # it failed at the server, not before
        assert run.returncode == 1, run.stderr
        assert (
            f"overlock: error: cannot list http://gituser:****@127.0.0.1:{server.port}/x.git:"
            " git ls-remote did not finish within 2 s and was stopped"
        ) in run.stderr
        assert GIT_TIMEOUT_ENV in run.stderr
        assert SECRET not in run.stderr + run.stdout
        assert "Traceback" not in run.stderr
        # Nothing of git's is left: no process, and no one holding the connection open.
        assert wait_for(lambda: not processes_naming(f"127.0.0.1:{server.port}")), processes_naming(
            f"127.0.0.1:{server.port}"
        )
        assert wait_for(lambda: server.open == 0), f"{server.open} connection(s) still open"


def test_git_gives_up_on_a_stalled_http_transfer(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path
) -> None:
    """Long before the deadline, git's HTTP transport gives up on a transfer under overlock's
    low-speed limit (the time is shortened here, as a user could; without the limit the
    time alone does nothing and this waits for the 600 s deadline)."""
    with SilentServer() as server:
        url = f"http://127.0.0.1:{server.port}/x.git"
        manifest = write_manifest(tmp_path / "p", make_base(), [f"x @ git+{url}"], index=index)
        run = lock(manifest, GIT_HTTP_LOW_SPEED_TIME="1", **{GIT_TIMEOUT_ENV: "600"})
        assert server.accepted >= 1, run.stderr
        assert run.returncode == 1, run.stderr
        assert f"overlock: error: cannot list {url}: git ls-remote failed" in run.stderr
        assert "Operation too slow" in run.stderr


@pytest.mark.parametrize("askpass", ["GIT_ASKPASS", "SSH_ASKPASS", "core.askPass"])
def test_git_never_asks_for_a_password(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path, askpass: str
) -> None:
    """A repository behind basic auth and no credentials: git would ask any askpass program
    it can find (a desktop dialog, or a script that waits); overlock's git asks none."""
    repo = git_init(tmp_path / "src")
    write_project(repo, "x", "1.0")
    commit_all(repo, "first")
    asked = tmp_path / "asked"
    program = tmp_path / "askpass"
    program.write_text(f'#!/bin/sh\necho "$*" >> {asked}\necho guess\n')
    program.chmod(0o755)
    env = {askpass: str(program)}
    if askpass == "core.askPass":
        gitconfig = tmp_path / "gitconfig"
        gitconfig.write_text(f"[core]\n\taskPass = {program}\n")
        env = {"GIT_CONFIG_GLOBAL": str(gitconfig)}
    with GitServer(tmp_path / "srv", auth=("gituser", SECRET)) as gitserver:
        gitserver.publish(repo, "x.git")
        url = gitserver.url_for("x.git", credentials=False)
        manifest = write_manifest(tmp_path / "p", make_base(), [f"x @ git+{url}"], index=index)
        run = lock(manifest, **env)
    assert run.returncode == 1, run.stderr
    assert f"overlock: error: cannot list {url}: git ls-remote failed" in run.stderr
    assert not asked.exists(), asked.read_text()


# -- the index -------------------------------------------------------------------------------


def test_an_index_dribbling_its_headers_fails_the_lock(
    make_base: MakeBase, index: PackageIndex, tmp_path: Path
) -> None:
    """A status line and headers one byte every 0.2 s, forever: each read is answered within
    pip's timeout (2 s here); the request's deadline (4 x 2 s) ends it."""
    index.add_spec(WheelSpec("alpha", "1.0"))
    index.fault("/simple/alpha/*", "slow-headers", times=100, delay=0.2)
    manifest = write_manifest(tmp_path / "p", make_base(), ["alpha"], index=index)
    run = lock(manifest, PIP_TIMEOUT="2", PIP_RETRIES="0")
    assert index.count("/simple/alpha/*") >= 1, run.stderr
    assert run.returncode == 1, run.stderr
    assert "overlock: error:" in run.stderr
    assert "was too slow: no complete answer within 8 s" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_git_deadline_is_configurable_and_has_a_sane_default() -> None:
    assert git_timeout({}) == 600
    assert git_timeout({GIT_TIMEOUT_ENV: "90"}) == 90
    assert git_timeout({GIT_TIMEOUT_ENV: "2.5s"}) == 2.5
    assert git_timeout({GIT_TIMEOUT_ENV: "20m"}) == 1200
    assert git_timeout({GIT_TIMEOUT_ENV: "1h"}) == 3600
    for bad in ("forever", "0", "-5", "nan", "inf"):
        assert git_timeout({GIT_TIMEOUT_ENV: bad}) == 600
