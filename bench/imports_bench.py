"""What each overlock command imports, and how long the small ones take beside uv's no-op.

Run from a directory holding a synced overlay (``overlay.toml``, locked and synced)::

    python bench/imports_bench.py --manifest /path/overlay.toml --runs 21 --json out.json

For each command, ``python -X importtime -m overlock CMD`` once per run: the number of
modules imported (overlock's own among them), the summed self time of all imports, and the
costliest imports by cumulative time (median over runs). Then wall time, as a median of
interleaved rounds: ``overlock --version`` beside ``uv --version``, and ``overlock sync``
with nothing to do beside ``uv pip install`` of already-installed requirements into a venv
(``--uv-venv``; skipped without one). A script, not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import wall

COMMANDS: dict[str, list[str]] = {
    "--version": ["--version"],
    "sync (no-op)": ["sync"],
    "lock --check": ["lock", "--check"],
    "check": ["check"],
    "show": ["show"],
    "why": ["why", "{why}"],
    "run": ["run", "--", "true"],
    "activate": ["activate"],
    "export": ["export"],
}


def importtime(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "overlock", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        modules[name.strip()] = (int(self_us), int(cumulative_us))
    return {
        "code": proc.returncode,
        "modules": sorted(modules),
        "self_ms": sum(s for s, _c in modules.values()) / 1000,
        "cumulative": {n: c / 1000 for n, (_s, c) in modules.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--why", default="numpy", help="the package `overlock why` asks about")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--uv", default=shutil.which("uv"))
    parser.add_argument(
        "--uv-venv",
        type=Path,
        help="a venv already holding --uv-requirements (uv's no-op install goes there)",
    )
    parser.add_argument("--uv-requirements", type=Path)
    parser.add_argument("--uv-cache-dir", type=Path, help="uv's cache (UV_* variables are dropped)")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--src",
        type=Path,
        help="measure the overlock of another checkout's src/ (PYTHONPATH), e.g. the commit"
        " before a change",
    )
    args = parser.parse_args()
    cwd = args.manifest.resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "PYTHON"))}
    env["OVERLOCK_MANIFEST"] = str(args.manifest.resolve())
    if args.src:
        env["PYTHONPATH"] = str(args.src.resolve())

    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "src": str(args.src) if args.src else None,
        "commands": {},
        "wall": {},
    }
    for label, template in COMMANDS.items():
        argv = [a.replace("{why}", args.why) for a in template]
        runs = [importtime(argv, env, cwd) for _ in range(max(3, args.runs // 3))]
        top: dict[str, float] = {}
        for name in runs[0]["cumulative"]:
            top[name] = statistics.median(r["cumulative"].get(name, 0.0) for r in runs)
        heavy = sorted(top.items(), key=lambda kv: -kv[1])[:12]
        ours = [m for m in runs[0]["modules"] if m.split(".")[0] == "overlock"]
        results["commands"][label] = {
            "argv": argv,
            "exit": runs[0]["code"],
            "modules": len(runs[0]["modules"]),
            "overlock_modules": len(ours),
            "overlock_module_names": ours,
            "import_self_ms_median": statistics.median(r["self_ms"] for r in runs),
            "top_cumulative_ms": heavy,
        }
        print(
            f"{label:14} {len(runs[0]['modules']):4d} modules ({len(ours):3d} overlock)"
            f" imports {results['commands'][label]['import_self_ms_median']:7.1f} ms",
            flush=True,
        )

    jobs: dict[str, list[str]] = {
        "overlock --version": [sys.executable, "-m", "overlock", "--version"],
        "overlock sync (no-op)": [sys.executable, "-m", "overlock", "sync"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    for label, template in COMMANDS.items():  # the others too, for their wall time
        if label not in ("--version", "sync (no-op)"):
            argv = [a.replace("{why}", args.why) for a in template]
            jobs[f"overlock {label}"] = [sys.executable, "-m", "overlock", *argv]
    uv = str(Path(args.uv).absolute()) if args.uv else None
    if uv:
        jobs["uv --version"] = [uv, "--version"]
        if args.uv_venv and args.uv_requirements:
            cache = ["--cache-dir", str(args.uv_cache_dir)] if args.uv_cache_dir else []
            jobs["uv pip install (no-op)"] = [
                uv,
                *cache,
                *("pip", "install", "--offline", "--no-config", "--python"),
                str(args.uv_venv / "bin" / "python"),
                *("-r", str(args.uv_requirements)),
            ]
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for argv in jobs.values():
        wall(argv, env, cwd)  # warm-up
    for _ in range(args.runs):  # interleaved: load falls on every job alike
        for job, argv in jobs.items():
            times[job].append(wall(argv, env, cwd))
    for job, values in times.items():
        median = statistics.median(values)
        results["wall"][job] = {"median_s": median, "min_s": min(values), "runs": values}
        low = min(values) * 1000
        print(f"{job:26} median {median * 1000:7.1f} ms  min {low:7.1f} ms", flush=True)
    for job_of_ours, peer in (
        ("overlock --version", "uv --version"),
        ("overlock sync (no-op)", "uv pip install (no-op)"),
        ("overlock --version", "uv pip install (no-op)"),
    ):
        if job_of_ours in times and peer in times:
            wall_times = results["wall"]
            ratio = wall_times[job_of_ours]["median_s"] / wall_times[peer]["median_s"]
            wall_times[f"{job_of_ours} / {peer}"] = ratio
            print(f"{job_of_ours} / {peer}: {ratio:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
