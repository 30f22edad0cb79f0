"""Import, in the base interpreter, what a new generation could have broken — before switching.

Metadata cannot see binary incompatibility: base pandas 2.0.3, compiled against numpy 1.x,
fails at import once numpy 2.x is shadowed in, although every Requires-Dist is satisfied. So
before a generation is switched in, one subprocess of the base interpreter, with the new
generation active exactly as the bootstrap would activate it, imports the top-level modules of

- every package that shadows a base package (its new copy must work with the base), and
- every base package that depends on a shadowed one (it must work with the new copy).

One process imports them all, in that order, and reports each result as a JSON line: a
process per module would cost a second each for stacks like pandas. A module whose import
kills the interpreter (a segfault in an extension) is still named, from the ``start`` line
printed before each import. The process runs with ``-I -B``: it must not see the user's
PYTHONPATH or user site, and it must never write byte-code into the base.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from overlock import children
from overlock.base.env import BaseEnv
from overlock.base.importscan import ImportScan, importable_top_level, importers_of
from overlock.baseproc import base_argv, base_environ
from overlock.errors import SyncError
from overlock.lock.pylock import Lock
from overlock.prefix.bootstrap import ACTIVATE_FUNCTION, hide_spec, stack_site_dirs

# Top-level directories that wheels ship by accident and nobody imports.
_NOT_MODULES = frozenset({"test", "tests", "testing", "docs", "doc", "examples", "benchmarks"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TIMEOUT = 600.0


@dataclass(frozen=True)
class ModuleToCheck:
    module: str
    dist: NormalizedName
    layer: str  # "overlay" (a shadowing package) or "base" (a dependent of a shadowed one)
    suspects: tuple[NormalizedName, ...]  # shadowed packages that could break it
    # Suspects found only by scanning its files for imports (its metadata names none of them).
    scanned: tuple[NormalizedName, ...] = ()


@dataclass(frozen=True)
class ImportFailure:
    check: ModuleToCheck
    error: str  # "ImportError: numpy.core.multiarray failed to import"
    blamed: NormalizedName | None  # the shadowed package that most likely caused it
    frames: tuple[str, ...] = ()  # file names in the traceback, innermost last
    # False when the import did not finish (a timeout, a crash): it may pass the next time,
    # so `check` does not keep the verdict.
    settled: bool = True

    def describe(self, lock: Lock, base: BaseEnv) -> str:
        who = f"{self.check.dist} ({self.check.layer})"
        text = f"`import {self.check.module}` of {who} fails: {self.error}"
        if self.check.scanned:
            text += (
                f" [{self.check.dist}'s files import {', '.join(self.check.scanned)};"
                " its metadata does not declare it]"
            )
        if self.blamed is not None:
            new = lock.by_name.get(self.blamed)
            old = base.by_name.get(self.blamed)
            if self.blamed == self.check.dist and new is not None and old is not None:
                text += (
                    f"; the overlay's {self.blamed} {new.version} (shadowing base {old.version})"
                    " does not work with the base"
                )
            elif new is not None and old is not None:
                text += (
                    f"; most likely cause: {self.blamed} {new.version} shadowing base {old.version}"
                )
        return text


class ImportCheckError(SyncError):
    """The new generation breaks an import; the previous overlay stays in place."""

    def __init__(self, failures: Sequence[ImportFailure], lock: Lock, base: BaseEnv) -> None:
        self.failures = tuple(failures)
        lines = [f.describe(lock, base) for f in failures]
        blamed = sorted({f.blamed for f in failures if f.blamed is not None})
        hint = "the previous overlay is untouched."
        if blamed:
            # A concrete requirement to add: the base's own version keeps its copy.
            pins = [
                f"`{n}=={base.by_name[n].version}`" if n in base.by_name else f"`{n}`"
                for n in blamed
            ]
            hint += (
                " Keep the base's copy of "
                + ", ".join(blamed)
                + f" (add {' and '.join(pins)} to requires), then lock again;"
            )
        hint += " `overlock sync --no-verify-imports` switches anyway"
        super().__init__(
            "the new overlay breaks imports in the base interpreter:\n  " + "\n  ".join(lines),
            hint=hint,
        )


# -- what to import ---------------------------------------------------------------------


def top_level_modules(files: Iterable[str], site_dirs: Sequence[str]) -> tuple[str, ...]:
    """Importable top-level names among installed files (paths relative to the prefix)."""
    names: set[str] = set()
    prefixes = [d.rstrip("/") + "/" for d in site_dirs]
    for path in files:
        rel = next((path[len(p) :] for p in prefixes if path.startswith(p)), None)
        if rel is None:
            continue
        head, sep, _rest = rel.partition("/")
        if sep:
            if head.endswith((".dist-info", ".data")) or head == "__pycache__":
                continue
            name = head
        else:
            module = _module_of_file(head)
            if module is None:
                continue
            name = module
        if _IDENT.match(name) and name not in _NOT_MODULES:
            names.add(name)
    return tuple(sorted(names))


def _module_of_file(filename: str) -> str | None:
    if filename.endswith(".py"):
        return filename[:-3]
    if filename.endswith((".so", ".pyd")):
        return filename.split(".", 1)[0]  # _foo.cpython-311-x86_64-linux-gnu.so
    return None


def modules_to_check(
    lock: Lock,
    base: BaseEnv,
    overlay_files: Mapping[NormalizedName, Sequence[str]],
    *,
    imported_by: Mapping[NormalizedName, Sequence[NormalizedName]] | None = None,
) -> list[ModuleToCheck]:
    """Shadowing packages' modules first, then base dependents of shadowed packages.

    A base dependent is one whose Requires-Dist names a shadowed package, or, when
    ``imported_by`` is given (see importscan.importers_of), one whose own files import it:
    metadata of distributions installed by Debian or conda often declares nothing.
    """
    shadowed = {p.name for p in lock.packages if p.name in base.by_name}
    if not shadowed:
        return []
    site_dirs = sorted({base.scheme["purelib"], base.scheme["platlib"]})
    out: list[ModuleToCheck] = []
    for name in sorted(shadowed):
        for module in top_level_modules(overlay_files.get(name, ()), site_dirs):
            out.append(ModuleToCheck(module, name, "overlay", (name,)))
    for dist in sorted(base.distributions, key=lambda d: d.name):
        if dist.name in lock.by_name:
            continue  # not visible: the overlay's copy wins, and is checked above
        declared = _depends_on(dist.parsed_requires, base, shadowed)
        scanned = set((imported_by or {}).get(dist.name, ())) & shadowed
        suspects = tuple(sorted(declared | scanned))
        if not suspects:
            continue
        only_scanned = tuple(sorted(scanned - declared))
        for module in importable_top_level(dist):
            if _IDENT.match(module) and module not in _NOT_MODULES:
                out.append(ModuleToCheck(module, dist.name, "base", suspects, only_scanned))
    return out


def runtime_checks(
    lock: Lock,
    base: BaseEnv,
    overlay_files: Mapping[NormalizedName, Sequence[str]],
    *,
    scan: ImportScan | None = None,
) -> list[ModuleToCheck]:
    """:func:`modules_to_check`, with dependents found by scanning the base's files too."""
    shadowed = sorted(p.name for p in lock.packages if p.name in base.by_name)
    if not shadowed:
        return []
    imported_by = importers_of(base, shadowed, scan=scan)
    return modules_to_check(lock, base, overlay_files, imported_by=imported_by)


