"""Is each overlay copy of a base package the one the base interpreter imports?"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from overlock import children
from overlock.base.env import BaseEnv
from overlock.baseproc import base_argv, base_environ
from overlock.check.dists import PrefixDist
from overlock.check.findings import ERROR, Finding, Section
from overlock.dists.requirements import same_version
from overlock.prefix.activate import overlay_environ

_BEGIN = "--overlock-check-begin--"
_END = "--overlock-check-end--"

# Runs in the base interpreter with the overlay active. find_spec locates a top-level module
# without executing it, so nothing of the packages themselves runs.
_SHADOW_SCRIPT = """\
import json, os, re, sys
import importlib.util
try:
    import importlib.metadata as md
except ImportError:  # Python 3.7: the first metadata directory on sys.path, as 3.8 finds it
    md = None

def _canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def _version(name):
    if md is not None:
        return md.version(name)
    want = _canon(name)
    for entry in sys.path:
        try:
            children = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            if _canon(child.rsplit(".", 1)[0].split("-")[0]) != want:
                continue
            path = os.path.join(entry or ".", child)
            if not os.path.isdir(path):
                meta = path
            else:
                meta = os.path.join(path, "METADATA" if low.endswith(".dist-info") else "PKG-INFO")
            try:
                with open(meta, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if not line.strip():
                            break
                        if line.lower().startswith("version:"):
                            return line.split(":", 1)[1].strip()
            except OSError:
                continue
    return None

out = {}
for name, modules in json.loads(sys.argv[1]):
    entry = {"version": None, "modules": {}}
    try:
        entry["version"] = _version(name)
    except Exception:
        pass
    for mod in modules:
        try:
            spec = importlib.util.find_spec(mod)
        except Exception as exc:
            entry["modules"][mod] = {"error": "%s: %s" % (type(exc).__name__, exc)}
            continue
        if spec is None:
            entry["modules"][mod] = None
            continue
        origin = spec.origin if spec.has_location else None
        entry["modules"][mod] = {
            "origin": origin,
            "locations": list(spec.submodule_search_locations or []),
        }
    out[name] = entry
sys.stdout.write("%s\\n%s\\n%s\\n" % (BEGIN, json.dumps(out), END))
""".replace("BEGIN", repr(_BEGIN)).replace("END", repr(_END))

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def check_shadows(
    base: BaseEnv,
    prefix: Path,
    found: Sequence[PrefixDist],
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = children.run,
    timeout: float = 120.0,
) -> Section:
    """Is each overlay copy of a base package the one that gets imported?"""
    hidden = {d.name for d in (*base.hidden, *base.withheld)}  # replacing a hidden one too
    shadowing = [d for d in found if d.name in base.by_name or d.name in hidden]
    if not shadowing:
        return Section("shadow", "the overlay shadows no base package")
    wanted = [(d.name, _installed_modules(d)) for d in shadowing]
    # The overlay is made active through PYTHONPATH, so the PYTHON* variables stay; byte-code
    # writing is off all the same (nothing is written below the base).
    env = base_environ(
        overlay_environ(base, prefix, os.environ if environ is None else environ),
        keep_python_vars=True,
    )
    with tempfile.TemporaryDirectory(prefix="overlock-check-") as cwd:
        try:
            proc = runner(
                base_argv(base.python, "-c", _SHADOW_SCRIPT, json.dumps(wanted), flags=()),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _shadow_failed(len(shadowing), f"{type(exc).__name__}: {exc}")
    stdout = proc.stdout or ""
    start, end = stdout.rfind(_BEGIN), stdout.rfind(_END)
    try:
        report = json.loads(stdout[start + len(_BEGIN) : end]) if 0 <= start < end else None
    except json.JSONDecodeError:
        report = None
    if proc.returncode != 0 or not isinstance(report, dict):
        tail = "\n".join((proc.stderr or stdout).strip().splitlines()[-5:])
        return _shadow_failed(len(shadowing), f"exit status {proc.returncode}: {tail}")

    roots = sorted({os.path.realpath(prefix), str(Path(os.path.abspath(prefix)))})  # noqa: PTH100
    findings: list[Finding] = []
    for d in shadowing:
        entry = report.get(d.name) or {}
        problems: list[str] = []
        seen_version = entry.get("version")
        if seen_version is None:
            problems.append(f"importlib.metadata finds no {d.name}")
        elif not same_version(str(seen_version), d.version):
            problems.append(
                f"importlib.metadata reports {d.name} {seen_version}, the overlay holds {d.version}"
            )
        for mod, where in sorted((entry.get("modules") or {}).items()):
            if where is None:
                problems.append(f"`import {mod}` finds nothing")
            elif "error" in where:
                problems.append(f"`import {mod}` fails to resolve: {where['error']}")
            else:
                places = [where["origin"]] if where.get("origin") else list(where["locations"])
                if not any(_inside(p, roots) for p in places):
                    problems.append(
                        f"`import {mod}` loads {', '.join(places) or 'a namespace outside it'},"
                        " not the overlay's copy"
                    )
        if problems:
            findings.append(
                Finding(
                    "shadow",
                    ERROR,
                    d.name,
                    f"{d.name} {d.version} in the overlay is not what Python imports:"
                    f" {problems[0]}",
                    details=tuple(problems[1:]),  # the first is in the message
                    hint="is PYTHONPATH or a .pth file putting another copy first?"
                    " `overlock run -- python -c 'import sys; print(sys.path)'` shows the order",
                    data={"problems": problems},
                )
            )
    summary = f"{len(shadowing)} shadowing package(s) are imported from the overlay"
    return Section("shadow", summary, tuple(findings))


def _installed_modules(dist: PrefixDist) -> list[str]:
    """Top-level names of ``dist`` that exist next to its metadata directory.

    ``top_level.txt`` can name directories the wheel never installed (kiwisolver 1.4.4 lists
    ``src``): "import src finds nothing" would be a false alarm.
    """
    site = dist.path.parent
    try:
        entries = os.listdir(site)  # noqa: PTH208
    except OSError:
        return dist.top_level()
    present = {
        e.split(".", 1)[0] for e in entries if "." not in e or e.endswith((".py", ".so", ".pyd"))
    }
    return [m for m in dist.top_level() if m in present]


def _shadow_failed(count: int, why: str) -> Section:
    message = "the base interpreter with the overlay active failed to report what it imports"
    return Section(
        "shadow",
        f"{count} shadowing package(s) could not be checked",
        (
            Finding(
                "shadow",
                ERROR,
                "base",
                message,
                details=tuple(why.splitlines()),
                hint="does `overlock run -- python -c pass` work?",
            ),
        ),
    )
