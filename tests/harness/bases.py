"""Real base environments: venvs and conda-like prefixes, made in well under a second.

A base is only ever inspected through its own interpreter (a subprocess), never through the
running one: the running interpreter is the test runner, not the target.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from installer import install as installer_install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
from packaging.utils import canonicalize_name, parse_wheel_filename

SCHEME_KEYS = ("purelib", "platlib", "headers", "scripts", "data")

_SCHEME_PROBE = """
import json, sys, sysconfig
paths = sysconfig.get_paths()
print(json.dumps({
    "purelib": paths["purelib"],
    "platlib": paths["platlib"],
    "headers": paths["include"],
    "scripts": paths["scripts"],
    "data": paths["data"],
    "executable": sys.executable,
    "version": "%d.%d" % sys.version_info[:2],
    "prefix": sys.prefix,
}))
"""


def default_python() -> Path:
    """The real interpreter behind the test runner (not a pyenv shim, not the dev venv)."""
    return Path(sys.executable).resolve()


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without anything that would leak the runner's paths into a base."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONSTARTUP")
        and k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")
    }
    env["PYTHONNOUSERSITE"] = "1"
    # Running code in a base must not write __pycache__ into it: that would change its
    # checksum and look like the base was modified.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def _run_python(python: Path, code: str, *args: str) -> str:
    proc = subprocess.run(
        [str(python), "-c", code, *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


@dataclass
class Base:
    prefix: Path
    python: Path
    kind: str
    _scheme: dict[str, str] | None = field(default=None, repr=False)

    def scheme(self) -> dict[str, str]:
        if self._scheme is None:
            self._scheme = json.loads(_run_python(self.python, _SCHEME_PROBE))
        return dict(self._scheme)

    def site_packages(self) -> Path:
        return Path(self.scheme()["purelib"])

    @property
    def version(self) -> str:
        """The base interpreter's version, as "X.Y"."""
        return self.scheme()["version"]

    def install(self, *wheels: Path, compile: bool = True) -> None:
        scheme = self.scheme()
        paths = {key: scheme[key] for key in SCHEME_KEYS}
        name_dir = {}
        installed: list[Path] = []
        for wheel in wheels:
            name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
            # pip's layout for headers: include/site/pythonX.Y/<name> in venvs; close enough
            # for bases, which only need somewhere valid to put them.
            name_dir["headers"] = str(Path(scheme["headers"]) / name)
            destination = SchemeDictionaryDestination(
                {**paths, **name_dir},
                interpreter=str(self.python),
                script_kind="posix",
            )
            with WheelFile.open(wheel) as source:
                installer_install(source, destination, {"INSTALLER": b"harness"})
                dist_info_name = source.dist_info_dir
            record_files = self._record_files(dist_info_name)
            installed.extend(record_files)
            if self.kind == "conda":
                self._write_conda_meta(wheel, record_files)
        if compile:
            # Real bases ship bytecode; compiling with the base's own interpreter (its magic
            # number, its cache tag) means importing from the base later writes nothing.
            sources = [str(p) for p in installed if p.suffix == ".py"]
            if sources:
                _run_python(
                    self.python,
                    "import py_compile, sys\n"
                    "for f in sys.argv[1:]:\n"
                    "    py_compile.compile(f, doraise=True)\n",
                    *sources,
                )

    def _record_files(self, dist_info_name: str) -> list[Path]:
        scheme = self.scheme()
        for root in (Path(scheme["purelib"]), Path(scheme["platlib"])):
            record = root / dist_info_name / "RECORD"
            if record.is_file():
                with open(record, newline="") as f:
                    rows = list(csv.reader(f))
                return [Path(os.path.normpath(root / row[0])) for row in rows if row]
        raise FileNotFoundError(f"{dist_info_name}/RECORD not found in {self.prefix}")

    def _write_conda_meta(self, wheel: Path, files: list[Path]) -> None:
        name, version, _build, _tags = parse_wheel_filename(wheel.name)
        meta = self.prefix / "conda-meta"
        meta.mkdir(exist_ok=True)
        dist = f"{name}-{version}-py_0"
        record: dict[str, Any] = {
            "name": str(name),
            "version": str(version),
            "build": "py_0",
            "build_number": 0,
            "channel": "harness",
            "subdir": "noarch",
            "depends": [],
            "requested_spec": f"{name}=={version}",
            "files": sorted(p.relative_to(self.prefix).as_posix() for p in files),
        }
        (meta / f"{dist}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        with open(meta / "history", "a") as history:
            history.write(
                f"==> 2024-01-01 00:00:00 <==\n# cmd: harness install\n+harness::{dist}\n"
            )

    def checksum(self) -> str:
        return tree_checksum(self.prefix)

    def make_readonly(self) -> None:
        _chmod_tree(self.prefix, writable=False)

    def make_writable(self) -> None:
        _chmod_tree(self.prefix, writable=True)

    def run(
        self, code: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), "-c", code],
            capture_output=True,
            text=True,
            env=clean_env(env),
            check=False,
        )


