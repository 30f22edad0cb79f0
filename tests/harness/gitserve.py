"""git repositories served over HTTP on 127.0.0.1 (git's "dumb" protocol), optionally
behind basic auth.

The dumb protocol is plain files: a bare repository with ``git update-server-info`` run in
it, served by any static file server. That is enough for ``git ls-remote``, ``git fetch``
and ``git clone``, so a test can reach a repository by ``http://user:password@host/`` the
way users reach private forges, with no git daemon and nothing beyond loopback.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .sources import git


class _Handler(SimpleHTTPRequestHandler):
    auth_header: str | None = None
    seen: list[str]  # the Authorization header of every request ("" for none)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _authorized(self) -> bool:
        got = self.headers.get("Authorization") or ""
        self.seen.append(got)
        if self.auth_header is None or got == self.auth_header:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="overlock-test-git"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()


class GitServer:
    """Bare mirrors of local repositories, served read-only at ``url_for(name)``."""

    def __init__(self, root: Path, *, auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.auth = auth
        root.mkdir(parents=True, exist_ok=True)
        header = None
        if auth is not None:
            header = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.seen: list[str] = []
        handler = type(
            "Handler",
            (_Handler,),
            {"auth_header": header, "seen": self.seen, "directory": str(root)},
        )
        # SimpleHTTPRequestHandler takes its directory as a constructor argument.
        factory: Any = lambda *a, **kw: handler(*a, directory=str(root), **kw)  # noqa: E731
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), factory)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def publish(self, repo: Path, name: str) -> None:
        """(Re)publish ``repo`` as ``name``: a bare copy with the dumb-protocol index files."""
        bare = self.root / name
        if bare.exists():
            shutil.rmtree(bare)
        git(self.root, "clone", "--quiet", "--bare", str(repo), str(bare))
        git(bare, "update-server-info")

    def url_for(self, name: str, *, credentials: bool = True) -> str:
        host = f"127.0.0.1:{self._server.server_address[1]}"
        if credentials and self.auth is not None:
            user, password = (quote(p, safe="") for p in self.auth)
            host = f"{user}:{password}@{host}"
        return f"http://{host}/{name}"

    def __enter__(self) -> GitServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serve_git(root: Path, *, auth: tuple[str, str] | None = None) -> Iterator[GitServer]:
    with GitServer(root, auth=auth) as server:
        yield server
