"""Install one wheel into a directory laid out with the base's install scheme.

A thin layer over PyPA's ``installer``: it only adds what an overlay needs on top of it —
launchers that set up the overlay themselves (so ``PREFIX/bin/tool`` works without
activation), ``INSTALLER`` = overlock, PEP 610 ``direct_url.json`` for direct references, and
errors a user can act on. Byte-code is compiled separately, for the whole generation at once
and by the *base* interpreter (``compile_bytecode``), because installer compiles with the
running interpreter, which may be another Python version than the base.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from overlock._bootstrap import render_launcher
from overlock.base import SCHEME_KEYS, BaseEnv
from overlock.cache import sha256_file
from overlock.errors import SyncError

if TYPE_CHECKING:
    from installer.scripts import ScriptSection

INSTALLER_NAME = b"overlock\n"


class _EscapingPathError(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass
class _OverlayDestination(SchemeDictionaryDestination):
    """installer's destination, with overlay launchers and a strict containment check."""

    base: BaseEnv | None = None
    stable_prefix: Path = Path()
    written: list[tuple[Scheme, RecordEntry]] = field(default_factory=list)

    def write_file(
        self,
        scheme: Scheme,
        path: str | os.PathLike[str],
        stream: BinaryIO,
        is_executable: bool,
    ) -> RecordEntry:
        # installer refuses these too, but with a bare ValueError; raise something that lets
        # the caller name the wheel and the offending path.
        root = os.path.abspath(self.scheme_dict[scheme])  # noqa: PTH100
        dest = os.path.abspath(os.path.join(root, os.fspath(path)))  # noqa: PTH100, PTH118
        if os.path.commonpath([root, dest]) != root:
            raise _EscapingPathError(os.fspath(path))
        return super().write_file(scheme, path, stream, is_executable)

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        assert self.base is not None
        if os.path.basename(name) != name or name in ("", ".", ".."):  # noqa: PTH119
            raise _EscapingPathError(name)
        data = render_launcher(self.base, self.stable_prefix, module, attr)
        with io.BytesIO(data) as stream:
            return self.write_to_fs(Scheme("scripts"), name, stream, is_executable=True)

    def finalize_installation(
        self,
        scheme: Scheme,
        record_file_path: str,
        records: Iterable[tuple[Scheme, RecordEntry]],
    ) -> None:
        self.written = list(records)
        super().finalize_installation(scheme, record_file_path, self.written)


def scheme_paths(base: BaseEnv, target: Path, name: str) -> dict[str, str]:
    """The base's install scheme (relative to a prefix) rooted at ``target``, for ``name``."""
    paths = {key: str(target / base.scheme[key]) for key in SCHEME_KEYS}
    # As pip does: headers go in a directory named after the project, so two projects'
    # ``config.h`` do not collide.
    paths["headers"] = str(target / base.scheme["headers"] / name)
    return paths


def direct_url_json(url: str, sha256: str) -> bytes:
    """PEP 610 ``direct_url.json`` for a wheel installed from ``url``."""
    data = {"url": url, "archive_info": {"hash": f"sha256={sha256}", "hashes": {"sha256": sha256}}}
    return (json.dumps(data, sort_keys=True) + "\n").encode()


