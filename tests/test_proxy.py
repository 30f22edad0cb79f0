"""pip's proxy (``proxy`` in pip.conf, PIP_PROXY, --proxy) carries every index request, through
a real forwarding proxy on 127.0.0.1, and its credentials are written nowhere. An https://
index is reached through a CONNECT tunnel, with TLS verified end to end; the environment's
proxy (HTTPS_PROXY) does the same unless NO_PROXY exempts the index."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.bases import MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.proxy import ForwardingProxy
from harness.tls import Certificate
from harness.wheels import MakeWheel, WheelSpec

Overlock = Callable[..., Run]
SECRET = "pr0xy-s3cret"


def _project(make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, root: Path) -> Path:
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec(name="alpha", version="2.0"))
    index.add_spec(WheelSpec(name="beta", version="1.0", requires=("alpha>=2",)))
    return write_manifest(root / "p", base, ["beta"], index=index)


@pytest.fixture
def manifest(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> Path:
    return _project(make_base, make_wheel, index, tmp_path)


@pytest.fixture
def https_index(tls_certificate: Certificate, tmp_path: Path) -> Iterator[PackageIndex]:
    """An https:// index on 127.0.0.1 whose certificate no trust store holds."""
    with PackageIndex(tmp_path / "tls-index", tls=tls_certificate.server_context()) as started:
        yield started


@pytest.fixture
def https_manifest(
    make_base: MakeBase, make_wheel: MakeWheel, https_index: PackageIndex, tmp_path: Path
) -> Path:
    assert https_index.url.startswith("https://")
    return _project(make_base, make_wheel, https_index, tmp_path)


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


# -- https:// through a CONNECT tunnel ----------------------------------------------------------

# How the proxy is given: pip's option on the command line, pip's variable, the environment's.
WAYS = ("--proxy", "PIP_PROXY", "HTTPS_PROXY")


def _give_proxy(mp: pytest.MonkeyPatch, way: str, url: str, no_proxy: str = "") -> list[str]:
    """Set the proxy up ``way``; the command-line arguments that go with it."""
    # The suite's isolation exempts every host (NO_PROXY=*): replaced here.
    for name in ("NO_PROXY", "no_proxy"):
        mp.delenv(name, raising=False)
    if no_proxy:
        mp.setenv("NO_PROXY", no_proxy)
    if way == "--proxy":
        return ["--proxy", url]
    mp.setenv(way, url)
    return []


def _cli(*args: str) -> Run:
    """overlock in a process of its own: its -vv log reaches its stderr, as a user sees it
    (in-process, pytest's log capture takes the records)."""
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _tunnelled(proxy: ForwardingProxy, index: PackageIndex) -> None:
    """Every request the index saw came through a tunnel this proxy opened to it on CONNECT,
    with the proxy's credentials; the proxy was asked nothing else."""
    connects = proxy.connects
    assert connects and proxy.requests == connects, proxy.requests
    assert {(c.url, c.status) for c in connects} == {(f"127.0.0.1:{index.port}", 200)}
    assert {c.proxy_authorization for c in connects} == {proxy.auth_header}
    tunnels = {c.tunnel_port for c in connects}
    carried = [r for r in index.requests if r.client_port in tunnels]
    assert index.requests and len(carried) == len(index.requests), (tunnels, index.requests)


@pytest.mark.parametrize("way", WAYS)
def test_lock_and_sync_reach_an_https_index_through_a_connect_tunnel(
    https_manifest: Path,
    https_index: PackageIndex,
    tls_certificate: Certificate,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    way: str,
) -> None:
    monkeypatch.setenv("PIP_CERT", str(tls_certificate.cert))  # pip's way to trust a CA
    with ForwardingProxy(auth=("alice", SECRET)) as proxy:
        args = _give_proxy(monkeypatch, way, proxy.url)
        lock = _cli("-vv", "lock", "-m", str(https_manifest), *args)
        assert lock.code == 0, lock.err
        sync = _cli("-vv", "sync", "-m", str(https_manifest), *args)
        assert sync.code == 0, sync.err

    _tunnelled(proxy, https_index)
    assert https_index.count("/simple/beta/") >= 1
    assert https_index.count("/files/*.whl", method="GET") >= 1
    # The proxy's password (and the header that carries it) reached no output and no file:
    # lock, manifest, prefix, caches.
    assert proxy.auth_header is not None
    token = proxy.auth_header.split()[1]
    for needle in (SECRET, token):
        assert needle not in lock.out + lock.err + sync.out + sync.err
        assert _files_holding(tmp_path, needle.encode()) == []


