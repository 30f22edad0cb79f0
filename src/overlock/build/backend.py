"""PEP 517 builds for the base: metadata and wheels made by the *base* interpreter.

A build runs third-party code, so it happens only where the caller decided it may (see
``BuildPolicy`` and build/sources.py) and always in the same shape:

* an isolated build environment: ``BASE_PYTHON -m venv --without-pip`` in a temporary
  directory, so the backend runs on the base's Python (its ABI, its tags) but sees none of
  the base's packages;
* build requirements (``[build-system] requires`` and what ``get_requires_for_build_*``
  adds) resolved by overlock's own resolver against an empty base, from the overlay's
  index, and installed with ``installer``; a project that needs none (an in-tree backend)
  causes no index request at all;
* hooks called through ``build.ProjectBuilder`` with a runner that captures the backend's
  output, so a failure is reported with it (``BuildError``) instead of a traceback;
* metadata through ``prepare_metadata_for_build_wheel`` (or ``_editable``) when the backend
  offers it, so resolving never needs a full build;
* results cached in ``Cache`` under a key naming what was built and for which base
  (``build_key``): a source tree's hash, an sdist's sha256 or a git commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import subprocess
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from overlock import children
from overlock.base.env import BaseEnv
from overlock.baseproc import BUILD_DROPS, base_argv, base_environ
from overlock.cache import Cache, sha256_file
from overlock.dists.metadata import BadWheel, read_wheel_metadata
from overlock.dists.types import DistFile, PackageSource
from overlock.errors import BadInputError, BuildError, BuildRequiredError, OverlockError
from overlock.manifest.policy import WHAT_IS_BUILT
from overlock.resolve.resolver import resolve

if TYPE_CHECKING:
    from pyproject_hooks import SubprocessRunner

logger = logging.getLogger("overlock.build.backend")

Reporter = Callable[[str], None]
# A long step that says what it is doing while it runs (output.Output.step): "building foo
# from ./src …", then "done" on a terminal.
Step = Callable[[str], AbstractContextManager[object]]

# Directories that never take part in a source tree's identity: VCS data, caches, build
# output and environments. A backend writing build/ or *.egg-info into the tree (setuptools
# does) must not make the tree look changed.
# A bound on hashing a local tree (see build.sources.directory_key for the first guard).
MAX_TREE_FILES = 250_000
MAX_TREE_BYTES = 8 * 1024**3

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "build",
        "dist",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
    }
)
_OUTPUT_LIMIT = 200_000  # characters of backend output kept for an error report


class WheelSource(PackageSource, Protocol):
    """A package source that can also fetch files: what build requirements come from."""

    def download(self, file: DistFile) -> Path: ...


@dataclass(frozen=True)
class BuildPolicy:
    """What may be built. Sources named in overlay.toml always may, unless ``no_build``."""

    allow_build: bool = False  # [resolve] allow-build: sdist-only dependencies too
    no_build: bool = False  # --no-build: nothing at all (earlier builds in the cache still serve)

    @property
    def sdists(self) -> bool:
        """Whether releases published only as an sdist may be built."""
        return self.allow_build and not self.no_build


# -- identities ----------------------------------------------------------------------------


def tree_hash(root: Path) -> str:
    """sha256 over a source tree's files (paths, executable bits, contents, link targets).

    VCS directories, caches and build output are left out (``_SKIP_DIRS``, ``*.egg-info``).
    """
    digest = hashlib.sha256()
    root = Path(root)
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")
        )
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            full = Path(dirpath, name)
            rel = (rel_dir / name).as_posix()
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                digest.update(f"L {rel} {full.readlink()}\n".encode("utf-8", "surrogateescape"))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            files, size = files + 1, size + st.st_size
            if files > MAX_TREE_FILES or size > MAX_TREE_BYTES:
                raise BadInputError(
                    f"the source tree {root} is larger than a source tree may be here (more"
                    f" than {MAX_TREE_FILES} files or {MAX_TREE_BYTES // 1024**3} GiB)",
                    hint="point `path` at the project's own directory, not one above it",
                )
            x = "x" if st.st_mode & stat.S_IXUSR else "-"
            line = f"F {rel} {x} {sha256_file(full)}\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def build_key(base: BaseEnv, what: str, *, editable: bool = False) -> str:
    """The cache key of building ``what`` (e.g. ``tree:<hash>:<path>``) for ``base``.

    A wheel built by one Python minor version and implementation, for one platform, is only
    reused for the same; the base's installed packages do not matter (builds are isolated).
    """
    top_tag = base.tags[0] if base.tags else ""
    text = "\0".join(
        [what, "editable" if editable else "wheel", base.implementation, base.py_short, top_tag]
    )
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# -- the isolated environment --------------------------------------------------------------


def _clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for build subprocesses: nothing that points Python elsewhere.

    Byte-code writing is off (baseproc.base_environ): a build environment is a venv of the
    base interpreter, so every stdlib module a backend imports lives below the base.
    """
    settings = {"PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **(extra or {})}
    return base_environ(keep_python_vars=True, drop=BUILD_DROPS, extra=settings)


_PURELIB_PROBE = "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"


class BuildEnvironment:
    """A throw-away venv of the base interpreter; build requirements are installed into it."""

    def __init__(self, base: BaseEnv, path: Path, output: list[str]) -> None:
        self.base = base
        self.path = path
        self.output = output
        self.installed: dict[str, str] = {}  # canonical name -> version
        proc = children.run(
            base_argv(base.python, "-m", "venv", "--without-pip", str(path), flags=()),
            env=_clean_environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise BuildError(
                f"cannot create a build environment with the base interpreter {base.python}",
                output=proc.stdout + proc.stderr,
                hint="the base's Python needs its `venv` module (Debian: python3-venv)",
            )
        self.python = str(path / "bin" / "python")
        self._paths: dict[str, str] | None = None

    def paths(self) -> dict[str, str]:
        if self._paths is None:
            proc = children.run(
                base_argv(self.python, "-c", _PURELIB_PROBE, flags=()),
                env=_clean_environ(),
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise BuildError(
                    "the build environment's Python does not start", output=proc.stderr
                )
            self._paths = json.loads(proc.stdout)
        return self._paths

    def install(
        self, requirements: Collection[str], source: Callable[[], WheelSource], label: str
    ) -> None:
        """Resolve ``requirements`` (wheels only, from the index) and install what is missing."""
        if not requirements:
            return
        parsed: list[Requirement] = []
        for text in sorted(requirements):
            try:
                parsed.append(Requirement(text))
            except InvalidRequirement as exc:
                raise BuildError(
                    f"{label} declares an invalid build requirement {text!r}: {exc}"
                ) from None
        wanted = {canonicalize_name(r.name) for r in parsed}
        if wanted <= set(self.installed) and all(
            r.specifier.contains(self.installed[canonicalize_name(r.name)], prereleases=True)
            for r in parsed
        ):
            return
        index = source()
        empty = replace(self.base, distributions=(), hidden=())
        try:
            outcome = resolve(parsed, empty, index)
        except OverlockError as exc:
            raise BuildError(
                f"the build requirements of {label} ({', '.join(sorted(requirements))}) cannot"
                f" be met from the index: {exc.message}",
                hint="build requirements must be available as wheels for the base's Python",
            ) from exc
        from installer import install
        from installer.destinations import SchemeDictionaryDestination
        from installer.sources import WheelFile

        paths = self.paths()
        scheme = {
            "purelib": paths["purelib"],
            "platlib": paths["platlib"],
            "headers": paths["include"],
            "scripts": paths["scripts"],
            "data": paths["data"],
        }
        for pick in outcome.picks:
            if pick.name in self.installed:
                continue
            wheel = pick.release.wheel
            if wheel is None:  # pragma: no cover - the resolver picks wheels here
                raise BuildError(f"build requirement {pick.name} {pick.version} has no wheel")
            path = index.download(wheel)
            destination = SchemeDictionaryDestination(
                scheme, interpreter=self.python, script_kind="posix"
            )
            with WheelFile.open(path) as whl:
                install(whl, destination, {"INSTALLER": b"overlock-build\n"})
            self.installed[pick.name] = str(pick.version)
            self.output.append(
                f"overlock: installed build requirement {pick.name} {pick.version}\n"
            )


# -- building ------------------------------------------------------------------------------


class Builder:
    """Metadata and wheels of source trees, built for ``base`` and cached in ``cache``.

    ``index`` is called (once, lazily) only when a build requirement has to be installed.
    """

    def __init__(
        self,
        base: BaseEnv,
        cache: Cache,
        *,
        index: Callable[[], WheelSource] | None = None,
        reporter: Reporter | None = None,
        step: Step | None = None,
    ) -> None:
        self.base = base
        self.cache = cache
        self._index_factory = index
        self._index: WheelSource | None = None
        self.report: Reporter = reporter or (lambda _msg: None)
        self.step: Step = step or self._reported
        self.builds = 0  # backend invocations so far (tests and stats)

    @contextlib.contextmanager
    def _reported(self, text: str) -> Iterator[None]:
        self.report(text)
        yield

    def _source(self) -> WheelSource:
        if self._index is None:
            if self._index_factory is None:
                raise BuildError("build requirements are needed, but no index is configured")
            self._index = self._index_factory()
        return self._index

    def metadata(
        self,
        tree: Path,
        *,
        key: str,
        label: str,
        editable: bool = False,
        refuse: str | None = None,
    ) -> bytes:
        """The METADATA a build of ``tree`` would have, preferably without building it.

        ``refuse``: why running the backend is not allowed; only the cache may answer then.
        """
        cached = self.cache.built_metadata(key)
        if cached is not None:
            return cached
        wheel = self.cache.built_wheel(key)
        if wheel is not None:
            data = wheel_metadata(wheel, label)
        else:
            _refuse(refuse)
            data = self._run(tree, key=key, label=label, editable=editable, want_wheel=False)
        self.cache.put_built_metadata(key, data)
        return data

    def wheel(
        self,
        tree: Path,
        *,
        key: str,
        label: str,
        editable: bool = False,
        refuse: str | None = None,
    ) -> Path:
        """A wheel (PEP 660 editable one if ``editable``) built from ``tree``, from the cache
        if this key was built before. ``refuse`` as for ``metadata``."""
        cached = self.cache.built_wheel(key)
        if cached is not None:
            return cached
        _refuse(refuse)
        self._run(tree, key=key, label=label, editable=editable, want_wheel=True)
        built = self.cache.built_wheel(key)
        assert built is not None
        return built

    def _run(self, tree: Path, *, key: str, label: str, editable: bool, want_wheel: bool) -> bytes:
        from build import BuildBackendException, BuildException, ProjectBuilder

        output: list[str] = []
        kind: Literal["editable", "wheel"] = "editable" if editable else "wheel"
        self.builds += 1
        hook = "setup"
        try:
            with (
                self.step(f"building {label}" + (" (editable)" if editable else "")),
                self.cache.scratch() as tmp,
            ):
                env = BuildEnvironment(self.base, tmp / "env", output)
                builder = ProjectBuilder(
                    tree, python_executable=env.python, runner=_capturing_runner(output)
                )
                env.install(builder.build_system_requires, self._source, label)
                hook = f"get_requires_for_build_{kind}"
                env.install(builder.get_requires_for_build(kind), self._source, label)
                out_dir = tmp / "out"
                if not want_wheel:
                    hook = f"prepare_metadata_for_build_{kind}"
                    prepared = builder.prepare(kind, out_dir)
                    if prepared is None and editable:
                        prepared = builder.prepare("wheel", out_dir)
                    if prepared is not None:
                        return _read_metadata_file(Path(prepared), label)
                    # No prepare hook: the only way to the metadata is a full build, which
                    # is then kept, so sync will not build it again.
                hook = f"build_{kind}"
                built = Path(builder.build(kind, out_dir))
                data = wheel_metadata(built, label)
                self.cache.put_built_wheel(key, built)
                return data
        except BuildBackendException as exc:
            raise self._failure(label, hook, exc, output) from None
        except BuildException as exc:
            raise BuildError(
                f"cannot build {label}: {exc}",
                output=_joined(output),
                hint="check the project's pyproject.toml [build-system] table",
            ) from None

    def _failure(self, label: str, hook: str, exc: Exception, output: list[str]) -> OverlockError:
        from pyproject_hooks import HookMissing

        inner = getattr(exc, "exception", None)
        if isinstance(inner, HookMissing) and hook == "build_editable":
            return BuildRequiredError(
                f"{label} cannot be installed as editable: its build backend has no"
                " build_editable hook (PEP 660)",
                hint="upgrade its build backend, or drop `editable = true` for it",
            )
        text = _joined(output)
        if isinstance(inner, subprocess.CalledProcessError) and not text:
            text = str(inner.output or "")
        return BuildError(
            f"building {label} failed in the backend's {hook} hook ({exc})",
            output=text,
            hint="the output above is the build backend's; nothing was installed",
        )


def _refuse(reason: str | None) -> None:
    if reason is not None:
        raise BuildRequiredError(
            reason,
            hint=f"building runs the project's own code, so {WHAT_IS_BUILT}",
        )


def _capturing_runner(output: list[str]) -> SubprocessRunner:
    def run(
        cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        proc = children.run(
            list(cmd),
            cwd=cwd,
            env=_clean_environ(extra_environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        text = proc.stdout.decode("utf-8", "replace")
        output.append(text)
        if text.strip():
            logger.debug("%s", text.rstrip())
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, list(cmd), output=text)

    return run


def _joined(output: list[str]) -> str:
    text = "".join(output)
    return text[-_OUTPUT_LIMIT:]


def _read_metadata_file(dist_info: Path, label: str) -> bytes:
    try:
        return (dist_info / "METADATA").read_bytes()
    except OSError as exc:
        raise BuildError(f"the backend prepared no METADATA for {label}: {exc}") from None


def wheel_metadata(wheel: Path, label: str) -> bytes:
    """The METADATA of the wheel built for ``label``; BuildError when it has none."""
    try:
        return read_wheel_metadata(wheel)
    except BadWheel:
        raise BuildError(f"the wheel built for {label} ({wheel.name}) has no METADATA") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(
            f"the wheel built for {label} ({wheel.name}) is unreadable: {exc}"
        ) from None


# -- unpacking source archives -------------------------------------------------------------


def unpack_sdist(archive: Path, dest: Path) -> Path:
    """Unpack an sdist (``.tar.gz``, ``.zip``, ...) safely; return its project directory."""
    import tarfile

    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _check_member(member, archive)
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    _check_member(m.name, archive)
                    if m.issym() or m.islnk():
                        target = (Path(m.name).parent / m.linkname).as_posix()
                        _check_member(target, archive)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # pragma: no cover - Pythons before the extraction filters
                    tf.extractall(dest)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot unpack {archive.name}: {exc}") from None
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def _check_member(name: str, archive: Path) -> None:
    norm = os.path.normpath(name)
    if norm.startswith(("/", "..")) or Path(name).is_absolute():
        raise BuildError(f"{archive.name} contains {name!r}, which leaves the archive; refusing it")


__all__ = [
    "BuildEnvironment",
    "BuildPolicy",
    "Builder",
    "WheelSource",
    "build_key",
    "tree_hash",
    "unpack_sdist",
    "wheel_metadata",
]
