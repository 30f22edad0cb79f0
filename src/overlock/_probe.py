"""Runs INSIDE the base interpreter and prints one JSON report about it.

``overlock.base.probe`` starts ``<base python> -I -B -c <this file's source> <packaging dir>``.
This file is therefore never imported by overlock in the base, and must only use the standard
library of any Python overlock can probe, plus the runner's own ``packaging``, which the parent
makes importable from a directory holding nothing else.

Syntax must stay parseable by old Pythons long enough to say they are too old: no walrus, no
``match``, no positional-only markers. ``from __future__ import annotations`` keeps the type
hints (checked by mypy in the runner) from being evaluated on 3.8.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import site
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

PROBE_FORMAT = 1
BEGIN = "--- overlock probe report begin ---"
END = "--- overlock probe report end ---"

# A prefix nobody has: the scheme is expanded for it, then made relative again.
_SENTINEL_PREFIX = str(Path(os.sep, "__overlock_prefix_sentinel__").absolute())


def _emit(report: dict[str, Any]) -> None:
    # Sentinels, because the base's own .pth files or sitecustomize may print to stdout
    # before we get here; ASCII-only JSON, because the base's stdout encoding is unknown.
    sys.stdout.write("\n" + BEGIN + "\n" + json.dumps(report, sort_keys=True) + "\n" + END + "\n")
    sys.stdout.flush()


def _norm(path: str) -> str:
    # abspath, not resolve(): sys.path entries are compared as the base spells them.
    return os.path.normcase(os.path.abspath(path))  # noqa: PTH100


def _import_packaging(packaging_dir: str) -> Any:
    # Drop a copy of packaging the base may already have imported (a .pth file or
    # sitecustomize can do that): tags must come from the runner's packaging, so that a probe
    # and a snapshot of the same base agree whatever packaging the base happens to ship.
    for name in list(sys.modules):
        if name == "packaging" or name.startswith("packaging."):
            del sys.modules[name]
    sys.path.insert(0, packaging_dir)
    try:
        import packaging
        import packaging.markers
        import packaging.tags
        import packaging.utils
    finally:
        sys.path.remove(packaging_dir)
    return packaging


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


def _top_level(dist: Any) -> list[str]:
    text = dist.read_text("top_level.txt")
    if text:
        names = set()
        for line in text.splitlines():
            # Namespace entries look like "google/protobuf"; the import name is the first part.
            first = line.strip().replace("\\", "/").split("/")[0]
            if first:
                names.add(first)
        return sorted(names)
    record = dist.read_text("RECORD")
    if record:
        return top_level_from_record(record)
    return []


def _headers(dist: Any) -> Any:
    """The metadata's header fields only.

    ``dist.metadata`` parses the whole file, long description included, and ``dist.requires``
    parses it again; on a base of hundreds of distributions that is most of the probe's time.
    """
    from email.parser import HeaderParser

    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text is None:
        return None
    end = text.find("\n\n")
    return HeaderParser().parsestr(text if end < 0 else text[: end + 1])


def _requires(dist: Any, md: Any) -> list[str]:
    found = md.get_all("Requires-Dist")
    if found is None and dist.read_text("requires.txt") is not None:
        # egg-info keeps its requirements in requires.txt; dist.requires translates them.
        found = dist.requires
    return list(found or [])


def _read_dist(dist: Any, canonicalize: Any) -> dict[str, Any] | None:
    md = _headers(dist)
    name = md.get("Name") if md is not None else None
    if not name:
        # Leftovers of a failed uninstall (an empty dist-info) carry no name; nothing can
        # depend on them.
        return None
    version = md.get("Version")
    if version is None:
        return None
    installer = (dist.read_text("INSTALLER") or "").strip()
    return {
        "name": canonicalize(str(name)),
        "version": str(version),
        "requires": [str(r) for r in _requires(dist, md)],
        "requires_python": md.get("Requires-Python"),
        "installer": installer or None,
        "top_level": _top_level(dist),
    }


def _distributions(
    base_path: list[str], canonicalize: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    import importlib.metadata

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
        for dist in importlib.metadata.distributions(path=[entry]):
            try:
                info = _read_dist(dist, canonicalize)
            except Exception as exc:
                where = getattr(dist, "_path", entry)
                problems.append(f"unreadable metadata at {where}: {exc!r}")
                continue
            if info is not None:
                info["location"] = entry
                # Directory listing order is arbitrary; two copies of one name in the same
                # directory are ordered by their metadata directory so the result is stable.
                found.append((info["name"], str(getattr(dist, "_path", "")), info))
        if found:
            with_metadata.append(entry)
        for name, _where, info in sorted(found, key=lambda t: (t[0], t[1])):
            if name in visible:
                hidden.append(info)
            else:
                visible[name] = info
    return (
        [visible[n] for n in sorted(visible)],
        hidden,
        problems,
        with_metadata,
    )


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
        py_xy = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        include = str(Path(p, "include", "site", py_xy))
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


def _site_dirs(base_path: list[str], with_metadata: list[str]) -> list[str]:
    getsitepackages = getattr(site, "getsitepackages", None)
    known = set()
    if getsitepackages is not None:
        known = {_norm(d) for d in getsitepackages()}
    meta = {_norm(d) for d in with_metadata}
    out = []
    seen = set()
    for entry in base_path:
        key = _norm(entry)
        if key in seen or not Path(entry).is_dir():
            continue
        if key in known or key in meta:
            seen.add(key)
            out.append(entry)
    return out


def _pyvenv_cfg(prefix: str) -> dict[str, str] | None:
    path = Path(prefix, "pyvenv.cfg")
    if not path.is_file():
        return None
    out = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
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


def _libc(tags: list[str]) -> dict[str, str]:
    name, version = platform.libc_ver()
    out = {}
    if name:
        out[name] = version
    # platform.libc_ver() knows nothing of musl; packaging's tags do.
    for tag in tags:
        plat = tag.split("-")[-1]
        if plat.startswith("musllinux_"):
            major, minor = plat.split("_")[1:3]
            out["musl"] = major + "." + minor
            break
    return out


def collect(base_path: list[str], packaging: Any) -> dict[str, Any]:
    prefix = sys.prefix
    cfg = _pyvenv_cfg(prefix)
    is_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix) or cfg is not None
    if is_venv:
        kind = "venv"
    elif Path(prefix, "conda-meta").is_dir():
        kind = "conda"
    else:
        kind = "system"

    tags = [str(t) for t in packaging.tags.sys_tags()]
    markers = {str(k): str(v) for k, v in packaging.markers.default_environment().items()}
    dists, hidden, problems, with_metadata = _distributions(
        base_path, packaging.utils.canonicalize_name
    )
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
        "markers": markers,
        "tags": tags,
        "scheme": scheme,
        "site_dirs": _site_dirs(base_path, with_metadata),
        "distributions": dists,
        "hidden": hidden,
        "extra": {
            "executable": sys.executable,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "exec_prefix": sys.exec_prefix,
            "platform": platform.platform(),
            "sys_platform": sys.platform,
            "machine": platform.machine(),
            "libc": _libc(tags),
            "platlibdir": getattr(sys, "platlibdir", "lib"),
            "scheme_name": scheme_name,
            "sys_path": base_path,
            "no_user_site": sys.flags.no_user_site,
            "enable_user_site": site.ENABLE_USER_SITE,
            "user_site_possible": user_site_possible,
            "sitecustomize": _sitecustomize(),
            "pyvenv_cfg": cfg,
            "packaging_version": packaging.__version__,
            "problems": problems,
        },
    }


def main(argv: list[str]) -> int:
    # Recorded before anything is added: the distribution listing must see exactly what the
    # base imports from, never the directory holding the runner's packaging.
    base_path = [p for p in sys.path if p]
    version = platform.python_version()
    if len(argv) != 1:
        _emit({"error": "usage", "message": "expected one argument", "python_version": version})
        return 0
    try:
        packaging = _import_packaging(argv[0])
    except Exception as exc:
        _emit(
            {
                "error": "packaging",
                "message": f"{type(exc).__name__}: {exc}",
                "python_version": version,
            }
        )
        return 0
    try:
        report = collect(base_path, packaging)
    except Exception as exc:
        _emit(
            {
                "error": "crash",
                "message": f"{type(exc).__name__}: {exc}",
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