def install_wheel(
    wheel: Path,
    target: Path,
    base: BaseEnv,
    *,
    direct_url: str | None = None,
    direct_url_info: Mapping[str, Any] | None = None,
    prefix: Path | None = None,
    requested: bool = False,
) -> list[str]:
    """Install ``wheel`` under ``target``; return the written paths, relative to ``target``.

    ``prefix`` is where ``target`` will be seen at run time (a generation directory is built
    at one path and reached through the stable prefix): launchers refer to it. It defaults
    to ``target``. ``direct_url`` is the URL of a direct reference; only then is PEP 610
    ``direct_url.json`` written; ``direct_url_info``, when given, is that file's content
    (a built directory or git commit). ``requested`` writes PEP 376 ``REQUESTED``.
    """
    stable = prefix if prefix is not None else target
    destination = _OverlayDestination(
        scheme_dict=scheme_paths(base, target, _project_name(wheel)),
        interpreter=base.python,
        script_kind="posix",
        base=base,
        stable_prefix=stable,
    )
    metadata: dict[str, bytes] = {"INSTALLER": INSTALLER_NAME}
    if requested:
        metadata["REQUESTED"] = b""
    try:
        with WheelFile.open(wheel) as source:
            source.validate_record(validate_contents=True)
            if direct_url_info is not None:
                text = json.dumps(dict(direct_url_info), sort_keys=True) + "\n"
                metadata["direct_url.json"] = text.encode()
            elif direct_url is not None:
                metadata["direct_url.json"] = direct_url_json(direct_url, sha256_file(wheel))
            with warnings.catch_warnings():
                # installer warns and skips __pycache__ entries shipped inside a wheel; that
                # is the safe outcome and not worth failing a sync over.
                warnings.simplefilter("ignore", RuntimeWarning)
                install(source, destination, metadata)
    except _EscapingPathError as exc:
        raise SyncError(
            f"{wheel.name} contains {exc.path!r}, which would be written outside the overlay;"
            " refusing to install it",
            hint="the wheel is malformed or malicious; check where it came from",
        ) from None
    except FileExistsError as exc:
        raise SyncError(
            f"{wheel.name} would overwrite {exc.filename or exc}, which another locked"
            " package already installed",
            hint="two locked packages ship the same file; lock without one of them",
        ) from exc
    except (InstallerError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise SyncError(f"{wheel.name} is not a valid wheel: {exc}") from exc
    except OSError as exc:
        raise SyncError(f"cannot install {wheel.name} into {target}: {exc}") from exc
    return sorted(_relative_paths(destination, target))


def _relative_paths(destination: _OverlayDestination, target: Path) -> set[str]:
    out: set[str] = set()
    root = os.path.abspath(target)  # noqa: PTH100
    for scheme, record in destination.written:
        full = os.path.abspath(os.path.join(destination.scheme_dict[scheme], record.path))  # noqa: PTH100, PTH118
        out.add(Path(os.path.relpath(full, root)).as_posix())
    return out


def _project_name(wheel: Path) -> str:
    try:
        return str(parse_wheel_filename(wheel.name)[0])
    except InvalidWheelFilename as exc:
        raise SyncError(f"{wheel.name} is not a wheel file name: {exc}") from exc


# Runs in the base interpreter, whatever its version (3.6+): compile each directory with
# the stable path embedded, so tracebacks and co_filename name PREFIX/..., not a generation.
_COMPILE_SCRIPT = """\
import compileall, os, sys
pairs = sys.argv[1:]
ok = True
workers = os.cpu_count() or 1
for i in range(0, len(pairs), 2):
    ok = compileall.compile_dir(pairs[i], ddir=pairs[i + 1], quiet=1, workers=workers) and ok
sys.exit(0 if ok else 1)
"""


def compile_bytecode(
    base: BaseEnv,
    dirs: Mapping[Path, Path] | Sequence[tuple[Path, Path]],
) -> tuple[bool, str]:
    """Byte-compile ``dirs`` (built path -> path seen at run time) with the base interpreter.

    Files already up to date are skipped by compileall, so reused packages cost a stat.
    Returns (all compiled, compiler output); a file that does not compile is not fatal
    (pip behaves the same): some wheels ship sources for other Python versions.
    """
    items = list(dirs.items()) if isinstance(dirs, Mapping) else list(dirs)
    args: list[str] = []
    for built, seen in items:
        if built.is_dir():
            args += [str(built), str(seen)]
    if not args:
        return True, ""
    # -E -s -S: nothing from the user's environment or the base's .pth files runs; the
    # compile touches only the directories given, never the base.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [base.python, "-E", "-s", "-S", "-c", _COMPILE_SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()
