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
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.gitserve import GitServer
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.sources import GIT_ENV, commit_all, git_init, write_project
from harness.wheels import WheelSpec
from overlock.build.git import checkout
from overlock.cache import Cache
from overlock.manifest.load import load_manifest
from overlock.redact import (
    redact_text,
    redact_url,
    secrets_in,
    strip_credentials,
    strip_text,
    with_credentials,
)

# Unique enough that a hit cannot be a coincidence; each names where it was planted.
INDEX_USER, INDEX_SECRET = "ixuser", "IdxPw-7f3a9c1e5d"
REQ_USER, REQ_SECRET = "requser", "ReqPw-2b8d4e6f0a"
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
    "requirement password": _forms(REQ_SECRET, REQ_USER),
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
    """The index, a second host for a direct wheel, a git server: each behind basic auth."""
    with (
        PackageIndex(tmp_path / "srv-index", auth=(INDEX_USER, INDEX_SECRET)) as index,
        PackageIndex(tmp_path / "srv-direct", auth=(REQ_USER, REQ_SECRET)) as direct,
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
    # Every git command line, as `ps` would show it to other users, lands in a scanned file.
    real_git = shutil.which("git")
    assert real_git is not None
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {tmp_path / "git-argv.log"}\nexec {real_git} "$@"\n'
    )
    wrapper.chmod(0o755)
    path = f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"
    # A user whose git stores every credential it is given, in a scanned file.
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f"[credential]\n\thelper = store --file={tmp_path / 'git-store'}\n")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            # -vv after the command: the most verbose output every command has.
            [sys.executable, "-m", "overlock", *args, "-vv"],
            cwd=project,
            env={
                **os.environ,
                "OVERLOCK_CACHE_DIR": str(cache),
                "PATH": path,
                "GIT_CONFIG_GLOBAL": str(gitconfig),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        streams.append((" ".join(args), proc.stdout + proc.stderr))
        if ok:
            assert proc.returncode == 0, f"overlock {' '.join(args)}:\n{proc.stderr}"
        return proc

    run("init", "--base", str(base.prefix), "--prefix", str(prefix), "--name", "sec")
    manifest = project / "overlay.toml"
    with manifest.open("a") as fh:
        fh.write(f'\n[index]\nurls = ["{index.url}"]\n')
    direct_url = direct.url.replace("/simple/", "/files/dirpkg-2.0-py3-none-any.whl")
    git_url = gitserver.url_for("gitpkg.git")
    run("add", "idxpkg")
    run("add", f"dirpkg @ {direct_url}")
    run("add", f"gitpkg @ git+{git_url}@main")
    run("lock")
    run("lock", "--check")
    run("lock", "--json")
    run("sync")
    run("sync", "--json")
    run("show")
    run("show", "--json")
    for name in ("idxpkg", "dirpkg", "gitpkg"):
        run("why", name)
    run("check", ok=False)
    # ls-remote reached the private repository with the manifest's credentials.
    checked = json.loads(run("check", "--json", ok=False).stdout)
    assert [f for f in checked["findings"] if f["kind"] == "sources"] == []
    run("export", "--format", "requirements")
    run("export", "--format", "requirements", "-o", str(project / "requirements.txt"))
    run("base", "snapshot", "-o", str(project / "base.json"))
    run("activate")
    # From nothing (no cache, no prefix), with only what the lock and overlay.toml hold:
    # the lock has no credentials, so they must come from overlay.toml at access time.
    for made in (cache, prefix.parent / f".{prefix.name}.overlock"):
        shutil.rmtree(made)
    prefix.unlink()
    run("sync")
    assert (prefix / ".overlock" / "state.json").is_file()
    run("remove", "dirpkg")
    run("sync")

    # The credentials were needed (the servers refuse anonymous requests) and were used.
    assert any(r.headers.get("Authorization") for r in index.requests)
    assert any(r.headers.get("Authorization") for r in direct.requests)
    assert any(gitserver.seen)
    assert "ls-remote" in (tmp_path / "git-argv.log").read_text()
    lock_text = (project / "pylock.overlay.toml").read_text()
    assert "gitpkg" in lock_text and "idxpkg" in lock_text

    # overlay.toml is the user's own file and keeps what they wrote; nothing else may.
    skip = {manifest, index.root, direct.root, gitserver.root, repo}
    leaks = []
    for written in _files(tmp_path, skip):
        data = written.read_bytes()
        leaks += [
            f"{what} in {written}"
            for what, forms in SECRETS.items()
            if any(f in data for f in forms)
        ]
    for command, text in streams:
        leaks += [
            f"{what} in the output of `overlock {command}`"
            for what, forms in SECRETS.items()
            if any(f.decode() in text for f in forms)
        ]
    assert leaks == []


def test_netrc_credentials_are_used_and_never_written(
    tmp_path: Path, make_base: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "NetrcPw-4c2e6a8b1d"
    base = make_base()
    project = tmp_path / "project"
    with PackageIndex(tmp_path / "srv", auth=("netrcuser", secret)) as index:
        index.add_spec(WheelSpec("idxpkg", "1.0"))
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login netrcuser password {secret}\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        manifest = write_manifest(project, base, ["idxpkg"], index=index.plain_url)
        outputs = []
        for command in (["lock"], ["sync"], ["show", "--json"], ["check"]):
            proc = subprocess.run(
                [sys.executable, "-m", "overlock", *command, "-m", str(manifest), "-vv"],
                env={**os.environ, "OVERLOCK_CACHE_DIR": str(tmp_path / "cache")},
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            outputs.append(proc.stdout + proc.stderr)
        assert any(r.headers.get("Authorization") for r in index.requests)
    forms = _forms(secret, "netrcuser")
    assert not [p for p in _files(tmp_path, {netrc}) if any(f in p.read_bytes() for f in forms)]
    assert not [o for o in outputs if any(f.decode() in o for f in forms)]


# -- the one place redaction happens ------------------------------------------------------


def test_written_urls_lose_their_credentials_shown_ones_mask_them() -> None:
    assert strip_credentials("https://u:pw@h.example/simple/") == "https://h.example/simple/"
    assert strip_credentials("https://TOKEN@h.example/x.whl") == "https://h.example/x.whl"
    assert strip_credentials("ssh://git@h.example/r.git") == "ssh://git@h.example/r.git"
    assert strip_credentials("ssh://git:pw@h.example/r.git") == "ssh://git@h.example/r.git"
    assert strip_text("x @ git+https://u:pw@h/r.git@main") == "x @ git+https://h/r.git@main"
    assert redact_url("https://u:pw@h/simple/") == "https://u:****@h/simple/"
    assert redact_url("https://TOKEN@h/simple/") == "https://****@h/simple/"
    assert (
        redact_text("fatal: 'http://u:pw@h/r' not found") == "fatal: 'http://u:****@h/r' not found"
    )
    found = secrets_in(["https://u:pw-long@h/", "https://TOKENXYZ@h/", "ssh://git@h/r"])
    assert sorted(found) == ["TOKENXYZ", "pw-long"]


def test_credentials_come_back_by_scheme_and_host() -> None:
    given = ["git+https://u:pw@git.example/org/r.git@main", "https://v:pw2@files.example/x.whl"]
    assert with_credentials("https://git.example/org/r.git", given) == (
        "https://u:pw@git.example/org/r.git"
    )
    assert (
        with_credentials("https://files.example/y.whl", given)
        == "https://v:pw2@files.example/y.whl"
    )
    assert with_credentials("https://other.example/r.git", given) == "https://other.example/r.git"
    assert with_credentials("http://git.example/org/r.git", given) == "http://git.example/org/r.git"


def test_the_manifest_hash_does_not_depend_on_credentials(tmp_path: Path) -> None:
    def manifest(user: str) -> str:
        path = tmp_path / (user.strip("@:") or "none") / "overlay.toml"
        path.parent.mkdir()
        path.write_text(
            '[overlay]\nbase = "/usr"\nprefix = "o"\n'
            f'requires = ["a @ https://{user}h.example/a-1.0-py3-none-any.whl"]\n'
            f'[index]\nurls = ["https://{user}h.example/simple/"]\n'
        )
        return load_manifest(path).content_hash()

    # A lock shared without the password is current for the manifest that has it, and the
    # lock's manifest-hash is not a hash an attacker could test passwords against.
    assert manifest("u:Pw1@") == manifest("u:Pw2@") == manifest("")


def test_the_git_mirror_is_keyed_without_credentials(
    tmp_path: Path, servers: tuple[PackageIndex, PackageIndex, GitServer]
) -> None:
    _, _, gitserver = servers
    repo = git_init(tmp_path / "src")
    write_project(repo, "gitpkg", "1.0")
    commit = commit_all(repo)
    gitserver.publish(repo, "r.git")
    cache = Cache(tmp_path / "cache")
    checkout(gitserver.url_for("r.git"), commit, cache, tmp_path / "tree")
    assert cache.git_dir(gitserver.url_for("r.git", credentials=False)).is_dir()
    assert list((cache.root / "git").iterdir()) == [
        cache.git_dir(gitserver.url_for("r.git", credentials=False))
    ]


@pytest.mark.parametrize("error", [RuntimeError, ValueError])
def test_an_unexpected_error_and_its_traceback_show_no_credential(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: type[Exception]
) -> None:
    # A library's exception may quote the URL it was given; the last line of defence is the
    # CLI, which prints every message (and the -v traceback) through redact.scrub.
    import overlock.cli.main

    def failing(args: Any, out: Any) -> int:
        raise error("cannot open http://someone:TracePw-5d7f9b1c3e@h.example/simple/")

    monkeypatch.setattr(overlock.cli.main, "cmd_lock", failing)
    assert overlock.cli.main.main(["lock", "-v"]) == overlock.cli.main.INTERNAL_ERROR  # 3, not 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err
    assert "TracePw" not in err and "http://someone:****@h.example/simple/" in err
