"""Write a file so that readers only ever see the old bytes or the new, never a part.

The bytes go to a uniquely named file in the target's directory, are flushed to disk, and
replace the target with ``os.replace``; on any failure the temporary file is removed.

The result has the permissions a plain ``open(path, "w")`` would give: an existing file's
mode is kept, a new file follows the umask (0644 under umask 022). ``mkstemp`` alone makes
0600, and a lock that group members sharing an overlay cannot read is no use to them.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the kernel says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore, as briefly as possible
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _mode_for(dest: Path) -> int:
    try:
        existing = dest.stat()
    except OSError:
        return 0o666 & ~current_umask()
    if stat.S_ISREG(existing.st_mode):
        return stat.S_IMODE(existing.st_mode)
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_writer(dest: Path) -> Iterator[IO[bytes]]:
    """A binary file object whose content becomes ``dest`` when the block ends cleanly.

    The file gets the mode of the file it replaces, or a plain ``open``'s (``0o666`` less
    the umask), never mkstemp's private ``0o600``: locks, exports and modulefiles are shared.
    """
    mode = _mode_for(dest)
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:  # name the file being written, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(dest)) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(dest)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def write_text_atomic(dest: Path, text: str) -> None:
    with atomic_writer(dest) as fh:
        fh.write(text.encode("utf-8"))


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """``data`` as indented, sorted JSON, written atomically (parents made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
