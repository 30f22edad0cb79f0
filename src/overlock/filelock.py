"""Advisory locks on a lock file (``flock``): many shared holders or one exclusive.

Released by the kernel when the holder dies, so a killed process never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


class Busy(Exception):
    """The lock is held and the caller asked not to wait."""


@contextlib.contextmanager
def flocked(
    path: Path,
    *,
    exclusive: bool,
    wait: bool = True,
    on_wait: Callable[[], object] | None = None,
) -> Iterator[None]:
    """Hold the lock on the file at ``path`` (created if missing) for the ``with`` block.

    ``wait=False``: raise Busy instead of waiting; ``on_wait()`` is called once, before
    waiting. Opened read-only (``flock`` needs no more), so a group sharing the directory can
    lock a file another member created.
    """
    op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise Busy(str(path)) from None
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                fcntl.flock(fd, op)
            # The file may have been removed (by hand) and made again while we waited: a
            # lock on the old inode excludes nobody, so take the one now at ``path``.
            held = os.fstat(fd)
            try:
                now = path.lstat()
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        # Unlocked explicitly: worker processes forked meanwhile share the open file.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
