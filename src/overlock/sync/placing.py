"""Placing a file of the unpacked store in a generation: a hard link, else a clone (reflink),
else a copy, chosen per destination and counted for ``overlock show``."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

HARDLINK, REFLINK, COPY = "hardlink", "reflink", "copy"
WRITTEN = "written"  # per-prefix files: launchers, scripts, RECORD, INSTALLER, ...
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
# Why a hard link may fail where a clone or copy still works: another file system, a
# file system without hard links, too many links to one inode, and protected_hardlinks
# (a group store's file owned by someone else).
_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})
_NO_CLONE = frozenset(
    {errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY, errno.EPERM}
)


class Placer:
    """Puts store files into a generation: hard link, else reflink (clone), else copy.

    The way is found per destination on the first file and kept, so a prefix on another
    file system than the store pays for one failed ``link`` and one failed clone, not one
    per file. A hard link refused for one file only (too many links; a file someone else
    owns, under ``protected_hardlinks``) falls back for that file alone. ``counts`` says how
    many files went each way, for the generation's state (``overlock show``).

    A placed file keeps the store file's mode (read-only) and modification time, whichever
    way it was placed.
    """

    def __init__(self) -> None:
        self.way = HARDLINK
        self.counts: dict[str, int] = {}

    def place(self, src: str, dest: str) -> None:
        if self.way == HARDLINK:
            try:
                os.link(src, dest)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                if exc.errno in (errno.EXDEV, errno.ENOTSUP):
                    self.way = REFLINK  # so for every file here
                self._fallback(src, dest)
            else:
                self._count(HARDLINK)
            return
        self._fallback(src, dest)

    def _fallback(self, src: str, dest: str) -> None:
        st = os.stat(src)  # noqa: PTH116
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            way = COPY
            with open(src, "rb") as source:
                if self.way in (HARDLINK, REFLINK) and _clone(source.fileno(), fd):
                    way = REFLINK
                else:
                    if self.way == REFLINK:
                        self.way = COPY
                    _copy(source.fileno(), fd, st.st_size)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(dest)  # noqa: PTH108
            raise
        os.close(fd)
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        self._count(way)

    def _count(self, way: str) -> None:
        self.counts[way] = self.counts.get(way, 0) + 1


def _clone(src_fd: int, dest_fd: int) -> bool:
    """Share ``src_fd``'s extents with the empty ``dest_fd`` (btrfs, xfs); False if refused."""
    import fcntl

    try:
        fcntl.ioctl(dest_fd, _FICLONE, src_fd)
    except OSError as exc:
        if exc.errno not in _NO_CLONE:
            raise
        return False
    return True


def _copy(src_fd: int, dest_fd: int, size: int) -> None:
    copied = 0
    while copied < size:
        try:
            n = os.copy_file_range(src_fd, dest_fd, size - copied)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.sendfile(dest_fd, src_fd, copied, size - copied)
        if n == 0:  # the source shrank: it is not what the store verified
            raise OSError(errno.EIO, "a store file changed while it was copied")
        copied += n
