"""Time the stages of one ``overlock lock`` in-process: imports, probe, index, resolve, write.

``python bench/lock_phases.py overlay.toml [--repeat N]`` prints one JSON object of seconds per
stage (medians over N repeats of the in-process stages; the imports are timed once, cold).
It calls overlock's internal API the way ``cli.cmd_lock`` does, so it may need updating when
that changes; lock_bench.py --profile runs it. Nothing here is written except the lock file.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

from overlock.app.overlay import Overlay  # noqa: E402
from overlock.cli.main import main as _cli_main  # noqa: E402, F401  (the CLI's import cost)
from overlock.lock.make import lock_overlay  # noqa: E402
from overlock.lock.pylock import write_lock  # noqa: E402
from overlock.resolve.provider import BaseGraph  # noqa: E402

_IMPORTS = time.perf_counter() - _T0


def one_pass(manifest: Path) -> tuple[dict[str, float], dict[str, int]]:
    """One lock, as cli.cmd_lock does it, with a clock around each stage."""
    times: dict[str, float] = {}
    overlay = Overlay.load(manifest)
    t = time.perf_counter()
    base = overlay.base
    times["probe (base subprocess + BaseEnv)"] = time.perf_counter() - t
    t = time.perf_counter()
    BaseGraph.of(base)  # also done inside lock_overlay; timed alone to show its share
    times["BaseGraph.of (parse every base Requires-Dist)"] = time.perf_counter() - t
    t = time.perf_counter()
    with overlay.index() as index:
        times["open index (client, config, cache)"] = time.perf_counter() - t
        t = time.perf_counter()
        lock, _outcome = lock_overlay(overlay.manifest, base, index, complete=index.complete)
        times["lock_overlay (graph + resolve + index I/O)"] = time.perf_counter() - t
        stats = index.stats
    t = time.perf_counter()
    write_lock(lock, overlay.lock_path)
    times["write_lock (render + write TOML)"] = time.perf_counter() - t
    overlay.lock_path.unlink(missing_ok=True)
    return times, stats


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    stats: dict[str, int] = {}
    for _ in range(args.repeat):
        times, stats = one_pass(args.manifest)
        for key, seconds in times.items():
            samples.setdefault(key, []).append(seconds)
    report: dict[str, object] = {"imports (cold, once)": _IMPORTS}
    report.update({k: statistics.median(v) for k, v in samples.items()})
    report["index_requests"] = stats
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
