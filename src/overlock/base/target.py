"""The base interpreter's wheel tags and marker environment, computed here from probed facts.

The probe (``inbase/probe.py``) runs inside the base with only the base's standard library and
reports raw facts: version, implementation, a few ``sysconfig`` variables, the platform and C
library. Tags and markers are computed in the runner from those facts with packaging's
explicit-argument APIs (``cpython_tags``, ``generic_tags``, ``compatible_tags``,
``mac_platforms``). So a base of any Python from 3.7 up is judged by the runner's packaging,
whatever packaging version the runner has and whether or not that version would import in the
base — and a snapshot taken on another machine carries everything needed.

Where packaging asks the *running* process (``sys.executable``'s ELF header, the glibc it was
linked against, ``sysconfig`` variables), this module asks the facts instead. The logic mirrors
``packaging.tags.sys_tags`` and ``packaging._manylinux``/``_musllinux`` of packaging 26; a
test compares the result with the tags the base's own pip computes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from packaging.tags import (
    INTERPRETER_SHORT_NAMES,
    Tag,
    compatible_tags,
    cpython_tags,
    generic_tags,
    mac_platforms,
)

# PEP 600 aliases of the older manylinux names, by glibc version.
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


class FactsError(ValueError):
    """The probe's facts are missing something tags or markers need."""


def version_info(facts: Mapping[str, Any]) -> tuple[int, int]:
    info = facts.get("version_info")
    if not isinstance(info, Sequence) or len(info) < 2:
        raise FactsError("version_info is missing")
    major, minor = info[0], info[1]
    if not isinstance(major, int) or not isinstance(minor, int):
        raise FactsError(f"version_info is not numeric: {info!r}")
    return major, minor


def _config(facts: Mapping[str, Any], name: str) -> Any:
    config = facts.get("config")
    return config.get(name) if isinstance(config, Mapping) else None


def _normalize(text: str) -> str:
    return text.replace(".", "_").replace("-", "_").replace(" ", "_")


def _nodot(version: Sequence[int]) -> str:
    return "".join(str(v) for v in version)


def _cpython_abis(py: tuple[int, int], facts: Mapping[str, Any]) -> list[str]:
    """``packaging.tags._cpython_abis`` for the base's configuration."""
    threading = debug = pymalloc = ""
    with_debug = _config(facts, "Py_DEBUG")
    # Windows does not set Py_DEBUG; a debug build there loads "_d.pyd" extensions.
    has_ext = "_d.pyd" in (facts.get("extension_suffixes") or ())
    if with_debug or (with_debug is None and (facts.get("has_gettotalrefcount") or has_ext)):
        debug = "d"
    if py >= (3, 13) and _config(facts, "Py_GIL_DISABLED"):
        threading = "t"
    if py < (3, 8):
        with_pymalloc = _config(facts, "WITH_PYMALLOC")
        if with_pymalloc or with_pymalloc is None:
            pymalloc = "m"
    abis = [f"cp{_nodot(py)}{threading}{debug}{pymalloc}"]
    if py >= (3, 8) and debug:
        # Debug builds also load extensions built for the normal ABI.
        abis.append(f"cp{_nodot(py)}{threading}")
    return abis


def _generic_abis(py: tuple[int, int], facts: Mapping[str, Any]) -> list[str]:
    """``packaging.tags._generic_abi``: the ABI part of the base's EXT_SUFFIX."""
    ext_suffix = _config(facts, "EXT_SUFFIX")
    if not isinstance(ext_suffix, str) or not ext_suffix.startswith("."):
        return []
    parts = ext_suffix.split(".")
    if len(parts) < 3:
        return _cpython_abis(py, facts)
    soabi = parts[1]
    if soabi.startswith("cpython"):
        pieces = soabi.split("-")
        abi = "cp" + pieces[1] if len(pieces) > 1 and pieces[1] else ""
    elif soabi.startswith("cp"):
        abi = soabi.split("-")[0]
    elif soabi.startswith("pypy"):
        abi = "-".join(soabi.split("-")[:2])
    elif soabi.startswith("graalpy"):
        abi = "-".join(soabi.split("-")[:3])
    else:
        abi = soabi
    return [_normalize(abi)] if abi else []


def _glibc(text: object) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    major, _, minor = text.partition(".")
    # "2.36", or a distribution's "2.28-ish": only the leading digits count.
    minor = "".join(c for c in minor.split(".")[0] if c.isdigit()) if minor else ""
    if not major.isdigit() or not minor:
        return None
    return int(major), int(minor)


