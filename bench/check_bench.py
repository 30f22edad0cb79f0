"""Where ``overlock check`` spends its time, and how long it takes beside ``pip check``.

Run on a synced overlay (``overlay.toml`` locked and synced; bench/README.md shows the
30-package overlay on the Debian system Python used for issue 16)::

    python bench/check_bench.py --manifest /path/overlay.toml --runs 11 --json out.json

1. **Sections**, in this process: the time of each of check's nine questions (and of reading
   the overlay), with the import verification run fresh (no kept verdict).
2. **Wall time**, median of interleaved rounds, each a new process:
   - ``check (warm)``: ``overlock check`` with the import verdict kept for this generation;
   - ``check (cold verdict)``: the same after the kept verdicts are deleted (the imports run);
   - ``pip check``: the base's own ``python -m pip check`` with the overlay active as
     ``overlock run`` activates it (same environment: base + overlay), for scale; it reads
     metadata only: no file hashes, no imports.

A script, not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import wall

from overlock import check as checks
from overlock.app.live import live_base
from overlock.app.overlay import Overlay
from overlock.baseproc import base_environ
from overlock.prefix.activate import overlay_environ
from overlock.prefix.state import read_state


def sections(manifest: Path) -> dict[str, float]:
    """Seconds per section, in this process, as check_overlay runs them (but one by one)."""
    times: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        times[name] = time.perf_counter() - start
        return value

    overlay = timed("load overlay.toml", lambda: Overlay.load(manifest))
    lock = timed("read lock", overlay.read_lock)
    base = timed("base (probe cache)", lambda: live_base(overlay))
    prefix = overlay.prefix
    state = timed("read state", lambda: read_state(prefix))
    found = timed("scan prefix", lambda: checks.scan_prefix(base, prefix))
    dists = [d.as_dist() for d in found]
    roots = list(overlay.manifest.requires)
    as_locked, unknown = checks.locked_overlay(lock, found, overlay.cache)
    timed(
        "drift",
        lambda: checks.check_drift(lock, base, as_locked, roots=roots, unknown=unknown),
    )
    timed("stale", lambda: checks.check_stale(overlay.manifest, lock))
    timed("integrity", lambda: checks.check_integrity(lock, base, prefix, state, found))
    timed("consistency", lambda: checks.check_consistency(lock, base, dists, roots=roots))
    timed("upstream", lambda: checks.check_upstream(lock, base))
    timed("redundant", lambda: checks.check_redundant(overlay.manifest, lock, base, dists))
    timed("shadows", lambda: checks.check_shadows(base, prefix, found))
    timed("imports (fresh)", lambda: checks.check_imports(lock, base, prefix, state))
    timed(
        "sources",
        lambda: checks.check_sources(lock, credentials=overlay.manifest.credential_urls),
    )
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--before-src",
        type=Path,
        help="another checkout's src/ (e.g. a worktree of the commit before a change): its"
        " `overlock check` is timed too, as `check (before)`",
    )
    args = parser.parse_args()
    manifest = args.manifest.resolve()
    cwd = manifest.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["OVERLOCK_MANIFEST"] = str(manifest)
    overlay = Overlay.load(manifest)
    base = live_base(overlay)
    kept = overlay.cache.root / "check-imports"

    results: dict[str, Any] = {"python": sys.version.split()[0], "manifest": str(manifest)}
    lock = overlay.read_lock()
    results["packages"] = 0 if lock is None else len(lock.packages)
    results["sections_s"] = sections(manifest)
    for name, seconds in results["sections_s"].items():
        print(f"  {name:20} {seconds * 1000:8.1f} ms", flush=True)

    overlock = [sys.executable, "-m", "overlock", "check"]
    pip_env = base_environ(overlay_environ(base, overlay.prefix, env), keep_python_vars=True)
    pip = [base.python, "-m", "pip", "check"]
    subprocess.run(overlock, env=env, cwd=cwd, capture_output=True, check=False)  # keep one

    def cold() -> list[str]:
        shutil.rmtree(kept, ignore_errors=True)
        return overlock

    jobs: dict[str, tuple[Callable[[], list[str]], dict[str, str]]] = {
        "check (warm)": (lambda: overlock, env),
        "check (cold verdict)": (cold, env),
        "pip check": (lambda: pip, pip_env),
    }
    if args.before_src:
        before_env = {**env, "PYTHONPATH": str(args.before_src.resolve())}
        jobs["check (before)"] = (lambda: overlock, before_env)
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(args.runs):  # interleaved: load falls on every job alike
        for job, (argv, job_env) in jobs.items():
            times[job].append(wall(argv(), job_env, cwd))
    results["wall"] = {}
    for job, values in times.items():
        median = statistics.median(values)
        results["wall"][job] = {"median_s": median, "min_s": min(values), "runs": values}
        print(f"{job:22} median {median:6.3f} s  min {min(values):6.3f} s")
    ratio = results["wall"]["check (warm)"]["median_s"] / results["wall"]["pip check"]["median_s"]
    results["warm_over_pip_check"] = ratio
    print(f"check (warm) / pip check: {ratio:.2f}x; target: check (warm) < 1 s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
