"""Source text that overlock writes into an overlay: the activation bootstrap and launchers.

Both carry the same small function, ``_overlock_activate``, which makes the overlay's
site directories real site directories (``site.addsitedir``, so ``.pth`` files run) and puts
them *in front of* the base's site-packages, so overlay copies of a package win. The text is
kept compatible with Python 2.7 syntax on purpose: the bootstrap sits on ``PYTHONPATH`` and
any interpreter started from an activated shell imports it, so it must never be the thing that
breaks an old interpreter.

Every path written here is under the stable prefix the user chose (``PREFIX/...``), never
under a generation directory, so an atomic switch of generations needs no rewriting.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from overlock.base.env import BaseEnv
from overlock.prefix.layers import lower_site_dirs
from overlock.prefix.state import STATE_DIRNAME

BOOT_DIRNAME = "boot"  # under PREFIX/.overlock/

# Shared by the bootstrap, every launcher and the import check (sync/importcheck.py). ``overlay``
# and ``base_sites`` are lists of absolute paths. Idempotent: a launcher started from an
# activated shell must not add the overlay twice or reorder what the bootstrap already did.
ACTIVATE_FUNCTION = """
def _overlock_activate(prefix, overlay, base_sites):
    import os
    import site
    if getattr(site, "OVERLOCK_PREFIX", None) == prefix:
        return
    real = os.path.realpath
    overlay = [d for d in overlay if os.path.isdir(d)]
    mine = set(real(d) for d in overlay)
    # Copies already on sys.path (a PYTHONPATH set the old way) would keep their old,
    # unprocessed position; drop them so there is exactly one, correctly placed, entry.
    sys.path[:] = [p for p in sys.path if real(p or ".") not in mine]
    anchors = set(real(p) for p in base_sites)
    try:
        anchors.update(real(p) for p in site.getsitepackages())
    except AttributeError:  # old virtualenv's site.py has no getsitepackages
        pass
    # The user site would otherwise come before the overlay and shadow it.
    if getattr(site, "ENABLE_USER_SITE", False) and getattr(site, "USER_SITE", None):
        anchors.add(real(site.USER_SITE))
    # So would what a module system put on PYTHONPATH (part of the base, as the probe sees
    # it): the overlay goes in front of those entries too, even of ones loaded after the
    # lock was made (`overlock check` reports that drift).
    boot = os.sep + os.path.join(".overlock", "boot")
    for p in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if p and not real(p).endswith(boot):
            anchors.add(real(p))
    pos = len(sys.path)
    for i, p in enumerate(sys.path):
        if real(p or ".") in anchors:
            pos = i
            break
    sys.path[pos:pos] = overlay
    before = list(sys.path)
    for d in overlay:
        # The directory is on sys.path already, so addsitedir only processes its .pth files.
        site.addsitedir(d)
    if sys.path[:len(before)] == before:
        # .pth lines append; an overlay's .pth entries belong with the overlay, not after
        # the base, or the base's copies would win over them.
        added = sys.path[len(before):]
        del sys.path[len(before):]
        at = pos + len(overlay)
        sys.path[at:at] = added
    site.OVERLOCK_PREFIX = prefix
"""

_SITECUSTOMIZE = """\
# -*- coding: utf-8 -*-
# Written by overlock for the overlay at {prefix!r}; rewritten by every sync.
# `overlock run` and `overlock activate` put this directory first on PYTHONPATH. It turns the
# overlay on for one base interpreter only; any other interpreter started from the same
# shell just loses this directory from sys.path and runs its own sitecustomize, if any.
import sys

OVERLOCK_PREFIX = {prefix!r}
OVERLOCK_BASE_PREFIX = {base_prefix!r}
OVERLOCK_PYTHON = {version!r}
OVERLOCK_OVERLAY = {overlay!r}
OVERLOCK_BASE_SITES = {base_sites!r}
{activate}

def _overlock_is_base():
    import os
    if tuple(sys.version_info[:2]) != OVERLOCK_PYTHON:
        return False
    return os.path.realpath(sys.prefix) == os.path.realpath(OVERLOCK_BASE_PREFIX)


def _overlock_chain():
    # Debian, conda and others ship their own sitecustomize; ours hides it, so load it.
    if sys.version_info[0] < 3:
        import imp
        try:
            found = imp.find_module("sitecustomize", sys.path)
        except ImportError:
            return
        try:
            imp.load_module("sitecustomize", *found)
        finally:
            if found[0] is not None:
                found[0].close()
        return
    import importlib.util
    from importlib.machinery import PathFinder
    spec = PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _overlock_boot():
    import os
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    if _overlock_is_base():
        _overlock_activate(OVERLOCK_PREFIX, OVERLOCK_OVERLAY, OVERLOCK_BASE_SITES)
    _overlock_chain()


_overlock_boot()
"""

_LAUNCHER = """\
# -*- coding: utf-8 -*-
# Written by overlock: sets up the overlay at {prefix!r} before importing the entry point,
# so this script works without activating the overlay.
import sys
{activate}
_overlock_activate({prefix!r}, {overlay!r}, {base_sites!r})
del _overlock_activate

import re
from {module} import {import_name}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({func_path}())
"""


def overlay_site_dirs(base: BaseEnv, prefix: Path) -> list[str]:
    """The overlay's site directories under the stable ``prefix``, purelib first."""
    out: list[str] = []
    for key in ("purelib", "platlib"):
        path = str(prefix / base.scheme[key])
        if path not in out:
            out.append(path)
    return out


def stack_site_dirs(base: BaseEnv, prefix: Path) -> list[str]:
    """What activation adds: the overlay's site directories, then every lower overlay's
    (prefix/layers.py), nearest first, so the whole stack is active, the upper copy winning."""
    out = overlay_site_dirs(base, prefix)
    return out + [d for d in lower_site_dirs(base) if d not in out]


def boot_dir(prefix: Path) -> Path:
    return prefix / STATE_DIRNAME / BOOT_DIRNAME


def render_sitecustomize(base: BaseEnv, prefix: Path) -> str:
    major, minor = (int(p) for p in base.py_short.split("."))
    return _SITECUSTOMIZE.format(
        prefix=str(prefix),
        base_prefix=base.prefix,
        version=(major, minor),
        overlay=stack_site_dirs(base, prefix),
        base_sites=list(base.interpreter_site_dirs),
        activate=ACTIVATE_FUNCTION,
    )


def shebang(interpreter: str) -> str:
    """A ``#!`` line for ``interpreter``; the ``/bin/sh`` trick when the kernel cannot take it.

    Linux truncates ``#!`` lines at 127 bytes and no kernel splits on quoted spaces; the
    polyglot below is what distlib and installer use for such paths.
    """
    raw = interpreter.encode()
    if b" " not in raw and len(raw) + 3 <= 127:
        return f"#!{interpreter}\n"
    return "#!/bin/sh\n'''exec' " + shlex.quote(interpreter) + ' "$0" "$@"\n' + "' '''\n"


def render_launcher(base: BaseEnv, prefix: Path, module: str, attr: str) -> bytes:
    body = _LAUNCHER.format(
        prefix=str(prefix),
        overlay=stack_site_dirs(base, prefix),
        base_sites=list(base.interpreter_site_dirs),
        activate=ACTIVATE_FUNCTION,
        module=module,
        import_name=attr.split(".")[0],
        func_path=attr,
    )
    return (shebang(base.python) + body).encode("utf-8")
