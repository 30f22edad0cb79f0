"""Where overlock looks by default, decided from the environment alone.

Standard library only: the sync stamp (``sync/stamp.py``) needs these before the CLI loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

MANIFEST_FILENAME = "overlay.toml"


def manifest_path(environ: Mapping[str, str]) -> str:
    """The manifest when ``-m`` is not given: ``$OVERLOCK_MANIFEST``, else ./overlay.toml."""
    return environ.get("OVERLOCK_MANIFEST") or MANIFEST_FILENAME


def cache_root(environ: Mapping[str, str]) -> str:
    """``$OVERLOCK_CACHE_DIR``, else ``$XDG_CACHE_HOME/overlock``, else ``~/.cache/overlock``."""
    if environ.get("OVERLOCK_CACHE_DIR"):
        return os.path.expanduser(environ["OVERLOCK_CACHE_DIR"])  # noqa: PTH111
    if environ.get("XDG_CACHE_HOME"):
        return os.path.join(os.path.expanduser(environ["XDG_CACHE_HOME"]), "overlock")  # noqa: PTH111, PTH118
    home = environ.get("HOME") or os.path.expanduser("~")  # noqa: PTH111
    return os.path.join(home, ".cache", "overlock")  # noqa: PTH118
