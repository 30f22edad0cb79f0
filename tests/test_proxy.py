"""pip's proxy (``proxy`` in pip.conf, PIP_PROXY, --proxy) carries every index request, through
a real forwarding proxy on 127.0.0.1, and its credentials are written nowhere."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.proxy import ForwardingProxy
from harness.wheels import MakeWheel, WheelSpec

Overlock = Callable[..., Run]
SECRET = "pr0xy-s3cret"


@pytest.fixture
def manifest(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> Path:
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec(name="alpha", version="2.0"))
    index.add_spec(WheelSpec(name="beta", version="1.0", requires=("alpha>=2",)))
    return write_manifest(tmp_path / "p", base, ["beta"], index=index)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(path)
    return found


def test_lock_and_sync_go_through_pip_proxy_and_its_password_is_written_nowhere(
    manifest: Path,
    index: PackageIndex,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with ForwardingProxy(auth=("alice", SECRET)) as proxy:
        monkeypatch.setenv("PIP_PROXY", proxy.url)
        lock = overlock("-vv", "lock", "-m", str(manifest))
        assert lock.code == 0, lock.err
        sync = overlock("-vv", "sync", "-m", str(manifest))
        assert sync.code == 0, sync.err

    served = [r for r in proxy.requests if r.status < 400]
    # Every request the index answered came through the proxy, with the proxy's credentials.
    assert index.requests and len(served) == len(index.requests) == len(proxy.requests)
    assert {r.proxy_authorization for r in proxy.requests} == {proxy.auth_header}
    assert any(r.url.endswith("/simple/beta/") for r in served), served
    assert any(r.url.endswith(".whl") and r.method == "GET" for r in served), served
    # The proxy's password reached no file (lock, manifest, prefix, caches) and no output.
    assert SECRET not in lock.out + lock.err + sync.out + sync.err
    assert _files_holding(tmp_path, SECRET.encode()) == []
    assert "alice" not in (manifest.parent / "pylock.overlay.toml").read_text()


def test_proxy_from_pip_conf_and_the_command_line_wins(
    manifest: Path,
    index: PackageIndex,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    conf = tmp_path / "pip.conf"
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_RETRIES", "0")
    # pip's own form: no scheme means http.
    conf.write_text(f"[global]\nproxy = 127.0.0.1:{_dead_port()}\n")
    refused = overlock("lock", "-m", str(manifest))
    assert refused.code != 0 and not index.requests, refused.err

    with ForwardingProxy() as proxy:
        conf.write_text(f"[global]\nproxy = {proxy.url}\n")
        assert overlock("lock", "-m", str(manifest)).code == 0
        through_conf = len(proxy.requests)
        assert through_conf > 0 and through_conf == len(index.requests)

        # PIP_PROXY beats the file, and --proxy beats both.
        monkeypatch.setenv("PIP_PROXY", f"http://127.0.0.1:{_dead_port()}")
        run = overlock("lock", "-m", str(manifest), "--upgrade", "--proxy", proxy.url)
        assert run.code == 0, run.err
        assert len(proxy.requests) > through_conf
        assert len(proxy.requests) == len(index.requests)
        failed = overlock("lock", "-m", str(manifest), "--upgrade")
        assert failed.code != 0


def test_a_refusing_proxy_is_a_clean_error_without_its_password(
    manifest: Path, index: PackageIndex, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ForwardingProxy(auth=("alice", "right")) as proxy:
        wrong = proxy.url.replace("alice:right@", f"alice:{SECRET}@")
        run = overlock("-vv", "lock", "-m", str(manifest), "--proxy", wrong)
    assert run.code in (1, 2), run.err
    assert "overlock: error:" in run.err and "407" in run.err, run.err
    assert "hint: the proxy wants other credentials" in run.err
    assert SECRET not in run.out + run.err
    assert not index.requests


def test_a_trusted_host_is_reached_through_the_proxy_too(
    manifest: Path, index: PackageIndex, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pip's trusted-host skips TLS checks for a host; it does not skip the proxy.
    monkeypatch.setenv("PIP_TRUSTED_HOST", f"127.0.0.1:{index.port}")
    with ForwardingProxy() as proxy:
        run = overlock("lock", "-m", str(manifest), "--proxy", proxy.url)
    assert run.code == 0, run.err
    assert index.requests and len(proxy.requests) == len(index.requests)


def test_add_with_sync_takes_the_command_line_proxy_for_the_lock_and_the_downloads(
    make_base: MakeBase, index: PackageIndex, overlock: Overlock, tmp_path: Path
) -> None:
    # `add --sync` locks a new overlay.toml and syncs it: --proxy must reach both steps.
    base = make_base("venv")
    index.add_spec(WheelSpec(name="gamma", version="1.0"))
    manifest = write_manifest(tmp_path / "p", base, [], index=index)
    with ForwardingProxy() as proxy:
        run = overlock("add", "-m", str(manifest), "gamma", "--sync", "--proxy", proxy.url)
    assert run.code == 0, run.err
    assert any(r.url.endswith("/simple/gamma/") for r in proxy.requests), proxy.requests
    assert any(r.url.endswith(".whl") and r.method == "GET" for r in proxy.requests)
    assert index.requests and len(proxy.requests) == len(index.requests)
