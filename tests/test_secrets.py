"""Credentials are used for access and never written: not to the lock, the prefix's state,
``direct_url.json``, the cache, nor any output at any verbosity.

One session plants a unique secret in each place a user can put one — an index URL, a
direct-reference requirement URL and a git source URL, each served behind basic auth on
127.0.0.1 so the credentials really are needed — runs every command at ``-vv`` (as a
subprocess, so every log line of every library reaches the captured streams), then scans
every file the session created and every stream for each secret.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.gitserve import GitServer
from harness.index import PackageIndex
from harness.sources import GIT_ENV, commit_all, git_init, write_project
from harness.wheels import WheelSpec

# Unique enough that a hit cannot be a coincidence; each names where it was planted.
INDEX_USER, INDEX_SECRET = "ixuser", "IdxPw-7f3a9c1e5d"
REQ_TOKEN = "ReqTok-2b8d4e6f0a"  # a token passed as the user name (https://TOKEN@host/)
GIT_USER, GIT_SECRET = "gituser", "GitPw-9e1c3a5b7d"


@pytest.fixture(autouse=True)
def _git_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def _forms(secret: str, user: str | None = None) -> list[bytes]:
    """The secret as it could land in a file: plain, and inside a basic-auth header."""
    found = [secret.encode()]
    pair = f"{user}:{secret}" if user else f"{secret}:"
    found.append(base64.b64encode(pair.encode()))
    return found


SECRETS = {
    "index password": _forms(INDEX_SECRET, INDEX_USER),
    "requirement token": _forms(REQ_TOKEN),
    "git password": _forms(GIT_SECRET, GIT_USER),
}


def _files(root: Path, skip: set[Path]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            path = here / name
            if path not in skip and not path.is_symlink():
                yield path


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[PackageIndex, PackageIndex, GitServer]]:
    """The index (auth), a second host for a direct wheel (token auth), a git server (auth)."""
    with (
        PackageIndex(tmp_path / "srv-index", auth=(INDEX_USER, INDEX_SECRET)) as index,
        PackageIndex(tmp_path / "srv-direct", auth=(REQ_TOKEN, "")) as direct,
        GitServer(tmp_path / "srv-git", auth=(GIT_USER, GIT_SECRET)) as gitserver,
    ):
        yield index, direct, gitserver


def test_no_credential_is_written_anywhere(
    tmp_path: Path, make_base: Any, servers: tuple[PackageIndex, PackageIndex, GitServer]
) -> None:
    index, direct, gitserver = servers
    index.add_spec(WheelSpec("idxpkg", "1.0"))
    direct.add_spec(WheelSpec("dirpkg", "2.0"))
    repo = git_init(tmp_path / "gitpkg-src")
    write_project(repo, "gitpkg", "1.0")
    commit_all(repo, "first")
    gitserver.publish(repo, "gitpkg.git")
    base = make_base()

    project = tmp_path / "project"
    project.mkdir()
    prefix = tmp_path / "prefix"
    cache = tmp_path / "overlock-cache"
    streams: list[tuple[str, str]] = []

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "overlock", *args],
            cwd=project,
            env={**os.environ, "OVERLOCK_CACHE_DIR": str(cache)},
            capture_output=True,
            text=True,
            check=False,
        )
        streams.append((" ".join(args), proc.stdout + proc.stderr))
        if ok:
            assert proc.returncode == 0, f"overlock {' '.join(args)}:\n{proc.stderr}"
        return proc

    run("-vv", "init", "--base", str(base.prefix), "--prefix", str(prefix), "--name", "sec")
    manifest = project / "overlay.toml"
    with manifest.open("a") as fh:
        fh.write(f'\n[index]\nurls = ["{index.url}"]\n')
    direct_url = f"http://{REQ_TOKEN}@127.0.0.1:{direct.port}/files/dirpkg-2.0-py3-none-any.whl"
    git_url = gitserver.url_for("gitpkg.git")
    run("-vv", "add", "idxpkg")
    run("-vv", "add", f"dirpkg @ {direct_url}")
    run("-vv", "add", f"gitpkg @ git+{git_url}@main")
    run("-vv", "lock")
    run("-vv", "lock", "--check")
    run("-vv", "lock", "--json")
    run("-vv", "sync")
    run("-vv", "sync", "--json")
    run("-vv", "show")
    run("-vv", "show", "--json")
    for name in ("idxpkg", "dirpkg", "gitpkg"):
        run("-vv", "why", name)
    run("-vv", "check", ok=False)
    run("-vv", "check", "--json", ok=False)
    run("-vv", "export", "--format", "requirements")
    run("-vv", "export", "--format", "requirements", "-o", str(project / "requirements.txt"))
    run("-vv", "base", "snapshot", "-o", str(project / "base.json"))
    run("-vv", "activate")
    run("-vv", "remove", "dirpkg")
    # A sync with a cold cache must still get in: the credentials come from overlay.toml.
    run("-vv", "sync")

    # The credentials were needed (the servers refuse anonymous requests) and were used.
    assert any(r.headers.get("Authorization") for r in index.requests)
    assert any(r.headers.get("Authorization") for r in direct.requests)
    assert any(gitserver.seen)
    lock_text = (project / "pylock.overlay.toml").read_text()
    assert "gitpkg" in lock_text and "idxpkg" in lock_text

    # overlay.toml is the user's own file and keeps what they wrote; nothing else may.
    skip = {manifest, index.root, direct.root, gitserver.root, repo}
    leaks = []
    for path in _files(tmp_path, skip):
        data = path.read_bytes()
        leaks += [
            f"{what} in {path}" for what, forms in SECRETS.items() if any(f in data for f in forms)
        ]
    for command, text in streams:
        leaks += [
            f"{what} in the output of `overlock {command}`"
            for what, forms in SECRETS.items()
            if any(f.decode() in text for f in forms)
        ]
    assert leaks == []
