"""Lock benchmark: ``overlock lock`` vs ``uv pip compile`` vs ``pip-compile``, and its scaling.

Real wheels (a 2023-era scientific stack, ~55 distributions) are downloaded once into
``bench/_work/wheels`` with the machine's pip configuration, then served from a loopback index
(the test harness's ``PackageIndex``) so network noise does not pollute the timings. A venv base
holds the base wheels; every tool gets the same request, the same index URL and its own warm
cache, and runs as a subprocess with no pip/uv configuration leaking in. Then the lock's cost
as the base grows (synthetic installed distributions, to 5,000) and as the overlay grows
(synthetic wheels on a second loopback index, to 300 packages), each beside uv's.

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
    LOCK_REQUEST,
    build_base,
    clean_env,
    ensure_wheels,
    find_uv,
    kept_base,
    log,
    median_seconds,
    pick,
    print_rows,
    ratio_row,
    require_cp311,
    row,
    run_checked,
    save_json,
    serve,
    slope,
    split_pin,
    synthetic_dists,
    tool_versions,
    write_manifest,
)
from packaging.utils import canonicalize_name

from harness.bases import Base
from harness.index import PackageIndex, RequestRecord
from harness.wheels import WheelSpec, build_wheel

# -- what is benchmarked ---------------------------------------------------------------------

REQUEST = LOCK_REQUEST

BASE_SIZES = (54, 1000, 2500, 5000)  # distributions in the base; 54 is the real base alone

OVERLAY_SIZES = (10, 100, 200, 300)  # packages in the overlay-size run's lock

TOOLS = ("overlock", "overlock-cold", "overlock-snap", "uv", "pip-compile")

# -- bases -----------------------------------------------------------------------------------

# What the padding distributions require, in turn: base names the request never moves.
PADDING_REQUIRES = ("numpy>=1.20", "packaging>=20", "six", "pyyaml>=5", "click>=7")


def padded_base(work: Path, base: Base, count: int, *, keep: bool) -> Base:
    """The base plus ``count`` synthetic installed distributions, in a hard-linked copy.

    The copy links the base's files and gets its own directories, so writing the padding
    into its site-packages leaves the real base untouched.
    """
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
    synthetic_dists(copy.site_packages(), count, prefix="padpkg", requires=PADDING_REQUIRES)
    (path / ".bench-complete").write_text("ok\n")
    log(f"built base-pad{count} in {time.perf_counter() - started:.1f}s")
    return copy


def overlay_wheels(directory: Path, count: int) -> list[Path]:
    """Two releases each of ``count`` small wheels, each requiring its parent in a tree.

    ``ovlpkg-i`` requires ``ovlpkg-((i-1)//2)``, so the first N names are closed under their
    requirements: asking for them locks exactly N packages, with N-1 edges to follow.
    """
    wheels = []
    for i in range(count):
        requires = (f"ovlpkg-{(i - 1) // 2:04d}>=1.0",) if i else ()
        for version in ("1.0", "1.1"):
            spec = WheelSpec(name=f"ovlpkg-{i:04d}", version=version, requires=requires)
            wheels.append(build_wheel(spec, directory))
    return wheels


def overlay_request(size: int) -> tuple[str, ...]:
    return tuple(f"ovlpkg-{i:04d}" for i in range(size))


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
    reset: Callable[[], None] = lambda: None  # before every run, not timed


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
    request: Sequence[str] = REQUEST,
    tool: str = "",
) -> Job:
    """``overlock lock``; with ``snapshot``, from a saved probe instead of probing the base."""
    cwd = work / "runs" / name
    if snapshot is None:
        manifest = write_manifest(cwd, request, index_url, base=base.prefix)
    else:
        manifest = write_manifest(cwd, request, index_url, snapshot=snapshot)

    def pins(stdout: str) -> dict[str, str]:
        data = json.loads(stdout)
        return {canonicalize_name(p["name"]): p["version"] for p in data["packages"]}

    return Job(
        tool=tool or ("overlock" if snapshot is None else "overlock-snap"),
        argv=[sys.executable, "-m", "overlock", "lock", "-m", str(manifest), "--json"],
        env=clean_env({"OVERLOCK_CACHE_DIR": str(cache)}),
        cwd=cwd,
        output=cwd / "pylock.overlay.toml",
        pins=pins,
        manifest=manifest,
    )


def forget_probes(cache: Path) -> Callable[[], None]:
    """A reset that empties overlock's probe cache: the next lock meets a base never seen."""
    return lambda: shutil.rmtree(cache / "probes", ignore_errors=True)


def uv_job(
    work: Path,
    uv: str,
    index_url: str,
    cache: Path,
    *,
    name: str = "uv",
    request: Sequence[str] = REQUEST,
) -> Job:
    cwd = work / "runs" / name
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "req.in").write_text("\n".join(request) + "\n")
    output = cwd / "out.txt"
    argv = [uv, "pip", "compile", "req.in", "-o", str(output), "--index-url", index_url]
    argv += ["--python-version", "3.11", "--cache-dir", str(cache)]
    argv += ["--no-header", "--no-config", "--quiet"]
    return Job("uv", argv, clean_env(), cwd, output, lambda _out: _requirements_pins(output))


