"""A content-addressed cache shared by every overlay (and every process) of one user.

Layout under the root::

    metadata/<sha256>                              METADATA of the wheel with that sha256
    wheels/<sha256[:2]>/<sha256>/<filename>        the wheel itself, verified before it lands
    local-hashes/<key>                             sha256 of a local file, keyed by path+stat
    built/<key>.json                               the wheel built from <key> (build/backend.py)
    built-metadata/<key>                           METADATA a backend prepared for <key>
    git/<sha256 of the URL>                        bare mirrors of git repositories (build/git.py)
    pages/<key[:2]>/<key>                          index pages, kept as their Cache-Control
                                                   allows (index/httpcache.py names the key)
    unpacked-v1/<sha256[:2]>/<sha256>/             the wheel with that sha256, unpacked and
                                                   read-only; generations hard-link its files
                                                   (sync/store.py)
    probes/, import-scan/                          saved base probes (base/probe_cache.py) and
                                                   import scans (base/importscan.py)
    check-imports/                                 import-check verdicts (check/verdicts.py)
    sync-stamps/                                   no-op sync stamps (sync/stamp.py)
    tmp/                                           scratch directories of running processes

Nothing here removes entries: ``overlock cache prune|clean`` does (app/cachetool.py).
Entries are keyed by the *file's* hash, so they never go stale: the same hash is the same
bytes on any index. Index pages are the exception: they change, so index/httpcache.py decides
when one may be reused, and reads each back as untrusted input. Every write goes to a
temporary file in the destination directory and is then ``os.replace``d into place, so
concurrent processes only ever see complete entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from overlock.atomic import atomic_writer
from overlock.limits import read_bounded
from overlock.locations import cache_root

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024
UNPACKED_FORMAT = 1  # the layout of an unpacked-store entry (sync/store.py)
UNPACKED_DIR = f"unpacked-v{UNPACKED_FORMAT}"
SCRATCH_DIR = "tmp"


@dataclass(frozen=True)
class Kind:
    """One kind of entry and the directories (under the root) that hold it (``overlock
    cache``, app/cachetool.py)."""

    name: str
    dirs: tuple[str, ...]
    what: str
    per_directory: bool = False  # an entry is a directory below dirs, not each file


# The names are those the modules that write them use (the layout above).
KINDS = (
    Kind("wheels", ("wheels",), "downloaded and built wheels, by sha256"),
    Kind("metadata", ("metadata",), "wheel METADATA, by the wheel's sha256"),
    Kind("built", ("built", "built-metadata"), "which wheel each source build made"),
    Kind("pages", ("pages",), "index pages (reused as their Cache-Control allows)"),
    Kind("git", ("git",), "bare mirrors of git repositories", per_directory=True),
    Kind("probes", ("probes", "import-scan"), "saved probes and import scans of bases"),
    Kind("checks", ("check-imports",), "import-check verdicts of generations"),
    Kind("hashes", ("local-hashes",), "sha256 of local wheels, by path and stat"),
    Kind("stamps", ("sync-stamps",), "stamps that answer a sync with nothing to do"),
    Kind("store", (UNPACKED_DIR,), "unpacked wheels that generations hard-link"),
    Kind("scratch", (SCRATCH_DIR,), "directories of running (or killed) processes", True),
)


class TooLarge(Exception):
    """``copy_hashing`` read past its limit."""

    def __init__(self, limit: int, got: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.got = got


def copy_hashing(
    source: IO[bytes],
    dest: IO[bytes] | None = None,
    *,
    limit: int | None = None,
    on_bytes: Callable[[int], object] | None = None,
) -> tuple[str, int]:
    """sha256 (hex) and size of what ``source`` holds, written to ``dest`` on the way:
    the one loop every file overlock hashes goes through. Past ``limit`` bytes: TooLarge.
    ``on_bytes`` hears how many bytes each chunk had (progress)."""
    h = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        size += len(chunk)
        if limit is not None and size > limit:
            raise TooLarge(limit, size)
        h.update(chunk)
        if dest is not None:
            dest.write(chunk)
        if on_bytes is not None:
            on_bytes(len(chunk))
    return h.hexdigest(), size


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return copy_hashing(fh)[0]


def _check_sha(sha256: str) -> str:
    value = sha256.lower()
    if not _SHA256.match(value):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return value


def _check_filename(filename: str) -> str:
    # The name becomes a path component: refuse anything that could leave the cache.
    if not filename or filename in {".", ".."} or "/" in filename or "\\" in filename:
        raise ValueError(f"not a plain file name: {filename!r}")
    return filename


class Cache:
    """The on-disk cache at ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> Cache:
        """``$OVERLOCK_CACHE_DIR``, else ``$XDG_CACHE_HOME/overlock``, else ``~/.cache/overlock``.

        The same for every overlay of the user, so a wheel is fetched once per machine.
        """
        return cls(Path(cache_root(os.environ if environ is None else environ)))

    # -- metadata -------------------------------------------------------------------------

    def metadata_path(self, sha256: str) -> Path:
        return self.root / "metadata" / _check_sha(sha256)

    def get_metadata(self, sha256: str) -> bytes | None:
        try:
            return self.metadata_path(sha256).read_bytes()
        except OSError:
            return None

    def put_metadata(self, sha256: str, data: bytes) -> None:
        path = self.metadata_path(sha256)
        with self._atomic(path) as fh:
            fh.write(data)

    # -- wheels ---------------------------------------------------------------------------

    def wheel_path(self, sha256: str, filename: str) -> Path:
        sha = _check_sha(sha256)
        return self.root / "wheels" / sha[:2] / sha / _check_filename(filename)

    def wheel(self, sha256: str, filename: str) -> Path | None:
        """The cached file, if present.

        Presence is enough: entries only land after their hash was checked, under their hash.
        """
        path = self.wheel_path(sha256, filename)
        return path if path.is_file() else None

    def put_wheel(self, sha256: str, filename: str, src: Path) -> Path:
        """Copy ``src`` into the cache after checking it hashes to ``sha256``.

        Raises ``ValueError`` when it does not; the caller turns that into a user error.
        """
        dest = self.wheel_path(sha256, filename)
        with self._atomic(dest) as fh, open(src, "rb") as source:
            digest, _size = copy_hashing(source, fh)
            if digest != _check_sha(sha256):
                raise ValueError(f"{src} has sha256 {digest}, expected {sha256}")
        return dest

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private directory on the cache's file system, removed afterwards.

        Downloads go here first, so that moving them into place is a rename, not a copy.
        """
        tmp_root = self.root / SCRATCH_DIR
        tmp_root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=tmp_root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def adopt_wheel(self, sha256: str, filename: str, src: Path) -> Path:
        """Move an already verified ``src`` (on the same file system) into place."""
        dest = self.wheel_path(sha256, filename)
        dest.parent.mkdir(parents=True, exist_ok=True)
        Path(src).replace(dest)
        return dest

    # -- hashes of local files --------------------------------------------------------------

    def local_hash(self, path: Path) -> str:
        """sha256 of a local file, remembered by path, size and mtime.

        find-links directories often hold large wheels with no hash on any page; hashing them
        again on every lock would make a warm lock slow.
        """
        st = path.stat()
        key_text = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
        key = hashlib.sha256(key_text.encode("utf-8", "surrogateescape")).hexdigest()
        entry = self.root / "local-hashes" / key
        try:
            known = entry.read_text(encoding="ascii").strip()
        except OSError:
            known = ""
        if _SHA256.match(known):
            return known
        digest = sha256_file(path)
        with contextlib.suppress(OSError), self._atomic(entry) as fh:
            fh.write(digest.encode("ascii"))
        return digest

    # -- built wheels and prepared metadata --------------------------------------------------
    #
    # Keyed by what was built (a source tree's hash, an sdist's sha256, a git commit) and for
    # which base (see build.build_key): the same key always names the same wheel, so an entry
    # never goes stale. The wheel itself lives in the content-addressed wheel store.

    def built_wheel(self, key: str) -> Path | None:
        """The wheel a build of ``key`` produced earlier, if it is still in the store."""
        try:
            data = json.loads((self.root / "built" / f"{_check_sha(key)}.json").read_text("utf-8"))
            path = self.wheel(str(data["sha256"]), str(data["filename"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return path

    def put_built_wheel(self, key: str, src: Path) -> Path:
        """Store a freshly built wheel and remember it as the result of ``key``."""
        sha = sha256_file(src)
        path = self.put_wheel(sha, src.name, src)
        entry = self.root / "built" / f"{_check_sha(key)}.json"
        with self._atomic(entry) as fh:
            fh.write(json.dumps({"sha256": sha, "filename": src.name}).encode("utf-8"))
        return path

    def built_metadata(self, key: str) -> bytes | None:
        try:
            return (self.root / "built-metadata" / _check_sha(key)).read_bytes()
        except OSError:
            return None

    def put_built_metadata(self, key: str, data: bytes) -> None:
        with self._atomic(self.root / "built-metadata" / _check_sha(key)) as fh:
            fh.write(data)

    # -- index pages (see index/httpcache.py) -----------------------------------------------

    def page_path(self, key: str) -> Path:
        key = _check_sha(key)
        return self.root / "pages" / key[:2] / key

    def get_page(self, key: str, limit: int) -> bytes | None:
        """The entry filed under ``key``, unless missing, unreadable or over ``limit`` bytes."""
        try:
            return read_bounded(self.page_path(key), limit)
        except OSError:
            return None

    def put_page(self, key: str, data: bytes) -> None:
        with contextlib.suppress(OSError), self._atomic(self.page_path(key)) as fh:
            fh.write(data)  # a cache that cannot be written only costs requests

    def drop_page(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.page_path(key).unlink()

    def unpacked_root(self) -> Path:
        """The unpacked store (sync/store.py), one format version per directory.

        Keyed by the wheel's sha256 alone: an entry holds the archive's members as they
        are, nothing that depends on a base or a prefix, so every overlay shares it.
        """
        return self.root / UNPACKED_DIR

    def git_dir(self, url: str) -> Path:
        """Where the bare mirror of the git repository at ``url`` lives."""
        return self.root / "git" / hashlib.sha256(url.encode("utf-8")).hexdigest()

    # -- helpers --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _atomic(self, dest: Path) -> Iterator[IO[bytes]]:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(dest) as fh:
            yield fh
