"""Bounded network work against the harness index: one retry layer with pip's meaning of
``retries``, downloads that stop at the locked size (or a cap), and a total deadline per
request that a server trickling bytes cannot stretch."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.clients import open_index
from harness.index import PackageIndex
from harness.wheels import WheelSpec, build_wheel
from overlock.cache import Cache
from overlock.dists.types import DistFile
from overlock.errors import HashMismatchError, IndexError_
from overlock.limits import MAX_DOWNLOAD_ENV, Deadline, max_download

ALPHA = "alpha-1.0-py3-none-any.whl"


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def alpha(index: PackageIndex, tmp_path: Path) -> PackageIndex:
    index.add(build_wheel(WheelSpec("alpha", "1.0", requires=("beta>=1",)), tmp_path / "b"))
    return index


def locked_alpha(index: PackageIndex, *, size: bool = True) -> DistFile:
    (entry,) = index.entries()
    return DistFile(
        filename=entry.filename,
        url=index.files_url(entry.filename),
        hashes={"sha256": entry.sha256},
        size=entry.size if size else None,
    )


def no_partial_files(cache: Cache) -> list[Path]:
    return [p for p in cache.root.rglob("*") if p.is_file()]


# -- one retry layer ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "drop"])
@pytest.mark.parametrize("retries", [0, 2])
def test_retries_mean_what_they_mean_in_pip(
    alpha: PackageIndex, cache: Cache, retries: int, kind: str
) -> None:
    """retries=N is N retries, N+1 attempts in all, for pages, metadata and downloads alike
    (two nested layers once made 9 attempts of retries=2)."""
    for pattern in ("/simple/alpha/", f"/files/{ALPHA}.metadata", f"/files/{ALPHA}"):
        alpha.fault(pattern, kind, times=50)
    with open_index(alpha.url, cache, retries=retries) as ix:
        with pytest.raises(IndexError_):
            ix.releases(canonicalize_name("alpha"))
        with pytest.raises(IndexError_):
            ix.download(locked_alpha(alpha))
    assert alpha.count("/simple/alpha/") == retries + 1
    assert alpha.count(f"/files/{ALPHA}") == retries + 1


def test_a_dead_host_is_tried_retries_plus_one_times(cache: Cache) -> None:
    """A host that accepts and hangs up at once: each connection counted at the socket."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()
    accepted = 0

    def serve() -> None:
        nonlocal accepted
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    file = DistFile(ALPHA, f"{url}/files/{ALPHA}", {"sha256": "0" * 64}, 100)
    try:
        with (
            open_index(f"{url}/simple/", cache, retries=2) as ix,
            pytest.raises(IndexError_) as err,
        ):
            ix.download(file)
    finally:
        stop.set()
        thread.join(timeout=30)
        server.close()
    assert "cannot reach" in str(err.value)
    assert accepted == 3


# -- downloads stop at the locked size, or at the cap -----------------------------------------


def test_download_stops_at_the_locked_size(alpha: PackageIndex, cache: Cache) -> None:
    alpha.fault(f"/files/{ALPHA}", "endless", times=50)
    file = locked_alpha(alpha)
    with open_index(alpha.url, cache, retries=2) as ix, pytest.raises(HashMismatchError) as err:
        ix.download(file)
    message = str(err.value)
    assert f"larger than the {file.size} bytes" in message
    # Not retried: a server sending too much means it; and nothing partial is kept.
    assert alpha.count(f"/files/{ALPHA}") == 1
    assert no_partial_files(cache) == []