class MakeBase(Protocol):
    """The ``make_base`` fixture: ``make_base(KIND, wheels=[...], python=None)``.

    KIND is "venv", "conda" (a conda-shaped prefix) or "system" (a copy of a CPython install).
    """

    def __call__(
        self,
        kind: str = "venv",
        wheels: Sequence[Path] = (),
        python: str | Path | None = None,
        **kwargs: Any,
    ) -> Base: ...


def _chmod_tree(root: Path, *, writable: bool) -> None:
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    # chmod needs ownership, not write access to the parent, so the walk order is free.
    paths = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        paths.extend(Path(dirpath, name) for name in [*dirnames, *filenames])
    for path in paths:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            continue  # Linux cannot chmod a link; chmod would follow it out of the tree
        mode = stat.S_IMODE(st.st_mode)
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~write_bits))


def tree_checksum(path: Path) -> str:
    """sha256 over every entry's relative path, type, mode bits and content (or link target)."""
    digest = hashlib.sha256()

    def entry(full: Path, rel: str) -> None:
        st = os.lstat(full)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            digest.update(f"L {rel} {mode:o} {full.readlink()}\n".encode())
        elif stat.S_ISDIR(st.st_mode):
            digest.update(f"D {rel} {mode:o}\n".encode())
        else:
            file_hash = hashlib.sha256()
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    file_hash.update(chunk)
            digest.update(f"F {rel} {mode:o} {file_hash.hexdigest()}\n".encode())

    entry(path, ".")
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, path)
        for name in sorted([*dirnames, *filenames]):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            entry(Path(dirpath, name), rel)
    return digest.hexdigest()


def make_venv_base(
    path: Path,
    wheels: Sequence[Path] = (),
    *,
    python: str | Path | None = None,
    system_site_packages: bool = False,
) -> Base:
    interpreter = Path(python) if python is not None else default_python()
    cmd = [str(interpreter), "-m", "venv", "--without-pip"]
    if system_site_packages:
        cmd.append("--system-site-packages")
    subprocess.run([*cmd, str(path)], check=True, env=clean_env(), capture_output=True)
    base = Base(prefix=path, python=path / "bin" / "python", kind="venv")
    if wheels:
        base.install(*wheels)
    return base


_REAL_PYTHON_PROBE = """
import json, sys, sysconfig
print(json.dumps({
    "executable": __import__("os").path.realpath(sys.executable),
    "stdlib": sysconfig.get_paths()["stdlib"],
    "version": "%d.%d" % sys.version_info[:2],
    "base_prefix": sys.base_prefix,
}))
"""


def make_conda_base(
    path: Path, wheels: Sequence[Path] = (), *, python: str | Path | None = None
) -> Base:
    """A conda-like prefix: a real (non-venv) Python installation rooted at ``path``.

    The interpreter binary is copied into ``path/bin`` and ``path/lib/pythonX.Y`` holds
    symlinks to the real stdlib (minus site-packages), so getpath finds its ``os.py``
    landmark there and makes ``path`` sys.prefix. A dynamically linked binary still finds
    libpython through its absolute RUNPATH; ``_check_libpython`` verifies that.
    """
    interpreter = Path(python) if python is not None else default_python()
    info = json.loads(_run_python(interpreter, _REAL_PYTHON_PROBE))
    real_exe = Path(info["executable"])
    stdlib = Path(info["stdlib"])
    version = info["version"]
    bin_dir = path / "bin"
    lib_dir = path / "lib" / f"python{version}"
    bin_dir.mkdir(parents=True)
    lib_dir.mkdir(parents=True)
    # A copy, never a hard link: make_readonly would otherwise chmod the real interpreter.
    exe = bin_dir / f"python{version}"
    shutil.copy2(real_exe, exe)
    for alias in ("python", "python3"):
        (bin_dir / alias).symlink_to(exe.name)
    for child in stdlib.iterdir():
        if child.name in ("site-packages", "dist-packages", "__pycache__"):
            continue
        (lib_dir / child.name).symlink_to(child)
    (lib_dir / "site-packages").mkdir()
    _check_libpython(exe)
    meta = path / "conda-meta"
    meta.mkdir()
    (meta / "history").write_text(f"==> 2024-01-01 00:00:00 <==\n# cmd: harness create {path}\n")
    return _self_rooted(Base(prefix=path, python=bin_dir / "python", kind="conda"), wheels)


