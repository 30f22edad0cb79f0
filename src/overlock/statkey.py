"""Cheap keys that change whenever a base could have: ``stat`` results, never file contents.

Used by the probe cache (reuse a probe while the base is unchanged) and by the sync stamp
(answer a sync with nothing to do without loading anything). Standard library only, so that
the stamp check stays cheap to import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_METADATA_FILES = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}


def stat_text(path: str | os.PathLike[str]) -> str:
    """``mtime_ns:size:inode`` of ``path`` (followed through links), or ``-`` if missing."""
    try:
        st = os.stat(path)  # noqa: PTH116  (no pathlib: this runs before the CLI loads)
    except OSError:
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def base_stat_key(python: str, prefix: str, dirs: Iterable[str], *salt: str) -> str:
    """A digest of what a base's probe depends on, from ``stat`` alone (see base_stat_text)."""
    import hashlib  # not at the top: the sync stamp compares the text and needs no digest

    return hashlib.sha256(base_stat_text(python, prefix, dirs, *salt).encode()).hexdigest()


def base_stat_text(python: str, prefix: str, dirs: Iterable[str], *salt: str) -> str:
    """What a base's probe depends on, from ``stat`` alone.

    The interpreter (and its real file), ``pyvenv.cfg``, each of ``dirs`` (its listing), and
    each ``*.dist-info``/``*.egg-info`` metadata file and ``.pth`` file in them: installing,
    removing or upgrading anything changes one of these.
    """
    parts = [
        *salt,
        python,
        stat_text(python),
        stat_text(os.path.realpath(python)),
        stat_text(os.path.join(prefix, "pyvenv.cfg")),  # noqa: PTH118
    ]
    for directory in sorted(set(dirs)):
        parts.append(f"{directory} {stat_text(directory)}")
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            suffix = os.path.splitext(entry.name)[1]  # noqa: PTH122
            if suffix in _METADATA_FILES:
                inner = os.path.join(entry.path, _METADATA_FILES[suffix])  # noqa: PTH118
                parts.append(f"{entry.name} {stat_text(inner)}")
            elif suffix == ".pth":
                parts.append(f"{entry.name} {stat_text(entry.path)}")
    return "\n".join(parts)