def _depends_on(
    requires: Iterable[Requirement], base: BaseEnv, names: set[NormalizedName]
) -> set[NormalizedName]:
    # Only unconditional edges: what an extra pulls in is imported lazily, if at all, and
    # blaming it would send people after the wrong package.
    return {
        canonicalize_name(req.name)
        for req in requires
        if canonicalize_name(req.name) in names and base.evaluate(req.marker)
    }


# -- running the imports ----------------------------------------------------------------

_CHECKER = """
import json, sys, traceback
{activate}
# -I hides PYTHONPATH; a module system's directories are part of the base all the same.
sys.path[0:0] = {module_path!r}
_overlock_activate({prefix!r}, {overlay!r}, {base_sites!r}, {hide!r})
todo = json.loads(sys.stdin.read())
out = sys.__stdout__
# Modules a base .pth file imported at start-up are in sys.modules before the overlay can win.
for module in todo["watch"]:
    loaded = sys.modules.get(module)
    if loaded is not None:
        paths = list(getattr(loaded, "__path__", None) or [])
        where = getattr(loaded, "__file__", None)
        out.write(json.dumps({{"preloaded": module, "file": where, "path": paths}}) + "\\n")
for module in todo["modules"]:
    out.write(json.dumps({{"start": module}}) + "\\n")
    out.flush()
    try:
        __import__(module)
    except BaseException as exc:
        frames = [f.filename for f in traceback.extract_tb(exc.__traceback__)]
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        out.write(json.dumps({{"module": module, "error": text, "frames": frames}}) + "\\n")
    else:
        out.write(json.dumps({{"module": module, "ok": True}}) + "\\n")
    out.flush()
"""

