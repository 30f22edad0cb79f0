"""Reuse a base probe while the base is provably unchanged.

Probing starts the base interpreter and reads every distribution's metadata: the largest
fixed cost of a warm ``overlock lock``. A saved probe is reused only when a cheap key still
matches: ``stat`` of the interpreter (and its real file), of ``pyvenv.cfg``, of every
``sys.path`` directory the probe reported, and of each ``*.dist-info``/``*.egg-info``
metadata file and ``.pth`` file in them. Installing, removing or upgrading anything changes a
directory listing or a metadata file, so the key changes and the base is probed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.base import BaseEnv, find_base_python, probe
from overlock.errors import BaseProbeError

_METADATA_FILES = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}


def _stat(path: str | Path) -> str:
    try:
        st = Path(path).stat()
    except OSError:
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def validity_key(python: Path, env: BaseEnv) -> str:
    """A digest that changes whenever what the probe reported could have changed."""
    probe_source = Path(__file__).with_name("_probe.py").read_bytes()
    parts = [
        __version__,
        hashlib.sha256(probe_source).hexdigest(),
        str(python),
        _stat(str(python)),
        _stat(os.path.realpath(python)),
        _stat(Path(env.prefix, "pyvenv.cfg")),
    ]
    dirs = set(env.site_dirs) | {d.location for d in env.distributions if d.location}
    dirs |= {str(p) for p in env.extra.get("sys_path", ()) if isinstance(p, str)}
    for directory in sorted(dirs):
        parts.append(f"{directory} {_stat(directory)}")
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            suffix = Path(entry.name).suffix
            if suffix in _METADATA_FILES:
                inner = Path(entry.path, _METADATA_FILES[suffix])
                parts.append(f"{entry.name} {_stat(inner)}")
            elif suffix == ".pth":
                parts.append(f"{entry.name} {_stat(entry.path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def probe_cached(base: str | Path, cache_root: Path, *, timeout: float = 120.0) -> BaseEnv:
    """``probe(base)``, or the saved result when the base has not changed since."""
    python = find_base_python(base)
    slot = hashlib.sha256(str(python).encode()).hexdigest()[:32]
    entry = cache_root / "probes" / f"{slot}.json"
    try:
        saved = json.loads(entry.read_text(encoding="utf-8"))
        cached = BaseEnv.from_json(saved["base"])
        if saved.get("key") == validity_key(python, cached):
            return cached
    except (OSError, ValueError, KeyError, TypeError, BaseProbeError):
        pass  # no usable saved probe: probe again
    env = probe(python, timeout=timeout)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        saved_text = json.dumps({"key": validity_key(python, env), "base": env.to_json()})
        write_text_atomic(entry, saved_text)
    except OSError:
        pass  # a read-only cache only costs the next run a probe
    return env
