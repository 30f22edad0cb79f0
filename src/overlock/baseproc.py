"""How overlock runs the base interpreter: never writing below the base.

Every subprocess of the base interpreter that overlock starts for its own purposes (probe,
byte-compilation, import check, shadowing check, build environments) gets its command line
and environment here, so one place guarantees what the README promises: nothing is written
below the base, even when the OS would allow it (an admin syncing as root, on a base they
own; a conda base whose stdlib ships no ``.pyc`` files, where a plain ``import`` would write
``BASE/lib/pythonX.Y/__pycache__``).

- ``-B`` and ``PYTHONDONTWRITEBYTECODE=1``: the import system writes no byte-code. The flag
  covers a process started with ``-E``/``-I`` (which ignore the variable) and is handed on by
  ``multiprocessing`` to its workers; the variable covers children that are started without
  our flags (PEP 517 hooks, console scripts a build runs).
- No ``PYTHONPYCACHEPREFIX``. A cache prefix redirects *reads* too, so every base module
  would be compiled from source in every process: measured with Python 3.11,
  ``python -B -c "import compileall, concurrent.futures, json, traceback,
  importlib.metadata"`` takes 0.07 s, and 0.41 s with ``-X pycache_prefix=EMPTY``; an
  import check of pandas would pay seconds. ``-B`` alone already keeps the import system
  from writing; the one writer left is an explicit ``py_compile`` call, and overlock's only
  one (the compile script of ``sync/install.py``) writes the overlay's files, into the overlay,
  and checks that each target directory really is inside it.

``-B`` is accepted by every CPython overlock can meet as a base (2.x included), so it is
always the first option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

NO_BYTECODE_FLAG = "-B"
NO_BYTECODE_ENV = "PYTHONDONTWRITEBYTECODE"

# Variables that would point the base interpreter at someone else's modules, home or
# startup code; a process that must see the base alone runs without them.
_PYTHON_PREFIX = "PYTHON"
# macOS's framework launcher tells a venv's interpreter which executable it is: inherited by a
# process of another interpreter, it makes that one report the wrong sys.executable.
_NEVER_INHERITED = ("__PYVENV_LAUNCHER__",)
# What a build backend must not inherit besides (it keeps the other PYTHON* settings, such as
# PYTHONIOENCODING): anything naming another environment, and the user site.
BUILD_DROPS = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)


def base_argv(
    python: str | os.PathLike[str], *args: str, flags: Sequence[str] = ("-I",)
) -> list[str]:
    """``[python, -B, *flags, *args]``: the base interpreter, writing no byte-code.

    ``flags`` are the other interpreter options (default ``-I``: the base alone, without
    ``PYTHONPATH``, the user site or the current directory); ``args`` follow them (``-c
    CODE ...``, ``-m MODULE ...``).
    """
    return [os.fspath(python), NO_BYTECODE_FLAG, *flags, *args]


def base_environ(
    environ: Mapping[str, str] | None = None,
    *,
    keep_python_vars: bool = False,
    drop: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a base-interpreter process: ``environ`` (default: ours), with
    byte-code writing off.

    Without ``keep_python_vars`` every ``PYTHON*`` variable is dropped, so the process sees
    the base alone; keep them where the environment is the point (the overlay made active
    through ``PYTHONPATH``); ``drop`` names more variables to leave out. ``extra`` is applied
    last, but never turns byte-code back on. This is the one policy for the environment of
    every base-interpreter process overlock starts.
    """
    source = os.environ if environ is None else environ
    dropped = {*_NEVER_INHERITED, *drop}
    env = {
        k: v
        for k, v in source.items()
        if (keep_python_vars or not k.startswith(_PYTHON_PREFIX)) and k not in dropped
    }
    if extra:
        env.update(extra)
    env[NO_BYTECODE_ENV] = "1"
    return env


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path``, all symbolic links followed, is ``root`` or below it (also followed)."""
    real = Path(path).resolve()
    return real.is_relative_to(Path(root).resolve())


def outside_link(link: Path, root: Path) -> str | None:
    """Where the symbolic link ``link`` leads when that is outside ``root``, else None.

    ``link`` is taken where it lies below ``root`` (which may be a directory being built, not
    yet where it will be used): a relative target is followed from there; an absolute one
    always leaves a generation being built, whatever it names.
    """
    target = link.readlink()
    if target.is_absolute():
        return str(target)
    if not is_inside(link.parent / target, root):
        return str(target)
    return None