# setuptools' own start-up shim: every venv's distutils-precedence.pth imports it, and
# setuptools is written to work with whichever copy got there first.
_STARTUP_SHIMS = frozenset({"_distutils_hack"})


def verify_imports(
    lock: Lock,
    base: BaseEnv,
    generation: Path,
    overlay_files: Mapping[NormalizedName, Sequence[str]],
    *,
    checks: Sequence[ModuleToCheck] | None = None,
    timeout: float = TIMEOUT,
) -> list[ImportFailure]:
    """Import what the new ``generation`` could break; return the failures (empty: all well).

    ``checks`` defaults to :func:`modules_to_check`; pass it when already computed.
    """
    if checks is None:
        checks = modules_to_check(lock, base, overlay_files)
    if not checks:
        return []
    gen = Path(os.path.abspath(generation))  # noqa: PTH100
    script = _CHECKER.format(
        activate=ACTIVATE_FUNCTION,
        prefix=str(gen),
        overlay=stack_site_dirs(base, gen),
        base_sites=list(base.site_dirs),
        module_path=list(base.module_path),
        hide=hide_spec(base, gen),
    )
    order = list(dict.fromkeys(c.module for c in checks))
    watch = sorted({c.module for c in checks if c.layer == "overlay"} - _STARTUP_SHIMS)
    env = base_environ()
    # Some packages draw on import (matplotlib picks a GUI backend); nothing must pop up.
    env.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="overlock-imports-") as cwd:
        try:
            proc = children.run(
                base_argv(base.python, "-c", script),
                input=json.dumps({"modules": order, "watch": watch}),
                capture_output=True,
                text=True,
                cwd=cwd,
                env=env,
                timeout=timeout,
                check=False,
            )
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = _text(exc.stdout)
            stderr = _text(exc.stderr)
            code = None
    results, started, preloaded = _parse(stdout)
    failures: list[ImportFailure] = []
    by_module = {c.module: c for c in checks}
    for module, places in preloaded.items():
        # An overlay .pth may append its own directory to the base's __path__ (matplotlib's
        # -nspkg.pth does): the base's entry still comes first and wins.
        if not places or not _inside(places[0], gen):
            why = _preloaded_error(module, places, base)
            failures.append(_failure(by_module[module], why, (), overlay_files, base))
    for module, (error, frames) in results.items():
        if error is not None:
            failures.append(_failure(by_module[module], error, frames, overlay_files, base))
    unfinished = [m for m in started if m not in results]
    if unfinished:
        module = unfinished[0]
        if code is None:
            why = f"did not finish within {timeout:.0f} s"
        else:
            tail = stderr.strip().splitlines()[-1:] or [f"exit status {code}"]
            why = f"the interpreter died ({tail[0]})"
        unsettled = _failure(by_module[module], why, (), overlay_files, base)
        failures.append(replace(unsettled, settled=False))
    elif code not in (0, None) and not failures:
        raise SyncError(
            f"the import check could not run in {base.python}: {stderr.strip()[-500:]}",
            hint="`overlock sync --no-verify-imports` skips it",
        )
    return failures


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _parse(
    stdout: str,
) -> tuple[dict[str, tuple[str | None, tuple[str, ...]]], list[str], dict[str, list[str]]]:
    results: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    started: list[str] = []
    preloaded: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a module printed something on import
        if not isinstance(data, dict):
            continue
        if "preloaded" in data:
            # In the order Python looks: the module's own file, then its __path__.
            places = [str(data["file"])] if data.get("file") else []
            places += [str(p) for p in data.get("path") or ()]
            preloaded[str(data["preloaded"])] = places
        elif "start" in data:
            started.append(str(data["start"]))
        elif "module" in data:
            error = None if data.get("ok") else str(data.get("error"))
            results[str(data["module"])] = (error, tuple(str(f) for f in data.get("frames", ())))
    return results, started, preloaded


