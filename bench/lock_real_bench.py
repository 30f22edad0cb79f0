"""Warm lock on a real index: ``overlock lock`` vs ``uv pip compile``, paired runs.

The loopback benchmark (``lock_bench.py``) controls the index; this one asks a real one
(default PyPI, ``--index-url`` for a mirror), so the index's own ``Cache-Control``, its
latency and whatever proxy sits between decide how much each tool can reuse. Both tools get
the same request, a warm cache of their own and no pip/uv configuration; runs alternate
(overlock, uv, overlock, uv, ...) so load coming and going on a shared machine falls on both.
Reaches the network: a benchmark only, never a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import BASE_PINS, BENCH, build_base, clean_env, ensure_wheels, find_uv, log, pick

REQUESTS = {
    "bench": ("seaborn==0.13.2", "urllib3>=2"),
    "wide": ("seaborn", "httpx", "scikit-learn", "pandas", "scipy"),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], cwd: Path, output: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one run; CPU time says more than wall time on a loaded machine."""
    output.unlink(missing_ok=True)  # a fresh resolution each time, not "nothing to do"
    cpu, started = _cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed, _cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured pairs (default 7)")
    parser.add_argument("--index-url", default="https://pypi.org/simple/")
    parser.add_argument("--request", choices=sorted(REQUESTS), default="bench")
    parser.add_argument("--work", type=Path, default=BENCH / "_work")
    parser.add_argument("--uv", help="uv executable (default: beside python, else on PATH)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    parser.add_argument(
        "--overlock-option",
        action="append",
        default=[],
        metavar="OPT",
        help="extra option for `overlock lock` (e.g. --refresh), repeatable",
    )
    args = parser.parse_args()
    work: Path = args.work.resolve()
    uv = find_uv(args.uv)
    request = REQUESTS[args.request]
    base = build_base(work / "base", pick(ensure_wheels(work / "wheels"), BASE_PINS), keep=True)
    runs = work / "runs" / f"real-{args.request}"
    runs.mkdir(parents=True, exist_ok=True)
    cache = work / "cache" / "real"

    manifest = runs / "overlay.toml"
    manifest.write_text(
        "[overlay]\n"
        f"base = {json.dumps(str(base.prefix))}\n"
        f"prefix = {json.dumps(str(runs / 'prefix'))}\n"
        f"requires = {json.dumps(list(request))}\n\n"
        f"[index]\nurls = [{json.dumps(args.index_url)}]\n"
    )
    (runs / "req.in").write_text("\n".join(request) + "\n")
    overlock = [sys.executable, "-m", "overlock", "lock", "-m", str(manifest)]
    overlock += args.overlock_option
    uv_argv = [uv, "pip", "compile", "req.in", "-o", str(runs / "out.txt")]
    uv_argv += ["--index-url", args.index_url, "--python-version", "3.11"]
    uv_argv += ["--cache-dir", str(cache / "uv"), "--no-header", "--no-config", "--quiet"]
    # The machine's CA store (truststore / uv's native roots); nothing else from its config.
    uv_env = clean_env({"UV_NATIVE_TLS": "1"})
    ov_env = clean_env({"OVERLOCK_CACHE_DIR": str(cache / "overlock")})

    jobs = {
        "overlock": (overlock, ov_env, runs / "pylock.overlay.toml"),
        "uv": (uv_argv, uv_env, runs / "out.txt"),
    }
    log(f"warming up ({args.index_url}, request {list(request)})...")
    for argv, env, out in jobs.values():
        _time(argv, env, runs, out)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.runs):
        for name, (argv, env, out) in jobs.items():
            wall, used = _time(argv, env, runs, out)
            times[name].append(wall)
            cpu[name].append(used)
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    ratios = sorted(o / u for o, u in zip(times["overlock"], times["uv"], strict=True))
    print(f"index: {args.index_url}; request: {list(request)}; pairs: {args.runs}")
    print(f"{'tool':10} {'median s':>9} {'min s':>7} {'CPU s':>7}")
    for name, t in times.items():
        print(f"{name:10} {med[name]:9.3f} {min(t):7.3f} {med_cpu[name]:7.3f}")
    print(
        f"overlock/uv: median of medians {med['overlock'] / med['uv']:.2f},"
        f" median of paired ratios {statistics.median(ratios):.2f},"
        f" CPU {med_cpu['overlock'] / med_cpu['uv']:.2f}"
    )
    if args.json:
        doc = {
            "index": args.index_url,
            "request": list(request),
            "overlock_options": args.overlock_option,
            "times": times,
            "medians": med,
            "cpu": cpu,
            "cpu_medians": med_cpu,
            "paired_ratio_median": statistics.median(ratios),
        }
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
