"""Jupyter kernelspecs that start the base interpreter with an overlay active.

A kernelspec is a directory ``KERNELS/NAME`` holding ``kernel.json`` (jupyter_client's
"Kernel specs" format): ``argv`` with ``{connection_file}`` filled in by the launcher,
``display_name``, ``language``, ``env`` added to the server's environment, and free-form
``metadata``. The kernel overlock writes is the base's own interpreter running
``-B -m ipykernel_launcher`` (no byte-code below the base, as for ``overlock run``);
``env`` puts the overlay's bootstrap directory (``PREFIX/.overlock/boot``) first on
``PYTHONPATH``, which is all activation takes (see prefix/activate.py). Every path names the
stable prefix, never a generation directory, so the kernel follows ``overlock sync`` and
``overlock rollback`` without being rewritten: a kernel started after a sync sees the new
overlay.

``PYTHONPATH`` is set, not prepended to: jupyter_client adds ``env`` to the environment of
whatever server starts the kernel (a JupyterHub single-user server knows nothing of the
user's shell), so the kernel gets the module-system layer the lock was made with
(``Lock.base_module_path``), not what the server happens to have. ``PATH`` is left alone
for the same reason: prepending would need jupyter_client's ``${PATH}`` substitution, which
clients before 7.0 would pass on literally. jupyter_client 7 and later substitute
``${VAR}`` in ``env`` values, so a literal ``$`` is written as ``$$``.

Where kernelspecs go is jupyter_core's rule, restated here because overlock does not depend
on Jupyter: ``$JUPYTER_DATA_DIR/kernels``, else the per-user data directory
(``$XDG_DATA_HOME/jupyter`` or ``~/.local/share/jupyter`` on Linux, ``~/Library/Jupyter``
on macOS, ``%APPDATA%\\jupyter`` on Windows), or ``DIR/share/jupyter/kernels`` for
``--prefix DIR`` (as ``ipykernel install --prefix``). Jupyter finds kernels by lower-case
directory name, so names are kept lower case.

A kernelspec overlock wrote carries ``metadata.overlock`` (the manifest and the prefix);
that is how ``install`` tells its own kernelspecs, which it updates in place, from anyone
else's, which it replaces only when asked to, and how ``remove`` and ``list`` find them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv
from overlock.baseproc import NO_BYTECODE_ENV, base_argv
from overlock.errors import BadInputError, OverlockError
from overlock.lock.pylock import Lock
from overlock.prefix.activate import ACTIVE_VAR
from overlock.prefix.bootstrap import boot_dir

SPEC_FILE = "kernel.json"
METADATA_KEY = "overlock"
# jupyter_client's rule for kernel names (kernelspec._kernel_name_pat).
_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_NAME_CHARS = "letters, digits, '.', '_' and '-'"
# The first ipykernel with the debug protocol JupyterLab's debugger speaks.
_DEBUGGER_SINCE = Version("6.0")


class KernelError(OverlockError):
    """A kernelspec cannot be written or removed as asked."""


@dataclass(frozen=True)
class KernelSpec:
    """One kernelspec as overlock writes it."""

    name: str
    display_name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    manifest: str
    prefix: str
    debugger: bool = False

    def to_json(self) -> dict[str, Any]:
        mine = {"manifest": self.manifest, "prefix": self.prefix}
        metadata: dict[str, Any] = {METADATA_KEY: mine}
        if self.debugger:
            metadata["debugger"] = True
        return {
            "argv": list(self.argv),
            "display_name": self.display_name,
            "language": "python",
            "env": {key: _no_substitution(value) for key, value in self.env.items()},
            "metadata": metadata,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class InstalledKernel:
    """A kernelspec overlock wrote, as found on disk."""

    name: str
    path: Path  # the kernelspec directory
    display_name: str
    manifest: str
    prefix: str


def _no_substitution(value: str) -> str:
    # jupyter_client >= 7 runs env values through string.Template.safe_substitute.
    return value.replace("$", "$$")


# -- names and places --------------------------------------------------------------------


def check_name(name: str) -> str:
    """``name`` as Jupyter will look it up (lower case), or BadInputError."""
    if not _NAME.fullmatch(name):
        raise BadInputError(
            f"{name!r} is not a valid kernel name: Jupyter allows only {_NAME_CHARS}",
            hint="use a name such as 'analysis-overlay'",
        )
    return name.lower()


def default_name(overlay_name: str) -> str:
    """A kernel name made from the overlay's name: every other character becomes ``-``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", overlay_name.lower()).strip("-.")
    return name or "overlay"


