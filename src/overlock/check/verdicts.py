"""The import verification's verdict, kept per generation and base in the user's cache.

Importing every shadowing package and its base dependents in the base interpreter takes
seconds (pandas, matplotlib, scipy); the answer depends only on what the generation holds,
on the base, and on overlock's own code, and a generation is immutable. So the verdict is
stored under a key made of:

- the generation: its real directory, the bytes of its ``.overlock/state.json`` and that
  file's ``stat``;
- the base: its fingerprint (Python, tags, every name==version), its ``stat`` key (the one
  the probe cache trusts: interpreter, ``pyvenv.cfg``, each site directory's listing, each
  metadata file and ``.pth``), its module path, site directories and what ``hide`` hides;
  for an overlay stacked on others, each lower overlay and the generation it points at;
- the modules to import, and the code that imports them.

A changed base changes the key. A file edited in place in the prefix does not (the state
file stays the same), so ``check_overlay`` reuses a verdict only when the integrity check,
which hashes every file against its RECORD, found nothing wrong; otherwise the imports run
again.

Where: the user's cache (``cache.py``'s root), not ``PREFIX/.overlock/``. A prefix may be
shared and read-only for the user who runs ``check``, writing into a finished generation
would break its immutability, and a verdict that another writer of a shared prefix could
plant must not be trusted: the user's own cache is written by that user only. Entries are
small JSON files written atomically; a damaged one is ignored (and the imports run).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv
from overlock.base.probe_cache import key_dirs
from overlock.check.findings import ERROR, INFO, KINDS, WARNING, Finding, Section
from overlock.limits import read_bounded
from overlock.prefix.bootstrap import hide_spec
from overlock.prefix.layers import layers_of, lower_site_dirs
from overlock.prefix.state import STATE_DIRNAME
from overlock.statkey import base_stat_key, stat_text
from overlock.sync.importcheck import ModuleToCheck

FORMAT = 1
_MAX_ENTRY = 4 * 1024 * 1024
_CODE = ("check/imports.py", "check/verdicts.py", "sync/importcheck.py", "prefix/bootstrap.py")


def _code_digest() -> str:
    package = Path(__file__).parent.parent
    h = hashlib.sha256()
    for name in _CODE:
        h.update((package / name).read_bytes())
    return h.hexdigest()


def verdict_key(base: BaseEnv, prefix: Path, checks: Sequence[ModuleToCheck]) -> str | None:
    """The key of the import verdict for the generation ``prefix`` points at, or None when
    the generation has no readable state file (then nothing is cached)."""
    generation = Path(os.path.realpath(prefix))
    state_file = generation / STATE_DIRNAME / "state.json"
    try:
        state_bytes = state_file.read_bytes()
    except OSError:
        return None
    lower = lower_site_dirs(base)  # lower overlays' site dirs, through their prefix links
    dirs = sorted({*key_dirs(base), *base.module_path, *lower})
    parts: list[Any] = [
        FORMAT,
        __version__,
        _code_digest(),
        str(generation),
        hashlib.sha256(state_bytes).hexdigest(),
        stat_text(state_file),
        base.python,
        base.fingerprint(),
        base_stat_key(base.python, base.prefix, dirs),
        list(base.module_path),
        list(base.site_dirs),
        repr(hide_spec(base, generation)),
        layers_of(base),
        [os.path.realpath(d) for d in lower],  # which generation of each lower overlay
        [[c.module, c.dist, c.layer, list(c.suspects), list(c.scanned)] for c in checks],
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _entry(root: Path, key: str) -> Path:
    return root / "check-imports" / key[:2] / f"{key}.json"


def load_verdict(root: Path, key: str) -> Section | None:
    """The stored ``imports`` section under ``key``, or None (absent, unreadable, damaged)."""
    try:
        data = json.loads(read_bounded(_entry(root, key), _MAX_ENTRY))
        if data.get("format") != FORMAT or data.get("key") != key:
            return None
        findings = tuple(_finding(f) for f in data["findings"])
        return Section("imports", str(data["summary"]), findings)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store_verdict(root: Path, key: str, section: Section) -> None:
    """Keep ``section`` under ``key``; a cache that cannot be written is only slower."""
    data = {
        "format": FORMAT,
        "key": key,
        "summary": section.summary,
        "findings": [f.to_json() for f in section.findings],
    }
    try:
        path = _entry(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(data, sort_keys=True) + "\n")
    except OSError:
        pass


def _finding(data: dict[str, Any]) -> Finding:
    kind, severity = str(data["kind"]), str(data["severity"])
    if kind not in KINDS or severity not in (ERROR, WARNING, INFO):
        raise ValueError(f"not a finding: {kind} {severity}")
    details = data.get("details") or []
    hint = data.get("hint")
    return Finding(
        kind,
        severity,
        str(data["subject"]),
        str(data["message"]),
        details=tuple(str(d) for d in details),
        hint=None if hint is None else str(hint),
        data=dict(data.get("data") or {}),
    )


__all__ = ["load_verdict", "store_verdict", "verdict_key"]