def test_unlocked_download_stops_at_the_cap(
    alpha: PackageIndex, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A direct reference with no hash has no size to stop at: the cap applies."""
    monkeypatch.setenv(MAX_DOWNLOAD_ENV, "1M")
    alpha.fault(f"/files/{ALPHA}", "endless")
    requirement = Requirement(f"alpha @ {alpha.files_url(ALPHA)}")
    with open_index(alpha.url, cache, retries=0) as ix, pytest.raises(IndexError_) as err:
        ix.direct(requirement)
    assert "larger than 1 MiB" in str(err.value)
    assert MAX_DOWNLOAD_ENV in str(err.value)
    assert no_partial_files(cache) == []


def test_the_cap_is_configurable_and_has_a_sane_default() -> None:
    assert max_download({}) == 4 * 1024**3
    assert max_download({MAX_DOWNLOAD_ENV: "16G"}) == 16 * 1024**3
    assert max_download({MAX_DOWNLOAD_ENV: "500M"}) == 500 * 1024**2
    assert max_download({MAX_DOWNLOAD_ENV: "12345"}) == 12345
    assert max_download({MAX_DOWNLOAD_ENV: "lots"}) == 4 * 1024**3


def test_an_endless_index_page_is_cut_off(
    alpha: PackageIndex, cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("overlock.index.pages.MAX_PAGE_BYTES", 2 * 1024 * 1024)
    alpha.fault("/simple/alpha/", "endless")
    with open_index(alpha.url, cache, retries=0) as ix, pytest.raises(IndexError_) as err:
        ix.releases(canonicalize_name("alpha"))
    assert "sent more than 2 MiB" in str(err.value)


# -- a total deadline per request --------------------------------------------------------------


def test_a_trickling_index_is_given_up_on(alpha: PackageIndex, cache: Cache) -> None:
    """One byte every 50 ms passes every per-read timeout; the request's deadline (4 x the
    0.5 s timeout here) ends it. Without the deadline the page arrives after ~30 s and the
    lookup succeeds, so this fails."""
    alpha.fault("/simple/alpha/", "trickle", delay=0.05)
    with (
        open_index(alpha.url, cache, retries=0, timeout=0.5) as ix,
        pytest.raises(IndexError_) as err,
    ):
        ix.releases(canonicalize_name("alpha"))
    assert "too slow" in str(err.value)
    assert "timeout" in (err.value.hint or "")


def test_the_deadline_grows_with_the_bytes_received() -> None:
    now = [0.0]
    deadline = Deadline(10.0, min_rate=1000, clock=lambda: now[0])
    expired = []  # a list, not asserts in turn: mypy would narrow `expired` to one value
    now[0] = 10.5
    expired.append(deadline.expired)
    deadline.credit(1000)  # one more second for 1000 bytes
    expired.append(deadline.expired)
    now[0] = 11.5
    expired.append(deadline.expired)
    assert expired == [True, False, True]


@pytest.mark.parametrize(
    ("what", "trusted"), [("page", False), ("download", False), ("page", True)]
)
def test_an_index_dribbling_its_headers_is_given_up_on(
    alpha: PackageIndex, cache: Cache, what: str, trusted: bool
) -> None:
    """A status line and headers sent one byte every 50 ms, never finished: every read gets
    a byte well within the 0.5 s timeout, and the body (where the deadline used to be checked)
    never starts. The request's deadline (4 x 0.5 s) covers the headers too. Without it the
    lookup waits until the header outgrows h11's 16 KiB limit, about 14 minutes. A trusted
    host (pip's ``trusted-host``) is served by a transport of its own, bounded the same."""
    path = "/simple/alpha/" if what == "page" else f"/files/{ALPHA}"
    alpha.fault(path, "slow-headers", times=50, delay=0.05)
    with (
        open_index(
            alpha.url,
            cache,
            retries=1,
            timeout=0.5,
            trusted_hosts=(f"127.0.0.1:{alpha.port}",) if trusted else (),
        ) as ix,
        pytest.raises(IndexError_) as err,
    ):
        if what == "page":
            ix.releases(canonicalize_name("alpha"))
        else:
            ix.download(locked_alpha(alpha))
    assert "too slow: no complete answer within 2 s" in str(err.value)
    assert "timeout" in (err.value.hint or "")
    assert alpha.count(path) == 2  # retried once, as retries=1 says
    assert no_partial_files(cache) == []
