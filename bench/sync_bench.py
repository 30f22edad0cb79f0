"""Sync benchmark: ``overlock sync`` vs ``pip install -I --no-deps --prefix`` vs ``uv pip install``.

The lock benchmark's wheel set (a 2023-era scientific stack, 54 real wheels) is locked by
``overlock lock`` onto a bare venv base, so the overlay holds every one of them; then each tool
installs those same wheels into a fresh prefix, with and without byte-code compilation, with
every cache warm, and overlock and uv also time the sync that has nothing to do.

Run ``python bench/sync_bench.py --help``; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    BASE_PINS,
    build_base,
    clean_env,
    ensure_wheels,
    find_uv,
    log,
    pick,
    print_rows,
    ratio_row,
    require_cp311,
    row,
    run_checked,
    save_json,
    serve,
    tool_versions,
    write_manifest,
)

from harness.bases import Base
from overlock.cache import Cache
from overlock.lock.pylock import read_lock
from overlock.prefix.state import state_root

# Issue 16's targets, each "overlock job / peer job <= bound" on the medians:
# (what, overlock's job, the peer's job, bound).
TARGETS: tuple[tuple[str, str, str, float | None], ...] = (
    # "overlock" syncs from a warm unpacked store; "overlock-cold" empties it before each run.
    ("fresh sync, no byte-code (warm store)", "overlock", "uv-hardlink", 1.5),
    ("fresh sync, no byte-code (cold store)", "overlock-cold", "uv-copy", 1.0),
    # Like for like: uv's cache emptied too, so uv unzips every wheel as overlock does.
    ("fresh sync, no byte-code (cold store and cache)", "overlock-cold", "uv-cold", 1.0),
    ("fresh sync with byte-code", "overlock-compile", "pip-compile", 0.5),  # >= 2x faster
    ("fresh sync with byte-code", "overlock-compile", "uv-compile", 1.0),
    ("sync with nothing to do", "overlock-noop", "uv-noop", 1.2),
    # "A re-sync that changes one package costs about that package": no ratio is set.
    ("re-sync that changes one package, no byte-code", "overlock-one", "uv-one", None),
)

# -- jobs ------------------------------------------------------------------------------------


@dataclass
class Job:
    """One way of installing the locked wheels: a command, and what to do between runs."""

    name: str
    label: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    target: Path  # the prefix it installs into
    reset: Callable[[], None]  # before every run (not timed): a fresh prefix, or nothing
    prepare: Callable[[], None] = lambda: None  # once, before the warm-up run
    times: list[float] = field(default_factory=list)  # wall seconds per measured run
    cpu: list[float] = field(default_factory=list)  # user + system seconds per measured run

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


class Trash:
    """Where replaced prefixes wait, to be deleted between rounds rather than before a run.

    This project's machines run ext4 without a journal, where creating files within a minute
    of deleting many is slow: the inode allocator steps over every recently freed inode
    (ext4's recently_deleted()), ~0.5 ms per file created. Deleting a 15,000-file prefix just
    before a run would charge that to whichever tool runs next (measured: 3x the system time
    of the same install). So a run's old prefix is only renamed here; the trash is emptied
    before each round, then the page cache is synced and the bench waits ``settle`` seconds
    (the allocator's window is 60 s once the inode tables are written back).
    """

    def __init__(self, root: Path, settle: float) -> None:
        self.root = root
        self.settle = settle
        self._count = 0

    def retire(self, *paths: Path) -> Callable[[], None]:
        """A reset that moves ``paths`` (if present) into the trash."""

        def reset() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            for path in paths:
                if os.path.lexists(path):
                    self._count += 1
                    path.rename(self.root / f"{self._count}-{path.name}")

        return reset

    def empty(self, *, settle: bool = True) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
            os.sync()
            if settle and self.settle > 0:
                log(f"emptied the trash; waiting {self.settle:g}s for ext4 to settle")
                time.sleep(self.settle)


def _tool_jobs(
    trash: Trash,
    target: Path,
    env: dict[str, str],
    cwd: Path,
    fresh: Sequence[tuple[str, str, list[str]]],
    noop: tuple[str, str, list[str]] | None = None,
) -> list[Job]:
    """Jobs that install into a ``target`` removed before each run, and the no-op one.

    The no-op job times the same command again with nothing left to do: on the target the
    fresh jobs before it in a round leave complete, else (untimed) after syncing it first.
    """
    clear = trash.retire(target, state_root(target))
    jobs = [Job(name, label, argv, env, cwd, target, clear) for name, label, argv in fresh]
    if noop is not None:
        name, label, argv = noop

        def prepare() -> None:
            clear()
            run_checked(argv, env=env, cwd=cwd)

        def reset() -> None:  # the fresh jobs before it in a round leave the target synced
            if not os.path.lexists(target):
                prepare()

        jobs.append(Job(name, label, argv, env, cwd, target, reset, prepare))
    return jobs


def overlock_jobs(trash: Trash, manifest: Path, prefix: Path, cache: Path) -> list[Job]:
    """overlock's jobs; all but ``overlock-cold`` keep the unpacked store warm.

    ``overlock-cold`` moves the unpacked store into the trash before each run (the wheel
    cache stays): every wheel is unpacked again, as on a first sync of a new cache.
    """
    sync = [sys.executable, "-m", "overlock", "sync", "-m", str(manifest)]
    env = clean_env({"OVERLOCK_CACHE_DIR": str(cache)})
    jobs = _tool_jobs(
        trash,
        prefix,
        env,
        manifest.parent,
        [
            ("overlock", "overlock sync --no-compile (warm store)", [*sync, "--no-compile"]),
            ("overlock-compile", "overlock sync", sync),
        ],
        noop=("overlock-noop", "overlock sync, nothing to do", sync),
    )
    store = Cache(cache).unpacked_root()
    cold = Job(
        "overlock-cold",
        "overlock sync --no-compile (cold store)",
        [*sync, "--no-compile"],
        env,
        manifest.parent,
        prefix,
        trash.retire(prefix, state_root(prefix), store),
    )
    return [*jobs[:1], cold, *jobs[1:]]


def pip_jobs(trash: Trash, work: Path, wheels: Sequence[Path]) -> list[Job]:
    prefix = work / "pip-prefix"
    argv = [sys.executable, "-m", "pip", "install", "-q", "-I", "--no-deps", "--no-index"]
    argv += ["--no-warn-script-location", "--prefix", str(prefix)]
    files = [str(w) for w in wheels]
    label = "pip install -I --no-deps --prefix"
    return _tool_jobs(
        trash,
        prefix,
        clean_env({"PIP_NO_CACHE_DIR": "1"}),
        work,
        [
            ("pip", f"{label} --no-compile", [*argv, "--no-compile", *files]),
            ("pip-compile", label, [*argv, *files]),
        ],
    )


def uv_one_job(
    work: Path, uv: str, base: Base, wheels: Sequence[Path], swapped: Sequence[Path], cache: Path
) -> Job:
    """``uv pip install -r`` of the same wheels but one, into a prefix holding the others.

    The requirements file (wheel paths) flips between the lock's urllib3 and the other.
    """
    prefix = work / "uv-one-prefix"
    requirements = work / "uv-one.txt"
    argv = [uv, "pip", "install", "--no-deps", "--prefix", str(prefix), "-r", str(requirements)]
    argv += ["--python", str(base.python), "--cache-dir", str(cache)]
    argv += ["--no-config", "--offline", "--quiet", "--link-mode", "copy"]
    old, new = swapped
    texts = tuple(
        "".join(f"{w if w != old else release}\n" for w in wheels) for release in (old, new)
    )
    env = clean_env()

    def prepare() -> None:
        requirements.write_text(texts[0])
        run_checked(argv, env=env, cwd=work)

    label = f"uv pip install --link-mode copy, {SWAPPED[0]} <-> {SWAPPED[1]}"
    flip = swapping([(requirements, (texts[0], texts[1]))])
    return Job("uv-one", label, argv, env, work, prefix, flip, prepare)


def uv_jobs(
    trash: Trash, work: Path, uv: str, base: Base, wheels: Sequence[Path], cache: Path
) -> list[Job]:
    prefix = work / "uv-prefix"
    argv = [uv, "pip", "install", "--no-deps", "--prefix", str(prefix)]
    argv += ["--python", str(base.python), "--cache-dir", str(cache)]
    argv += ["--no-config", "--offline", "--quiet"]
    files = [str(w) for w in wheels]
    label = "uv pip install --link-mode"
    copy = [*argv, "--link-mode", "copy", *files]
    cold = Job(
        "uv-cold",
        f"{label} copy (cold cache)",
        copy,
        clean_env(),
        work,
        prefix,
        trash.retire(prefix, cache),
    )
    return [
        cold,
        *_tool_jobs(
            trash,
            prefix,
            clean_env(),
            work,
            [
                ("uv-copy", f"{label} copy", copy),
                ("uv-hardlink", f"{label} hardlink", [*argv, "--link-mode", "hardlink", *files]),
                (
                    "uv-compile",
                    f"{label} copy --compile-bytecode",
                    [*argv, "--link-mode", "copy", "--compile-bytecode", *files],
                ),
            ],
            noop=("uv-noop", "uv pip install, nothing to do", copy),
        ),
    ]


# The one package that changes between the two locks of the "-one" jobs, and its other release.
SWAPPED = ("urllib3==1.26.16", "urllib3==1.26.18")


def swapping(paths_and_texts: Sequence[tuple[Path, tuple[str, str]]]) -> Callable[[], None]:
    """A reset that writes each path's other text in turn (the first call writes the second)."""
    state = {"n": 0}

    def reset() -> None:
        state["n"] += 1
        for path, texts in paths_and_texts:
            path.write_text(texts[state["n"] % 2])

    return reset


def overlock_one_job(directory: Path, base: Base, index_url: str, cache: Path) -> Job:
    """``overlock sync`` that changes one package: the lock flips between two, run to run.

    Both locks are made here, in one directory, so that the prefix and the manifest's path
    are the same for both: only urllib3's version differs.
    """
    env = clean_env({"OVERLOCK_CACHE_DIR": str(cache)})
    texts: list[tuple[str, str]] = []  # (overlay.toml, pylock.overlay.toml) of A, then of B
    for requires in (BASE_PINS, [SWAPPED[1] if p == SWAPPED[0] else p for p in BASE_PINS]):
        manifest = write_manifest(directory, requires, index_url, base=base.prefix)
        lock_argv = [sys.executable, "-m", "overlock", "lock", "-m", str(manifest)]
        run_checked(lock_argv, env=env, cwd=directory)
        texts.append((manifest.read_text(), (directory / "pylock.overlay.toml").read_text()))
    manifest = directory / "overlay.toml"
    lock = directory / "pylock.overlay.toml"
    flip = swapping([(manifest, (texts[0][0], texts[1][0])), (lock, (texts[0][1], texts[1][1]))])
    sync = [sys.executable, "-m", "overlock", "sync", "-m", str(manifest), "--no-compile"]

    def prepare() -> None:
        manifest.write_text(texts[0][0])
        lock.write_text(texts[0][1])
        run_checked(sync, env=env, cwd=directory)

    label = f"overlock sync --no-compile, {SWAPPED[0]} <-> {SWAPPED[1]}"
    return Job("overlock-one", label, sync, env, directory, directory / "prefix", flip, prepare)


# -- measuring -------------------------------------------------------------------------------


def installed_count(job: Job) -> int:
    return len(list(job.target.glob("lib/python3.*/site-packages/*.dist-info")))


def timed_run(job: Job) -> None:
    """One measured run: wall time, and the CPU time (user + system) of the tool's processes."""
    job.reset()
    os.sync()  # the previous run's writes and deletions are not charged to this one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run_checked(job.argv, env=job.env, cwd=job.cwd)
    job.times.append(time.perf_counter() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    job.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def measure(jobs: Sequence[Job], runs: int, expected: int, trash: Trash) -> None:
    """A warm-up run of each job, then ``runs`` rounds taking every job in turn.

    Rounds, not one job's runs after another: on a shared machine, load that comes and goes
    then falls on every tool alike, which keeps the ratios honest.
    """
    for job in jobs:
        log(f"{job.name}: {job.label}: warm-up run")
        job.prepare()
        job.reset()
        run_checked(job.argv, env=job.env, cwd=job.cwd)  # caches, page cache; not measured
        found = installed_count(job)
        if found != expected:
            raise SystemExit(f"{job.name}: {found} distributions installed, expected {expected}")
    for n in range(runs):
        trash.empty()
        for job in jobs:
            timed_run(job)
        log(f"round {n + 1}/{runs}: " + ", ".join(f"{j.name} {j.times[-1]:.2f}s" for j in jobs))
    trash.empty(settle=False)


def profile(jobs: dict[str, Job], work: Path, trash: Trash) -> None:
    """cProfile of one fresh ``overlock sync --no-compile`` and of one no-op sync."""
    import pstats

    trash.empty()
    for name in ("overlock", "overlock-noop"):
        job = jobs.get(name)
        if job is None:
            continue
        job.prepare()
        job.reset()
        stats_file = work / f"{name}.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *job.argv[1:]]
        started = time.perf_counter()
        run_checked(argv, env=job.env, cwd=job.cwd)
        took = time.perf_counter() - started
        print(f"\ncProfile of `{job.label}` ({took:.2f}s under the profiler; {stats_file}):")
        stats = pstats.Stats(str(stats_file), stream=sys.stdout)
        stats.strip_dirs().sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(15)
    trash.empty(settle=False)


# -- reporting -------------------------------------------------------------------------------


def target_rows(jobs: dict[str, Job], wheels: int, megabytes: float) -> list[dict[str, Any]]:
    """The issue's rows for the jobs that ran, each ratio paired round by round.

    The ratio is the median over rounds of overlock's time over the peer's *in the same
    round*, not the ratio of the two medians: on a shared machine a round's load falls on
    both runs of it, but the two medians may come from different rounds (a loaded round
    for one job, a quiet one for the other), which once reported 1.21x where every round
    said about 3x. Both are kept in the JSON, with each round's ratio and the CPU ratio.
    """
    out: list[dict[str, Any]] = []
    for text, ours, theirs, bound in TARGETS:
        if ours in jobs and theirs in jobs:
            a, b = jobs[ours], jobs[theirs]
            job = f"{text}: {wheels} wheels, {megabytes:.0f} MB"
            if bound is None:
                r = row(job, a.median, b.label, b.median)
            else:
                r = ratio_row(job, a.median, b.label, b.median, bound)
            rounds = [x / y for x, y in zip(a.times, b.times, strict=True)]
            paired = statistics.median(rounds)
            r["ratio_of_medians"] = r["ratio"]
            r["ratio"] = paired
            r["round_ratios"] = rounds
            r["cpu_ratio"] = a.median_cpu / b.median_cpu if b.median_cpu else None
            if bound is not None:
                r["met"] = paired <= bound
            out.append(r)
    return out


def print_jobs(jobs: dict[str, Job], runs: int) -> None:
    ref = jobs.get("uv-copy")
    print()
    print(f"{'job':<17} {'median s':>9} {'min s':>7} {'cpu s':>7} {'x uv-copy':>9}  command")
    for job in jobs.values():
        ratio = f"{job.median / ref.median:9.2f}" if ref else f"{'':9}"
        print(
            f"{job.name:<17} {job.median:>9.3f} {job.best:>7.3f} {job.median_cpu:>7.2f}"
            f" {ratio}  {job.label}"
        )
    print(
        f"(wall-clock median and minimum of {runs} rounds, after one unmeasured warm-up run"
        " each; cpu s: median user + system time of the tool's processes)"
    )


def print_pairing(table: Sequence[dict[str, Any]]) -> None:
    """Each row's ratio round by round, beside the ratio of medians and of CPU time."""
    print("\nratio (above: the median of these) in each round; ratio of medians; of CPU time")
    for r in table:
        rounds = " ".join(f"{x:.2f}" for x in r["round_ratios"])
        cpu = f"{r['cpu_ratio']:.2f}" if r["cpu_ratio"] is not None else "-"
        print(f"  {r['job'][:56]:<56} {rounds}; {r['ratio_of_medians']:.2f}; cpu {cpu}")


# -- main ------------------------------------------------------------------------------------

ALL_JOBS = (
    "overlock", "overlock-cold", "overlock-compile", "overlock-noop", "pip", "pip-compile",
    "uv-cold", "uv-copy", "uv-hardlink", "uv-compile", "uv-noop", "overlock-one", "uv-one",
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per job (default 5)")
    parser.add_argument("--keep", action="store_true", help="reuse the base and caches in _work")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--uv", help="uv executable (default: beside python, else on PATH)")
    parser.add_argument(
        "--jobs",
        default=",".join(ALL_JOBS),
        help=f"comma-separated subset of {', '.join(ALL_JOBS)} (default: all)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile a fresh and a no-op overlock sync"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=61.0,
        metavar="S",
        help="seconds to wait after deleting the previous round's prefixes (default 61; see Trash)",
    )
    args = parser.parse_args(argv)
    require_cp311()
    selected = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = sorted(set(selected) - set(ALL_JOBS))
    if unknown:
        parser.error(f"unknown jobs: {', '.join(unknown)}")
    work: Path = args.work.resolve()
    uv = find_uv(args.uv)
    env_info = tool_versions(uv)
    print("environment: " + "; ".join(f"{k} {v}" for k, v in env_info.items()))

    all_wheels = ensure_wheels(work / "wheels")
    wheels = pick(all_wheels, BASE_PINS)
    swapped = pick(all_wheels, SWAPPED)
    base = build_base(work / "sync-base", [], keep=args.keep)  # a bare venv: nothing to reuse
    runs_dir = work / "sync-runs"
    caches = work / "cache" / "sync"
    for stale in (runs_dir, *([] if args.keep else [caches])):
        if stale.exists():
            shutil.rmtree(stale)
    runs_dir.mkdir(parents=True)
    index = serve(work / "sync-index", [*wheels, swapped[1]])
    try:
        manifest = write_manifest(runs_dir / "overlock", BASE_PINS, index.url, base=base.prefix)
        env = clean_env({"OVERLOCK_CACHE_DIR": str(caches / "overlock")})
        lock_argv = [sys.executable, "-m", "overlock", "lock", "-m", str(manifest)]
        run_checked(lock_argv, env=env, cwd=manifest.parent)
        lock = read_lock(manifest.parent / "pylock.overlay.toml")
        by_file = {w.name: w for w in wheels}
        locked = [by_file[p.file.filename] for p in lock.packages]
        megabytes = sum(w.stat().st_size for w in locked) / 1e6
        print(
            f"lock: {len(locked)} wheels, {megabytes:.0f} MB, on a bare venv base"
            f" ({base.python}); index {index.url}; runs: {args.runs}"
        )
        prefix = manifest.parent / "prefix"
        trash = Trash(runs_dir / "trash", args.settle)
        one = (
            [
                overlock_one_job(runs_dir / "overlock-one", base, index.url, caches / "overlock"),
                uv_one_job(runs_dir, uv, base, locked, swapped, caches / "uv"),
            ]
            if {"overlock-one", "uv-one"} & set(selected)
            else []
        )
        jobs = {
            job.name: job
            for job in (
                *overlock_jobs(trash, manifest, prefix, caches / "overlock"),
                *pip_jobs(trash, runs_dir, locked),
                *uv_jobs(trash, runs_dir, uv, base, locked, caches / "uv"),
                *one,
            )
            if job.name in selected
        }
        measure(list(jobs.values()), args.runs, len(locked), trash)
        print_jobs(jobs, args.runs)
        table = target_rows(jobs, len(locked), megabytes)
        print_rows(table)
        print_pairing(table)
        if args.profile:
            profile(jobs, work, trash)
    finally:
        index.stop()

    if args.json:
        doc = {
            "bench": "sync",
            "environment": env_info,
            "runs": args.runs,
            "wheels": len(locked),
            "megabytes": round(megabytes, 1),
            "jobs": {
                j.name: {
                    "command": j.label,
                    "times": j.times,
                    "cpu": j.cpu,
                    "median": j.median,
                    "min": j.best,
                    "median_cpu": j.median_cpu,
                }
                for j in jobs.values()
            },
            "table": table,
        }
        save_json(args.json, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
