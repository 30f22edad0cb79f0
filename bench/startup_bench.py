"""Start-up benchmark: overlock's small commands on a synced 30-package overlay, beside uv's.

A bare venv base gets an overlay of 30 real wheels from the lock benchmark's set (pandas,
matplotlib, requests, jinja2, ... and their requirements), locked from a loopback index and
synced with byte-code. uv installs the same wheel files into a prefix of its own on the same
base. Then, warm, in interleaved rounds:

- ``overlock --version`` vs ``uv --version``;
- ``overlock sync`` with nothing to do vs ``uv pip install`` and ``uv pip sync`` of the same
  wheels with nothing to do;
- ``overlock lock`` with nothing changed vs ``overlock lock --check``;
- ``overlock check`` and ``overlock show`` (no peer: uv has no check of a prefix);

and, once per command, ``python -X importtime``: how many modules each command imports, how
many of them are overlock's, and which imports cost most.

Run ``python bench/startup_bench.py --help``; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    build_base,
    clean_env,
    ensure_wheels,
    find_uv,
    log,
    overlock_command,
    pick,
    print_rows,
    ratio_row,
    require_cp311,
    row,
    run_checked,
    save_json,
    serve,
    time_runs,
    timing,
    tool_versions,
    write_manifest,
)

from overlock.lock.pylock import read_lock

# Closed under their requirements on CPython 3.11 / Linux: the lock holds exactly these 30.
OVERLAY_PINS = (
    "numpy==1.24.4", "pandas==2.0.3", "matplotlib==3.7.2", "contourpy==1.1.0",
    "cycler==0.11.0", "fonttools==4.42.0", "kiwisolver==1.4.4", "pillow==10.0.0",
    "pyparsing==3.0.9", "packaging==23.1", "python-dateutil==2.8.2", "six==1.16.0",
    "pytz==2023.3", "tzdata==2023.3", "requests==2.28.2", "urllib3==1.26.16", "idna==3.4",
    "certifi==2023.7.22", "charset-normalizer==3.2.0", "jinja2==3.1.2", "markupsafe==2.1.3",
    "click==8.1.6", "pyyaml==6.0.1", "tqdm==4.65.0", "attrs==23.1.0",
    "typing-extensions==4.7.1", "platformdirs==3.10.0", "filelock==3.12.2", "toolz==0.12.0",
    "cloudpickle==2.2.1",
)  # fmt: skip

# The commands whose imports are summarised: (label, arguments after ``overlock``).
IMPORT_COMMANDS = (
    ("--version", ["--version"]),
    ("sync (no-op)", ["sync"]),
    ("lock --check", ["lock", "--check"]),
    ("check", ["check"]),
    ("show", ["show"]),
)

TOP_IMPORTS = 8  # how many of the costliest imports to list per command

# -- jobs ------------------------------------------------------------------------------------


@dataclass
class Job:
    name: str
    label: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def make_jobs(
    manifest: Path, uv: str, base_python: Path, uv_prefix: Path, requirements: Path, cache: Path
) -> list[Job]:
    ov = overlock_command()
    m = ["-m", str(manifest)]
    ov_env = clean_env({"OVERLOCK_CACHE_DIR": str(cache / "overlock")})
    uv_args = ["--prefix", str(uv_prefix), "--python", str(base_python)]
    uv_args += ["--cache-dir", str(cache / "uv"), "--no-config", "--offline", "--quiet"]
    here = manifest.parent
    specs = [
        ("python", "python -c pass (interpreter start: the floor)", [sys.executable, "-c", "pass"]),
        ("overlock-version", "overlock --version", [*ov, "--version"]),
        ("uv-version", "uv --version", [uv, "--version"]),
        ("overlock-noop", "overlock sync (nothing to do)", [*ov, "sync", *m]),
        (
            "uv-install-noop",
            "uv pip install (nothing to do)",
            [uv, "pip", "install", "--no-deps", *uv_args, "-r", str(requirements)],
        ),
        (
            "uv-sync-noop",
            "uv pip sync (nothing to do)",
            [uv, "pip", "sync", *uv_args, str(requirements)],
        ),
        ("overlock-lock-check", "overlock lock --check", [*ov, "lock", "--check", *m]),
        ("overlock-lock", "overlock lock (nothing changed)", [*ov, "lock", *m]),
        ("overlock-check", "overlock check", [*ov, "check", *m]),
        ("overlock-show", "overlock show", [*ov, "show", *m]),
    ]
    return [
        Job(name, label, argv, ov_env if name.startswith("overlock") else clean_env(), here)
        for name, label, argv in specs
    ]


def measure(jobs: Sequence[Job], runs: int) -> None:
    """A warm-up run of each job, then ``runs`` rounds taking every job in turn.

    Rounds rather than one job's runs after another: load that comes and goes on a shared
    machine then falls on every command alike.
    """
    for job in jobs:
        run_checked(job.argv, env=job.env, cwd=job.cwd)
    for n in range(runs):
        for job in jobs:
            job.times.extend(time_runs(job.argv, job.env, job.cwd, 1, warm_up=False))
        log(f"round {n + 1}/{runs}: " + ", ".join(f"{j.name} {j.times[-1]:.3f}s" for j in jobs))


# -- importtime ------------------------------------------------------------------------------


@dataclass
class Imported:
    name: str
    depth: int
    self_us: int
    cumulative_us: int
    parent: str | None = None


def parse_importtime(stderr: str) -> list[Imported]:
    """``-X importtime`` lines, each with the module that imported it (None: top level).

    A module's line comes after the lines of what it imported, one level deeper.
    """
    entries: list[Imported] = []
    pending: list[Imported] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        stripped = name.lstrip(" ")
        entry = Imported(stripped, (len(name) - len(stripped) - 1) // 2, int(self_us),
                         int(cumulative_us))  # fmt: skip
        for child in pending:
            if child.depth == entry.depth + 1:
                child.parent = entry.name
        pending = [p for p in pending if p.depth <= entry.depth]
        pending.append(entry)
        entries.append(entry)
    return entries


def is_overlock(name: str) -> bool:
    return name == "overlock" or name.startswith("overlock.")


def import_summary(entries: Sequence[Imported], at_start: set[str]) -> dict[str, Any]:
    """Counts, overlock's modules, and the costliest imports overlock's code asks for itself.

    ``at_start``: what the interpreter imports before any code runs (``python -c pass``);
    every program pays for those, so they are not listed among the costliest.
    """
    ours = sorted(e.name for e in entries if is_overlock(e.name))
    direct = [
        e
        for e in entries
        if not is_overlock(e.name)
        and e.name not in at_start
        and (e.parent is None or is_overlock(e.parent))
    ]
    direct.sort(key=lambda e: e.cumulative_us, reverse=True)
    return {
        "modules": len(entries),
        "modules_beyond_start": sum(1 for e in entries if e.name not in at_start),
        "overlock_modules": len(ours),
        "overlock_module_names": ours,
        "import_ms": sum(e.self_us for e in entries) / 1000,
        "overlock_self_ms": sum(e.self_us for e in entries if is_overlock(e.name)) / 1000,
        "top": [
            {"module": e.name, "cumulative_ms": e.cumulative_us / 1000, "by": e.parent}
            for e in direct[:TOP_IMPORTS]
        ],
    }


def importtime(argv: list[str], env: dict[str, str], cwd: Path) -> list[Imported]:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return parse_importtime(proc.stderr)


def importtimes(manifest: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One ``python -X importtime`` run of each command (after the timed runs: warm)."""
    start = importtime([sys.executable, "-X", "importtime", "-c", "pass"], env, manifest.parent)
    at_start = {e.name for e in start}
    out = {}
    for label, args in IMPORT_COMMANDS:
        argv = [*overlock_command("-X", "importtime"), *args]
        if args != ["--version"]:
            argv += ["-m", str(manifest)]
        out[label] = import_summary(importtime(argv, env, manifest.parent), at_start)
    return out