def uv_dry_run_job(work: Path, name: str, uv: str, base: Base, index_url: str, cache: Path) -> Job:
    """``uv pip install --dry-run`` into the base: uv's resolution that reads the base.

    ``uv pip compile`` never looks at an environment, so it cannot show a cost that grows
    with the base; a dry-run install does read every installed distribution, and writes
    nothing.
    """
    cwd = work / "runs" / name
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "req.in").write_text("\n".join(REQUEST) + "\n")
    argv = [uv, "pip", "install", "--dry-run", "-r", "req.in", "--python", str(base.python)]
    argv += ["--index-url", index_url, "--cache-dir", str(cache), "--no-config", "--quiet"]
    return Job("uv-dry-run", argv, clean_env(), cwd, cwd / "no-output", lambda _out: {})


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
    job.reset()
    index.reset_log()
    started = time.perf_counter()
    stdout = run_checked(job.argv, env=job.env, cwd=job.cwd)
    elapsed = time.perf_counter() - started
    return elapsed, classify(index.requests), stdout


def measure(jobs: Sequence[Job], index: PackageIndex, runs: int) -> list[Result]:
    """A warm-up run of each job, then ``runs`` rounds taking every job in turn.

    Rounds, not one job's runs after another: on a shared machine, load that comes and goes
    then falls on every tool alike, which keeps the ratios honest.
    """
    for job in jobs:
        run_once(job, index)  # warm the tool's cache (and the OS page cache); not measured
    results = [Result(job.tool) for job in jobs]
    stdouts = [""] * len(jobs)
    for _ in range(runs):
        for n, job in enumerate(jobs):
            elapsed, counts, stdouts[n] = run_once(job, index)
            results[n].times.append(elapsed)
            results[n].requests.append(counts)
    for job, result, stdout in zip(jobs, results, stdouts, strict=True):
        result.pins = job.pins(stdout)
        if job.manifest is not None:
            result.self_reported = json.loads(stdout)["index_requests"]
        log(f"  {job.tool}: median {result.median:.3f}s over {runs} runs")
    return results


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
    print("overlock-cold: the same lock with overlock's probe cache emptied before each run")
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


def comparison_rows(results: dict[str, Result], latency: float) -> list[dict[str, Any]]:
    """The issue's lock rows: warm and cold against ``uv pip compile``; pip-compile for scale."""
    where = "loopback index" + (f", +{latency:g} ms per answer" if latency else "")
    uv = results["uv"].median
    return [
        ratio_row(f"lock, warm ({where})", results["overlock"].median, "uv pip compile", uv, 1.0),
        ratio_row(
            f"lock, cold: base never probed ({where})",
            results["overlock-cold"].median,
            "uv pip compile",
            uv,
            2.0,
        ),
        row(
            f"lock from a base snapshot ({where})",
            results["overlock-snap"].median,
            "uv pip compile",
            uv,
        ),
        row(
            f"lock, warm ({where})",
            results["overlock"].median,
            "pip-compile",
            results["pip-compile"].median,
        ),
    ]


# -- scaling ---------------------------------------------------------------------------------


@dataclass
class ScalingRow:
    """One size of one scaling run: overlock's lock and the peer's, same request and index."""

    size: int  # distributions in the base, or packages in the overlay
    lock: Result
    peer: Result
    snapshot_median: float | None = None  # base-size run: ``overlock base snapshot`` (a probe)


def base_scaling(
    work: Path,
    base: Base,
    sizes: Sequence[int],
    index: PackageIndex,
    uv: str,
    caches: Path,
    *,
    runs: int,
    keep: bool,
) -> list[ScalingRow]:
    """The warm lock and uv's dry-run install on the base padded to each size."""
    real = len(installed_versions(base))
    rows = []
    for size in sizes:
        if size < real:
            raise SystemExit(f"--base-sizes: {size} is below the real base's {real} distributions")
        padded = padded_base(work, base, size - real, keep=keep)
        job = overlock_job(work, f"overlock-base{size}", padded, index.url, caches / "overlock")
        peer = uv_dry_run_job(work, f"uv-base{size}", uv, padded, index.url, caches / "uv")
        lock, by_peer = measure([job, peer], index, runs)
        probe = measure_snapshot(work, padded, runs)
        rows.append(ScalingRow(size=size, lock=lock, peer=by_peer, snapshot_median=probe))
    return rows


