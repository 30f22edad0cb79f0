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
from collections.abc import Sequence
from pathlib import Path

import packaging

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv, find_base_python, module_path_from_environ, probe
from overlock.errors import BaseProbeError
from overlock.statkey import base_stat_key


def key_dirs(env: BaseEnv) -> list[str]:
    """The directories whose listings and metadata files the probe of ``env`` depends on."""
    dirs = set(env.site_dirs) | {d.location for d in env.distributions if d.location}
    dirs |= {str(p) for p in env.extra.get("sys_path", ()) if isinstance(p, str)}
    return sorted(dirs)


def validity_key(python: Path, env: BaseEnv) -> str:
    """A digest that changes whenever what the probe reported could have changed."""
    # Tags and markers are computed here from the probe's facts (base/target.py, with this
    # process's packaging): a change to either code or to packaging changes them too.
    package = Path(__file__).parent.parent
    code = hashlib.sha256()
    for name in ("inbase/probe.py", "base/target.py"):
        code.update((package / name).read_bytes())
    salt = (__version__, packaging.__version__, code.hexdigest())
    return base_stat_key(str(python), env.prefix, key_dirs(env), *salt)


def probe_cached(
    base: str | Path,
    cache_root: Path,
    *,
    module_path: Sequence[str] | None = None,
    timeout: float = 120.0,
) -> BaseEnv:
    """``probe(base)``, or the saved result when the base has not changed since.

    One slot per interpreter and module-system layer: loading a module changes the base.
    """
    python = find_base_python(base)
    layer = module_path_from_environ() if module_path is None else tuple(module_path)
    slot = hashlib.sha256("\0".join([str(python), *layer]).encode()).hexdigest()[:32]
    entry = cache_root / "probes" / f"{slot}.json"
    try:
        saved = json.loads(entry.read_text(encoding="utf-8"))
        cached = BaseEnv.from_json(saved["base"])
        # The slot is the layer's as well as the interpreter's; the key covers the rest.
        if saved.get("key") == validity_key(python, cached):
            return cached
    except (OSError, ValueError, KeyError, TypeError, BaseProbeError):
        pass  # no usable saved probe: probe again
    env = probe(python, module_path=layer, timeout=timeout)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        saved_text = json.dumps({"key": validity_key(python, env), "base": env.to_json()})
        write_text_atomic(entry, saved_text)
    except OSError:
        pass  # a read-only cache only costs the next run a probe
    return env
