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

import functools
import hashlib
import shlex
from pathlib import Path
from typing import Any

from overlock.base.env import BaseEnv
from overlock.base.hiding import hidden_by, hidden_modules, own_hides
from overlock.prefix.layers import layers_of, lower_site_dirs
from overlock.prefix.state import STATE_DIRNAME, abs_prefix

BOOT_DIRNAME = "boot"  # under PREFIX/.overlock/

# ``[overlay] hide`` at run time (base/hiding.py). ``hide`` maps each hidden distribution's
# top-level ``modules`` and canonical ``names`` to the site directories it may still come from
# (the overlay's own; for what a lower overlay hides, that overlay's and those above it). The
# standard PathFinder in sys.meta_path is replaced by a subclass that searches a hidden
# top-level name in those directories only (so ``find_spec`` answers None and ``import``
# raises ModuleNotFoundError, as for a module that is absent) and drops hidden distributions
# from ``find_distributions``, which every ``importlib.metadata`` query goes through on 3.8+.
# The importlib_metadata backport (3.7) appends a finder of its own when imported and
# switches the standard one off; the same filter is put on that finder then.
HIDE_FUNCTION = """
def _overlock_hide(hide):
    import os
    from importlib.machinery import PathFinder
    real = os.path.realpath

    def canonical(name):
        # PEP 503, without importing re at every start-up (it costs ~2 ms).
        out = []
        for ch in name.lower():
            if ch in "-_.":
                if not out or out[-1] != "-":
                    out.append("-")
            else:
                out.append(ch)
        return "".join(out)

    def roots(table):
        return dict((k, [real(d) for d in v]) for k, v in (table or {}).items())

    modules = roots(hide.get("modules"))
    names = roots(hide.get("names"))
    state = {"backport": False}

    def allowed(path, places):
        path = real(path or ".")
        for root in places:
            if path == root or path.startswith(root + os.sep):
                return True
        return False

    def dist_name(dist):
        # The Name header, read through the public read_text and without the email
        # parser (its cost grows with the long description that follows the headers).
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        for line in text.split("\\n\\n", 1)[0].splitlines():
            if not line.strip():
                break
            if line[:5].lower() == "name:":
                return line[5:].strip()
        return None

    def hidden_dist(dist, name):
        if name is None:
            try:
                name = dist_name(dist)
            except Exception:
                name = None
        places = names.get(canonical(name or ""))
        if places is None:
            return False
        try:
            return not allowed(str(dist.locate_file("")), places)
        except Exception:
            return False

    def visible(found, args, kwargs):
        # A query by name (version(), metadata(), ...) finds only distributions of that
        # name, so their METADATA is read only when everything is listed (entry_points()).
        context = kwargs.get("context", args[0] if args else None)
        name = getattr(context, "name", None)
        for dist in found:
            if not hidden_dist(dist, name):
                yield dist

    def patch_backport(module):
        finder_class = getattr(module, "MetadataPathFinder", None)
        for finder in list(sys.meta_path):
            if finder_class is not None and isinstance(finder, finder_class):
                finder.find_distributions = filtered(finder.find_distributions)
                state["backport"] = True

    def filtered(original):
        return lambda *args, **kwargs: visible(original(*args, **kwargs), args, kwargs)

    class _OverlockBackportLoader(object):
        def __init__(self, loader):
            self.loader = loader

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            self.loader.exec_module(module)
            patch_backport(module)

        def __getattr__(self, name):
            return getattr(self.loader, name)

    class OverlockHidingFinder(PathFinder):
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if path is None and fullname in modules:
                places = modules[fullname]
                mine = [p for p in sys.path if isinstance(p, str) and allowed(p, places)]
                return PathFinder.find_spec(fullname, mine, target)
            spec = PathFinder.find_spec(fullname, path, target)
            if fullname == "importlib_metadata" and spec is not None and spec.loader is not None:
                spec.loader = _OverlockBackportLoader(spec.loader)
            return spec

        if hasattr(PathFinder, "find_distributions"):
            @classmethod
            def find_distributions(cls, *args, **kwargs):
                if state["backport"]:
                    return iter(())  # as the backport's own install switches this one off
                return visible(PathFinder.find_distributions(*args, **kwargs), args, kwargs)

    at = [i for i, f in enumerate(sys.meta_path) if f is PathFinder]
    if at:
        sys.meta_path[at[0]] = OverlockHidingFinder
    else:
        sys.meta_path.insert(0, OverlockHidingFinder)
    # Imported already (a base .pth at start-up): forget it, as if it had never been found.
    for name in list(sys.modules):
        top = name.split(".", 1)[0]
        if top in modules:
            where = getattr(sys.modules[name], "__file__", None)
            if where is None or not allowed(where, modules[top]):
                del sys.modules[name]
    for name in ("importlib_metadata",):
        if name in sys.modules:
            patch_backport(sys.modules[name])
"""

