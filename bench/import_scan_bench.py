"""How long the import-based dependents scan (importscan.py) takes, cold and cached.

Two bases: the lock benchmark's 54-wheel scientific stack (real wheels, real files), and a
synthetic base of 1,000 small distributions (four ``.py`` files each, importing each other and
the standard library). For each: the first scan with an empty scan cache ("cold"; the OS page
cache is warm after the first run), and a scan answered from the cache ("cached"), which is
what every sync and check after the first pays on an unchanged base.

    python bench/import_scan_bench.py [--runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BASE_PINS, build_base, ensure_wheels, log, pick, require_cp311

from overlock.base.env import BaseEnv, probe
from overlock.base.importscan import ImportScan, importers_of

SYNTHETIC = 1000


def synthetic_base(path: Path, *, keep: bool) -> Path:
    """A venv holding ``SYNTHETIC`` distributions written straight into site-packages."""
    marker = path / ".bench-complete"
    if keep and marker.is_file():
        return path
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    [site] = path.glob("lib/python*/site-packages")
    rng = random.Random(1000)
    for i in range(SYNTHETIC):
        name = f"synth{i:04d}"
        pkg = site / name
        pkg.mkdir()
        files = []
        for j in range(4):
            others = rng.sample(range(SYNTHETIC), 2)
            body = [
                '"""A synthetic module."""',
                "import os, sys",
                "from collections import OrderedDict",
                *(f"import synth{o:04d}" for o in others),
                *(f"def f{k}(x):\n    return x + {k}\n" for k in range(20)),
            ]
            module = pkg / ("__init__.py" if j == 0 else f"m{j}.py")
            module.write_text("\n".join(body) + "\n")
            files.append(f"{name}/{module.name}")
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "INSTALLER").write_text("pip\n")
        (info / "top_level.txt").write_text(name + "\n")
        rows = [*files, *(f"{info.name}/{f}" for f in ("METADATA", "INSTALLER", "RECORD"))]
        (info / "RECORD").write_text("".join(f"{r},,\n" for r in rows))
    marker.write_text("ok\n")
    return path


def measure(base: BaseEnv, targets: list[str], runs: int) -> dict[str, float | int]:
    cold: list[float] = []
    cached: list[float] = []
    found = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            started = time.perf_counter()
            result = importers_of(base, targets, scan=ImportScan(base, cache))  # type: ignore[arg-type]
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            again = importers_of(base, targets, scan=ImportScan(base, cache))  # type: ignore[arg-type]
            cached.append(time.perf_counter() - started)
            assert again == result
            found = len(result)
    return {
        "distributions": len(base.distributions),
        "dependents_found": found,
        "cold_first_s": round(cold[0], 4),
        "cold_median_s": round(statistics.median(cold), 4),
        "cached_median_s": round(statistics.median(cached), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse the bases in --work")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--json", type=Path, metavar="FILE", help="save the results as JSON")
    args = parser.parse_args()
    require_cp311()
    work = args.work.resolve()
    results = {}

    wheels = pick(ensure_wheels(work / "wheels"), BASE_PINS)
    bench = build_base(work / "base-import-scan", wheels, keep=args.keep)
    env = probe(bench.prefix)
    results["bench-54"] = measure(env, ["numpy", "urllib3"], args.runs)
    log(f"54-distribution bench base: {results['bench-54']}")

    synth = probe(synthetic_base(work / "base-synthetic-1000", keep=args.keep))
    results["synthetic-1000"] = measure(synth, ["synth0000", "synth0001"], args.runs)
    log(f"1,000-distribution synthetic base: {results['synthetic-1000']}")

    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
