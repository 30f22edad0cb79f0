"""The harness's own tests: if these pass, the fixtures every other test uses are real."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from email.parser import HeaderParser
from html.parser import HTMLParser
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urljoin, urlsplit
from urllib.request import Request, urlopen

import pytest

from harness.bases import MakeBase, other_pythons, tree_checksum
from harness.index import HTML_V1, JSON_V1, PackageIndex
from harness.netguard import NetworkGuardError
from harness.proxy import ForwardingProxy
from harness.tls import Certificate
from harness.wheels import MakeWheel, WheelSpec, build_sdist, build_wheel, wheel_filename

# -- helpers ------------------------------------------------------------------------------


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = Request(url, headers=headers or {}, method=method)
    with urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers.items()), response.read()


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def parse_anchors(body: bytes) -> list[dict[str, str | None]]:
    parser = Anchors()
    parser.feed(body.decode())
    return parser.anchors


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def populated(index: PackageIndex, wheel_dir: Path) -> PackageIndex:
    index.add_spec(WheelSpec("demo-pkg", "1.0", requires_python=">=3.8,<4"))
    index.add_spec(WheelSpec("demo-pkg", "1.1", requires=("other>=2",)), yanked="broken build")
    index.add_spec(WheelSpec("demo-pkg", "1.2"), yanked="")
    index.add_spec(WheelSpec("demo-pkg", "2.0", requires_python=">=3.9"), metadata=False)
    index.add(build_sdist("demo-pkg", "2.0", wheel_dir))
    index.add_spec(WheelSpec("other", "2.0"))
    return index


# -- wheels -------------------------------------------------------------------------------


def test_wheel_bytes_are_deterministic_and_record_is_valid(tmp_path: Path) -> None:
    spec = WheelSpec(
        "Foo.Bar-baz",
        "1.0",
        requires=("dep>=1",),
        extras={"fast": ("speedy; python_version < '4' or os_name == 'nt'", "plain")},
        entry_points={"console_scripts": {"foo": "foo_bar_baz:main"}},
        pth={"foo-extra.pth": "import os\n"},
        build="1",
    )
    first = build_wheel(spec, tmp_path / "a")
    second = build_wheel(spec, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert first.name == wheel_filename(spec) == "foo_bar_baz-1.0-1-py3-none-any.whl"

    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert "foo_bar_baz-1.0.dist-info/METADATA" in names
        assert "foo-extra.pth" in names
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        rows = list(csv.reader(io.StringIO(archive.read(names[-1]).decode())))
        assert names[-1] == "foo_bar_baz-1.0.dist-info/RECORD"
        assert [names[-1], "", ""] in rows
        for path, digest, size in rows:
            if path == names[-1]:
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        metadata = HeaderParser().parsestr(
            archive.read("foo_bar_baz-1.0.dist-info/METADATA").decode()
        )
        wheel = archive.read("foo_bar_baz-1.0.dist-info/WHEEL").decode()
    assert metadata["Metadata-Version"] == "2.1"
    assert metadata.get_all("Provides-Extra") == ["fast"]
    assert metadata.get_all("Requires-Dist") == [
        "dep>=1",
        "speedy; (python_version < '4' or os_name == 'nt') and extra == \"fast\"",
        'plain; extra == "fast"',
    ]
    assert "Root-Is-Purelib: true" in wheel


def test_compiled_looking_wheel_is_platlib(tmp_path: Path) -> None:
    spec = WheelSpec("native", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    with zipfile.ZipFile(build_wheel(spec, tmp_path)) as archive:
        assert any(n.endswith(".so") for n in archive.namelist())
        assert "Root-Is-Purelib: false" in archive.read("native-1.0.dist-info/WHEEL").decode()


# -- the HTTP index -----------------------------------------------------------------------


def test_json_and_html_pages_describe_the_same_files(populated: PackageIndex) -> None:
    page = populated.url + "demo-pkg/"
    status, headers, body = fetch(page, {"Accept": JSON_V1})
    assert status == 200
    assert headers["Content-Type"] == JSON_V1
    doc = json.loads(body)
    assert doc["meta"]["api-version"] == "1.1"
    by_json = {f["filename"]: f for f in doc["files"]}

    _, headers, body = fetch(page, {"Accept": HTML_V1})
    assert headers["Content-Type"] == HTML_V1
    anchors = parse_anchors(body)
    by_html = {a["href"].split("#")[0].rsplit("/", 1)[-1]: a for a in anchors if a["href"]}

    assert (
        set(by_json)
        == set(by_html)
        == {
            "demo_pkg-1.0-py3-none-any.whl",
            "demo_pkg-1.1-py3-none-any.whl",
            "demo_pkg-1.2-py3-none-any.whl",
            "demo_pkg-2.0-py3-none-any.whl",
            "demo_pkg-2.0.tar.gz",
        }
    )
    for filename, entry in by_json.items():
        anchor = by_html[filename]
        href = anchor["href"] or ""
        assert href.endswith("#sha256=" + entry["hashes"]["sha256"])
        # Both formats' URLs lead to the same bytes, whose hash is the advertised one.
        _, _, data = fetch(urljoin(page, entry["url"]))
        assert sha256(data) == entry["hashes"]["sha256"]
        assert len(data) == entry["size"]
        assert anchor.get("data-requires-python") == entry["requires-python"]

    assert by_json["demo_pkg-1.0-py3-none-any.whl"]["requires-python"] == ">=3.8,<4"
    assert by_html["demo_pkg-1.1-py3-none-any.whl"]["data-yanked"] == "broken build"
    assert by_json["demo_pkg-1.1-py3-none-any.whl"]["yanked"] == "broken build"
    assert by_json["demo_pkg-1.2-py3-none-any.whl"]["yanked"] is True
    assert by_html["demo_pkg-1.2-py3-none-any.whl"]["data-yanked"] == ""
    assert by_json["demo_pkg-1.0-py3-none-any.whl"]["yanked"] is False
    assert "data-yanked" not in by_html["demo_pkg-1.0-py3-none-any.whl"]
    # The escaping is in the raw page; the parser above has already undone it.
    _, _, raw = fetch(page, {"Accept": "text/html"})
    assert b'data-requires-python="&gt;=3.8,&lt;4"' in raw


def test_accept_header_negotiation(populated: PackageIndex) -> None:
    page = populated.url + "other/"
    cases = {
        f"{JSON_V1}, {HTML_V1}": JSON_V1,
        f"{HTML_V1}, {JSON_V1}": JSON_V1,  # equal q: JSON preferred
        f"{JSON_V1};q=0.5, {HTML_V1}": HTML_V1,
        f"{JSON_V1};q=0.2, text/html;q=0.5": "text/html",
        "text/html": "text/html",
        "*/*": JSON_V1,
    }
    for accept, expected in cases.items():
        _, headers, _ = fetch(page, {"Accept": accept})
        assert headers["Content-Type"] == expected, accept
    with pytest.raises(HTTPError) as info:
        fetch(page, {"Accept": "application/xml"})
    assert info.value.code == 406
    info.value.close()


def test_metadata_files_and_missing_projects(populated: PackageIndex) -> None:
    _, _, body = fetch(populated.url + "demo-pkg/", {"Accept": JSON_V1})
    files = {f["filename"]: f for f in json.loads(body)["files"]}
    offered = files["demo_pkg-1.0-py3-none-any.whl"]
    _, _, metadata = fetch(populated.files_url(offered["filename"]) + ".metadata")
    assert sha256(metadata) == offered["core-metadata"]["sha256"]
    assert offered["data-dist-info-metadata"] == offered["core-metadata"]
    assert b"Name: demo-pkg\nVersion: 1.0\n" in metadata

    for name in ("demo_pkg-2.0-py3-none-any.whl", "demo_pkg-2.0.tar.gz"):
        assert files[name]["core-metadata"] is False
        with pytest.raises(HTTPError) as info:
            fetch(populated.files_url(name) + ".metadata")
        assert info.value.code == 404
        info.value.close()
    anchors = parse_anchors(fetch(populated.url + "demo-pkg/", {"Accept": "text/html"})[2])
    with_metadata = {a["href"].split("#")[0] for a in anchors if "data-core-metadata" in a}  # type: ignore[union-attr]
    assert len(with_metadata) == 3

    for missing in ("no-such-project/", "nope/x", "../etc/passwd"):
        with pytest.raises(HTTPError) as info:
            fetch(populated.url + missing)
        assert info.value.code == 404
        info.value.close()
    # Non-normalized names redirect to the normalized page (urllib follows it).
    _, _, body = fetch(populated.url + "Demo.Pkg/", {"Accept": JSON_V1})
    assert json.loads(body)["name"] == "demo-pkg"
    _, _, root = fetch(populated.url, {"Accept": JSON_V1})
    assert [p["name"] for p in json.loads(root)["projects"]] == ["demo-pkg", "other"]


def test_range_and_head_requests(populated: PackageIndex) -> None:
    url = populated.files_url("other-2.0-py3-none-any.whl")
    whole = (populated.files_dir / "other-2.0-py3-none-any.whl").read_bytes()
    size = len(whole)

    status, headers, body = fetch(url, {"Range": "bytes=0-9"})
    assert (status, body) == (206, whole[:10])
    assert headers["Content-Range"] == f"bytes 0-9/{size}"
    status, headers, body = fetch(url, {"Range": "bytes=-22"})
    assert (status, body) == (206, whole[-22:])
    assert body.startswith(b"PK\x05\x06")  # the zip end-of-central-directory record
    assert headers["Content-Range"] == f"bytes {size - 22}-{size - 1}/{size}"
    status, _, body = fetch(url, {"Range": f"bytes={size - 5}-"})
    assert (status, body) == (206, whole[-5:])
    with pytest.raises(HTTPError) as info:
        fetch(url, {"Range": f"bytes={size + 10}-{size + 20}"})
    assert info.value.code == 416
    info.value.close()

    status, headers, body = fetch(url, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(size)
    assert headers["Accept-Ranges"] == "bytes"
    assert populated.count("/files/other-*", method="HEAD") == 1


def test_fault_500_then_recovers(populated: PackageIndex) -> None:
    populated.fault("/simple/other/*", "500", times=2)
    for _ in range(2):
        with pytest.raises(HTTPError) as info:
            fetch(populated.url + "other/")
        assert info.value.code == 500
        info.value.close()
    assert fetch(populated.url + "other/")[0] == 200
    statuses = [r.status for r in populated.requests if r.path == "/simple/other/"]
    assert statuses == [500, 500, 200]


def test_fault_drop_closes_without_answer(populated: PackageIndex) -> None:
    populated.fault("/files/other-*.whl", "drop")
    with pytest.raises((URLError, ConnectionError)):
        fetch(populated.files_url("other-2.0-py3-none-any.whl"))
    assert fetch(populated.files_url("other-2.0-py3-none-any.whl"))[0] == 200


def test_fault_slow_delays_the_answer(populated: PackageIndex) -> None:
    populated.fault("/simple/other/", "slow", delay=0.4)
    started = time.monotonic()
    assert fetch(populated.url + "other/")[0] == 200
    assert time.monotonic() - started >= 0.4


def test_fault_corrupt_breaks_the_hash_not_the_size(populated: PackageIndex) -> None:
    name = "other-2.0-py3-none-any.whl"
    good = (populated.files_dir / name).read_bytes()
    populated.fault(f"/files/{name}", "corrupt")
    _, headers, body = fetch(populated.files_url(name))
    assert len(body) == len(good) == int(headers["Content-Length"])
    assert sha256(body) != sha256(good)
    assert sha256(fetch(populated.files_url(name))[2]) == sha256(good)


def test_basic_auth(tmp_path: Path) -> None:
    with PackageIndex(tmp_path / "idx", auth=("alice", "s3cr:t")) as index:
        index.add_spec(WheelSpec("secret", "1.0"))
        assert index.url.startswith("http://alice:s3cr%3At@127.0.0.1:")
        with pytest.raises(HTTPError) as info:
            fetch(index.plain_url + "secret/")
        assert info.value.code == 401
        assert info.value.headers["WWW-Authenticate"].startswith("Basic ")
        info.value.close()
        token = base64.b64encode(b"alice:s3cr:t").decode()
        status, _, _ = fetch(index.plain_url + "secret/", {"Authorization": f"Basic {token}"})
        assert status == 200
        assert [r.status for r in index.requests] == [401, 200]


def test_pip_accepts_the_index(populated: PackageIndex, tmp_path: Path) -> None:
    dest = tmp_path / "downloaded"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
         "--no-cache-dir", "--index-url", populated.url, "--dest", str(dest), "demo-pkg==1.0"],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [downloaded] = dest.iterdir()
    assert downloaded.name == "demo_pkg-1.0-py3-none-any.whl"
    assert downloaded.read_bytes() == (populated.files_dir / downloaded.name).read_bytes()
    page_requests = [r for r in populated.requests if r.path == "/simple/demo-pkg/"]
    assert page_requests, populated.requests
    assert JSON_V1 in page_requests[0].headers.get("Accept", "")


# -- the on-disk views --------------------------------------------------------------------


def test_file_index_and_find_links_hold_the_same_files(populated: PackageIndex) -> None:
    in_find_links = {p.name: sha256(p.read_bytes()) for p in populated.find_links.iterdir()}
    static_root = Path(urlsplit(populated.file_url).path)
    projects = parse_anchors((static_root / "index.html").read_bytes())
    assert [a["href"] for a in projects] == ["demo-pkg/", "other/"]
    in_file_index: dict[str, str] = {}
    for project in projects:
        page_path = static_root / (project["href"] or "") / "index.html"
        for anchor in parse_anchors(page_path.read_bytes()):
            href, _, fragment = (anchor["href"] or "").partition("#sha256=")
            target = (page_path.parent / href).resolve()
            in_file_index[target.name] = sha256(target.read_bytes())
            assert fragment == in_file_index[target.name]
            if "data-core-metadata" in anchor:
                # file:// clients fetch <url>.metadata exactly as they would over HTTP.
                assert Path(f"{target}.metadata").is_file()
    assert in_file_index == in_find_links
    assert len(in_find_links) == 6


# -- bases --------------------------------------------------------------------------------


def test_venv_base_installs_a_factory_wheel(make_base: MakeBase, make_wheel: MakeWheel) -> None:
    wheel = make_wheel(
        name="hello-tool",
        version="3.1.4",
        entry_points={"console_scripts": {"hello-tool": "hello_tool:main"}},
    )
    base = make_base("venv", wheels=[wheel])
    assert (base.prefix / "pyvenv.cfg").is_file()
    proc = base.run("import hello_tool, sys; print(hello_tool.__version__, sys.prefix)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3.1.4", str(base.prefix)]
    script = base.prefix / "bin" / "hello-tool"
    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith(f"#!{base.python}")
    out = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert out.stdout == "hello-tool 3.1.4\n"
    dist_info = base.site_packages() / "hello_tool-3.1.4.dist-info"
    assert (dist_info / "INSTALLER").read_text() == "harness"
    assert base.site_packages().is_relative_to(base.prefix)


def test_conda_base_is_a_real_prefix(make_base: MakeBase, make_wheel: MakeWheel) -> None:
    base = make_base("conda", wheels=[make_wheel(name="numpyish", version="1.25.2")])
    assert not (base.prefix / "pyvenv.cfg").exists()
    proc = base.run(
        "import sys, numpyish; print(sys.prefix); print(sys.base_prefix); "
        "print(numpyish.__version__); print(numpyish.__file__)"
    )
    assert proc.returncode == 0, proc.stderr
    prefix, base_prefix, version, module_file = proc.stdout.splitlines()
    assert prefix == base_prefix == str(base.prefix)
    assert version == "1.25.2"
    assert Path(module_file).is_relative_to(base.site_packages())
    assert base.site_packages() == base.prefix / "lib" / f"python{base.version}" / "site-packages"
    assert not base.site_packages().is_symlink()
    record = json.loads((base.prefix / "conda-meta" / "numpyish-1.25.2-py_0.json").read_text())
    assert record["name"] == "numpyish"
    assert record["version"] == "1.25.2"
    assert f"lib/python{base.version}/site-packages/numpyish/__init__.py" in record["files"]
    assert "numpyish-1.25.2-py_0" in (base.prefix / "conda-meta" / "history").read_text()


def test_checksum_tracks_every_change(make_base: MakeBase, make_wheel: MakeWheel) -> None:
    base = make_base("venv", wheels=[make_wheel(name="steady", version="1.0")])
    before = base.checksum()
    # Using the base (importing from it) must not count as changing it.
    assert base.run("import steady").returncode == 0
    assert base.checksum() == before == tree_checksum(base.prefix)

    module = base.site_packages() / "steady" / "__init__.py"
    original = module.read_bytes()
    module.write_bytes(original.replace(b"1.0", b"1.1"))
    assert base.checksum() != before
    module.write_bytes(original)
    assert base.checksum() == before

    mode = stat.S_IMODE(module.stat().st_mode)
    module.chmod(mode | stat.S_IXUSR)
    assert base.checksum() != before
    module.chmod(mode)

    extra = base.site_packages() / "stray.pth"
    extra.write_text("")
    assert base.checksum() != before
    extra.unlink()
    (base.prefix / "link").symlink_to("bin")
    assert base.checksum() != before
    (base.prefix / "link").unlink()
    assert base.checksum() == before

    base.make_readonly()
    assert not module.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not base.site_packages().stat().st_mode & stat.S_IWUSR
    base.make_writable()
    assert base.checksum() == before


def test_other_pythons_are_other_minor_versions(make_base: MakeBase) -> None:
    found = other_pythons()
    running = "{}.{}".format(*sys.version_info[:2])
    assert running not in found
    for version in found:
        assert tuple(int(x) for x in version.split(".")) >= (3, 7)
    if not found:
        pytest.skip("no other Python minor version on this machine")
    version, python = next(iter(found.items()))
    base = make_base("venv", python=python)
    assert base.version == version
    assert base.run("import sys; print(sys.prefix)").stdout.strip() == str(base.prefix)


# -- isolation ----------------------------------------------------------------------------


def test_network_guard_refuses_non_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        with pytest.raises(NetworkGuardError):
            sock.connect(("10.255.255.1", 80))
        with pytest.raises(NetworkGuardError):
            sock.connect_ex(("10.255.255.1", 80))
        # An unroutable address would hang until the timeout; the guard answers at once.
        assert time.monotonic() - started < 1.0
    with pytest.raises(NetworkGuardError):
        socket.create_connection(("example.com", 443), timeout=5)
    with pytest.raises(NetworkGuardError):
        urlopen("http://10.255.255.1/simple/", timeout=5)


def test_network_guard_allows_loopback(index: PackageIndex) -> None:
    with socket.create_connection(("127.0.0.1", index.port), timeout=5):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect(("localhost", index.port))


def test_environment_is_isolated(tmp_path: Path) -> None:
    leaked = [k for k in os.environ if k.startswith(("PIP_", "UV_")) and k != "PIP_NO_INPUT"]
    assert sorted(leaked) == ["PIP_CONFIG_FILE", "PIP_DISABLE_PIP_VERSION_CHECK"]
    assert os.environ["PIP_CONFIG_FILE"] == os.devnull
    assert "PYTHONPATH" not in os.environ
    assert "VIRTUAL_ENV" not in os.environ
    assert not [k for k in os.environ if k.lower().endswith("_proxy") and k.lower() != "no_proxy"]
    assert Path(os.environ["OVERLOCK_CACHE_DIR"]).is_relative_to(tmp_path)


def test_make_wheel_accepts_spec_or_keywords(make_wheel: MakeWheel, wheel_dir: Path) -> None:
    by_spec = make_wheel(WheelSpec("same", "1.0"))
    by_kwargs: Callable[..., Path] = make_wheel
    assert by_kwargs(name="same", version="1.0") == by_spec
    assert by_spec.parent == wheel_dir
    assert (
        by_spec.read_bytes() == build_wheel(WheelSpec("same", "1.0"), wheel_dir / "x").read_bytes()
    )


# -- the forwarding proxy's CONNECT tunnels ---------------------------------------------------


def _open_tunnel(
    proxy: ForwardingProxy, target: str, *, auth: str | None = None, then: bytes = b""
) -> tuple[socket.socket, bytes]:
    """CONNECT ``target`` through ``proxy`` (``then``: bytes sent in the same packet, before
    the answer); the socket and the proxy's answer head."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=60)
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if auth is not None:
        head += f"Proxy-Authorization: {auth}\r\n"
    sock.sendall(head.encode() + b"\r\n" + then)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return sock, answer


