"""A real package index served on 127.0.0.1, plus the same content as files on disk.

One ``PackageIndex`` offers three views of the same distributions:

* ``url``: an HTTP simple index (PEP 503 HTML and PEP 691 JSON by content negotiation,
  PEP 658/714 ``.metadata`` files, Range requests, optional basic auth, injectable faults);
* ``file_url``: a static PEP 503 HTML tree on disk, rewritten on every ``add``;
* ``find_links``: a flat directory holding every distribution file.

Fault kinds (``fault(pattern, kind)``), each consumed by one matching request:

* ``"500"``: answer HTTP 500 with a short body;
* ``"drop"``: close the connection without sending a status line;
* ``"slow"``: sleep ``delay`` seconds, then answer normally;
* ``"corrupt"``: answer normally except that one byte in the middle of the body actually sent
  is inverted. Status, headers and ``Content-Length`` are unchanged, so only a hash check can
  notice (for a Range request the inverted byte lies inside the requested range);
* ``"trickle"``: answer normally, but send the body one byte every ``delay`` seconds;
* ``"slow-headers"``: send a status line and headers one byte every ``delay`` seconds and
  never finish them (a header value that goes on until the client hangs up or the index
  stops): every read the client makes gets a byte before any per-read timeout;
* ``"endless"``: answer 200 without ``Content-Length``, send the body and then zero bytes
  until the client hangs up (at most ``ENDLESS_CAP`` bytes, so a client with no bound still
  ends, with the wrong bytes).
* ``"truncate"``: answer normally with the full ``Content-Length``, send the first half of
  the body, then close the connection (a download cut off midway).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import html
import json
import os
import shutil
import socket
import ssl
import sys
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .wheels import WheelSpec, build_wheel

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
# Order is the tie-break: JSON wins when the client accepts several formats equally.
_OFFERED = (JSON_V1, HTML_V1, TEXT_HTML)
FAULT_KINDS = frozenset(
    {"500", "drop", "slow", "corrupt", "trickle", "slow-headers", "endless", "truncate"}
)
ENDLESS_CAP = 256 * 1024 * 1024


class RequestRecord(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    status: int  # 0 when the connection was dropped without an answer
    client_port: int = 0  # the port the request came from (a proxy's tunnel, say)


@dataclass
class IndexFile:
    filename: str
    project: NormalizedName
    version: str
    sha256: str
    size: int
    requires_python: str | None
    yanked: str | None
    metadata: bytes | None  # the PEP 658 file's bytes, None when not offered

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


@dataclass
class _Fault:
    pattern: str
    kind: str
    remaining: int
    delay: float


@dataclass
class _Gate:
    """Requests for the first ``parties`` distinct paths matching ``pattern`` are answered
    only once all of them have arrived. If they never do (a client that asks one at a time),
    the gate is marked broken: when the client retries a held path, or after ``timeout``
    seconds. A test of concurrency that does not depend on timing when the client is
    concurrent."""

    pattern: str
    barrier: threading.Barrier
    remaining: int
    broken: bool = False
    seen: set[str] = field(default_factory=set)


@dataclass
class _State:
    files_dir: Path
    auth_header: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    files: dict[str, IndexFile] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    raw: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, type)
    requests: list[RequestRecord] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Cache-Control sent with every index page (None: none, as before); PyPI sends
    # "max-age=600". Pages always carry an ETag and answer If-None-Match with a 304.
    page_cache_control: str | None = None
    gates: list[_Gate] = field(default_factory=list)

    def pass_gate(self, path: str) -> None:
        with self.lock:
            gate = next((g for g in self.gates if fnmatch.fnmatchcase(path, g.pattern)), None)
            if gate is None or gate.remaining <= 0:
                return
            if path in gate.seen:
                # Asked again while held: the client gave up waiting and retried, so the
                # requests were not in flight together.
                gate.broken = True
                return
            gate.seen.add(path)
            gate.remaining -= 1
        try:
            gate.barrier.wait()
        except threading.BrokenBarrierError:
            gate.broken = True

    def take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fnmatch.fnmatchcase(path, fault.pattern):
                    fault.remaining -= 1
                    return fault
        return None

    def projects(self) -> dict[NormalizedName, list[IndexFile]]:
        with self.lock:
            out: dict[NormalizedName, list[IndexFile]] = {}
            for entry in sorted(self.files.values(), key=lambda f: f.filename):
                out.setdefault(entry.project, []).append(entry)
            return dict(sorted(out.items()))


def _read_core_metadata(path: Path) -> bytes | None:
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                    return archive.read(name)
        raise ValueError(f"{path.name}: no .dist-info/METADATA")
    return None


def _parse_accept(header: str | None) -> str | None:
    """The offered media type the client prefers, or None when it accepts none of them."""
    if not header:
        # urllib and curl send no Accept by default; HTML is the format every client reads.
        return TEXT_HTML
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))

    def quality(offered: str) -> tuple[float, int]:
        kind = offered.split("/")[0]
        best: tuple[int, float] | None = None  # (specificity, q)
        for media, q in ranges:
            if media == offered:
                spec = 2
            elif media == f"{kind}/*":
                spec = 1
            elif media == "*/*":
                spec = 0
            else:
                continue
            if best is None or spec > best[0]:
                best = (spec, q)
        return (0.0, -1) if best is None else (best[1], best[0])

    scored = [(quality(o), -i, o) for i, o in enumerate(_OFFERED)]
    (q, _spec), _, chosen = max(scored)
    return chosen if q > 0 else None


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive; None to ignore the header; "unsatisfiable" for 416."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # multipart ranges are optional for servers: answer with the whole file
    first_text, sep, last_text = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if not first_text:
            length = int(last_text)
            if length <= 0:
                return "unsatisfiable"
            return (max(size - length, 0), size - 1)
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return "unsatisfiable"
    return (first, min(last, size - 1))


def _corrupt(body: bytes) -> bytes:
    if not body:
        return body
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


def _html_page(title: str, anchors: list[str]) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta name="pypi:repository-version" content="1.1">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        + "".join(f"{a}<br>\n" for a in anchors)
        + "</body>\n</html>\n"
    ).encode()


def _file_anchor(entry: IndexFile, href_prefix: str) -> str:
    href = f"{href_prefix}{quote(entry.filename)}#sha256={entry.sha256}"
    attrs = [f'href="{html.escape(href)}"']
    if entry.requires_python is not None:
        attrs.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
    if entry.yanked is not None:
        attrs.append(f'data-yanked="{html.escape(entry.yanked)}"')
    if entry.metadata_sha256 is not None:
        attrs.append(f'data-core-metadata="sha256={entry.metadata_sha256}"')
        attrs.append(f'data-dist-info-metadata="sha256={entry.metadata_sha256}"')
    return f"<a {' '.join(attrs)}>{html.escape(entry.filename)}</a>"


def project_html(name: str, entries: list[IndexFile], href_prefix: str) -> bytes:
    return _html_page(f"Links for {name}", [_file_anchor(e, href_prefix) for e in entries])


def root_html(projects: list[NormalizedName]) -> bytes:
    return _html_page(
        "Simple index", [f'<a href="{quote(p)}/">{html.escape(p)}</a>' for p in projects]
    )


def project_json(name: str, entries: list[IndexFile], href_prefix: str) -> bytes:
    files: list[dict[str, Any]] = []
    for e in entries:
        metadata: dict[str, str] | bool = (
            {"sha256": e.metadata_sha256} if e.metadata_sha256 is not None else False
        )
        # PEP 691: a yank without a reason is `true`, with a reason the reason string.
        yanked: str | bool = False if e.yanked is None else (e.yanked or True)
        files.append(
            {
                "filename": e.filename,
                "url": f"{href_prefix}{quote(e.filename)}",
                "hashes": {"sha256": e.sha256},
                "requires-python": e.requires_python,
                "yanked": yanked,
                "size": e.size,
                "core-metadata": metadata,
                "data-dist-info-metadata": metadata,
            }
        )
    versions = sorted({e.version for e in entries})
    doc = {"meta": {"api-version": "1.1"}, "name": name, "versions": versions, "files": files}
    return json.dumps(doc, indent=1).encode()


def root_json(projects: list[NormalizedName]) -> bytes:
    doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}
    return json.dumps(doc, indent=1).encode()


class _Dropped(Exception):
    """Raised inside the handler to end a request without an answer."""


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients reuse connections as they do against real indexes.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, every answer on a
    # reused connection then waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "overlock-test-index"
    state: _State  # set on the per-index subclass
    _recorded = False
    _fault: _Fault | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is self.state.requests; stderr noise helps nobody

    def setup(self) -> None:
        # An https:// index shakes hands here, in the connection's own thread, as real
        # servers do: in the accept loop, a client slow to send its hello on one connection
        # would hold up the handshakes of all the others (a client that handshakes one
        # connection at a time, behind a proxy that opened them all, waits for ever).
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _handle(self, *, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self._recorded = False
        fault = self.state.take_fault(path)
        self._fault = fault
        self.state.pass_gate(path)
        try:
            if fault is not None and fault.kind == "drop":
                raise _Dropped
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "slow-headers":
                self._record(200)
                self._endless_head(fault.delay)
                return
            if fault is not None and fault.kind == "500":
                self._send(500, b"injected fault\n", "text/plain", send_body=send_body)
            elif not self._authorized():
                self._send(
                    401,
                    b"authentication required\n",
                    "text/plain",
                    send_body=send_body,
                    extra={"WWW-Authenticate": 'Basic realm="overlock-test"'},
                )
            else:
                corrupt = fault is not None and fault.kind == "corrupt"
                self._route(path, send_body=send_body, corrupt=corrupt)
        except _Dropped:
            self._record(0)
            self.close_connection = True
            # shutdown (not just close) so the client sees EOF at once even while this
            # thread still holds the socket object.
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        finally:
            self._record(0)  # only if nothing was recorded: the handler itself failed

    def _endless_head(self, delay: float) -> None:
        self.close_connection = True
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Never-Ends: "
        sent = 0
        while not self.state.stopping.is_set():
            try:
                self.wfile.write(head[sent : sent + 1] or b"a")
                self.wfile.flush()
            except OSError:
                return  # the client hung up
            sent += 1
            self.state.stopping.wait(delay)

    def _record(self, status: int) -> None:
        # Called before the answer leaves (headers are buffered until end_headers), so a
        # client that has its answer always finds its request in the log.
        if self._recorded:
            return
        self._recorded = True
        record = RequestRecord(
            self.command, self.path, dict(self.headers.items()), status, self.client_address[1]
        )
        with self.state.lock:
            self.state.requests.append(record)

    def _authorized(self) -> bool:
        expected = self.state.auth_header
        return expected is None or self.headers.get("Authorization") == expected

    def _route(self, path: str, *, send_body: bool, corrupt: bool) -> int:
        with self.state.lock:
            raw = self.state.raw.get(path)
        if raw is not None:
            return self._send(200, raw[0], raw[1], send_body=send_body)
        parts = path.split("/")
        if path in ("/simple", "/simple/"):
            return self._index_page(None, send_body=send_body, corrupt=corrupt)
        if (
            parts[1:2] == ["simple"]
            and 3 <= len(parts) <= 4
            and parts[2]
            and (len(parts) == 3 or parts[3] == "")
        ):
            return self._index_page(parts[2], send_body=send_body, corrupt=corrupt)
        if len(parts) == 3 and parts[1] == "files":
            return self._file(parts[2], send_body=send_body, corrupt=corrupt)
        return self._send(404, b"not found\n", "text/plain", send_body=send_body)

    def _index_page(self, project: str | None, *, send_body: bool, corrupt: bool) -> int:
        chosen = _parse_accept(self.headers.get("Accept"))
        if chosen is None:
            return self._send(406, b"not acceptable\n", "text/plain", send_body=send_body)
        projects = self.state.projects()
        if project is None:
            names = list(projects)
            body = root_json(names) if chosen == JSON_V1 else root_html(names)
        else:
            normalized = canonicalize_name(project)
            if normalized != project or not self.path.split("?")[0].endswith("/"):
                # PEP 503: redirect to the normalized name; clients follow it.
                return self._send(
                    301,
                    b"",
                    "text/plain",
                    send_body=send_body,
                    extra={"Location": f"/simple/{normalized}/"},
                )
            if normalized not in projects:
                return self._send(404, b"no such project\n", "text/plain", send_body=send_body)
            entries = projects[normalized]
            prefix = "../../files/"
            body = (
                project_json(normalized, entries, prefix)
                if chosen == JSON_V1
                else project_html(normalized, entries, prefix)
            )
        extra = {"Vary": "Accept", "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}
        if self.state.page_cache_control is not None:
            extra["Cache-Control"] = self.state.page_cache_control
        if self.headers.get("If-None-Match") == extra["ETag"] and not corrupt:
            return self._send(304, b"", chosen, send_body=False, extra=extra)
        if corrupt:
            body = _corrupt(body)
        return self._send(200, body, chosen, send_body=send_body, extra=extra)

    def _file(self, filename: str, *, send_body: bool, corrupt: bool) -> int:
        with self.state.lock:
            if filename.endswith(".metadata"):
                entry = self.state.files.get(filename[: -len(".metadata")])
                data = None if entry is None else entry.metadata
            else:
                entry = self.state.files.get(filename)
                data = None
        if entry is None or (filename.endswith(".metadata") and data is None):
            return self._send(404, b"not found\n", "text/plain", send_body=send_body)
        if data is None:
            data = (self.state.files_dir / filename).read_bytes()
        content_type = (
            "text/plain" if filename.endswith(".metadata") else "application/octet-stream"
        )
        extra = {"Accept-Ranges": "bytes", "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
        range_header = self.headers.get("Range")
        endless = self._fault is not None and self._fault.kind == "endless"
        wanted = _parse_range(range_header, len(data)) if range_header and not endless else None
        if wanted == "unsatisfiable":
            extra["Content-Range"] = f"bytes */{len(data)}"
            return self._send(416, b"", "text/plain", send_body=send_body, extra=extra)
        if isinstance(wanted, tuple):
            first, last = wanted
            body = data[first : last + 1]
            extra["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            status = 206
        else:
            body = data
            status = 200
        if corrupt:
            body = _corrupt(body)
        return self._send(status, body, content_type, send_body=send_body, extra=extra)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> int:
        fault = self._fault
        kind = fault.kind if fault is not None else None
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        if kind == "endless":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self._record(status)
        self.end_headers()
        if not send_body:
            return status
        if kind == "trickle":
            assert fault is not None
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(fault.delay)
        elif kind == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif kind == "endless":
            self.wfile.write(body)
            zeros = bytes(1024 * 1024)
            sent = len(body)
            while sent < ENDLESS_CAP:
                self.wfile.write(zeros)
                sent += len(zeros)
        else:
            self.wfile.write(body)
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is normal in fault tests; anything else is a bug
        # in the harness and should be loud.
        exc = sys.exc_info()[1]
        # ssl.SSLError: a client that refused the certificate (or hung up mid-handshake).
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class PackageIndex:
    def __init__(
        self,
        root: Path,
        *,
        auth: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.root = root
        self.auth = auth
        self.tls = tls  # a server context: the index speaks HTTPS
        self.files_dir = root / "files"
        self.find_links = root / "find-links"
        self.static_dir = root / "simple"
        for directory in (self.files_dir, self.find_links, self.static_dir):
            directory.mkdir(parents=True, exist_ok=True)
        auth_header = None
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            auth_header = f"Basic {token}"
        self._state = _State(files_dir=self.files_dir, auth_header=auth_header)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._write_static()

    # -- content ------------------------------------------------------------------------

    def add(self, path: Path, *, yanked: str | None = None, metadata: bool = True) -> Path:
        target = self._add_file(path, yanked=yanked, metadata=metadata)
        self._write_static()
        return target

    def add_many(self, paths: Iterable[Path], *, metadata: bool = True) -> list[Path]:
        """``add`` for many files, the static pages written once at the end (not per file)."""
        targets = [self._add_file(path, yanked=None, metadata=metadata) for path in paths]
        self._write_static()
        return targets

    def _add_file(self, path: Path, *, yanked: str | None, metadata: bool) -> Path:
        filename = path.name
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            raise ValueError(f"not a distribution file name: {filename}")
        target = self.files_dir / filename
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        link = self.find_links / filename
        link.unlink(missing_ok=True)
        try:
            os.link(target, link)
        except OSError:
            shutil.copyfile(target, link)
        data = target.read_bytes()
        core = _read_core_metadata(target)
        requires_python = None
        if core is not None:
            requires_python = HeaderParser().parsestr(core.decode("utf-8")).get("Requires-Python")
        entry = IndexFile(
            filename=filename,
            project=name,
            version=str(version),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            requires_python=requires_python,
            yanked=yanked,
            # Only wheels: PEP 658 metadata for sdists is only trusted from Metadata 2.2 on.
            metadata=core if metadata else None,
        )
        metadata_file = self.files_dir / f"{filename}.metadata"
        if entry.metadata is not None:
            metadata_file.write_bytes(entry.metadata)
        else:
            metadata_file.unlink(missing_ok=True)
        with self._state.lock:
            self._state.files[filename] = entry
        return target

    def add_spec(self, spec: WheelSpec, **kw: Any) -> Path:
        built = build_wheel(spec, self.root / "built")
        return self.add(built, **kw)

    def entries(self) -> list[IndexFile]:
        with self._state.lock:
            return sorted(self._state.files.values(), key=lambda f: f.filename)

    def _write_static(self) -> None:
        projects = self._state.projects()
        # Rewrite the whole tree so a project that lost its last file disappears too.
        for child in self.static_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
        (self.static_dir / "index.html").write_bytes(root_html(list(projects)))
        for name, entries in projects.items():
            page = self.static_dir / name
            page.mkdir()
            (page / "index.html").write_bytes(project_html(name, entries, "../../files/"))

    # -- serving ------------------------------------------------------------------------

    def start(self) -> PackageIndex:
        if self._server is not None:
            return self
        self._state.stopping.clear()
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._server = _Server(("127.0.0.1", 0), handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"package-index-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> PackageIndex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the index is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (https:// with ``tls``), with no credentials."""
        return f"{'http' if self.tls is None else 'https'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        if self.auth is None:
            return f"{self.base_url}/simple/"
        user, password = (quote(part, safe="") for part in self.auth)
        return self.base_url.replace("://", f"://{user}:{password}@", 1) + "/simple/"

    @property
    def plain_url(self) -> str:
        """The simple index URL without credentials, even when auth is set."""
        return f"{self.base_url}/simple/"

    @property
    def file_url(self) -> str:
        return self.static_dir.resolve().as_uri() + "/"

    def files_url(self, filename: str) -> str:
        return f"{self.base_url}/files/{quote(filename)}"

    # -- faults and the request log -----------------------------------------------------

    def fault(self, pattern: str, kind: str, *, times: int = 1, delay: float = 2.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._state.lock:
            self._state.faults.append(_Fault(pattern, kind, times, delay))

    def gate(self, pattern: str, parties: int, *, timeout: float = 60.0) -> _Gate:
        """Hold the first ``parties`` requests matching ``pattern`` until all have arrived;
        the returned gate's ``broken`` says whether they never did (within ``timeout``)."""
        gate = _Gate(pattern, threading.Barrier(parties, timeout=timeout), parties)
        with self._state.lock:
            self._state.gates.append(gate)
        return gate

    def cache_pages(self, cache_control: str | None) -> None:
        """Send ``Cache-Control: cache_control`` with every index page from now on."""
        with self._state.lock:
            self._state.page_cache_control = cache_control

    def serve_raw(self, path: str, body: bytes, content_type: str) -> None:
        """Answer GET ``path`` with exactly ``body`` (a hostile page, say) until replaced."""
        with self._state.lock:
            self._state.raw[path] = (body, content_type)

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        with self._state.lock:
            return list(self._state.requests)

    def count(self, pattern: str = "*", method: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if fnmatch.fnmatchcase(unquote(urlsplit(r.path).path), pattern)
            and (method is None or r.method == method)
        )

    def reset_log(self) -> None:
        with self._state.lock:
            self._state.requests.clear()
