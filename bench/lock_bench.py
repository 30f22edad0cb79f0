"""Lock benchmark: ``overlock lock`` vs ``uv pip compile`` vs ``pip-compile``.

Real wheels (a 2023-era scientific stack, ~55 distributions) are downloaded once into
``bench/_work/wheels`` with the machine's pip configuration, then served from a loopback index
(the test harness's ``PackageIndex``) so network noise does not pollute the timings. A venv base
holds the base wheels; every tool gets the same request, the same index URL and its own warm
cache, and runs as a subprocess with no pip/uv configuration leaking in.

Run ``python bench/lock_bench.py --help``; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from _common import (
    BASE_PINS,
    BENCH,
    INDEX_ONLY_PINS,
    build_base,
    clean_env,
    ensure_wheels,
    find_uv,
    kept_base,
    log,
    median_seconds,
    pick,
    require_cp311,
    run_checked,
    split_pin,
    tool_versions,
)
from packaging.utils import canonicalize_name

from harness.bases import Base
from harness.index import PackageIndex, RequestRecord
from harness.wheels import WheelSpec, build_wheel

# -- what is benchmarked ---------------------------------------------------------------------

REQUEST = ("seaborn==0.13.2", "urllib3>=2")

PADDINGS = (0, 200, 1000)

TOOLS = ("overlock", "overlock-snap", "uv", "pip-compile")

# -- bases -----------------------------------------------------------------------------------


def padding_specs(count: int) -> list[WheelSpec]:
    """Tiny synthetic distributions with Requires-Dist on base names the request never moves."""
    leaf = ("numpy>=1.20", "packaging>=20", "six", "pyyaml>=5", "click>=7")
    return [
        WheelSpec(name=f"padpkg-{i:04d}", version="1.0", requires=(leaf[i % len(leaf)],))
        for i in range(count)
    ]


def padded_base(work: Path, base: Base, count: int, *, keep: bool) -> Base:
    """The base plus ``count`` padding distributions: a hard-linked copy, so cheap and safe."""
    if count == 0:
        return base
    path = work / f"base-pad{count}"
    kept = kept_base(path, keep=keep)
    if kept is not None:
        return kept
    started = time.perf_counter()
    shutil.copytree(base.prefix, path, symlinks=True, copy_function=os.link)
    (path / ".bench-complete").unlink()
    copy = Base(prefix=path, python=path / "bin" / "python", kind="venv")
    built = [build_wheel(spec, work / "padding-wheels") for spec in padding_specs(count)]
    copy.install(*built)
    (path / ".bench-complete").write_text("ok\n")
    log(f"built base-pad{count} in {time.perf_counter() - started:.1f}s")
    return copy


def installed_versions(base: Base) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))\n"
    )
    proc = base.run(code)
    return {canonicalize_name(k): v for k, v in json.loads(proc.stdout).items()}


# -- the tools -------------------------------------------------------------------------------


@dataclass
class Job:
    """One tool invocation, repeatable: argv, environment, directory, output file."""

    tool: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    output: Path
    pins: Callable[[str], dict[str, str]]  # stdout -> {name: version} produced
    manifest: Path | None = None  # overlock only


def _requirements_pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = split_pin(line.split(";", 1)[0].strip())
            pins[name] = version.strip()
    return pins


def overlock_job(
    work: Path,
    name: str,
    base: Base,
    index_url: str,
    cache: Path,
    *,
    snapshot: Path | None = None,
) -> Job:
    """``overlock lock``; with ``snapshot``, from a saved probe instead of probing the base."""
    cwd = work / "runs" / name
    cwd.mkdir(parents=True, exist_ok=True)
    manifest = cwd / "overlay.toml"
    where = (
        f"base = {json.dumps(str(base.prefix))}"
        if snapshot is None
        else f"base-snapshot = {json.dumps(str(snapshot))}"
    )
    manifest.write_text(
        "[overlay]\n"
        f"{where}\n"
        f"prefix = {json.dumps(str(cwd / 'prefix'))}\n"
        f"requires = {json.dumps(list(REQUEST))}\n\n"
        "[index]\n"
        f"urls = [{json.dumps(index_url)}]\n"
    )

    def pins(stdout: str) -> dict[str, str]:
        data = json.loads(stdout)
        return {canonicalize_name(p["name"]): p["version"] for p in data["packages"]}

    return Job(
        tool="overlock" if snapshot is None else "overlock-snap",
        argv=[sys.executable, "-m", "overlock", "lock", "-m", str(manifest), "--json"],
        env=clean_env({"OVERLOCK_CACHE_DIR": str(cache)}),
        cwd=cwd,
        output=cwd / "pylock.overlay.toml",
        pins=pins,
        manifest=manifest,
    )


def uv_job(work: Path, uv: str, index_url: str, cache: Path) -> Job:
    cwd = work / "runs" / "uv"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "req.in").write_text("\n".join(REQUEST) + "\n")
    output = cwd / "out.txt"
    argv = [uv, "pip", "compile", "req.in", "-o", str(output), "--index-url", index_url]
    argv += ["--python-version", "3.11", "--cache-dir", str(cache)]
    argv += ["--no-header", "--no-config", "--quiet"]
    return Job("uv", argv, clean_env(), cwd, output, lambda _out: _requirements_pins(output))


def pip_compile_job(work: Path, index_url: str, cache: Path) -> Job:
    cwd = work / "runs" / "pip-compile"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "req.in").write_text("\n".join(REQUEST) + "\n")
    output = cwd / "out.txt"
    argv = [sys.executable, "-m", "piptools", "compile", "--index-url", index_url]
    argv += ["--cache-dir", str(cache / "piptools"), "--no-header", "--quiet"]
    argv += ["-o", str(output), "req.in"]
    env = clean_env({"PIP_CACHE_DIR": str(cache / "pip")})
    return Job("pip-compile", argv, env, cwd, output, lambda _out: _requirements_pins(output))


# -- measuring -------------------------------------------------------------------------------


def classify(records: Sequence[RequestRecord]) -> dict[str, int]:
    counts = {"total": 0, "pages": 0, "metadata": 0, "range": 0, "files": 0}
    for r in records:
        path = unquote(urlsplit(r.path).path)
        counts["total"] += 1
        if path.startswith("/simple"):
            counts["pages"] += 1
        elif path.endswith(".metadata"):
            counts["metadata"] += 1
        elif any(k.lower() == "range" for k in r.headers):
            counts["range"] += 1
        else:
            counts["files"] += 1
    return counts


@dataclass
class Result:
    tool: str
    times: list[float] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)
    self_reported: dict[str, int] | None = None  # overlock's own index_requests

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


def run_once(job: Job, index: PackageIndex) -> tuple[float, dict[str, int], str]:
    job.output.unlink(missing_ok=True)  # a fresh resolution: no previous pins to prefer
    index.reset_log()
    started = time.perf_counter()
    stdout = run_checked(job.argv, env=job.env, cwd=job.cwd)
    elapsed = time.perf_counter() - started
    return elapsed, classify(index.requests), stdout


def measure(job: Job, index: PackageIndex, runs: int) -> Result:
    run_once(job, index)  # warm the tool's cache (and the OS page cache); not measured
    result = Result(job.tool)
    stdout = ""
    for _ in range(runs):
        elapsed, counts, stdout = run_once(job, index)
        result.times.append(elapsed)
        result.requests.append(counts)
    result.pins = job.pins(stdout)
    if job.tool.startswith("overlock"):
        result.self_reported = json.loads(stdout)["index_requests"]
    log(f"  {job.tool}: median {result.median:.3f}s over {runs} runs")
    return result


def measure_snapshot(work: Path, base: Base, runs: int) -> float:
    """The cost of reading the base alone: ``overlock base snapshot`` (one probe)."""
    target = work / "runs" / f"snapshot-{base.prefix.name}.json"
    argv = [sys.executable, "-m", "overlock", "base", "snapshot", "--base", str(base.prefix)]
    argv += ["-o", str(target)]
    return median_seconds(argv, clean_env(), work, runs)


PROFILE_IMPORTS = (
    "overlock.cli.main",
    "overlock.lock.make",
    "overlock.lock.pylock",
    "overlock.index.client",
    "overlock.resolve.resolver",
    "overlock.base.env",
)


def profile_overlock(job: Job, work: Path, base: Base, runs: int) -> dict[str, Any]:
    """Where a warm ``overlock lock`` spends its time, phase by phase, then cProfile's view."""
    env = job.env
    py = sys.executable
    timer = (
        "import time, sys; t = time.perf_counter(); import {mods};"
        " sys.stdout.write(str(time.perf_counter() - t))"
    )
    startup = median_seconds([py, "-c", "pass"], env, job.cwd, runs)
    imports = median_seconds([py, "-c", f"import {', '.join(PROFILE_IMPORTS)}"], env, job.cwd, runs)
    import_only = float(
        run_checked([py, "-c", timer.format(mods=", ".join(PROFILE_IMPORTS))], env=env, cwd=job.cwd)
    )
    probe_python = median_seconds([str(base.python), "-c", "pass"], env, job.cwd, runs)
    snapshot = measure_snapshot(work, base, runs)
    lock = median_seconds(job.argv, env, job.cwd, runs)
    stats_file = work / "overlock-lock.prof"
    argv = [py, "-m", "cProfile", "-o", str(stats_file), *job.argv[1:]]
    run_checked(argv, env=env, cwd=job.cwd)
    phases = {
        "interpreter startup (python -c pass)": startup,
        "python + overlock imports": imports,
        "imports alone (in-process timer)": import_only,
        "base interpreter startup": probe_python,
        "overlock base snapshot (startup+imports+probe)": snapshot,
        "overlock lock --json": lock,
    }
    print()
    print(f"overlock time breakdown (medians of {runs}; warm cache):")
    for label, seconds in phases.items():
        print(f"  {label:<48} {seconds:7.3f} s")
    print(f"  {'lock minus snapshot (index + resolve + write)':<48} {lock - snapshot:7.3f} s")
    assert job.manifest is not None
    phases_argv = [py, str(BENCH / "lock_phases.py"), str(job.manifest), "--repeat", str(runs)]
    in_process = json.loads(run_checked(phases_argv, env=env, cwd=job.cwd))
    print(f"in-process stages (bench/lock_phases.py, medians of {runs}):")
    for label, value in in_process.items():
        if isinstance(value, float):
            print(f"  {label:<48} {value:7.3f} s")
    phases.update({f"in-process: {k}": v for k, v in in_process.items() if isinstance(v, float)})
    import pstats

    print(f"\ncProfile of one warm lock ({stats_file}), top 25 by cumulative time:")
    stats = pstats.Stats(str(stats_file), stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(25)
    return phases


# -- reporting -------------------------------------------------------------------------------


def fmt_requests(counts: dict[str, int]) -> str:
    return (
        f"{counts['total']:>3} (pages {counts['pages']}, metadata {counts['metadata']},"
        f" range {counts['range']}, files {counts['files']})"
    )


def print_comparison(results: dict[str, Result], base_versions: dict[str, str]) -> None:
    ref = results["overlock"].median
    print()
    print(f"{'tool':<12} {'median s':>9} {'min s':>7} {'x overlock':>10}  index requests per run")
    for tool in TOOLS:
        r = results[tool]
        counts = r.requests[-1]
        ratio = r.median / ref
        print(f"{tool:<12} {r.median:>9.3f} {r.best:>7.3f} {ratio:>10.2f}  {fmt_requests(counts)}")
    ov = results["overlock"].self_reported
    if ov is not None:
        print(f"overlock's own count: {', '.join(f'{k} {v}' for k, v in sorted(ov.items()))}")
    print("overlock-snap: the same lock from a saved probe (base-snapshot), i.e. without probing")
    uv_ratio = ref / results["uv"].median
    pc_ratio = results["pip-compile"].median / ref
    print()
    print(
        f"target 1: overlock within 2x of uv pip compile -> overlock/uv = {uv_ratio:.2f}"
        f" ({'MET' if uv_ratio <= 2 else 'NOT MET'})"
    )
    print(
        f"target 2: overlock >= 5x faster than pip-compile -> pip-compile/overlock ="
        f" {pc_ratio:.2f} ({'MET' if pc_ratio >= 5 else 'NOT MET'})"
    )
    print()
    print("pins produced (base version in brackets; '=' same as base, '^' differs, '+' new):")
    for tool in TOOLS:
        pins = results[tool].pins
        marks = []
        for name, version in sorted(pins.items()):
            had = base_versions.get(name)
            if had is None:
                marks.append(f"+{name}=={version}")
            elif had == version:
                marks.append(f"={name}=={version}")
            else:
                marks.append(f"^{name}=={version} [{had}]")
        changed = sum(1 for m in marks if not m.startswith("="))
        print(f"  {tool} ({len(pins)} pins, {changed} would change or add to the base):")
        for chunk in range(0, len(marks), 4):
            print("    " + "  ".join(marks[chunk : chunk + 4]))


@dataclass
class ScalingRow:
    padding: int
    distributions: int
    lock_median: float
    lock_min: float
    snapshot_median: float
    requests: dict[str, int]
    pins: dict[str, str]


def print_scaling(rows: Sequence[ScalingRow]) -> None:
    print()
    print("base-size scaling (overlock lock, same request, warm cache):")
    print(
        f"{'padding':>8} {'dists':>6} {'lock med s':>10} {'lock min s':>10}"
        f" {'probe s':>8} {'lock-probe':>10}  index requests"
    )
    for r in rows:
        print(
            f"{r.padding:>8} {r.distributions:>6} {r.lock_median:>10.3f} {r.lock_min:>10.3f}"
            f" {r.snapshot_median:>8.3f} {r.lock_median - r.snapshot_median:>10.3f}"
            f"  {fmt_requests(r.requests)}"
        )
    same_requests = len({json.dumps(r.requests, sort_keys=True) for r in rows}) == 1
    same_pins = len({json.dumps(r.pins, sort_keys=True) for r in rows}) == 1
    print(f"requests constant across base sizes: {same_requests}; same lock: {same_pins}")


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per tool (default 5)")
    parser.add_argument("--keep", action="store_true", help="reuse bases and caches in _work")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    parser.add_argument("--work", type=Path, default=BENCH / "_work", help="scratch directory")
    parser.add_argument("--uv", help="uv executable (default: beside python, else on PATH)")
    parser.add_argument(
        "--paddings",
        default=",".join(map(str, PADDINGS)),
        help="extra synthetic base distributions for the scaling run (default 0,200,1000)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="delay every index answer by MS milliseconds, to model a remote index (default 0)",
    )
    parser.add_argument(
        "--cache-control",
        metavar="VALUE",
        help='send "Cache-Control: VALUE" with every index page, as PyPI sends "max-age=600"'
        " (default: none)",
    )
    parser.add_argument("--skip-scaling", action="store_true", help="only the tool comparison")
    parser.add_argument(
        "--profile", action="store_true", help="also break down and cProfile overlock's lock"
    )
    args = parser.parse_args(argv)
    require_cp311()
    work: Path = args.work.resolve()
    uv = find_uv(args.uv)
    paddings = [int(p) for p in args.paddings.split(",") if p.strip()]

    env_info = tool_versions(
        uv, **{"pip-compile": [sys.executable, "-m", "piptools", "compile", "--version"]}
    )
    print("environment: " + "; ".join(f"{k} {v}" for k, v in env_info.items()))
    print(f"request: {list(REQUEST)}; runs: {args.runs} (after one unmeasured warm-up each)")

    wheels = ensure_wheels(work / "wheels")
    base_wheels = pick(wheels, BASE_PINS)
    index_wheels = sorted(set(base_wheels) | set(pick(wheels, INDEX_ONLY_PINS)))
    base = build_base(work / "base", base_wheels, keep=args.keep)
    base_versions = installed_versions(base)
    caches = work / "cache"
    if not args.keep and caches.exists():
        shutil.rmtree(caches)
    index_root = work / "index"
    if index_root.exists():
        shutil.rmtree(index_root)
    index = PackageIndex(index_root)
    for wheel in index_wheels:
        index.add(wheel, metadata=True)
    index.start()
    index.cache_pages(args.cache_control)
    if args.latency > 0:
        # The harness's "slow" fault, on every path: each answer waits, concurrent ones overlap.
        index.fault("*", "slow", times=10**9, delay=args.latency / 1000)
    print(
        f"base: {len(base_versions)} distributions; index: {len(index_wheels)} wheels"
        f" at {index.url}; added latency per request: {args.latency:g} ms;"
        f" page Cache-Control: {args.cache_control or 'none'}"
    )
    try:
        log("comparing tools...")
        snapshot = work / "runs" / "base-snapshot.json"
        snap = [sys.executable, "-m", "overlock", "base", "snapshot", "--base", str(base.prefix)]
        run_checked([*snap, "-o", str(snapshot)], env=clean_env(), cwd=work)
        jobs = [
            overlock_job(work, "overlock", base, index.url, caches / "overlock"),
            overlock_job(
                work, "overlock-snap", base, index.url, caches / "overlock", snapshot=snapshot
            ),
            uv_job(work, uv, index.url, caches / "uv"),
            pip_compile_job(work, index.url, caches / "pip-compile"),
        ]
        results = {job.tool: measure(job, index, args.runs) for job in jobs}
        print_comparison(results, base_versions)
        profile = profile_overlock(jobs[0], work, base, args.runs) if args.profile else None

        rows: list[ScalingRow] = []
        if not args.skip_scaling:
            log("base-size scaling...")
            for count in paddings:
                padded = padded_base(work, base, count, keep=args.keep)
                name = f"overlock-pad{count}"
                job = overlock_job(work, name, padded, index.url, caches / "overlock")
                r = measure(job, index, args.runs)
                rows.append(
                    ScalingRow(
                        padding=count,
                        distributions=len(base_versions) + count,
                        lock_median=r.median,
                        lock_min=r.best,
                        snapshot_median=measure_snapshot(work, padded, args.runs),
                        requests=r.requests[-1],
                        pins=r.pins,
                    )
                )
            print_scaling(rows)
    finally:
        index.stop()

    if args.json:
        doc: dict[str, Any] = {
            "environment": env_info,
            "request": list(REQUEST),
            "runs": args.runs,
            "latency_ms": args.latency,
            "cache_control": args.cache_control,
            "base_distributions": len(base_versions),
            "index_wheels": len(index_wheels),
            "tools": {
                k: {**asdict(v), "median": v.median, "min": v.best} for k, v in results.items()
            },
            "scaling": [asdict(r) for r in rows],
            "profile": profile,
        }
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"\nresults saved to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