def default_display_name(overlay_name: str, base: BaseEnv) -> str:
    return f"Python {base.py_short} ({overlay_name}, overlock)"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def user_data_dir(environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The user's Jupyter data directory, as ``jupyter_core.paths.jupyter_data_dir()``."""
    if environ.get("JUPYTER_DATA_DIR"):
        return Path(environ["JUPYTER_DATA_DIR"])
    home = Path(environ.get("HOME") or Path.home())
    if platform == "darwin":
        if _truthy(environ.get("JUPYTER_PLATFORM_DIRS")):
            return home / "Library" / "Application Support" / "jupyter"
        return home / "Library" / "Jupyter"
    if platform == "win32":
        appdata = environ.get("APPDATA")
        if appdata:
            return Path(appdata) / "jupyter"
        return home / ".jupyter" / "data"
    xdg = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(xdg) / "jupyter"


def kernels_dir(prefix: Path | None, environ: Mapping[str, str]) -> Path:
    """``PREFIX/share/jupyter/kernels`` for ``--prefix``, else the user's kernels directory."""
    if prefix is not None:
        return Path(os.path.abspath(prefix)) / "share" / "jupyter" / "kernels"  # noqa: PTH100
    return user_data_dir(environ) / "kernels"


# -- what the kernel is ------------------------------------------------------------------


def ipykernel_version(base: BaseEnv, lock: Lock | None) -> str | None:
    """The ipykernel the kernel will import: the overlay's if it has one, else the base's."""
    if lock is not None:
        for package in lock.packages:
            if package.name == "ipykernel":
                return package.version
    dist = base.by_name.get(canonicalize_name("ipykernel"))
    return None if dist is None else dist.version


def kernel_spec(
    base: BaseEnv,
    prefix: Path,
    *,
    name: str,
    display_name: str,
    manifest: Path,
    lock: Lock | None,
) -> KernelSpec:
    """The kernelspec for the overlay at ``prefix``; KernelError if nothing has ipykernel."""
    version = ipykernel_version(base, lock)
    if version is None:
        raise KernelError(
            f"neither the base ({base.prefix}) nor the overlay has ipykernel, which a"
            " Jupyter kernel runs",
            hint="`overlock add ipykernel` and `overlock sync`, then install the kernel again",
        )
    stable = Path(os.path.abspath(prefix))  # noqa: PTH100  (a symlink: keep it unresolved)
    # The module layer the overlay was resolved against; the live one when nothing is locked.
    layer = lock.base_module_path if lock is not None else base.module_path
    env = {
        "PYTHONPATH": os.pathsep.join([str(boot_dir(stable)), *layer]),
        ACTIVE_VAR: str(stable),
        # As for `overlock run`: a kernel (whoever runs it, root included) writes no
        # byte-code below the base (baseproc.py); `-B` below covers the same.
        NO_BYTECODE_ENV: "1",
    }
    try:
        debugger = Version(version) >= _DEBUGGER_SINCE
    except InvalidVersion:
        debugger = False
    return KernelSpec(
        name=name,
        display_name=display_name,
        argv=tuple(
            base_argv(base.python, "-m", "ipykernel_launcher", "-f", "{connection_file}", flags=())
        ),
        env=env,
        manifest=str(manifest),
        prefix=str(stable),
        debugger=debugger,
    )


# -- on disk -----------------------------------------------------------------------------


def _read_owned(directory: Path) -> InstalledKernel | None:
    """The kernelspec in ``directory`` if overlock wrote it, else None (also when unreadable)."""
    try:
        data = json.loads((directory / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    metadata = data.get("metadata")
    mine = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(mine, dict):
        return None
    display = data.get("display_name")
    return InstalledKernel(
        name=directory.name,
        path=directory,
        display_name=display if isinstance(display, str) else directory.name,
        manifest=str(mine.get("manifest", "")),
        prefix=str(mine.get("prefix", "")),
    )


def _refuse_base(target: Path, base: BaseEnv) -> None:
    # A read-only base is the point of overlock: `--prefix` must not aim into it.
    mine = Path(os.path.realpath(target))
    for raw in (base.prefix, *base.site_dirs):
        if not raw:
            continue  # realpath("") would be the current directory
        theirs = Path(os.path.realpath(raw))
        if mine == theirs or mine.is_relative_to(theirs):
            raise BadInputError(
                f"{target} is inside the base at {theirs}; overlock never writes into the base",
                hint="use the default (your Jupyter data directory) or a --prefix outside the base",
            )


def install(spec: KernelSpec, where: Path, base: BaseEnv, *, replace: bool = False) -> Path:
    """Write ``spec`` to ``where/NAME/kernel.json``; returns the kernelspec directory.

    A kernelspec overlock wrote for the same manifest is updated in place. Anything else
    under that name (another tool's kernelspec, another overlay's) is replaced only with
    ``replace``, and then as a whole directory, as ``jupyter kernelspec install --replace``.
    """
    target = where / spec.name
    _refuse_base(target, base)
    if target.exists() or target.is_symlink():
        owned = _read_owned(target) if target.is_dir() and not target.is_symlink() else None
        same = owned is not None and owned.manifest == spec.manifest
        if not same and not replace:
            whose = (
                "a kernelspec another tool wrote"
                if owned is None
                else f"overlock's kernel for {owned.manifest}"
            )
            raise KernelError(
                f"{target} already holds {whose}",
                hint="choose another --name, or pass --replace to overwrite it",
            )
        if not same:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
    target.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target / SPEC_FILE, spec.dumps())
    return target


def remove(name: str, where: Path) -> Path:
    """Delete the kernelspec ``where/NAME`` that overlock wrote; returns its directory."""
    target = where / check_name(name)
    if not target.exists():
        raise KernelError(
            f"there is no kernel {name!r} in {where}",
            hint="`overlock kernel list` shows the kernels overlock installed there",
        )
    if target.is_symlink() or _read_owned(target) is None:
        raise KernelError(
            f"{target} was not written by overlock; leaving it alone",
            hint=f"`jupyter kernelspec remove {target.name}` removes any kernelspec",
        )
    shutil.rmtree(target)
    return target


def installed(where: Path) -> list[InstalledKernel]:
    """The kernelspecs overlock wrote in ``where``, by name."""
    try:
        entries: Sequence[Path] = sorted(where.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            kernel = _read_owned(entry)
            if kernel is not None:
                found.append(kernel)
    return found