def add_latency(index: PackageIndex, milliseconds: float) -> None:
    """The harness's "slow" fault, on every path: each answer waits, concurrent ones overlap."""
    if milliseconds > 0:
        index.fault("*", "slow", times=10**9, delay=milliseconds / 1000)


def overlay_scaling(
    work: Path,
    sizes: Sequence[int],
    uv: str,
    caches: Path,
    *,
    runs: int,
    keep: bool,
    latency: float,
) -> list[ScalingRow]:
    """``overlock lock`` and ``uv pip compile`` of 10..300 synthetic packages on a bare base."""
    base = build_base(work / "bare-base", [], keep=keep)
    wheel_dir = work / "overlay-wheels"
    if wheel_dir.exists():
        shutil.rmtree(wheel_dir)
    index = serve(work / "overlay-index", overlay_wheels(wheel_dir, max(sizes)))
    add_latency(index, latency)
    rows = []
    try:
        for size in sizes:
            request = overlay_request(size)
            job = overlock_job(
                work, f"overlock-ovl{size}", base, index.url, caches / "overlock", request=request
            )
            peer = uv_job(work, uv, index.url, caches / "uv", name=f"uv-ovl{size}", request=request)
            lock, by_peer = measure([job, peer], index, runs)
            rows.append(ScalingRow(size=size, lock=lock, peer=by_peer))
            if len(rows[-1].lock.pins) != size:
                raise SystemExit(f"overlay of {size}: overlock locked {len(rows[-1].lock.pins)}")
    finally:
        index.stop()
    return rows


def print_scaling(title: str, unit: str, rows: Sequence[ScalingRow], per: int) -> dict[str, float]:
    """The table of one scaling run and the slopes (seconds per ``per`` ``unit``)."""
    print()
    print(f"{title} (warm caches; medians):")
    print(
        f"{unit:>8} {'lock s':>8} {'lock min':>8} {'peer s':>8} {'ratio':>6}"
        f" {'probe s':>8}  overlock's index requests"
    )
    for r in rows:
        probe = f"{r.snapshot_median:8.3f}" if r.snapshot_median is not None else f"{'-':>8}"
        asked = ", ".join(f"{k} {v}" for k, v in sorted((r.lock.self_reported or {}).items()))
        print(
            f"{r.size:>8} {r.lock.median:>8.3f} {r.lock.best:>8.3f} {r.peer.median:>8.3f}"
            f" {r.lock.median / r.peer.median:>6.2f} {probe}  {asked}"
        )
    sizes = [r.size for r in rows]
    slopes = {
        "overlock": slope(sizes, [r.lock.median for r in rows]) * per,
        "peer": slope(sizes, [r.peer.median for r in rows]) * per,
    }
    if rows[0].snapshot_median is not None:
        probes = [r.snapshot_median or 0.0 for r in rows]
        slopes["probe"] = slope(sizes, probes) * per
    print(
        f"slope, seconds per {per:,} {unit}: "
        + ", ".join(f"{k} {v:.3f}" for k, v in slopes.items())
    )
    return slopes


def scaling_rows(
    base_rows: Sequence[ScalingRow],
    base_slopes: dict[str, float],
    overlay_rows: Sequence[ScalingRow],
    overlay_slopes: dict[str, float],
) -> list[dict[str, Any]]:
    out = []
    peer = "uv pip install --dry-run into the base"
    for r in base_rows:
        out.append(
            row(f"lock, warm, base of {r.size:,} distributions", r.lock.median, peer, r.peer.median)
        )
    if len(base_rows) > 1:
        out.append(
            row(
                "lock: seconds per 1,000 more base distributions (slope)",
                base_slopes["overlock"],
                peer,
                base_slopes["peer"],
            )
        )
        out.append(
            row(
                "base snapshot (a cold probe): seconds per 1,000 more distributions",
                base_slopes["probe"],
                "",
                None,
            )
        )
    for r in overlay_rows:
        out.append(
            row(
                f"lock, warm, overlay of {r.size} packages",
                r.lock.median,
                "uv pip compile",
                r.peer.median,
            )
        )
    if len(overlay_rows) > 1:
        out.append(
            row(
                "lock: seconds per 100 more overlay packages (slope)",
                overlay_slopes["overlock"],
                "uv pip compile",
                overlay_slopes["peer"],
            )
        )
    return out


