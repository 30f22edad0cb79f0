"""overlock's HTTP transport (index/transport.py) against real servers on 127.0.0.1: the
environment's proxy and NO_PROXY, proxy credentials, the request deadline through a proxy,
and TLS: verified by default, against pip's ``cert`` bundle, unchecked for a trusted host."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from harness.clients import open_index
from harness.index import PackageIndex
from harness.proxy import ForwardingProxy
from harness.tls import Certificate
from harness.wheels import WheelSpec, build_wheel
from overlock.cache import Cache
from overlock.errors import BadInputError, IndexError_

ALPHA = canonicalize_name("alpha")


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def alpha(index: PackageIndex, tmp_path: Path) -> PackageIndex:
    index.add(build_wheel(WheelSpec("alpha", "1.0"), tmp_path / "b"))
    return index


def use_proxy(mp: pytest.MonkeyPatch, url: str, no_proxy: str | None = None) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        mp.delenv(name, raising=False)
    mp.setenv("HTTP_PROXY", url)
    mp.setenv("HTTPS_PROXY", url)
    if no_proxy is not None:
        mp.setenv("NO_PROXY", no_proxy)


# -- proxies ----------------------------------------------------------------------------------


def test_requests_go_through_the_environments_proxy_with_its_credentials(
    alpha: PackageIndex, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ForwardingProxy() as proxy:
        use_proxy(monkeypatch, proxy.url.replace("://", "://pat:s%40cret@"))
        with open_index(alpha.url, cache) as ix:
            assert [str(r.version) for r in ix.releases(ALPHA)] == ["1.0"]
    assert [a.url for a in proxy.requests] == [f"{alpha.base_url}/simple/alpha/"]
    token = base64.b64encode(b"pat:s@cret").decode()
    assert proxy.requests[0].proxy_authorization == f"Basic {token}"
    assert alpha.count("/simple/alpha/") == 1


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("127.0.0.1", True),
        ("example.org, 127.0.0.1:{port}", True),
        ("*", True),
        ("127.0.0.1:{other}", False),
        ("example.org,.example.net", False),
    ],
)
def test_no_proxy_exempts_what_it_names(
    alpha: PackageIndex,
    cache: Cache,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
    bypassed: bool,
) -> None:
    with ForwardingProxy() as proxy:
        use_proxy(monkeypatch, proxy.url, no_proxy.format(port=alpha.port, other=alpha.port + 1))
        with open_index(alpha.url, cache) as ix:
            ix.releases(ALPHA)
    assert len(proxy.requests) == (0 if bypassed else 1)
    assert alpha.count("/simple/alpha/") == 1


def test_a_stalling_proxy_is_given_up_on(
    alpha: PackageIndex, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy's status line never ends; the request's deadline (4 x 0.5 s) covers
    proxied requests as it covers direct ones."""
    with ForwardingProxy(stall=True) as proxy:
        use_proxy(monkeypatch, proxy.url)
        with open_index(alpha.url, cache, timeout=0.5) as ix, pytest.raises(IndexError_) as err:
            ix.releases(ALPHA)
    assert "too slow: no complete answer within 2 s" in str(err.value)
    assert len(proxy.requests) == 1


def test_a_proxy_of_an_unknown_kind_is_a_clear_error(
    alpha: PackageIndex, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy(monkeypatch, "ftp://127.0.0.1:1")
    with open_index(alpha.url, cache) as ix, pytest.raises(BadInputError) as err:
        ix.releases(ALPHA)
    assert "neither HTTP(S) nor SOCKS5" in str(err.value)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_index(tls_certificate: Certificate, tmp_path: Path) -> Iterator[tuple[PackageIndex, Path]]:
    """An HTTPS index whose certificate (for 127.0.0.1) no system store trusts."""
    index = PackageIndex(tmp_path / "tls-index", tls=tls_certificate.server_context())
    index.add(build_wheel(WheelSpec("alpha", "1.0"), tmp_path / "b"))
    with index:
        yield index, tls_certificate.cert


def test_a_stalling_proxy_is_given_up_on_for_an_https_index_too(
    tls_index: tuple[PackageIndex, Path], cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer to the CONNECT never ends: the deadline covers the tunnel's set-up too."""
    index, cert = tls_index
    with ForwardingProxy(stall=True) as proxy:
        use_proxy(monkeypatch, proxy.url)
        with (
            open_index(index.url, cache, cert=str(cert), timeout=0.5) as ix,
            pytest.raises(IndexError_) as err,
        ):
            ix.releases(ALPHA)
    assert "too slow: no complete answer within 2 s" in str(err.value)
    assert [(r.method, r.url) for r in proxy.requests] == [("CONNECT", f"127.0.0.1:{index.port}")]
    assert index.requests == []


def test_an_untrusted_certificate_is_refused(
    tls_index: tuple[PackageIndex, Path], cache: Cache
) -> None:
    index, _ = tls_index
    assert index.url.startswith("https://")
    with open_index(index.url, cache) as ix, pytest.raises(IndexError_) as err:
        ix.releases(ALPHA)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    assert index.count("/simple/alpha/") == 0


def test_pips_cert_bundle_is_trusted(tls_index: tuple[PackageIndex, Path], cache: Cache) -> None:
    index, cert = tls_index
    with open_index(index.url, cache, cert=str(cert)) as ix:
        assert [str(r.version) for r in ix.releases(ALPHA)] == ["1.0"]
        wheel = ix.releases(ALPHA)[0].wheel
        assert wheel is not None and ix.download(wheel).is_file()
    assert index.count("/simple/alpha/") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:{port}"])
def test_a_trusted_host_is_not_checked(
    tls_index: tuple[PackageIndex, Path], cache: Cache, host: str
) -> None:
    index, _ = tls_index
    trusted = (host.format(port=index.port),)
    with open_index(index.url, cache, trusted_hosts=trusted) as ix:
        assert [str(r.version) for r in ix.releases(ALPHA)] == ["1.0"]
    assert index.count("/simple/alpha/") == 1


def test_a_trusted_host_on_another_port_is_checked(
    tls_index: tuple[PackageIndex, Path], cache: Cache
) -> None:
    index, _ = tls_index
    with (
        open_index(index.url, cache, trusted_hosts=(f"127.0.0.1:{index.port + 1}",)) as ix,
        pytest.raises(IndexError_, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        ix.releases(ALPHA)
