"""The base environment as data: probe it once, snapshot it, fingerprint it.

The running interpreter is never the target. Everything about the base (version, markers,
wheel tags, install scheme, installed distributions) comes from one subprocess of the base
interpreter, or from a snapshot file written by ``overlock base snapshot``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock import untrusted
from overlock.base import target
from overlock.baseproc import base_argv, base_environ
from overlock.errors import BaseProbeError
from overlock.inbase import probe as _probe
from overlock.limits import read_text_bounded

SNAPSHOT_FORMAT = 1

# The oldest base interpreter overlock supports: the probe, the bootstrap, launchers,
# byte-compilation and the import check are tested on every CPython from here up.
OLDEST_BASE = "3.7"
_OLDEST_BASE_INFO = (3, 7)

# Keys of ``BaseEnv.scheme``: paths relative to the overlay prefix, as pip computes them for
# ``pip install --prefix`` on the base interpreter.
SCHEME_KEYS = ("purelib", "platlib", "headers", "scripts", "data")


@dataclass(frozen=True)
class InstalledDist:
    """One distribution installed in the base."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...] = ()  # Requires-Dist, verbatim
    requires_python: str | None = None
    location: str = ""  # the sys.path entry it was found in
    installer: str | None = None
    top_level: tuple[str, ...] = ()  # importable top-level names, when known
    # Empty for the base itself; "group overlay 'NAME'" for a lower overlay's (prefix/layers.py).
    layer: str = ""

    @property
    def layer_label(self) -> str:
        return self.layer or "base"

    @cached_property
    def parsed_version(self) -> Version | None:
        try:
            return Version(self.version)
        except InvalidVersion:
            return None

    @cached_property
    def parsed_requires(self) -> tuple[Requirement, ...]:
        out: list[Requirement] = []
        for text in self.requires:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                # Real bases hold distributions with legacy metadata; one unparsable line
                # must not make the whole base unusable.
                continue
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires": list(self.requires),
            "requires_python": self.requires_python,
            "location": self.location,
            "installer": self.installer,
            "top_level": list(self.top_level),
            **({"layer": self.layer} if self.layer else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstalledDist:
        return cls(
            name=canonicalize_name(str(data["name"])),
            version=str(data["version"]),
            requires=tuple(data.get("requires") or ()),
            requires_python=data.get("requires_python"),
            location=str(data.get("location") or ""),
            installer=data.get("installer"),
            top_level=tuple(data.get("top_level") or ()),
            layer=str(data.get("layer") or ""),
        )


@dataclass(frozen=True)
class BaseEnv:
    """Everything overlock needs to know about the base environment."""

    python: str  # the base interpreter's executable, absolute
    prefix: str  # sys.prefix of the base
    kind: str  # "venv", "conda" or "system"
    python_version: str  # platform.python_version(), e.g. "3.11.7"
    implementation: str  # sys.implementation.name, e.g. "cpython"
    markers: Mapping[str, str]  # packaging.markers.default_environment() in the base
    tags: tuple[str, ...]  # supported wheel tags, most preferred first
    scheme: Mapping[str, str]  # SCHEME_KEYS -> path relative to the overlay prefix
    site_dirs: tuple[str, ...]  # the base's site-packages directories, in sys.path order
    distributions: tuple[InstalledDist, ...]  # visible ones only, first on sys.path wins
    hidden: tuple[InstalledDist, ...] = ()  # duplicates shadowed by an earlier sys.path entry
    extra: Mapping[str, Any] = field(default_factory=dict)  # probe facts kept for reports
    # Installed, but made invisible by overlay.toml's ``hide`` (base/hiding.py): not in
    # ``distributions``, still part of what the base *is* (fingerprint, drift).
    withheld: tuple[InstalledDist, ...] = ()

    @cached_property
    def by_name(self) -> Mapping[NormalizedName, InstalledDist]:
        return {d.name: d for d in self.distributions}

    @property
    def installed(self) -> tuple[InstalledDist, ...]:
        """Every visible distribution, ``hide`` or not: what the base holds."""
        return (*self.distributions, *self.withheld)

    @cached_property
    def parsed_tags(self) -> tuple[Tag, ...]:
        out: list[Tag] = []
        for text in self.tags:
            out.extend(parse_tag(text))
        return tuple(out)

    @property
    def python_version_info(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.python_version.split(".")[:3] if p.isdigit())

    @property
    def module_path(self) -> tuple[str, ...]:
        """Directories a module system put on ``PYTHONPATH``: the base's first layer."""
        found = self.extra.get("module_path") or ()
        return tuple(str(p) for p in found) if isinstance(found, list | tuple) else ()

    @property
    def interpreter_site_dirs(self) -> tuple[str, ...]:
        """``site_dirs`` without the module layer: what the interpreter itself always has.

        The bootstrap and launchers are written with these; they find the module layer on
        ``PYTHONPATH`` when they run, so loading or unloading a module needs no rebuild.
        """
        layer = set(self.module_path)
        return tuple(d for d in self.site_dirs if d not in layer)

    @property
    def py_short(self) -> str:
        """``X.Y`` of the base interpreter."""
        return ".".join(self.python_version.split(".")[:2])

    def marker_env(self, extra: str = "") -> dict[str, str]:
        env = dict(self.markers)
        env["extra"] = extra
        return env

    def evaluate(self, marker: Marker | None, extras: Sequence[str] = ("",)) -> bool:
        """Evaluate ``marker`` in the base's environment for any of ``extras``."""
        if marker is None:
            return True
        return any(marker.evaluate(self.marker_env(e)) for e in (extras or ("",)))

    def accepts_python(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        try:
            spec = SpecifierSet(requires_python)
        except ValueError:
            return True
        return spec.contains(self.python_version, prereleases=True)

    def fingerprint(self) -> str:
        """A short stable hash of what the lock depends on in this base.

        Python version and implementation, the top wheel tags, and the sorted name==version
        list: a redeploy that changes any of them changes the fingerprint.
        """
        return "sha256:" + hashlib.sha256(self.fingerprint_text().encode()).hexdigest()

    def fingerprint_text(self) -> str:
        lines = [
            f"python={self.implementation}-{self.python_version}",
            "tags=" + ",".join(self.tags[:3]),
        ]
        if self.module_path:
            # A module of plain modules (no metadata) is part of the base too; no line at
            # all without one, so fingerprints of bases without modules stay as they were.
            lines.append("module_path=" + os.pathsep.join(self.module_path))
        # ``hide`` changes what the overlay sees, not the base: no drift when it changes.
        lines.extend(sorted(f"{d.name}=={d.version}" for d in self.installed))
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "overlock-base-snapshot": SNAPSHOT_FORMAT,
            "python": self.python,
            "prefix": self.prefix,
            "kind": self.kind,
            "python_version": self.python_version,
            "implementation": self.implementation,
            "markers": dict(self.markers),
            "tags": list(self.tags),
            "scheme": dict(self.scheme),
            "site_dirs": list(self.site_dirs),
            "distributions": [d.to_json() for d in self.distributions],
            "hidden": [d.to_json() for d in self.hidden],
            "extra": dict(self.extra),
            **({"withheld": [d.to_json() for d in self.withheld]} if self.withheld else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "snapshot") -> BaseEnv:
        fmt = data.get("overlock-base-snapshot")
        if fmt != SNAPSHOT_FORMAT:
            raise BaseProbeError(
                f"{source} is not an overlock base snapshot of format {SNAPSHOT_FORMAT}"
                f" (found {fmt!r})",
                hint="write one with `overlock base snapshot --base PATH -o FILE`",
            )
        try:
            return cls(
                python=str(data["python"]),
                prefix=str(data["prefix"]),
                kind=str(data["kind"]),
                python_version=str(data["python_version"]),
                implementation=str(data["implementation"]),
                markers={str(k): str(v) for k, v in data["markers"].items()},
                tags=tuple(str(t) for t in data["tags"]),
                scheme={str(k): str(v) for k, v in data["scheme"].items()},
                site_dirs=tuple(str(s) for s in data["site_dirs"]),
                distributions=tuple(InstalledDist.from_json(d) for d in data["distributions"]),
                hidden=tuple(InstalledDist.from_json(d) for d in data.get("hidden", ())),
                extra=dict(data.get("extra") or {}),
                withheld=tuple(InstalledDist.from_json(d) for d in data.get("withheld", ())),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BaseProbeError(
                f"{source} is not a valid base snapshot: {exc!r}",
                hint="write it again with `overlock base snapshot`",
            ) from exc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


# Snapshots already read and checked by this process, by (path, text): an audit opens one per
# overlay, and every overlay of a facility may name the same one. Keyed by the text itself, so a
# file rewritten in between is read afresh; BaseEnv is immutable, so sharing it is safe.
_SNAPSHOTS: dict[tuple[str, str], BaseEnv] = {}
_SNAPSHOTS_KEPT = 4


def load_snapshot(path: Path) -> BaseEnv:
    try:
        text = read_text_bounded(path)
    except OSError as exc:
        raise BaseProbeError(
            f"cannot read base snapshot {path}: {exc.strerror or exc}",
            hint="write one with `overlock base snapshot --base PATH -o FILE`",
        ) from exc
    except UnicodeDecodeError as exc:
        raise BaseProbeError(f"base snapshot {path} is not UTF-8 text ({exc.reason})") from None
    known = _SNAPSHOTS.get((str(path), text))
    if known is not None:
        return known
    env = _parse_snapshot(path, text)
    if len(_SNAPSHOTS) >= _SNAPSHOTS_KEPT:
        _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
    _SNAPSHOTS[(str(path), text)] = env
    return env


def _parse_snapshot(path: Path, text: str) -> BaseEnv:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaseProbeError(f"base snapshot {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BaseProbeError(f"base snapshot {path} is not a JSON object")
    env = BaseEnv.from_json(data, source=str(path))
    try:
        _check_snapshot(env)
    except untrusted.UntrustedValue as exc:
        raise BaseProbeError(
            f"base snapshot {path}: {exc}",
            hint="write it again with `overlock base snapshot --base PATH -o FILE`",
        ) from None
    try:
        _ = env.parsed_tags  # the resolver and the index rank wheels by them
    except ValueError as exc:  # packaging's InvalidTag
        raise BaseProbeError(
            f"base snapshot {path} holds a wheel tag that does not parse: {exc}",
            hint="write it again with `overlock base snapshot --base PATH -o FILE`",
        ) from None
    return env


def _check_snapshot(env: BaseEnv) -> None:
    """A snapshot travels between machines: its interpreter is run by sync and its strings
    are printed, so each must be what the probe would have written."""
    for key in ("python", "prefix"):
        value = untrusted.text(getattr(env, key), key)
        if not Path(value).is_absolute():
            raise untrusted.UntrustedValue(f"{key} must be an absolute path, not {value!r}")
    untrusted.texts(env.tags, "tags")
    if set(env.scheme) != set(SCHEME_KEYS):
        raise untrusted.UntrustedValue(
            f"scheme must have exactly the keys {', '.join(SCHEME_KEYS)}"
        )
    for key, value in env.scheme.items():
        untrusted.relative_path(value, f"scheme.{key}")
    for field_name in ("kind", "python_version", "implementation"):
        untrusted.text(getattr(env, field_name), field_name)
    untrusted.texts(list(env.markers.values()), "markers")
    untrusted.texts(env.site_dirs, "site_dirs")
    for i, dist in enumerate((*env.distributions, *env.hidden, *env.withheld)):
        untrusted.name(dist.name, f"distributions[{i}].name")
        untrusted.text(dist.version, f"distributions[{i}].version")
        untrusted.texts(dist.requires, f"distributions[{i}].requires")


# --- finding and probing the base interpreter -------------------------------------------------

_PROBE_HINT = "pass the environment's prefix (the directory holding bin/python) or its python"

# Relative to an environment prefix, in order: POSIX venvs and conda, then Windows conda
# (python.exe at the top) and Windows venvs; the last two accept a bin/ directory itself.
_INTERPRETER_CANDIDATES = (
    "bin/python3",
    "bin/python",
    "python.exe",
    "Scripts/python.exe",
    "python3",
    "python",
)


# Variables that would make the base interpreter import something other than the base, or
# start as some other environment. ``-I`` already ignores PYTHON*, but the environment is
# also inherited by whatever the base's site hooks start, and macOS's launcher variable is
# honoured even under -I.
def _is_executable(path: Path) -> bool:
    if not path.is_file():
        return False
    if os.name == "nt":
        return path.suffix.lower() in {".exe", ".bat", ".cmd"}
    return os.access(path, os.X_OK)


def find_base_python(base: str | Path) -> Path:
    """The interpreter of ``base``: an environment prefix or a python executable.

    The result is absolute but not resolved: a venv's ``bin/python`` is a symlink to the
    interpreter it was made from, and following it would probe that interpreter instead of
    the venv.
    """
    # abspath, not resolve() (see above); it also folds "..", which Path.absolute() keeps.
    path = Path(os.path.abspath(Path(base).expanduser()))  # noqa: PTH100
    if not path.exists():
        if path.is_symlink():
            raise BaseProbeError(
                f"base {path} is a broken symbolic link (it points to {path.readlink()})",
                hint="was the environment moved or deleted?",
            )
        raise BaseProbeError(f"base {path} does not exist", hint=_PROBE_HINT)
    if path.is_dir():
        for rel in _INTERPRETER_CANDIDATES:
            candidate = path / rel
            if _is_executable(candidate):
                return candidate
        found = [rel for rel in _INTERPRETER_CANDIDATES if (path / rel).exists()]
        if found:
            raise BaseProbeError(
                f"base {path} has {found[0]} but it is not an executable file",
                hint="check its permissions, or pass another interpreter",
            )
        raise BaseProbeError(
            f"no Python interpreter in {path} (looked for {', '.join(_INTERPRETER_CANDIDATES)})",
            hint=_PROBE_HINT,
        )
    if not _is_executable(path):
        raise BaseProbeError(f"base {path} is not an executable file", hint=_PROBE_HINT)
    return path


# Where overlock's own activation sits on PYTHONPATH (PREFIX/.overlock/boot): never a layer
# of the base, even when overlock runs from an activated shell.
_BOOT_SUFFIX = ("/.overlock/boot", "\\.overlock\\boot")


def module_path_from_environ(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The directories a module system (Lmod, Environment Modules) put on ``PYTHONPATH``.

    They are a layer of the base: every program the user starts sees them ahead of the
    base's site-packages. Empty entries (the current directory), directories that do not
    exist and overlock's own bootstrap directories are not part of it.
    """
    value = (os.environ if environ is None else environ).get("PYTHONPATH", "")
    out: list[str] = []
    for entry in value.split(os.pathsep):
        if not entry:
            continue
        path = os.path.abspath(entry)  # noqa: PTH100
        if path.rstrip("/\\").endswith(_BOOT_SUFFIX) or not os.path.isdir(path):  # noqa: PTH112
            continue
        if path not in out:
            out.append(path)
    return tuple(out)


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join("    " + line for line in kept)


def _extract_report(stdout: str) -> Any:
    start = stdout.rfind(_probe.BEGIN)
    end = stdout.rfind(_probe.END)
    if start < 0 or end < start:
        return None
    body = stdout[start + len(_probe.BEGIN) : end]
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return None


def _failure(python: Path, proc: subprocess.CompletedProcess[str]) -> BaseProbeError:
    where = f"the base interpreter {python}"
    stderr = proc.stderr or ""
    detail = _tail(stderr) or _tail(proc.stdout or "")
    detail = f":\n{detail}" if detail else ""
    if proc.returncode != 0:
        if "SyntaxError" in stderr or "Unknown option: -I" in stderr:
            return BaseProbeError(
                f"{where} is too old to probe (exit status {proc.returncode}){detail}",
                hint=f"overlock supports bases with Python {OLDEST_BASE} or newer",
            )
        return BaseProbeError(
            f"{where} failed (exit status {proc.returncode}){detail}",
            hint=f"does `{python} -I -c pass` run? is this a Python interpreter?",
        )
    return BaseProbeError(
        f"{where} did not print a probe report{detail}",
        hint=f"is {python} a Python interpreter? does `{python} -I -c 'import sys'` run?",
    )


def probe(
    base: str | Path,
    *,
    module_path: Sequence[str] | None = None,
    timeout: float = 120.0,
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> BaseEnv:
    """Run one subprocess of the base interpreter and return what it reports.

    ``-I`` keeps PYTHONPATH, the user site and the current directory out, so the report is
    the base alone; the module-system layer (``module_path``, by default taken from this
    process's ``PYTHONPATH``) is passed as arguments and listed ahead of site-packages. ``-B``
    keeps the probe from writing bytecode below the base, which matters because bases are
    often root-owned and probed as root.
    """
    python = find_base_python(base)
    layer = module_path_from_environ() if module_path is None else tuple(module_path)
    source = resources.files("overlock.inbase").joinpath("probe.py").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="overlock-probe-") as tmp:
        try:
            # After ``-c SOURCE`` every argument is the script's: a directory named like an
            # option cannot become one.
            proc = runner(
                base_argv(python, "-c", source, *layer),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=base_environ(),
                cwd=tmp,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BaseProbeError(
                f"the base interpreter {python} did not answer within {timeout:g} s",
                hint="a slow file system or a hanging sitecustomize? snapshot the base where"
                " it is fast with `overlock base snapshot`",
            ) from exc
        except OSError as exc:
            raise BaseProbeError(
                f"cannot run the base interpreter {python}: {exc.strerror or exc}",
                hint=_PROBE_HINT,
            ) from exc

    report = _extract_report(proc.stdout or "")
    if not isinstance(report, dict):
        raise _failure(python, proc)
    return _from_report(python, report)


def _from_report(python: Path, report: Mapping[str, Any]) -> BaseEnv:
    where = f"the base interpreter {python}"
    error = report.get("error")
    version = report.get("python_version", "?")
    if error is not None:
        trace = _tail(str(report.get("traceback") or ""))
        raise BaseProbeError(
            f"probing {where} (Python {version}) failed inside the base:"
            f" {report.get('message')}" + (f"\n{trace}" if trace else ""),
            hint="this is probably a bug in overlock; please report it with the lines above",
        )
    if report.get("probe_format") != _probe.PROBE_FORMAT:
        raise BaseProbeError(f"{where} printed a probe report of an unknown format")
    facts = report.get("facts")
    if not isinstance(facts, Mapping):
        raise BaseProbeError(f"{where} printed a probe report without facts")
    try:
        py = target.version_info(facts)
        tags = target.tags(facts)
        markers = target.markers(facts)
    except target.FactsError as exc:
        raise BaseProbeError(
            f"{where} reported facts overlock cannot compute wheel tags from: {exc}",
            hint="this is probably a bug in overlock; please report it with"
            " `python -m sysconfig` of the base",
        ) from exc
    if py < _OLDEST_BASE_INFO:
        raise BaseProbeError(
            f"{where} is Python {version}",
            hint=f"overlock supports bases with Python {OLDEST_BASE} or newer",
        )
    data = {k: v for k, v in report.items() if k not in ("probe_format", "facts")}
    data["overlock-base-snapshot"] = SNAPSHOT_FORMAT
    data["python"] = str(python)
    data["tags"] = tags
    data["markers"] = markers
    extra = dict(data.get("extra") or {})
    # Kept so that a snapshot says what the tags were computed from.
    extra["facts"] = dict(facts)
    extra["libc"] = {k: v for k in ("glibc", "musl") if isinstance(v := facts.get(k), str)}
    data["extra"] = extra
    env = BaseEnv.from_json(data, source=f"the probe report of {python}")
    missing = [k for k in SCHEME_KEYS if k not in env.scheme]
    outside = [k for k, v in env.scheme.items() if Path(v).is_absolute() or v.startswith("..")]
    if missing or outside:
        raise BaseProbeError(
            f"{where} has an install scheme overlock cannot use for a prefix"
            f" (missing: {missing or 'none'}, outside the prefix: {outside or 'none'})",
            hint="report this with the output of `python -m sysconfig` in the base",
        )
    return env