def print_importtimes(summaries: dict[str, dict[str, Any]]) -> None:
    print()
    print("imports per command (python -X importtime, one warm run each):")
    print(
        f"{'command':<14} {'modules':>7} {'new':>5} {'overlock':>8} {'import ms':>9}"
        f" {'overlock ms':>11}"
    )
    for label, s in summaries.items():
        print(
            f"{label:<14} {s['modules']:>7} {s['modules_beyond_start']:>5}"
            f" {s['overlock_modules']:>8} {s['import_ms']:>9.1f} {s['overlock_self_ms']:>11.1f}"
        )
        top = ", ".join(f"{t['module']} {t['cumulative_ms']:.1f}" for t in s["top"])
        print(f"{'':<14} costliest imports by overlock code (cumulative ms): {top}")
    print(
        "(modules: all imported; new: those `python -c pass` does not import; overlock: how many"
        " are overlock's; import ms: the sum of every module's own time; overlock ms: overlock"
        " modules' own time; the costliest leave out what `python -c pass` imports)"
    )


# -- main ------------------------------------------------------------------------------------


def comparison(jobs: dict[str, Job], packages: int) -> list[dict[str, Any]]:
    j = {name: job.median for name, job in jobs.items()}
    n = f"{packages}-package overlay"
    check_met = j["overlock-check"] < 1.0
    return [
        ratio_row("start-up: --version", j["overlock-version"],
                  "uv pip install, nothing to do", j["uv-install-noop"], 1.2),
        row("start-up: --version", j["overlock-version"], "uv --version", j["uv-version"]),
        ratio_row(f"sync with nothing to do, {n}", j["overlock-noop"],
                  "uv pip install, nothing to do", j["uv-install-noop"], 1.2),
        ratio_row(f"sync with nothing to do, {n}", j["overlock-noop"],
                  "uv pip sync, nothing to do", j["uv-sync-noop"], 1.2),
        ratio_row(f"lock with nothing changed, {n}", j["overlock-lock"],
                  "overlock lock --check", j["overlock-lock-check"], 1.0),
        row(f"check, {n}, warm", j["overlock-check"], "", None, target="< 1 s", met=check_met),
        row(f"show, {n}", j["overlock-show"], "", None),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured rounds (default 10)")
    parser.add_argument("--keep", action="store_true", help="reuse the base and caches in _work")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    parser.add_argument("--work", type=Path, default=BENCH / "_work", help="scratch directory")
    parser.add_argument("--uv", help="uv executable (default: beside python, else on PATH)")
    args = parser.parse_args(argv)
    require_cp311()
    work: Path = args.work.resolve()
    uv = find_uv(args.uv)
    env_info = tool_versions(uv)
    print("environment: " + "; ".join(f"{k} {v}" for k, v in env_info.items()))

    wheels = pick(ensure_wheels(work / "wheels"), OVERLAY_PINS)
    base = build_base(work / "startup-base", [], keep=args.keep)  # a bare venv
    runs_dir = work / "startup-runs"
    cache = work / "cache" / "startup"
    for stale in (runs_dir, *([] if args.keep else [cache])):
        if stale.exists():
            shutil.rmtree(stale)
    index = serve(work / "startup-index", wheels)
    try:
        manifest = write_manifest(runs_dir / "overlock", OVERLAY_PINS, index.url, base=base.prefix)
        env = clean_env({"OVERLOCK_CACHE_DIR": str(cache / "overlock")})
        log("locking and syncing the overlay (with byte-code)...")
        for step in (["lock"], ["sync"]):
            run_checked([*overlock_command(), *step, "-m", str(manifest)], env=env, cwd=runs_dir)
        lock = read_lock(manifest.parent / "pylock.overlay.toml")
        by_file = {w.name: w for w in wheels}
        locked = [by_file[p.file.filename] for p in lock.packages if p.file is not None]
        requirements = runs_dir / "uv-requirements.txt"
        requirements.write_text("".join(f"{w}\n" for w in locked))
        jobs = make_jobs(manifest, uv, base.python, runs_dir / "uv-prefix", requirements, cache)
        uv_install = next(j for j in jobs if j.name == "uv-install-noop")
        run_checked([*uv_install.argv, "--compile-bytecode"], env=uv_install.env, cwd=runs_dir)
        print(
            f"overlay: {len(locked)} packages locked from {index.url} on a bare venv base"
            f" ({base.python}), synced with byte-code; uv's prefix holds the same wheels;"
            f" runs: {args.runs}"
        )
        measure(jobs, args.runs)
        summaries = importtimes(manifest, env)
    finally:
        index.stop()

    by_name = {job.name: job for job in jobs}
    print()
    print(f"{'job':<20} {'median s':>9} {'min s':>7}  command")
    for job in jobs:
        print(f"{job.name:<20} {job.median:>9.3f} {min(job.times):>7.3f}  {job.label}")
    table = comparison(by_name, len(locked))
    print_rows(table)
    print_importtimes(summaries)

    if args.json:
        save_json(
            args.json,
            {
                "bench": "startup",
                "environment": env_info,
                "runs": args.runs,
                "packages": len(locked),
                "jobs": {j.name: {"command": j.label, **timing(j.times)} for j in jobs},
                "importtime": summaries,
                "table": table,
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
