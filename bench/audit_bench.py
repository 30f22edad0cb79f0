"""Audit benchmark: ``overlock audit`` of 100 overlays against a 500-distribution base.

A real venv is probed once for its tags, markers and scheme; its snapshot is then padded to
500 synthetic distributions (each of the first 60 names has releases on a loopback index,
and many base packages cap one of them). 100 overlays ask for one to three of those names,
drawn from 30 request sets so that several overlays agree, as a facility's do; each is
locked on that snapshot. A "next" snapshot upgrades 40 distributions (some past the caps
the overlays' picks need, so some break). Then ``overlock audit --base next.json`` runs over all 100
manifests in a subprocess, timed, cold (empty cache) and warm.

    python bench/audit_bench.py [--overlays 100] [--dists 500] [--runs 3] [--work DIR]

Not a test; nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.bases import make_venv_base  # noqa: E402  (tests/ is not a package path)
from harness.index import PackageIndex  # noqa: E402
from harness.wheels import WheelSpec  # noqa: E402

INDEXED = 60  # names with releases on the index: what overlays may ask for
VERSIONS = ("1.0", "1.1", "2.0")


def _name(i: int) -> str:
    return f"pkg{i:03d}"


def _requires(i: int, on: str) -> list[str]:
    """What distribution ``i`` requires in the base: a capped indexed package, for many."""
    if i < INDEXED or i % 3:
        return []
    target = _name(i % INDEXED)
    # Next year's release of some base packages caps tighter: overlays asking for more break.
    return [f"{target}>=1.0,<2"] if on == "current" else [f"{target}>=1.0,<1.1"]


def _snapshot(probe: dict[str, object], dists: int, *, upgraded: set[int]) -> dict[str, object]:
    data = dict(probe)
    template = dict(probe["distributions"][0])  # type: ignore[index]
    out = []
    for i in range(dists):
        version = "1.1" if i in upgraded else "1.0"
        out.append(
            {
                **template,
                "name": _name(i),
                "version": version,
                "requires": _requires(i, "next" if i in upgraded else "current"),
                "top_level": [_name(i)],
            }
        )
    data["distributions"] = out
    return data


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _profile(env: dict[str, str], nxt: Path, manifests: list[str]) -> None:
    import cProfile
    import pstats

    from overlock.cli.main import main as overlock_main

    os.environ.update(env)
    argv = ["audit", "--json", "--base", str(nxt), *manifests]
    with open(os.devnull, "w") as sink:
        saved, sys.stdout = sys.stdout, sink
        try:
            profiler = cProfile.Profile()
            profiler.runcall(overlock_main, argv)
        finally:
            sys.stdout = saved
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlays", type=int, default=100)
    parser.add_argument("--dists", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one warm audit")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="overlock-audit-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _env()
    env["OVERLOCK_CACHE_DIR"] = str(work / "cache")
    env["XDG_CACHE_HOME"] = str(work / "xdg")
    overlock = str(Path(sys.executable).with_name("overlock"))

    base = make_venv_base(work / "base", [])
    probe = subprocess.run(
        [overlock, "base", "snapshot", "--base", str(base.prefix), "-o", "-"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    real = json.loads(probe)
    if not real["distributions"]:
        real["distributions"] = [{"name": "x", "version": "1", "location": str(base.prefix)}]
    rng = random.Random(12)
    upgraded = set(rng.sample(range(args.dists), 40))
    current = work / "current.json"
    current.write_text(json.dumps(_snapshot(real, args.dists, upgraded=set())))
    nxt = work / "next.json"
    nxt.write_text(json.dumps(_snapshot(real, args.dists, upgraded=upgraded)))

    with PackageIndex(work / "index") as index:
        for i in range(INDEXED):
            for v in VERSIONS:
                index.add_spec(WheelSpec(_name(i), v))
        request_sets = [
            sorted({f"{_name(rng.randrange(INDEXED))}>=1.1" for _ in range(rng.randint(1, 3))})
            for _ in range(30)
        ]
        manifests = []
        for n in range(args.overlays):
            d = work / "overlays" / f"o{n:03d}"
            d.mkdir(parents=True)
            requires = rng.choice(request_sets)
            (d / "overlay.toml").write_text(
                f'[overlay]\nbase-snapshot = "{current}"\nprefix = "p/{{name}}"\n'
                f'name = "o{n:03d}"\nrequires = {json.dumps(requires)}\n\n'
                f'[index]\nurls = ["{index.url}"]\n'
            )
            manifests.append(str(d / "overlay.toml"))
        t0 = time.perf_counter()
        for m in manifests:
            subprocess.run([overlock, "lock", "-q", "-m", m], env=env, check=True)
        lock_all = time.perf_counter() - t0

        def audit() -> tuple[float, dict[str, object], int]:
            t = time.perf_counter()
            proc = subprocess.run(
                [overlock, "audit", "--json", "--base", str(nxt), *manifests],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            return time.perf_counter() - t, json.loads(proc.stdout), proc.returncode

        shutil.rmtree(work / "cache", ignore_errors=True)  # cold: no metadata cached
        cold, report, code = audit()
        warm = [audit()[0] for _ in range(args.runs)]
        if args.profile:
            _profile(env, nxt, manifests)
    statuses: dict[str, int] = {}
    for v in report["overlays"]:  # type: ignore[attr-defined]
        statuses[v["status"]] = statuses.get(v["status"], 0) + 1
    print(f"base: {args.dists} distributions (snapshot); {args.overlays} overlays", end="")
    print(f" locked in {lock_all:.1f} s")
    median, best = statistics.median(warm), min(warm)
    print(f"audit cold: {cold:.2f} s; warm: median {median:.2f} s, min {best:.2f} s")
    print(f"resolutions: {report['resolutions']} for {args.overlays} overlays;", end="")
    print(f" verdicts: {statuses}; exit {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
