"""Bounds on work done for untrusted input: file sizes, downloads, request deadlines.

Manifests, locks and snapshots are shared files, and index pages and wheels come from
servers overlock does not control. On a login node a runaway read fills memory or a file
system that everyone uses, so every read and every request here has a ceiling:

* files named by the user (``-m``, the lock, a base snapshot) are read only when they are
  regular files, and at most ``MAX_INPUT_BYTES`` of them: ``-m /dev/zero`` or a FIFO is
  refused at once instead of read forever or waited on;
* a download stops at the size the lock records, else at ``max_download()`` (4 GiB by
  default, ``$OVERLOCK_MAX_DOWNLOAD`` to change it: bytes, or with a K/M/G suffix);
* an index page, a ``.metadata`` file or a range response stops at ``MAX_PAGE_BYTES``;
* every HTTP request has a total deadline (``Deadline``): ``DEADLINE_FACTOR`` times pip's
  ``timeout``, extended by one second per ``MIN_RATE`` bytes received, so a server that sends
  a byte a second is given up on while a slow but working link finishes a large wheel;
* every git command ends within ``git_timeout()`` (600 s by default, ``$OVERLOCK_GIT_TIMEOUT``
  to change it: seconds, or with an s/m/h suffix), and git's HTTP transport gives up on a
  transfer slower than ``GIT_LOW_SPEED_LIMIT`` bytes a second for ``GIT_LOW_SPEED_TIME`` s.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_PAGE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_DOWNLOAD = 4 * 1024**3
MAX_DOWNLOAD_ENV = "OVERLOCK_MAX_DOWNLOAD"
DEADLINE_FACTOR = 4.0
MIN_RATE = 16 * 1024  # bytes per second that keep a request alive past its first deadline
# A whole clone of a large repository over a slow link fits; a server that accepts the
# connection and never answers (which no per-read timeout of git's catches) does not.
DEFAULT_GIT_TIMEOUT = 600.0
GIT_TIMEOUT_ENV = "OVERLOCK_GIT_TIMEOUT"
GIT_LOW_SPEED_LIMIT = 1000  # bytes per second ...
GIT_LOW_SPEED_TIME = 60  # ... for this many seconds: git's HTTP transport gives up

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SECONDS = {"": 1, "S": 1, "M": 60, "H": 3600}


def max_download(environ: Mapping[str, str] | None = None) -> int:
    """The largest file overlock downloads when no lock says how large it is."""
    env = os.environ if environ is None else environ
    text = env.get(MAX_DOWNLOAD_ENV, "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return DEFAULT_MAX_DOWNLOAD
    unit = text[-1] if text[-1] in _UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    try:
        value = int(float(number) * _UNITS[unit])
    except ValueError:
        return DEFAULT_MAX_DOWNLOAD
    return value if value > 0 else DEFAULT_MAX_DOWNLOAD


def git_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The seconds one git command may take (``ls-remote``, a fetch, a checkout)."""
    env = os.environ if environ is None else environ
    text = env.get(GIT_TIMEOUT_ENV, "").strip().upper()
    if not text:
        return DEFAULT_GIT_TIMEOUT
    unit = text[-1] if text[-1] in _SECONDS else ""
    try:
        value = float(text[: len(text) - len(unit)].strip()) * _SECONDS[unit]
    except ValueError:
        return DEFAULT_GIT_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_GIT_TIMEOUT


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    value, i = n / 1024, 0
    while value >= 1024 and i < len(units) - 1:
        value, i = value / 1024, i + 1
    return f"{value:.0f} {units[i]}"


def read_bounded(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else or anything larger.

    Raises ``OSError`` (so callers' existing "cannot read" handling applies) whose
    ``strerror`` says what is wrong: not a regular file (a FIFO is opened without waiting for
    a writer), or larger than ``limit``. A directory raises ``IsADirectoryError``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, _too_large(limit), str(path))
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while being read (or lied in stat)
                raise OSError(errno.EFBIG, _too_large(limit), str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_bounded(
    path: Path, limit: int = MAX_INPUT_BYTES, *, translate_newlines: bool = True
) -> str:
    """``read_bounded`` decoded as UTF-8, newlines translated as ``Path.read_text`` does.

    ``translate_newlines=False`` keeps CRLF as it is (for files rewritten byte for byte).
    """
    data = read_bounded(path, limit)
    if not translate_newlines:
        return data.decode("utf-8")
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).read()


def _too_large(limit: int) -> str:
    return f"larger than {human_size(limit)}, more than overlock reads from such a file"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


class Deadline:
    """The time left for one HTTP request: ``grace`` seconds, plus 1 s per ``min_rate`` bytes.

    pip's ``timeout`` bounds each socket read; a server that trickles bytes passes every
    such check forever. This bounds the whole request.
    """

    def __init__(
        self,
        grace: float,
        *,
        min_rate: float = MIN_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace = grace
        self._min_rate = min_rate
        self._clock = clock
        self._end = clock() + grace

    def credit(self, nbytes: int) -> None:
        self._end += nbytes / self._min_rate

    @property
    def remaining(self) -> float:
        """Seconds left (negative once expired)."""
        return self._end - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining < 0


__all__ = [
    "DEADLINE_FACTOR",
    "GIT_LOW_SPEED_LIMIT",
    "GIT_LOW_SPEED_TIME",
    "GIT_TIMEOUT_ENV",
    "MAX_INPUT_BYTES",
    "MAX_PAGE_BYTES",
    "Deadline",
    "git_timeout",
    "max_download",
    "read_bounded",
    "read_text_bounded",
]