def _until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_proxy_tunnels_bytes_both_ways_until_a_side_closes(populated: PackageIndex) -> None:
    target = f"127.0.0.1:{populated.port}"
    # The request inside the tunnel leaves with the CONNECT, before its answer: the proxy
    # must relay what it read past the CONNECT's head too.
    inner = b"GET /simple/ HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    with ForwardingProxy(auth=("u", "p")) as proxy:
        assert proxy.auth_header is not None
        sock, answer = _open_tunnel(proxy, target, auth=proxy.auth_header, then=inner)
        with sock:
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            rest = answer.split(b"\r\n\r\n", 1)[1] + _until_closed(sock)
    # The index's answer came back whole, and its close (Connection: close) ended the tunnel.
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]
    assert b"demo-pkg" in rest
    [connect] = proxy.requests
    assert (connect.method, connect.url, connect.status) == ("CONNECT", target, 200)
    assert connect.proxy_authorization == proxy.auth_header
    [seen] = populated.requests
    assert (seen.path, seen.client_port) == ("/simple/", connect.tunnel_port)


def test_proxy_refuses_a_connect_without_its_credentials_or_off_loopback(
    populated: PackageIndex,
) -> None:
    with ForwardingProxy(auth=("u", "p")) as proxy:
        assert proxy.auth_header is not None
        refused = []
        for target, auth in [
            (f"127.0.0.1:{populated.port}", None),
            (f"127.0.0.1:{populated.port}", "Basic d3Jvbmc6d3Jvbmc="),
            ("example.org:443", proxy.auth_header),
            (f"127.0.0.2:{populated.port}", proxy.auth_header),
            ("127.0.0.1:http", proxy.auth_header),
        ]:
            sock, answer = _open_tunnel(proxy, target, auth=auth)
            with sock:
                refused.append(answer.split(b"\r\n", 1)[0])
                if answer.startswith(b"HTTP/1.1 407"):
                    assert b"Proxy-Authenticate: Basic" in answer
    assert [line.split()[1] for line in refused] == [b"407", b"407", b"403", b"403", b"403"]
    assert [r.status for r in proxy.requests] == [407, 407, 403, 403, 403]
    assert populated.requests == []


def test_proxy_exit_ends_a_tunnel_left_open(populated: PackageIndex) -> None:
    with ForwardingProxy() as proxy:
        sock, answer = _open_tunnel(proxy, f"127.0.0.1:{populated.port}")
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    # An idle tunnel (a client's pooled connection) does not outlive the proxy: the client
    # sees the end at once, not when its socket times out.
    with sock:
        assert _until_closed(sock) == b""


def test_https_index_shakes_hands_on_each_connection_in_its_own_thread(
    tls_certificate: Certificate, tmp_path: Path
) -> None:
    """A connection whose client has not sent its hello yet (one a proxy opened on CONNECT,
    its client busy with another handshake) holds up no other connection's handshake."""
    client = ssl.create_default_context(cafile=str(tls_certificate.cert))
    index = PackageIndex(tmp_path / "idx", tls=tls_certificate.server_context())
    # The first connection stays silent while a second one is made and used.
    with (
        index,
        socket.create_connection(("127.0.0.1", index.port), timeout=60),
        socket.create_connection(("127.0.0.1", index.port), timeout=60) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert index.count("/simple/") == 1
