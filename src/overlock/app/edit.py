"""Editing overlay.toml and its lock as one change: validated before anything is written,
written only if nobody changed the file meanwhile, and undone if the lock cannot be written."""

from __future__ import annotations

import dataclasses
import os
import stat
import tempfile
from pathlib import Path

from overlock.atomic import atomic_writer
from overlock.errors import ManifestError, OverlockError
from overlock.limits import read_text_bounded
from overlock.lock.pylock import Lock, write_lock
from overlock.manifest.edit import Edit
from overlock.manifest.load import load_manifest
from overlock.manifest.model import Manifest


def read_manifest_text(path: Path) -> str:
    """overlay.toml as it is on disk, bounded like every file a user names."""
    # Decoded as they are (no newline translation), so CRLF files are compared and kept exactly.
    return read_text_bounded(path, translate_newlines=False)


def validated_manifest(text: str, path: Path, scratch: Path | None = None) -> Manifest:
    """``text`` loaded as if it were ``path``.

    It is loaded from a temporary file in ``scratch`` (default: next to ``path``, so that
    relative paths in it mean what they will mean there), removed afterwards.
    """
    where = path.parent if scratch is None else scratch
    fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{path.name}.", suffix=".check")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        try:
            manifest = load_manifest(Path(tmp))
        except ManifestError as exc:
            raise ManifestError(str(path), exc.issues) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dataclasses.replace(manifest, path=path)


def write_manifest_text(path: Path, text: str) -> None:
    """Replace overlay.toml atomically, keeping its permissions (and a symlink to it)."""
    target = Path(os.path.realpath(path))
    mode = stat.S_IMODE(target.stat().st_mode)
    with atomic_writer(target) as fh:
        fh.write(text.encode("utf-8"))
        if hasattr(os, "fchmod"):
            os.fchmod(fh.fileno(), mode)


def commit_edit(path: Path, old_text: str, edit: Edit, lock: Lock, lock_path: Path) -> bool:
    """Write ``edit`` to ``path`` (which held ``old_text`` when the lock was made) and ``lock``
    to ``lock_path``; return whether the lock file changed. overlay.toml is put back if the
    lock cannot be written, so the two never disagree on disk."""
    if read_manifest_text(path) != old_text:
        raise OverlockError(
            f"{path} changed while overlock was locking; nothing was written",
            hint="run the command again",
        )
    if edit.changed:
        write_manifest_text(path, edit.text)
    try:
        return write_lock(lock, lock_path)
    except BaseException:
        if edit.changed:
            write_manifest_text(path, old_text)
        raise