# Shared by the bootstrap, every launcher and the import check (sync/importcheck.py). ``overlay``
# and ``base_sites`` are lists of absolute paths. Idempotent: a launcher started from an
# activated shell must not add the overlay twice or reorder what the bootstrap already did.
ACTIVATE_FUNCTION = (
    """
def _overlock_activate(prefix, overlay, base_sites, hide=None):
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
    if hide:
        _overlock_hide(hide)
    site.OVERLOCK_PREFIX = prefix
"""
    + HIDE_FUNCTION
)

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
OVERLOCK_HIDE = {hide!r}
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
        _overlock_activate(OVERLOCK_PREFIX, OVERLOCK_OVERLAY, OVERLOCK_BASE_SITES, OVERLOCK_HIDE)
    _overlock_chain()


_overlock_boot()
"""

_LAUNCHER = """\
# -*- coding: utf-8 -*-
# Written by overlock: sets up the overlay at {prefix!r} before importing the entry point,
# so this script works without activating the overlay.
import sys
{activate}
_overlock_activate({prefix!r}, {overlay!r}, {base_sites!r}, {hide!r})
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


def hide_spec(base: BaseEnv, prefix: Path) -> dict[str, dict[str, list[str]]] | None:
    """What the bootstrap hides (see HIDE_FUNCTION), or None when ``hide`` withholds nothing:
    each hidden module and distribution name, with the directories it may still come from."""
    if not base.withheld:
        return None
    own = overlay_site_dirs(base, prefix)
    lower = [list(entry.get("site-dirs") or ()) for entry in layers_of(base)]
    by = hidden_by(base)
    modules: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for name, found in sorted(hidden_modules(base).items()):
        depth = by.get(name, 0)
        allowed = own + [str(d) for dirs in lower[:depth] for d in dirs]
        names[name] = allowed
        for module in found:
            modules.setdefault(module, allowed)
    return {"modules": modules, "names": names}


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
        hide=hide_spec(base, prefix),
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
        hide=hide_spec(base, prefix),
        activate=ACTIVATE_FUNCTION,
        module=module,
        import_name=attr.split(".")[0],
        func_path=attr,
    )
    return (shebang(base.python) + body).encode("utf-8")


@functools.cache
def bootstrap_code() -> str:
    """A digest of the code written into every bootstrap and launcher.

    Part of the layout: a prefix synced by an overlock that wrote other code is rebuilt by
    the next sync (and `check` says so), rather than reported as edited by hand while sync
    finds nothing to do.
    """
    code = "\0".join((HIDE_FUNCTION, ACTIVATE_FUNCTION, _SITECUSTOMIZE, _LAUNCHER))
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def layout_key(base: BaseEnv, prefix: Path) -> dict[str, Any]:
    """What files in a generation depend on besides the wheels; a change means rebuild."""
    return {
        "bootstrap-code": bootstrap_code(),
        "prefix": str(abs_prefix(prefix)),
        "python": base.python,
        "base-prefix": base.prefix,
        "python-version": base.py_short,
        "scheme": dict(sorted(base.scheme.items())),
        "base-site-dirs": list(base.interpreter_site_dirs),
        # Lower overlays are written into the bootstrap and launchers (prefix/layers.py).
        **({"layers": lower_site_dirs(base)} if lower_site_dirs(base) else {}),
        # So is what ``hide`` withholds (base/hiding.py); absent without one, as before.
        **({"hide": hide, "hides": own_hides(base)} if (hide := hide_spec(base, prefix)) else {}),
    }
