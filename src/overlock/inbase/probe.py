"""Runs INSIDE the base interpreter and prints one JSON report of raw facts about it.

``overlock.base.env.probe`` starts ``<base python> -I -B -c <this file's source> [MODULE_DIR ...]``.
This file is never imported by overlock in the base and uses nothing but the standard library
of the oldest Python overlock supports as a base (3.7): no walrus, no ``match``, no
positional-only markers, no ``importlib.metadata`` (3.8+), no ``str.removeprefix`` (3.9+).
``from __future__ import annotations`` keeps the type hints (checked by mypy in the runner)
from being evaluated. Tags and markers are *not* computed here but in the runner
(``overlock.base.target``) from the facts reported, so the result never depends on which
``packaging`` the base or the runner has.

The arguments are directories a module system put on ``PYTHONPATH`` when overlock ran: ``-I``
hides them from ``sys.path``, but they are part of the base the user's programs see, so their
distributions are listed first, ahead of (and shadowing) site-packages, as at import time.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import site
import subprocess
import sys
import sysconfig
import traceback
from email.parser import HeaderParser
from typing import Any

PROBE_FORMAT = 2
BEGIN = "--- overlock probe report begin ---"
END = "--- overlock probe report end ---"

# A prefix nobody has: the scheme is expanded for it, then made relative again.
_SENTINEL_PREFIX = os.path.abspath(os.path.join(os.sep, "__overlock_prefix_sentinel__"))

# The sysconfig variables the runner needs for wheel tags (packaging.tags reads the same).
_CONFIG_VARS = (
    "SOABI",
    "EXT_SUFFIX",
    "Py_DEBUG",
    "WITH_PYMALLOC",
    "Py_GIL_DISABLED",
    "py_version_nodot",
)

# Metadata files larger than this are not read: a hostile or broken base must not make the
# probe read gigabytes. Real METADATA headers are a few KiB (the description follows them).
_MAX_METADATA = 8 * 1024 * 1024


def _emit(report: dict[str, Any]) -> None:
    # Sentinels, because the base's own .pth files or sitecustomize may print to stdout
    # before we get here; ASCII-only JSON, because the base's stdout encoding is unknown.
    sys.stdout.write("\n" + BEGIN + "\n" + json.dumps(report, sort_keys=True) + "\n" + END + "\n")
    sys.stdout.flush()


def _norm(path: str) -> str:
    # abspath, not realpath: sys.path entries are compared as the base spells them.
    return os.path.normcase(os.path.abspath(path))


def _canonical(name: str) -> str:
    # PEP 503 normalization, as packaging.utils.canonicalize_name.
    return re.sub(r"[-_.]+", "-", name).lower()


def _read(path: str) -> str | None:
    try:
        # Not a FIFO or device someone left in a metadata directory: reading it could block.
        if not os.path.isfile(path) or os.path.getsize(path) > _MAX_METADATA:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def top_level_from_record(record: str) -> list[str]:
    # Public (unlike the rest of this file) because `overlock check` reads RECORDs of the
    # prefix the same way; it cannot live elsewhere, as this file runs with the stdlib only.
    names = set()
    for row in csv.reader(record.splitlines()):
        if not row or not row[0]:
            continue
        parts = row[0].replace("\\", "/").split("/")
        first = parts[0]
        # Files outside the install dir (scripts via ../../bin), metadata dirs and .pth
        # files are not importable names.
        if first in ("", ".", "..", "__pycache__") or first.endswith(
            (".dist-info", ".egg-info", ".data")
        ):
            continue
        if len(parts) == 1:
            if first.endswith(".pth"):
                continue
            if first.endswith(".py"):
                stem = first[: -len(".py")]
            elif first.endswith((".so", ".pyd")):
                # Extension modules: "name.cpython-312-x86_64-linux-gnu.so" imports as "name".
                stem = first.split(".", 1)[0]
            else:
                continue
            if stem.isidentifier():
                names.add(stem)
        elif first.isidentifier():
            names.add(first)
    return sorted(names)


def _installed_files_as_record(text: str) -> str:
    # installed-files.txt (setuptools' egg-info) lists paths relative to the egg-info
    # directory: "../six.py". Relative to the site directory they are one level up.
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("../"):
            rows.append(line[3:])
    return "\n".join(rows)


class _MetaDir:
    """A ``*.dist-info`` or ``*.egg-info`` directory, an ``*.egg-info`` file, or EGG-INFO."""

    def __init__(self, path: str, is_file: bool) -> None:
        self.path = path
        self.is_file = is_file

    def text(self, name: str) -> str | None:
        if self.is_file:
            # A bare egg-info file is PKG-INFO and nothing else.
            return _read(self.path) if name == "PKG-INFO" else None
        return _read(os.path.join(self.path, name))

    def headers(self) -> Any:
        # Header fields only: the long description after the first blank line is most of
        # the file, and parsing it is most of the probe's time on a large base.
        text = self.text("METADATA")
        if text is None:
            text = self.text("PKG-INFO")
        if text is None:
            return None
        end = text.find("\n\n")
        return HeaderParser().parsestr(text if end < 0 else text[: end + 1])

    def requires(self, headers: Any) -> list[str]:
        found = headers.get_all("Requires-Dist")
        if found is not None:
            return [str(r) for r in found]
        text = self.text("requires.txt")
        return _requires_txt(text) if text is not None else []

    def top_level(self) -> list[str]:
        text = self.text("top_level.txt")
        if text:
            names = set()
            for line in text.splitlines():
                # Namespace entries look like "google/protobuf"; the import name is the first part.
                first = line.strip().replace("\\", "/").split("/")[0]
                if first:
                    names.add(first)
            return sorted(names)
        record = self.text("RECORD")
        if record:
            return top_level_from_record(record)
        files = self.text("installed-files.txt")
        if files:
            return top_level_from_record(_installed_files_as_record(files))
        return []


def _requires_txt(text: str) -> list[str]:
    """``requires.txt`` of an egg-info as ``Requires-Dist`` lines (importlib.metadata's rule)."""
    out = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        extra, _, markers = section.partition(":")
        conditions = []
        if markers:
            conditions.append("(" + markers + ")" if extra else markers)
        if extra:
            conditions.append('extra == "' + extra + '"')
        # A URL requirement needs a space before its marker's ";".
        space = " " if "@" in line else ""
        out.append(line + (space + "; " + " and ".join(conditions) if conditions else ""))
    return out


def _meta_dirs(entry: str) -> list[_MetaDir]:
    try:
        names = os.listdir(entry)
    except OSError:
        return []
    found = []
    for name in names:
        low = name.lower()
        path = os.path.join(entry, name)
        if low.endswith(".dist-info") and os.path.isdir(path):
            found.append(_MetaDir(path, False))
        elif low.endswith(".egg-info"):
            found.append(_MetaDir(path, not os.path.isdir(path)))
    if entry.lower().endswith(".egg"):
        # A zipped-egg directory put on sys.path by easy-install.pth.
        egg_info = os.path.join(entry, "EGG-INFO")
        if os.path.isdir(egg_info):
            found.append(_MetaDir(egg_info, False))
    return found


def _read_dist(meta: _MetaDir) -> dict[str, Any] | None:
    headers = meta.headers()
    name = headers.get("Name") if headers is not None else None
    if not name:
        # Leftovers of a failed uninstall (an empty dist-info) carry no name; nothing can
        # depend on them.
        return None
    version = headers.get("Version")
    if version is None:
        return None
    installer = (meta.text("INSTALLER") or "").strip()
    return {
        "name": _canonical(str(name).strip()),
        "version": str(version).strip(),
        "requires": meta.requires(headers),
        "requires_python": headers.get("Requires-Python"),
        "installer": installer or None,
        "top_level": meta.top_level(),
    }


def _distributions(
    base_path: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    visible: dict[str, dict[str, Any]] = {}
    hidden: list[dict[str, Any]] = []
    problems: list[str] = []
    with_metadata: list[str] = []
    seen_entries = set()
    for entry in base_path:
        key = _norm(entry)
        if key in seen_entries:
            continue
        seen_entries.add(key)
        found = []
        for meta in _meta_dirs(entry):
            try:
                info = _read_dist(meta)
            except Exception as exc:
                problems.append("unreadable metadata at " + meta.path + ": " + repr(exc))
                continue
            if info is not None:
                info["location"] = entry
                # Directory listing order is arbitrary; two copies of one name in the same
                # directory are ordered by their metadata directory so the result is stable.
                found.append((info["name"], meta.path, info))
        if found:
            with_metadata.append(entry)
        for name, _where, info in sorted(found, key=lambda t: (t[0], t[1])):
            if name in visible:
                hidden.append(info)
            else:
                visible[name] = info
    return [visible[n] for n in sorted(visible)], hidden, problems, with_metadata


def _scheme(is_venv: bool) -> tuple[str, dict[str, str]]:
    get_preferred = getattr(sysconfig, "get_preferred_scheme", None)
    if get_preferred is not None:
        name = get_preferred("prefix")
    else:
        name = "nt" if os.name == "nt" else "posix_prefix"
    if name == "posix_local":
        # Debian's patched sysconfig answers "posix_local" (<prefix>/local/lib/.../dist-packages)
        # for the system Python: meant for /usr/local, not for an explicit --prefix, where pip
        # users expect <prefix>/lib/pythonX.Y/site-packages as on every other Python.
        name = "posix_prefix"
    if name == "osx_framework_library":
        # pip does the same for --prefix: the framework layout only makes sense under /Library.
        name = "posix_prefix"
    p = _SENTINEL_PREFIX
    paths = sysconfig.get_paths(
        name, vars={"base": p, "platbase": p, "installed_base": p, "installed_platbase": p}
    )
    include = paths["include"]
    if is_venv:
        # pip's historical header location inside virtual environments.
        py_xy = "python%d.%d" % sys.version_info[:2]
        include = os.path.join(p, "include", "site", py_xy)
    chosen = {
        "purelib": paths["purelib"],
        "platlib": paths["platlib"],
        "scripts": paths["scripts"],
        "data": paths["data"],
        # The directory only: installers append the distribution's name, as pip does.
        "headers": include,
    }
    rel = {}
    for key, value in chosen.items():
        r = os.path.relpath(value, p)
        rel[key] = r.replace(os.sep, "/") if os.sep != "/" else r
    return name, rel


def _site_dirs(base_path: list[str], with_metadata: list[str], module_path: list[str]) -> list[str]:
    getsitepackages = getattr(site, "getsitepackages", None)
    known = {_norm(d) for d in module_path}
    if getsitepackages is not None:
        known.update(_norm(d) for d in getsitepackages())
    meta = {_norm(d) for d in with_metadata}
    out = []
    seen = set()
    for entry in base_path:
        key = _norm(entry)
        if key in seen or not os.path.isdir(entry):
            continue
        if key in known or key in meta:
            seen.add(key)
            out.append(entry)
    return out


def _pyvenv_cfg(prefix: str) -> dict[str, str] | None:
    path = os.path.join(prefix, "pyvenv.cfg")
    text = _read(path) if os.path.isfile(path) else None
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _sitecustomize() -> str | None:
    mod = sys.modules.get("sitecustomize")
    if mod is not None:
        return str(getattr(mod, "__file__", None) or "<built in>")
    import importlib.util

    try:
        spec = importlib.util.find_spec("sitecustomize")
    except Exception:  # a broken sitecustomize is a fact to report, not a reason to fail
        return "<unimportable>"
    if spec is None:
        return None
    return str(spec.origin or "<namespace>")


def _glibc() -> str | None:
    # What packaging._manylinux asks first; the version string is "glibc 2.36".
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    if not text:
        return None
    parts = text.split()
    return parts[1] if len(parts) == 2 and parts[0] == "glibc" else None


def _musl() -> str | None:
    # packaging._musllinux runs the interpreter named in the executable's ELF header; the
    # musl loader prints "Version 1.2.4" on stderr when run without arguments.
    import glob

    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        try:
            proc = subprocess.run(
                [loader],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(rb"Version (\d+)\.(\d+)", proc.stderr)
        if match:
            return match.group(1).decode() + "." + match.group(2).decode()
    return None


def _full_version(info: Any) -> str:
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def _markers() -> dict[str, str]:
    # packaging.markers.default_environment(), key for key.
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _tag_facts() -> dict[str, Any]:
    """What ``base/target.py`` needs to compute the wheel tags packaging would compute here."""
    import importlib.machinery

    system = platform.system()
    mac_release, _, mac_machine = platform.mac_ver() if system == "Darwin" else ("", "", "")
    glibc = _glibc() if system == "Linux" else None
    return {
        "version_info": list(sys.version_info[:3]),
        "implementation": {"name": sys.implementation.name},
        "config": {k: sysconfig.get_config_var(k) for k in _CONFIG_VARS},
        "extension_suffixes": list(importlib.machinery.EXTENSION_SUFFIXES),
        "has_gettotalrefcount": hasattr(sys, "gettotalrefcount"),
        "is_64bit": sys.maxsize > 2**32,
        "sysconfig_platform": sysconfig.get_platform(),
        "platform_system": system,
        "machine": platform.machine(),
        "mac_ver": mac_release,
        "mac_machine": mac_machine,
        "glibc": glibc,
        "musl": _musl() if system == "Linux" and glibc is None else None,
    }


def collect(base_path: list[str], module_path: list[str]) -> dict[str, Any]:
    prefix = sys.prefix
    cfg = _pyvenv_cfg(prefix)
    is_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix) or cfg is not None
    if is_venv:
        kind = "venv"
    elif os.path.isdir(os.path.join(prefix, "conda-meta")):
        kind = "conda"
    else:
        kind = "system"

    dists, hidden, problems, with_metadata = _distributions(base_path)
    scheme_name, scheme = _scheme(is_venv)

    # Under -I the user site is off whatever the base would do; report what a normal start
    # of this interpreter would decide, mirroring site.py (a venv without system site
    # packages disables it; so do setuid-like processes).
    user_site_possible = True
    if cfg is not None and cfg.get("include-system-site-packages", "false").lower() != "true":
        user_site_possible = False
    if hasattr(os, "getuid") and (os.getuid() != os.geteuid() or os.getgid() != os.getegid()):
        user_site_possible = False

    return {
        "probe_format": PROBE_FORMAT,
        "prefix": prefix,
        "kind": kind,
        "python_version": platform.python_version(),
        "implementation": sys.implementation.name,
        "facts": dict(_tag_facts(), markers=_markers()),
        "scheme": scheme,
        "site_dirs": _site_dirs(base_path, with_metadata, module_path),
        "distributions": dists,
        "hidden": hidden,
        "extra": {
            "executable": sys.executable,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "exec_prefix": sys.exec_prefix,
            "platform": platform.platform(),
            "sys_platform": sys.platform,
            "machine": platform.machine(),
            "platlibdir": getattr(sys, "platlibdir", "lib"),
            "scheme_name": scheme_name,
            "sys_path": base_path,
            "module_path": module_path,
            "no_user_site": sys.flags.no_user_site,
            "enable_user_site": site.ENABLE_USER_SITE,
            "user_site_possible": user_site_possible,
            "sitecustomize": _sitecustomize(),
            "pyvenv_cfg": cfg,
            "problems": problems,
        },
    }


def main(argv: list[str]) -> int:
    version = platform.python_version()
    # The module-system layer comes first, as PYTHONPATH entries do at import time.
    module_path = [p for p in argv if p and os.path.isabs(p)]
    base_path = module_path + [p for p in sys.path if p]
    try:
        report = collect(base_path, module_path)
    except Exception as exc:
        _emit(
            {
                "error": "crash",
                "message": type(exc).__name__ + ": " + str(exc),
                "traceback": traceback.format_exc(),
                "python_version": version,
            }
        )
        return 0
    _emit(report)
    return 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main(sys.argv[1:]))