def _inside(path: str, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def startup_files_naming(module: str, base: BaseEnv) -> list[str]:
    """The base's ``.pth`` files whose executable lines name ``module``."""
    word = re.compile(rf"(?<![\w.]){re.escape(module)}(?!\w)")
    found: list[str] = []
    for site_dir in base.site_dirs:
        try:
            entries = sorted(os.listdir(site_dir))  # noqa: PTH208
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith(".pth"):
                continue
            path = os.path.join(site_dir, entry)  # noqa: PTH118
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                continue
            if any(
                line.startswith(("import ", "import\t")) and word.search(line) for line in lines
            ):
                found.append(path)
    return found


def _preloaded_error(module: str, places: Sequence[str], base: BaseEnv) -> str:
    where = places[0] if places else "outside the overlay"
    pth = startup_files_naming(module, base)
    by = f"by the base's start-up file {', '.join(pth)}" if pth else "at interpreter start-up"
    return (
        f"`{module}` is already loaded from {where} {by}, before the overlay is on sys.path,"
        f" so the overlay's copy of {module} (and its submodules) is never used"
    )


def _failure(
    check: ModuleToCheck,
    error: str,
    frames: Sequence[str],
    overlay_files: Mapping[NormalizedName, Sequence[str]],
    base: BaseEnv,
) -> ImportFailure:
    return ImportFailure(
        check, error, _blame(check, error, frames, overlay_files, base), tuple(frames)
    )


def _blame(
    check: ModuleToCheck,
    error: str,
    frames: Sequence[str],
    overlay_files: Mapping[NormalizedName, Sequence[str]],
    base: BaseEnv,
) -> NormalizedName | None:
    """The shadowed package most likely at fault: in the traceback, in the message, or a suspect."""
    if check.layer == "overlay" and len(check.suspects) == 1:
        return check.suspects[0]
    site_dirs = sorted({base.scheme["purelib"], base.scheme["platlib"]})
    modules = {
        name: top_level_modules(overlay_files.get(name, ()), site_dirs) for name in check.suspects
    }
    # The innermost frame inside a suspect's overlay copy names it.
    for filename in reversed(frames):
        for name, mods in modules.items():
            if any(
                f"/{d}/{m}/" in filename or f"/{d}/{m}." in filename
                for d in site_dirs
                for m in mods
            ):
                return name
    for name, mods in modules.items():
        if any(re.search(rf"\b{re.escape(m)}\b", error) for m in mods):
            return name
    return check.suspects[0] if check.suspects else None