# Left out of a system-like base's copy of the stdlib: big, and never imported by overlock or
# by the packages tests install (site-packages is made empty, as on a fresh install).
_STDLIB_SKIPPED = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3")


def make_system_base(
    path: Path, wheels: Sequence[Path] = (), *, python: str | Path | None = None
) -> Base:
    """A "system" base (neither venv nor conda): a copy of a real CPython installation.

    The interpreter binary and its stdlib are *copied* to ``path`` (``bin/pythonX.Y`` and
    ``lib/pythonX.Y``), with no byte-code at all: ``__pycache__`` directories are left out,
    so any import without ``-B`` would write into the base, which is what tests of "nothing
    is written below the base" need to see. The binary finds libpython through its absolute
    RUNPATH (``_check_libpython``); getpath finds ``os.py`` below ``path``, which makes it
    ``sys.prefix``.
    """
    interpreter = Path(python) if python is not None else default_python()
    info = json.loads(_run_python(interpreter, _REAL_PYTHON_PROBE))
    real_exe = Path(info["executable"])
    stdlib = Path(info["stdlib"])
    version = info["version"]
    bin_dir = path / "bin"
    bin_dir.mkdir(parents=True)
    exe = bin_dir / f"python{version}"
    shutil.copy2(real_exe, exe)
    for alias in ("python", "python3"):
        (bin_dir / alias).symlink_to(exe.name)
    lib_dir = path / "lib" / f"python{version}"

    def skipped(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == stdlib
        return {
            n
            for n in names
            if n == "__pycache__"
            or n.endswith(".pyc")
            or (top and (n in _STDLIB_SKIPPED or n in ("site-packages", "dist-packages")))
            or (top and n.startswith("config-"))
        }

    shutil.copytree(stdlib, lib_dir, ignore=skipped, symlinks=True)
    (lib_dir / "site-packages").mkdir()
    _check_libpython(exe)
    return _self_rooted(Base(prefix=path, python=bin_dir / "python", kind="system"), wheels)


def _self_rooted(base: Base, wheels: Sequence[Path]) -> Base:
    """``base`` after checking its interpreter takes ``base.prefix`` as both prefixes (a
    copied or hand-made installation, not a venv), with ``wheels`` installed."""
    reported = base.run("import sys; print(sys.prefix); print(sys.base_prefix)")
    expected = f"{base.prefix}\n{base.prefix}\n"
    if reported.returncode != 0 or reported.stdout != expected:
        raise RuntimeError(
            f"{base.kind}-like base at {base.prefix} is not self-rooted: {reported.stdout!r} "
            f"(expected {expected!r}); stderr: {reported.stderr}"
        )
    if wheels:
        base.install(*wheels)
    return base


def _check_libpython(exe: Path) -> None:
    """Fail loudly if the copied binary no longer finds libpython.

    pyenv and conda binaries carry a RUNPATH (absolute, or $ORIGIN/../lib) that still
    resolves from the copy; a binary without one would need LD_LIBRARY_PATH, which a base
    cannot rely on, so that case is reported rather than papered over.
    """
    ldd = shutil.which("ldd")
    if ldd is None:
        return
    out = subprocess.run([ldd, str(exe)], capture_output=True, text=True, check=False).stdout
    missing = [line.strip() for line in out.splitlines() if "not found" in line]
    if missing:
        raise RuntimeError(f"{exe}: shared libraries not found after copying: {missing}")


@functools.cache
def other_pythons() -> dict[str, Path]:
    """Working interpreters (>= 3.7, the oldest base overlock supports) of minor versions
    other than the running one, oldest first."""
    running = "{}.{}".format(*sys.version_info[:2])
    pyenv_root = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv"))
    searches = [
        (pyenv_root, "versions/*/bin/python3.*"),
        (Path("/root/.pyenv"), "versions/*/bin/python3.*"),
        (Path("/usr/bin"), "python3.*"),
        (Path("/usr/local/bin"), "python3.*"),
    ]
    found: dict[str, Path] = {}
    seen: set[Path] = set()
    for directory, pattern in searches:
        for path in sorted(directory.glob(pattern)):
            name = path.name
            # Only pythonX.Y itself: not -config, -gdb.py, or the 3.6/3.7 "m" ABI aliases.
            if not name[len("python") :].replace(".", "").isdigit():
                continue
            real = path.resolve()
            if real in seen or not os.access(real, os.X_OK):
                continue
            seen.add(real)
            try:
                out = subprocess.run(
                    [str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                    env=clean_env(),
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            version = out.stdout.strip()
            if out.returncode != 0 or not version:
                continue
            major, minor = (int(x) for x in version.split("."))
            if (major, minor) < (3, 7) or version == running or version in found:
                continue
            found[version] = path
    return dict(sorted(found.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))