@pytest.mark.parametrize("way", WAYS)
def test_tls_is_verified_end_to_end_through_the_tunnel(
    https_manifest: Path,
    https_index: PackageIndex,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    way: str,
) -> None:
    """Without the test CA trusted (no cert, PIP_CERT or SSL_CERT_FILE naming it), the index's
    certificate is refused by overlock itself, not by the proxy, which only relays bytes."""
    monkeypatch.setenv("PIP_RETRIES", "0")
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    with ForwardingProxy(auth=("alice", SECRET)) as proxy:
        args = _give_proxy(monkeypatch, way, proxy.url)
        run = _cli("-vv", "lock", "-m", str(https_manifest), *args)
    assert run.code != 0
    assert "overlock: error:" in run.err and "CERTIFICATE_VERIFY_FAILED" in run.err, run.err
    assert "self-signed certificate" in run.err, run.err
    assert SECRET not in run.out + run.err
    # The tunnel was opened; no request ever reached the index through it.
    assert proxy.connects and {c.status for c in proxy.connects} == {200}
    assert https_index.requests == []
    # Nothing from the index was written (no lock, no cached page or file); what the base's
    # probe found is kept, as for any lock that fails after probing the base.
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    # What overlock keeps about the base interpreter (its probe, its dependency graph) is not
    # from the index.
    of_base = [tmp_path / "overlock-cache" / kind for kind in ("probes", "base-graphs")]
    assert [p for p in written if not any(p.is_relative_to(d) for d in of_base)] == [], sorted(
        written
    )
    assert not (https_manifest.parent / "pylock.overlay.toml").exists()


@pytest.mark.parametrize(
    ("way", "exempt"), [("HTTPS_PROXY", True), ("PIP_PROXY", False), ("--proxy", False)]
)
def test_no_proxy_exempts_the_index_from_the_environments_proxy_only(
    https_manifest: Path,
    https_index: PackageIndex,
    tls_certificate: Certificate,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
    way: str,
    exempt: bool,
) -> None:
    # pip's proxy option applies to every host (requests merges an explicit proxy whatever
    # NO_PROXY says); NO_PROXY only takes hosts out of the environment's proxies.
    monkeypatch.setenv("PIP_CERT", str(tls_certificate.cert))
    with ForwardingProxy(auth=("alice", SECRET)) as proxy:
        args = _give_proxy(monkeypatch, way, proxy.url, no_proxy="example.org,127.0.0.1")
        run = overlock("lock", "-m", str(https_manifest), *args)
    assert run.code == 0, run.err
    assert https_index.count("/simple/beta/") >= 1
    if exempt:
        assert proxy.requests == []
    else:
        _tunnelled(proxy, https_index)


def test_a_cidr_block_in_no_proxy_exempts_an_ip_address_host(
    https_manifest: Path,
    https_index: PackageIndex,
    tls_certificate: Certificate,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NO_PROXY=127.0.0.0/8, as requests (hence pip) reads it: the index on 127.0.0.1 is
    reached directly. The proxy would refuse the lock (407: no credentials)."""
    monkeypatch.setenv("PIP_CERT", str(tls_certificate.cert))
    monkeypatch.setenv("PIP_RETRIES", "0")
    with ForwardingProxy(auth=("alice", SECRET)) as proxy:
        without_credentials = proxy.url.replace(f"alice:{SECRET}@", "")
        _give_proxy(monkeypatch, "HTTPS_PROXY", without_credentials, no_proxy="127.0.0.0/8")
        run = overlock("lock", "-m", str(https_manifest))
    assert run.code == 0, run.err
    assert proxy.requests == []
    assert https_index.count("/simple/beta/") >= 1