def scaling_json(rows: Sequence[ScalingRow]) -> list[dict[str, Any]]:
    return [
        {
            "size": r.size,
            "lock": {**asdict(r.lock), "median": r.lock.median, "min": r.lock.best},
            "peer": {**asdict(r.peer), "median": r.peer.median, "min": r.peer.best},
            "snapshot_median": r.snapshot_median,
        }
        for r in rows
    ]


# -- main ------------------------------------------------------------------------------------


def sizes_option(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per tool (default 5)")
    parser.add_argument("--keep", action="store_true", help="reuse bases and caches in _work")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    parser.add_argument("--work", type=Path, default=BENCH / "_work", help="scratch directory")
    parser.add_argument("--uv", help="uv executable (default: beside python, else on PATH)")
    parser.add_argument(
        "--base-sizes",
        type=sizes_option,
        default=list(BASE_SIZES),
        help="base sizes (distributions) for the base-size run; '' skips it (default"
        f" {','.join(map(str, BASE_SIZES))})",
    )
    parser.add_argument(
        "--overlay-sizes",
        type=sizes_option,
        default=list(OVERLAY_SIZES),
        help="overlay sizes (packages) for the overlay-size run; '' skips it (default"
        f" {','.join(map(str, OVERLAY_SIZES))})",
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
    (work / "runs").mkdir(parents=True, exist_ok=True)
    uv = find_uv(args.uv)
    base_sizes: list[int] = [] if args.skip_scaling else args.base_sizes
    overlay_sizes: list[int] = [] if args.skip_scaling else args.overlay_sizes

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
    index = serve(work / "index", index_wheels)
    add_latency(index, args.latency)
    index.cache_pages(args.cache_control)
    print(
        f"base: {len(base_versions)} distributions; index: {len(index_wheels)} wheels"
        f" at {index.url}; added latency per request: {args.latency:g} ms;"
        f" page Cache-Control: {args.cache_control or 'none'}"
    )
    base_rows: list[ScalingRow] = []
    base_slopes: dict[str, float] = {}
    try:
        log("comparing tools...")
        snapshot = work / "runs" / "base-snapshot.json"
        snap = [sys.executable, "-m", "overlock", "base", "snapshot", "--base", str(base.prefix)]
        run_checked([*snap, "-o", str(snapshot)], env=clean_env(), cwd=work)
        cold = overlock_job(
            work, "overlock-cold", base, index.url, caches / "overlock-cold", tool="overlock-cold"
        )
        cold.reset = forget_probes(caches / "overlock-cold")
        jobs = [
            overlock_job(work, "overlock", base, index.url, caches / "overlock"),
            cold,
            overlock_job(
                work, "overlock-snap", base, index.url, caches / "overlock", snapshot=snapshot
            ),
            uv_job(work, uv, index.url, caches / "uv"),
            pip_compile_job(work, index.url, caches / "pip-compile"),
        ]
        results = {r.tool: r for r in measure(jobs, index, args.runs)}
        print_comparison(results, base_versions)
        table = comparison_rows(results, args.latency)
        print_rows(table)
        profile = profile_overlock(jobs[0], work, base, args.runs) if args.profile else None

        if base_sizes:
            log("base-size scaling...")
            base_rows = base_scaling(
                work, base, base_sizes, index, uv, caches, runs=args.runs, keep=args.keep
            )
            base_slopes = print_scaling(
                "base-size scaling: overlock lock vs uv pip install --dry-run into the base",
                "dists",
                base_rows,
                1000,
            )
    finally:
        index.stop()
    overlay_rows: list[ScalingRow] = []
    overlay_slopes: dict[str, float] = {}
    if overlay_sizes:
        log("overlay-size scaling...")
        overlay_rows = overlay_scaling(
            work, overlay_sizes, uv, caches, runs=args.runs, keep=args.keep, latency=args.latency
        )
        overlay_slopes = print_scaling(
            "overlay-size scaling: overlock lock vs uv pip compile, synthetic packages",
            "packages",
            overlay_rows,
            100,
        )
    more = scaling_rows(base_rows, base_slopes, overlay_rows, overlay_slopes)
    if more:
        print_rows(more)

    if args.json:
        save_json(
            args.json,
            {
                "bench": "lock",
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
                "base_scaling": scaling_json(base_rows),
                "base_slopes_per_1000": base_slopes,
                "overlay_scaling": scaling_json(overlay_rows),
                "overlay_slopes_per_100": overlay_slopes,
                "profile": profile,
                "table": [*table, *more],
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
