"""Index access against a real index served on loopback (tests/harness), file:// trees and
find-links directories: candidates, hashes, metadata paths, caching, faults, credentials."""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from packaging.requirements import Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from harness.index import PackageIndex
from harness.wheels import WheelSpec, build_sdist, build_wheel
from overlock.base.env import BaseEnv
from overlock.cache import Cache
from overlock.dists.metadata import parse_metadata
from overlock.errors import BuildRequiredError, HashMismatchError, IndexError_
from overlock.index import lazywheel
from overlock.index.client import Index
from overlock.index.http import make_client
from overlock.index.pipconfig import PYPI_SIMPLE, IndexConfig
from overlock.redact import strip_credentials

PLATFORMS = ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"]


def cp312_base() -> BaseEnv:
    """A CPython 3.12 Linux base, as a probe would report it (data, whatever runs the tests)."""
    tags = [
        *cpython_tags((3, 12), abis=["cp312", "abi3", "none"], platforms=PLATFORMS),
        *compatible_tags((3, 12), interpreter="cp312", platforms=PLATFORMS),
    ]
    return BaseEnv(
        python="/opt/base/bin/python3.12",
        prefix="/opt/base",
        kind="venv",
        python_version="3.12.4",
        implementation="cpython",
        markers={"python_version": "3.12", "python_full_version": "3.12.4"},
        tags=tuple(str(t) for t in tags),
        scheme={},
        site_dirs=(),
        distributions=(),
    )


def N(name: str) -> NormalizedName:
    return canonicalize_name(name)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@contextlib.contextmanager
def open_index(
    urls: tuple[str, ...] = (),
    find_links: tuple[str, ...] = (),
    cache: Cache | None = None,
    *,
    html: bool = False,
    retries: int = 3,
) -> Iterator[Index]:
    config = IndexConfig.from_manifest(urls, find_links, IndexConfig(retries=retries, timeout=5))
    client = make_client(config, backoff=0.01)
    if html:
        # Ask as a client that only speaks PEP 503 HTML would.
        def accept_html(request: httpx2.Request) -> None:
            request.headers["Accept"] = "text/html"

        client.event_hooks = {"request": [accept_html], "response": []}
    # A client passed in belongs to the caller: close it here.
    with client, Index(config, cp312_base(), cache, client=client) as ix:
        yield ix


def files_fetched(index: PackageIndex, filename: str) -> list[dict[str, str]]:
    return [r.headers for r in index.requests if r.path.endswith("/files/" + filename)]