def manylinux_platforms(archs: Sequence[str], glibc: tuple[int, int]) -> Iterator[str]:
    """``packaging._manylinux.platform_tags`` for a glibc given as a value.

    Unlike packaging, this does not read ``sys.executable``'s ELF header (the armv7l
    hard-float check) nor import a ``_manylinux`` override module: both would be the runner's.
    """
    too_old = (2, 4) if set(archs) & {"x86_64", "i686"} else (2, 16)
    # Compatibility holds across glibc majors; a major below the current one counts to .50.
    maxima = [glibc] + [(major, 50) for major in range(glibc[0] - 1, 1, -1)]
    for arch in archs:
        for top_major, top_minor in maxima:
            low = too_old[1] if top_major == too_old[0] else -1
            for minor in range(top_minor, low, -1):
                yield f"manylinux_{top_major}_{minor}_{arch}"
                legacy = _LEGACY_MANYLINUX.get((top_major, minor))
                if legacy:
                    yield f"{legacy}_{arch}"


def _linux_platforms(facts: Mapping[str, Any]) -> Iterator[str]:
    linux = _normalize(str(facts.get("sysconfig_platform") or ""))
    if not linux.startswith("linux_"):
        yield linux
        return
    if not facts.get("is_64bit", True):
        linux = {"linux_x86_64": "linux_i686", "linux_aarch64": "linux_armv8l"}.get(linux, linux)
    _, arch = linux.split("_", 1)
    archs = {"armv8l": ["armv8l", "armv7l"]}.get(arch, [arch])
    for one in archs:
        yield f"linux_{one}"
    glibc = _glibc(facts.get("glibc"))
    if glibc is not None:
        yield from manylinux_platforms(archs, glibc)
    musl = _glibc(facts.get("musl"))  # the same "major.minor" shape
    if musl is not None:
        for one in archs:
            for minor in range(musl[1], -1, -1):
                yield f"musllinux_{musl[0]}_{minor}_{one}"


def _mac_platforms(facts: Mapping[str, Any]) -> Iterator[str]:
    release = str(facts.get("mac_ver") or "")
    parts = [p for p in release.split(".")[:2] if p.isdigit()]
    if len(parts) < 2:
        parts = [*parts, "0"] if parts else []
    machine = str(facts.get("mac_machine") or facts.get("machine") or "")
    if not parts or not machine:
        yield _normalize(str(facts.get("sysconfig_platform") or ""))
        return
    is_64bit = bool(facts.get("is_64bit", True))
    if machine.startswith("ppc"):
        arch = "ppc64" if is_64bit else "ppc"
    else:
        arch = machine if is_64bit else "i386"
    yield from mac_platforms((int(parts[0]), int(parts[1])), arch)


def platforms(facts: Mapping[str, Any]) -> list[str]:
    system = facts.get("platform_system")
    if system == "Linux":
        found = list(_linux_platforms(facts))
    elif system == "Darwin":
        found = list(_mac_platforms(facts))
    else:
        # Windows, and anything packaging only knows by its sysconfig platform.
        found = [_normalize(str(facts.get("sysconfig_platform") or ""))]
    return [p for p in found if p]


def tags(facts: Mapping[str, Any]) -> list[str]:
    """The base's supported wheel tags, most preferred first (``packaging.tags.sys_tags``)."""
    py = version_info(facts)
    impl = facts.get("implementation")
    name = str(impl.get("name") if isinstance(impl, Mapping) else "") or "cpython"
    short = INTERPRETER_SHORT_NAMES.get(name) or name
    plats = platforms(facts)
    out: list[Tag] = []
    if short == "cp":
        out.extend(cpython_tags(py, _cpython_abis(py, facts), plats))
        interpreter: str | None = "cp" + str(_config(facts, "py_version_nodot") or _nodot(py))
    else:
        version = str(_config(facts, "py_version_nodot") or _nodot(py))
        out.extend(generic_tags(f"{short}{version}", _generic_abis(py, facts), plats))
        interpreter = "pp3" if short == "pp" else None
    out.extend(compatible_tags(py, interpreter, plats))
    seen: set[str] = set()
    unique = []
    for tag in out:
        text = str(tag)
        if text not in seen:
            seen.add(text)
            unique.append(text)
    return unique


_MARKER_KEYS = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "platform_python_implementation",
    "python_version",
    "sys_platform",
)


def markers(facts: Mapping[str, Any]) -> dict[str, str]:
    """The base's PEP 508 marker environment (``packaging.markers.default_environment``)."""
    raw = facts.get("markers")
    if not isinstance(raw, Mapping):
        raise FactsError("markers are missing")
    missing = [k for k in _MARKER_KEYS if not isinstance(raw.get(k), str)]
    if missing:
        raise FactsError(f"marker values missing: {', '.join(missing)}")
    return {k: str(raw[k]) for k in _MARKER_KEYS}
