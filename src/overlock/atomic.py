"""Write a file so that readers only ever see the old bytes or the new, never a part.

The bytes go to a uniquely named file in the target's directory, are flushed to disk, and
replace the target with ``os.replace``; on any failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(dest: Path) -> Iterator[IO[bytes]]:
    """A binary file object whose content becomes ``dest`` when the block ends cleanly.

    The file gets the mode a plain ``open`` would give it (``0o666`` less the umask), not
    mkstemp's private ``0o600``: locks, exports and modulefiles are shared with a group.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:  # name the file being written, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(dest)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):  # before the caller's block, which may set its own
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
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