@pytest.fixture
def populated(index: PackageIndex, tmp_path: Path) -> Iterator[PackageIndex]:
    built = tmp_path / "built"
    index.add(build_wheel(WheelSpec("alpha", "1.0", requires=("beta>=1",)), built))
    index.add(
        build_wheel(
            WheelSpec(
                "alpha",
                "2.0",
                requires=("beta>=2", "gamma; extra == 'x'"),
                extras={"x": ("gamma",)},
            ),
            built,
        ),
        metadata=False,
    )
    index.add(
        build_wheel(WheelSpec("alpha", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64"), built)
    )
    index.add(
        build_wheel(WheelSpec("alpha", "3.0", tag="cp311-cp311-manylinux_2_17_x86_64"), built)
    )
    index.add(build_wheel(WheelSpec("alpha", "3.1", requires_python=">=3.13"), built))
    index.add(build_wheel(WheelSpec("alpha", "0.9"), built), yanked="broken build")
    index.add(build_wheel(WheelSpec("alpha", "0.8"), built), yanked="")
    index.add(build_sdist("alpha", "0.5", built))
    yield index


def summary(releases: object) -> list[tuple[str, str | None, str | None, str | None, str | None]]:
    assert isinstance(releases, (list, tuple))
    return [
        (
            str(r.version),
            r.wheel.filename if r.wheel else None,
            r.wheel.sha256 if r.wheel else None,
            r.wheel.yanked if r.wheel else None,
            r.sdist.filename if r.sdist else None,
        )
        for r in releases
    ]


# -- candidates --------------------------------------------------------------------------


def test_releases_are_filtered_for_the_base_and_newest_first(
    populated: PackageIndex, cache: Cache
) -> None:
    with open_index((populated.url,), cache=cache) as ix:
        releases = ix.releases(N("alpha"))
    versions = [str(r.version) for r in releases]
    # 3.0 has only a cp311 wheel, 3.1 requires Python >= 3.13: neither fits a 3.12 base.
    assert versions == ["2.0", "1.0", "0.9", "0.8", "0.5"]
    best = releases[0].wheel
    assert best is not None
    # The platform wheel beats the pure one for a cp312 base (tag priority).
    assert best.filename == "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    assert best.sha256 and len(best.sha256) == 64
    assert best.size == (populated.files_dir / best.filename).stat().st_size  # PEP 700
    assert best.index == populated.url
    assert best.url == populated.files_url(best.filename)
    by_version = {str(r.version): r for r in releases}
    assert by_version["0.9"].yanked and by_version["0.9"].wheel
    assert by_version["0.9"].wheel.yanked == "broken build"
    assert by_version["0.8"].yanked and by_version["0.8"].wheel
    assert by_version["0.8"].wheel.yanked == ""
    assert not by_version["1.0"].yanked
    assert by_version["0.5"].wheel is None
    assert by_version["0.5"].sdist is not None


def test_json_html_file_and_find_links_agree(populated: PackageIndex, cache: Cache) -> None:
    with open_index((populated.url,), cache=cache) as ix:
        as_json = summary(ix.releases(N("alpha")))
    with open_index((populated.url,), cache=cache, html=True) as ix:
        as_html = summary(ix.releases(N("alpha")))
    with open_index((populated.file_url,), cache=cache) as ix:
        as_file = summary(ix.releases(N("alpha")))
        assert all(
            r.wheel is None or r.wheel.index == populated.file_url for r in ix.releases(N("alpha"))
        )
    with open_index((), (str(populated.find_links),), cache=cache) as ix:
        from_dir = summary(ix.releases(N("alpha")))
    accepts = [r.headers.get("Accept", "") for r in populated.requests if "/simple/" in r.path]
    assert any(a.startswith("application/vnd.pypi.simple.v1+json") for a in accepts)
    assert "text/html" in accepts
    assert as_json == as_html == as_file
    # A find-links directory has no yank marks and no hashes on a page: hashes are computed,
    # and Requires-Python comes from the wheels themselves (3.1 needs Python >= 3.13).
    strip_yank = [(v, w, h, None, s) for v, w, h, _, s in as_json]
    assert from_dir == strip_yank


def test_the_index_is_asked_only_about_names_requested(populated: PackageIndex) -> None:
    with open_index((populated.url,)) as ix:
        assert populated.requests == []
        ix.releases(N("alpha"))
        ix.releases(N("alpha"))
        assert ix.releases(N("nothing-here")) == ()
        assert ix.stats["pages"] == 2
    assert populated.count("/simple/alpha/") == 1


# -- metadata ----------------------------------------------------------------------------


def test_pep658_metadata_needs_no_wheel_request(populated: PackageIndex, cache: Cache) -> None:
    with open_index((populated.url,), cache=cache) as ix:
        release = next(r for r in ix.releases(N("alpha")) if str(r.version) == "1.0")
        meta = ix.metadata(release)
        assert ix.stats["metadata_requests"] == 1
        assert ix.stats["range_requests"] == 0
    assert meta.name == "alpha" and meta.version == "1.0"
    assert meta.requires == ("beta>=1",)
    assert populated.count("/files/alpha-1.0-py3-none-any.whl.metadata") == 1
    assert files_fetched(populated, "alpha-1.0-py3-none-any.whl") == []


def test_range_requests_when_no_metadata_file(
    index: PackageIndex, tmp_path: Path, cache: Cache
) -> None:
    spec = WheelSpec(
        "epsilon",
        "2.0",
        requires=("beta>=2",),
        extras={"x": ("gamma",)},
        files={"epsilon/__init__.py": "", "epsilon/blob.bin": os.urandom(400_000)},
    )
    wheel = index.add(build_wheel(spec, tmp_path / "b"), metadata=False)
    with open_index((index.url,), cache=cache) as ix:
        (release,) = ix.releases(N("epsilon"))
        assert release.wheel is not None and not release.wheel.has_metadata
        meta = ix.metadata(release)
        assert 1 <= ix.stats["range_requests"] <= 2  # dist-info sits at the end: often 1
        assert ix.stats["downloads"] == ix.stats["metadata_requests"] == 0
    assert meta.requires == ("beta>=2", 'gamma; extra == "x"')
    assert meta.provides_extra == ("x",)
    fetched = files_fetched(index, wheel.name)
    assert 1 <= len(fetched) <= 2 and all("Range" in h for h in fetched)
    assert index.count(f"/files/{wheel.name}.metadata") == 0


def test_warm_cache_asks_only_for_pages(populated: PackageIndex, cache: Cache) -> None:
    def run() -> dict[str, int]:
        with open_index((populated.url,), cache=cache) as ix:
            for release in ix.releases(N("alpha")):
                if release.wheel is not None:
                    ix.metadata(release)
            return ix.stats

    cold = run()
    populated.reset_log()
    warm = run()
    assert cold["metadata_requests"] >= 1
    assert warm["metadata_requests"] == warm["range_requests"] == warm["downloads"] == 0
    assert warm["cache_hits"] >= cold["metadata_requests"]
    assert {r.path for r in populated.requests} == {"/simple/alpha/"}


def test_file_index_and_find_links_read_local_wheels(populated: PackageIndex, cache: Cache) -> None:
    for urls, links in (((populated.file_url,), ()), ((), (str(populated.find_links),))):
        with open_index(urls, links, cache=Cache(cache.root / str(len(urls)))) as ix:
            release = next(r for r in ix.releases(N("alpha")) if str(r.version) == "1.0")
            assert ix.metadata(release).requires == ("beta>=1",)
            # Local wheels are read once (Requires-Python, then metadata from the cache).
            assert ix.stats["local_reads"] >= 1
            assert ix.stats["downloads"] == ix.stats["range_requests"] == 0
    assert populated.requests == []


def test_sdist_only_release_needs_a_build(
    index: PackageIndex, tmp_path: Path, cache: Cache
) -> None:
    index.add(build_sdist("onlysrc", "1.2", tmp_path / "b"))
    with open_index((index.url,), cache=cache) as ix:
        (release,) = ix.releases(N("onlysrc"))
        assert release.wheel is None
        assert ix.sdist_only(N("onlysrc"))
        with pytest.raises(BuildRequiredError) as err:
            ix.metadata(release)
    assert "onlysrc 1.2" in str(err.value)
    assert "onlysrc-1.2.tar.gz" in str(err.value)


# -- faults and downloads ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_one_fault_is_retried(populated: PackageIndex, cache: Cache, kind: str) -> None:
    populated.fault("/simple/alpha/", kind)
    populated.fault("/files/alpha-1.0-py3-none-any.whl.metadata", kind)
    populated.fault("/files/alpha-1.0-py3-none-any.whl", kind)
    with open_index((populated.url,), cache=cache) as ix:
        release = next(r for r in ix.releases(N("alpha")) if str(r.version) == "1.0")
        assert ix.metadata(release).requires == ("beta>=1",)
        assert release.wheel is not None
        path = ix.download(release.wheel)
    assert path.read_bytes() == (populated.files_dir / path.name).read_bytes()
    assert populated.count("/simple/alpha/") == 2


def test_persistent_failure_is_an_index_error(populated: PackageIndex, cache: Cache) -> None:
    populated.fault("/simple/alpha/", "500", times=10)
    with (
        open_index((populated.url,), cache=cache, retries=2) as ix,
        pytest.raises(IndexError_) as err,
    ):
        ix.releases(N("alpha"))
    assert "HTTP 500" in str(err.value)
    assert populated.count("/simple/alpha/") == 3


def test_corrupt_download_leaves_nothing(populated: PackageIndex, cache: Cache) -> None:
    populated.fault("/files/alpha-1.0-py3-none-any.whl", "corrupt")
    with open_index((populated.url,), cache=cache) as ix:
        release = next(r for r in ix.releases(N("alpha")) if str(r.version) == "1.0")
        assert release.wheel is not None
        with pytest.raises(HashMismatchError) as err:
            ix.download(release.wheel)
        assert release.wheel.sha256 is not None
        assert release.wheel.sha256 in str(err.value)
        assert "alpha-1.0-py3-none-any.whl" in str(err.value)
        # (The index page is kept under pages/, as its headers allow, and the releases read
        # from it under releases/; no part of the wheel.)
        kept = {"pages", "releases"}
        leftovers = [p for p in cache.root.rglob("*") if p.is_file() and kept.isdisjoint(p.parts)]
        assert leftovers == []
        # The next try succeeds, and a third is served from the cache with no request.
        path = ix.download(release.wheel)
        before = len(populated.requests)
        assert ix.download(release.wheel) == path
        assert len(populated.requests) == before
        assert ix.stats["cache_hits"] >= 1


def test_credentials_never_leak(tmp_path: Path, cache: Cache) -> None:
    with PackageIndex(tmp_path / "auth", auth=("alice", "s3cr3t-pw")) as index:
        index.add(build_wheel(WheelSpec("alpha", "1.0"), tmp_path / "b"))
        assert "s3cr3t-pw" in index.url
        with open_index((index.url,), cache=cache) as ix:
            (release,) = ix.releases(N("alpha"))
            assert release.wheel is not None
            assert ix.metadata(release).version == "1.0"
            ix.download(release.wheel)
            for text in (release.wheel.url, release.wheel.index or ""):
                assert "s3cr3t" not in text and "alice" not in text
        index.fault("/simple/beta/", "500", times=10)
        with (
            open_index((index.url,), cache=cache, retries=0) as ix,
            pytest.raises(IndexError_) as err,
        ):
            ix.releases(N("beta"))
        # Shown pip's way: the user name stays (it says which account), the password never.
        assert "s3cr3t" not in str(err.value) and "alice:****@" in str(err.value)
        bad = index.url.replace("s3cr3t-pw", "wrong-pw")
        with open_index((bad,), cache=cache) as ix, pytest.raises(IndexError_) as err:
            ix.releases(N("alpha"))
        assert "401" in str(err.value) and "wrong-pw" not in str(err.value)


def test_direct_references(populated: PackageIndex, tmp_path: Path, cache: Cache) -> None:
    wheel = build_wheel(WheelSpec("delta", "4.0", requires=("alpha",)), tmp_path / "direct")
    with open_index((populated.url,), cache=cache) as ix:
        release = ix.direct(Requirement(f"delta @ {wheel.as_uri()}"))
        assert release.direct and release.version == Version("4.0")
        assert release.wheel is not None and release.wheel.sha256
        assert ix.metadata(release).requires == ("alpha",)
        entry = next(e for e in populated.entries() if e.filename.startswith("alpha-1.0-"))
        remote = ix.direct(
            Requirement(f"alpha @ {populated.files_url(entry.filename)}#sha256={entry.sha256}")
        )
        assert remote.wheel is not None and remote.wheel.sha256 == entry.sha256
        assert "#" not in remote.wheel.url
        for ref in (
            "git+https://example.invalid/x.git",
            populated.files_url("alpha-0.5.tar.gz"),
            tmp_path.as_uri(),
        ):
            with pytest.raises(BuildRequiredError, match="cannot build"):
                ix.direct(Requirement(f"alpha @ {ref}"))


# -- lazy wheel, parsing -----------------------------------------------------------------


def _range_server(data: bytes, honour: bool = True) -> lazywheel.RangeFetch:
    def fetch(value: str) -> lazywheel.RangeResponse:
        if not honour:
            return lazywheel.RangeResponse(200, None, b"")
        spec = value.split("=", 1)[1]
        first_text, _, last_text = spec.partition("-")
        if not first_text:
            first, last = max(0, len(data) - int(last_text)), len(data) - 1
        else:
            first, last = int(first_text), min(int(last_text), len(data) - 1)
        return lazywheel.RangeResponse(
            206, f"bytes {first}-{last}/{len(data)}", data[first : last + 1]
        )

    return fetch


def test_lazy_wheel_reads_a_large_wheel_in_two_requests() -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        # METADATA first, far from the directory at the end: the worst case, two requests.
        zf.writestr(
            "big-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: big\nVersion: 1.0\n"
        )
        zf.writestr("big/data.bin", os.urandom(300_000))
        zf.writestr("big-1.0.dist-info/RECORD", "")
    data, requests = lazywheel.read_metadata(_range_server(raw.getvalue()), "big", tail=4096)
    assert b"Name: big" in data and requests == 2
    with pytest.raises(lazywheel.RangeNotSupported):
        lazywheel.read_metadata(_range_server(raw.getvalue(), honour=False), "big")


def test_parse_metadata_is_lenient() -> None:
    text = (
        "Metadata-Version: 2.1\nName: Messy_Pkg\nVersion: 1.0\nRequires-Dist: a>=1\n"
        "Requires-Dist: b;\n extra == 'x'\nProvides-Extra: x\nRequires-Python: >=3.8\n"
        "Description: caf\xe9\n\nbody\n"
    )
    meta = parse_metadata(text.encode("latin-1"))
    assert meta.name == "messy-pkg" and meta.version == "1.0"
    assert meta.requires == ("a>=1", "b; extra == 'x'")
    assert meta.provides_extra == ("x",) and meta.requires_python == ">=3.8"


# -- pip configuration -------------------------------------------------------------------


def test_pip_config_from_environment(tmp_path: Path) -> None:
    env = {
        "PIP_CONFIG_FILE": os.devnull,
        "HOME": str(tmp_path),
        "PIP_INDEX_URL": "https://mirror.example/simple/",
        "PIP_EXTRA_INDEX_URL": "https://a.example/simple https://b.example/simple",
        "PIP_FIND_LINKS": "wheels /abs/wheels",
        "PIP_CERT": "/etc/ca.pem",
        "PIP_DEFAULT_TIMEOUT": "42",
        "PIP_TRUSTED_HOST": "a.example",
    }
    config = IndexConfig.from_pip_config(env, cwd=tmp_path)
    assert config.index_urls == (
        "https://mirror.example/simple/",
        "https://a.example/simple",
        "https://b.example/simple",
    )
    assert config.find_links == (str(tmp_path / "wheels"), "/abs/wheels")
    assert config.cert == "/etc/ca.pem" and config.timeout == 42.0
    assert config.trusted_hosts == ("a.example",)
    assert config.origin == "pip configuration"
    assert IndexConfig.from_pip_config({"PIP_CONFIG_FILE": os.devnull}).index_urls == (PYPI_SIMPLE,)


def test_pip_config_file_sections_and_precedence(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = https://global.example/simple\ntimeout = 7\n"
        "extra-index-url =\n    file:///opt/one/simple\n    file:///opt/two/simple\n"
        "find-links = /opt/wheels\ncert = /etc/ssl/ca.crt\n"
        "[install]\nindex-url = https://install.example/simple\n"
    )
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path)}
    config = IndexConfig.from_pip_config(env)
    assert config.index_urls == (
        "https://install.example/simple",
        "file:///opt/one/simple",
        "file:///opt/two/simple",
    )
    assert config.find_links == ("/opt/wheels",) and config.timeout == 7.0
    assert config.cert == "/etc/ssl/ca.crt"
    env["PIP_INDEX_URL"] = "https://env.example/simple"
    assert IndexConfig.from_pip_config(env).index_urls[0] == "https://env.example/simple"
    # A user file is read when PIP_CONFIG_FILE does not name an existing file.
    user = tmp_path / "xdg" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nno-index = true\n")
    env2 = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_CONFIG_DIRS": str(tmp_path / "none"),
    }
    assert IndexConfig.from_pip_config(env2).no_index
    manifest = IndexConfig.from_manifest(["https://m.example/simple"], (), config)
    assert manifest.index_urls == ("https://m.example/simple",) and manifest.find_links == ()
    assert manifest.cert == config.cert and manifest.timeout == config.timeout
    assert manifest.origin == "overlay.toml [index]"


def test_strip_credentials() -> None:
    strip = strip_credentials
    assert strip("https://u:p@host.example:8080/simple/") == "https://host.example:8080/simple/"
    assert strip("https://TOKEN@host/simple") == "https://host/simple"
    assert strip("https://host/simple") == "https://host/simple"
    assert strip("/opt/wheels") == "/opt/wheels"
    # An ssh login name is not a secret and ssh needs it; its password (if any) goes.
    assert strip("ssh://git:pw@h.example/x.git") == "ssh://git@h.example/x.git"
    config = IndexConfig(index_urls=("https://u:secretpw@h/simple",), find_links=("/w",))
    assert "secretpw" not in config.describe() and "https://u:****@h/simple" in config.describe()
