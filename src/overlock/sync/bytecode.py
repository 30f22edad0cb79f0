"""Byte-compiling a generation with the base's own interpreter, in a pool of its processes that
writes only inside the overlay (see baseproc.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from overlock.base.env import BaseEnv
from overlock.baseproc import base_argv, base_environ
from overlock.children import Child

if TYPE_CHECKING:
    pass

# Runs in the base interpreter, whatever its version (3.6+), with ``-B`` (baseproc.py): the
# stdlib it imports is never cached below the base, while ``compile_file`` still writes the
# overlay's byte-code (py_compile ignores -B). Reads NUL-terminated paths (relative to BUILT)
# from stdin while the caller is still installing, and compiles each in a pool of processes,
# with SEEN embedded instead of BUILT so that tracebacks and co_filename name PREFIX/..., not
# a generation. A file whose ``__pycache__`` would not really lie inside BUILT (a symbolic
# link on the way) is refused, not compiled: its byte-code would be written elsewhere. Only
# stdlib functions go to the pool: they pickle under every start method (``-c`` code cannot
# be imported by a spawned worker).
_COMPILE_SCRIPT = """\
import compileall, functools, itertools, os, sys
built, seen = sys.argv[1], sys.argv[2]
real_built = os.path.realpath(built).rstrip(os.sep) + os.sep
refused = []
inside = {}  # directory -> whether its __pycache__ really lies inside BUILT

def really_inside(directory):
    ok = inside.get(directory)
    if ok is None:
        cache = os.path.join(directory, "__pycache__")
        ok = inside[directory] = os.path.realpath(cache).startswith(real_built)
    return ok

def paths():
    rest = b""
    for chunk in iter(functools.partial(sys.stdin.buffer.read1, 65536), b""):
        parts = (rest + chunk).split(b"\\0")
        rest = parts.pop()
        for rel in parts:
            rel = os.fsdecode(rel)
            full = os.path.join(built, rel)
            if not really_inside(os.path.dirname(full)):
                refused.append(rel)
                continue
            yield full, os.path.dirname(os.path.join(seen, rel))

compile_one = functools.partial(compileall.compile_file, quiet=1)
first, second = itertools.tee(paths())
names = (pair[0] for pair in first)
ddirs = (pair[1] for pair in second)
results = None
if (os.cpu_count() or 1) > 1:
    try:
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(os.cpu_count())
    except (ImportError, OSError, NotImplementedError):
        pool = None
    if pool is not None:
        with pool:
            results = list(pool.map(compile_one, names, ddirs, chunksize=4))
if results is None:
    results = [compile_one(name, ddir) for name, ddir in zip(names, ddirs)]
for rel in refused:
    print("not compiled: %s leads out of the overlay through a symbolic link" % rel)
sys.stdout.flush()
sys.exit(0 if all(results) and not refused else 1)
"""


class ByteCompiler:
    """Byte-compile files of a generation with the base interpreter, while it is being built.

    One base-interpreter process, with a pool of ``os.cpu_count()`` workers, compiles files
    as ``add`` hands them over, so compiling overlaps installing. ``finish`` waits for every
    file; ``close`` (or leaving the ``with`` block) stops the compiler if it is still
    running. Files already up to date are skipped by compileall, so reused packages cost a
    stat.
    """

    def __init__(self, base: BaseEnv, built: Path, seen: Path) -> None:
        # -E -s -S: nothing from the user's environment or the base's .pth files runs; -B
        # (base_argv): importing the stdlib caches nothing below the base. The compile writes
        # only the byte-code of the files given.
        # Output goes to a file, not a pipe: a compiler blocked on a full pipe would stop
        # reading its input while we are still writing to it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._sent: set[str] = set()
        # A process group of its own (children.py): close() kills the pool's workers too,
        # which would otherwise wait for work forever once their parent is killed.
        self._child = Child(
            base_argv(
                base.python, "-c", _COMPILE_SCRIPT, str(built), str(seen), flags=("-E", "-s", "-S")
            ),
            stdin=subprocess.PIPE,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=base_environ(),
        )
        self._proc = self._child.proc

    def __enter__(self) -> ByteCompiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, rel_paths: Iterable[str]) -> None:
        """Queue the ``.py`` files among ``rel_paths`` (relative to the built directory)."""
        batch = [p for p in rel_paths if p.endswith(".py") and p not in self._sent]
        if not batch:
            return
        self._sent.update(batch)
        assert self._proc.stdin is not None
        # A compiler that died early shows as its exit code in finish().
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(b"".join(os.fsencode(p) + b"\0" for p in batch))
            self._proc.stdin.flush()

    def add_tree(self, built: Path, directory: Path) -> None:
        """Queue every ``.py`` file under ``directory`` not queued yet (as compileall would)."""
        found: list[str] = []
        for root, _dirs, files in os.walk(directory):
            rel_root = os.path.relpath(root, built)
            found.extend(os.path.join(rel_root, f) for f in files if f.endswith(".py"))  # noqa: PTH118
        self.add(found)

    def finish(self) -> tuple[bool, str]:
        """Wait for every queued file: (all compiled, compiler output).

        A file that does not compile is not fatal (pip behaves the same): some wheels ship
        sources for other Python versions.
        """
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        code = self._proc.wait()
        self._child.close()  # workers that outlived the compiler, if any
        self._output.seek(0)
        output = self._output.read().decode("utf-8", "replace").strip()
        return code == 0, output

    def close(self) -> None:
        self._child.close()
        self._output.close()
