"""Read a remote wheel's METADATA with HTTP range requests, not a whole download.

Some mirrors and proxies serve plain index pages without PEP 658 ``.metadata`` files. A
wheel is a zip whose directory sits at its end, so the tail of the file (one request) names
every member and where it starts, and one more request fetches ``*.dist-info/METADATA``.
Wheels of hundreds of megabytes (torch, tensorflow) then cost two small requests.

I/O is injected (``RangeFetch``) so the caller owns the HTTP client, retries and counting.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from overlock.dists.metadata import BadWheel, metadata_member

TAIL = 64 * 1024  # one request holds the zip directory of nearly every wheel
MIN_FETCH = 16 * 1024  # avoid a request per zipfile header read on a cache miss

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class RangeResponse:
    status: int
    content_range: str | None
    body: bytes


# Called with the value of a ``Range`` header; must return the body only on 206 (a server
# that answers 200 ignored the range, and reading its body would be the full download).
RangeFetch = Callable[[str], RangeResponse]


class RangeNotSupported(Exception):
    """The server does not honour range requests; the caller downloads the whole file."""


class HTTPRangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches only the bytes read."""

    def __init__(self, fetch: RangeFetch, *, tail: int = TAIL) -> None:
        super().__init__()
        self._fetch = fetch
        self._chunks: list[tuple[int, bytes]] = []
        self._pos = 0
        self.requests = 0
        start, data, total = self._get(f"bytes=-{tail}")
        self.size = total
        self._chunks.append((start, data))

    def _get(self, range_value: str) -> tuple[int, bytes, int]:
        self.requests += 1
        resp = self._fetch(range_value)
        if resp.status != 206 or not resp.content_range:
            raise RangeNotSupported(f"HTTP {resp.status} to a range request")
        m = _CONTENT_RANGE.match(resp.content_range)
        if m is None or m.group(3) == "*":
            raise RangeNotSupported(f"unusable Content-Range {resp.content_range!r}")
        start, end = int(m.group(1)), int(m.group(2))
        if len(resp.body) != end - start + 1:
            raise RangeNotSupported("range response length does not match Content-Range")
        return start, resp.body, int(m.group(3))

    def prefetch(self, start: int, end: int) -> None:
        """Make ``[start, end)`` available with one request (if not already)."""
        start, end = max(0, start), min(self.size, end)
        if end > start and self._lookup(start, end - start) is None:
            got_start, data, _ = self._get(f"bytes={start}-{end - 1}")
            self._chunks.append((got_start, data))

    def _lookup(self, pos: int, n: int) -> bytes | None:
        for start, data in self._chunks:
            if start <= pos and pos + n <= start + len(data):
                return data[pos - start : pos - start + n]
        return None

    # -- io.RawIOBase ------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        size = max(0, min(size, self.size - self._pos))
        if size == 0:
            return b""
        data = self._lookup(self._pos, size)
        if data is None:
            self.prefetch(self._pos, self._pos + max(size, MIN_FETCH))
            data = self._lookup(self._pos, size)
            if data is None:  # the server sent less than it announced
                raise RangeNotSupported("range response does not cover the requested bytes")
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_metadata(fetch: RangeFetch, project: str, *, tail: int = TAIL) -> tuple[bytes, int]:
    """METADATA of the remote wheel behind ``fetch``, and how many requests it took.

    Raises ``RangeNotSupported`` when the server ignores ranges and ``BadWheel`` when the
    file is not a usable wheel.
    """
    f = HTTPRangeFile(fetch, tail=tail)
    try:
        with zipfile.ZipFile(f) as zf:
            name = metadata_member(zf.namelist(), project)
            info = zf.getinfo(name)
            # The member's local header and data end where the next member starts: fetch
            # exactly that span in one request. For the last member, where the central
            # directory starts is known only to zipfile's internals: fetch to the end instead.
            later = [i.header_offset for i in zf.infolist() if i.header_offset > info.header_offset]
            end = min(later) if later else f.size
            f.prefetch(info.header_offset, end)
            return zf.read(name), f.requests
    except zipfile.BadZipFile as exc:
        raise BadWheel(str(exc)) from exc
