"""What the benchmarks share: the pinned wheel set, the clean environment, bases, timing,
the loopback index, manifests and the comparison rows that ``table.py`` prints.

Imported by the ``*_bench.py`` scripts (run as scripts from any directory: the first import
puts ``bench/`` and ``tests/`` on ``sys.path``). Nothing here runs under pytest.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

from packaging.tags import sys_tags  # noqa: E402
from packaging.utils import canonicalize_name, parse_wheel_filename  # noqa: E402
from packaging.version import Version  # noqa: E402

from harness.bases import Base, make_venv_base  # noqa: E402  (tests/ is not a package path)
from harness.index import PackageIndex  # noqa: E402

# -- the wheel set ---------------------------------------------------------------------------

# The read-only base of the lock benchmark: an analysis environment as a facility deployed it
# in mid-2023. requests 2.28.2 caps urllib3<1.27, so upgrading urllib3 forces overlock to
# shadow requests. The sync benchmark installs this same set into an overlay.
BASE_PINS = (
    "numpy==1.24.4", "scipy==1.10.1", "pandas==2.0.3", "matplotlib==3.7.2",
    "contourpy==1.1.0", "cycler==0.11.0", "fonttools==4.42.0", "kiwisolver==1.4.4",
    "pillow==10.0.0", "pyparsing==3.0.9", "packaging==23.1", "python-dateutil==2.8.2",
    "six==1.16.0", "pytz==2023.3", "tzdata==2023.3", "requests==2.28.2", "urllib3==1.26.16",
    "idna==3.4", "certifi==2023.7.22", "charset-normalizer==3.2.0", "jinja2==3.1.2",
    "markupsafe==2.1.3", "click==8.1.6", "h5py==3.9.0", "pyyaml==6.0.1", "tqdm==4.65.0",
    "attrs==23.1.0", "typing-extensions==4.7.1", "platformdirs==3.10.0", "filelock==3.12.2",
    "fsspec==2023.6.0", "toolz==0.12.0", "cloudpickle==2.2.1", "psutil==5.9.5",
    "tornado==6.3.2", "pygments==2.15.1", "decorator==5.1.1", "traitlets==5.9.0",
    "networkx==3.1", "scikit-learn==1.3.0", "joblib==1.3.1", "threadpoolctl==3.2.0",
    "mpmath==1.3.0", "sympy==1.12", "lxml==4.9.3", "numexpr==2.8.4", "tifffile==2023.7.18",
    "imageio==2.31.1", "dask==2023.7.1", "partd==1.4.0", "locket==1.0.0",
    "importlib-metadata==6.8.0", "zipp==3.16.2", "xarray==2023.7.0",
)  # fmt: skip

# On the lock benchmark's index only: what its request needs, newer releases (so uv and
# pip-compile, which do not see the base, have something to upgrade to) and several versions
# of the packages the resolution turns on.
INDEX_ONLY_PINS = (
    "seaborn==0.13.2", "urllib3==1.26.18", "urllib3==2.0.7", "urllib3==2.2.3",
    "requests==2.30.0", "requests==2.31.0", "requests==2.32.3", "numpy==1.26.4",
    "pandas==2.2.3", "matplotlib==3.8.4", "contourpy==1.2.1", "kiwisolver==1.4.5",
    "pillow==10.4.0", "fonttools==4.53.1", "pyparsing==3.1.2", "packaging==24.1",
    "python-dateutil==2.9.0.post0", "pytz==2024.1", "tzdata==2024.1", "idna==3.7",
    "certifi==2024.7.4", "charset-normalizer==3.3.2", "cycler==0.12.1",
)  # fmt: skip

# The lock benchmark's request (also the base-size scaling's): seaborn is new to the base;
# urllib3 is upgraded, and base requests 2.28.2 (urllib3<1.27) has to be shadowed with it.
LOCK_REQUEST = ("seaborn==0.13.2", "urllib3>=2")

# -- small utilities -------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def require_cp311() -> None:
    if platform.python_version_tuple()[:2] != ("3", "11"):
        raise SystemExit("run with a CPython 3.11 interpreter: the wheel set is cp311")


def split_pin(pin: str) -> tuple[str, str]:
    name, _, version = pin.partition("==")
    return canonicalize_name(name), version


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without pip/uv/overlock configuration, proxies or Python path tweaks."""
    dropped_prefixes = ("PIP_", "UV_", "OVERLOCK_", "PYTHON", "CONDA_")
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped_prefixes) and k.lower() not in proxies and k != "VIRTUAL_ENV"
    }
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",  # else pip asks pypi.org, off the loopback
            "PYTHONNOUSERSITE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if extra:
        env.update(extra)
    return env


def run_checked(argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def time_runs(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    runs: int,
    *,
    reset: Callable[[], None] | None = None,
    warm_up: bool = True,
) -> list[float]:
    """Wall times of ``runs`` runs of ``argv``, after one unmeasured warm-up run.

    ``reset`` (not timed) runs before the warm-up and before every measured run.
    """
    times = []
    for n in range(runs + 1 if warm_up else runs):
        if reset is not None:
            reset()
        started = time.perf_counter()
        run_checked(argv, env=env, cwd=cwd)
        if n or not warm_up:  # with warm_up, run 0 warms caches and the page cache
            times.append(time.perf_counter() - started)
    return times


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one run of ``argv``, whatever it exits with (``check`` exits 1 on what it
    finds, and the benches time it all the same)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def median_seconds(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` runs, after one unmeasured warm-up run."""
    return statistics.median(time_runs(argv, env, cwd, runs))


def timing(times: Sequence[float]) -> dict[str, Any]:
    """What the JSON records of a series of runs."""
    return {"times": list(times), "median": statistics.median(times), "min": min(times)}


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` over ``xs`` (0 with fewer than two distinct ``xs``)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread


def overlock_command(*python_options: str) -> list[str]:
    """How a user starts overlock: its console script (beside this python), else ``-m``.

    The script is run by this python, so that ``python_options`` (``-X importtime``) apply.
    """
    script = Path(sys.executable).parent / "overlock"
    if script.is_file():
        return [sys.executable, *python_options, str(script)]
    return [sys.executable, *python_options, "-m", "overlock"]


def find_uv(explicit: str | None) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise SystemExit("uv not found: pass --uv PATH or install the 'bench' extra")
    return found


def tool_versions(uv: str, **commands: list[str]) -> dict[str, str]:
    """The machine, overlock, uv, pip and any other ``name=argv`` tool, for the record."""

    def out(argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]

    import overlock

    versions = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "overlock": overlock.__version__,
        "uv": out([uv, "--version"]),
    }
    versions.update({name: out(argv) for name, argv in commands.items()})
    versions["pip"] = out([sys.executable, "-m", "pip", "--version"]).split(" from ")[0]
    return versions


# -- wheels ----------------------------------------------------------------------------------


def _supported_wheels(directory: Path) -> dict[tuple[str, str], Path]:
    """(name, version) -> the wheel in ``directory`` best suited to the running interpreter."""
    priority = {tag: i for i, tag in enumerate(sys_tags())}
    best: dict[tuple[str, str], tuple[int, Path]] = {}
    for path in sorted(directory.glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        ranks = [priority[t] for t in tags if t in priority]
        if not ranks:
            continue
        key = (canonicalize_name(name), str(version))
        if key not in best or min(ranks) < best[key][0]:
            best[key] = (min(ranks), path)
    return {key: path for key, (_rank, path) in best.items()}


def _pin_key(pin: str) -> tuple[str, str]:
    name, version = split_pin(pin)
    return name, str(Version(version))


def ensure_wheels(directory: Path) -> dict[tuple[str, str], Path]:
    """Download (once) every pinned wheel; pip's own configuration applies here on purpose."""
    directory.mkdir(parents=True, exist_ok=True)
    have = _supported_wheels(directory)
    missing = [pin for pin in (*BASE_PINS, *INDEX_ONLY_PINS) if _pin_key(pin) not in have]
    if missing:
        log(f"downloading {len(missing)} wheels into {directory} (one time)...")
    for pin in missing:  # one pip per pin: a pip run cannot take two versions of one name
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        subprocess.run([*pip, "--only-binary=:all:", "--dest", str(directory), pin], check=True)
    have = _supported_wheels(directory)
    absent = [p for p in missing if _pin_key(p) not in have]
    if absent:
        raise SystemExit(f"no wheel for this interpreter after download: {absent}")
    return have


def pick(wheels: dict[tuple[str, str], Path], pins: Sequence[str]) -> list[Path]:
    return [wheels[_pin_key(p)] for p in pins]


# -- index, manifests ------------------------------------------------------------------------


def serve(root: Path, wheels: Sequence[Path]) -> PackageIndex:
    """A started loopback index at ``root`` (emptied first) serving ``wheels``, PEP 658 too."""
    if root.exists():
        shutil.rmtree(root)
    index = PackageIndex(root)
    # One page rewrite for all files: add() per file would be quadratic (minutes for 600).
    index.add_many(wheels, metadata=True)
    return index.start()


def write_manifest(
    directory: Path,
    requires: Sequence[str],
    index_url: str,
    *,
    base: Path | None = None,
    snapshot: Path | None = None,
) -> Path:
    """``directory/overlay.toml`` on ``base`` (or a base ``snapshot``), prefix beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    if (base is None) == (snapshot is None):
        raise ValueError("give a base or a snapshot")
    where = (
        f"base = {json.dumps(str(base))}"
        if base is not None
        else f"base-snapshot = {json.dumps(str(snapshot))}"
    )
    manifest = directory / "overlay.toml"
    manifest.write_text(
        "[overlay]\n"
        f"{where}\n"
        f"prefix = {json.dumps(str(directory / 'prefix'))}\n"
        f"requires = {json.dumps(list(requires))}\n\n"
        "[index]\n"
        f"urls = [{json.dumps(index_url)}]\n"
    )
    return manifest


# -- results ---------------------------------------------------------------------------------


def row(
    job: str,
    overlock: float,
    peer: str,
    peer_seconds: float | None,
    *,
    target: str = "",
    met: bool | None = None,
) -> dict[str, Any]:
    """One line of the issue's table: ratio = overlock / peer (above 1: overlock is slower)."""
    ratio = overlock / peer_seconds if peer_seconds else None
    return {
        "job": job,
        "overlock": overlock,
        "peer": peer,
        "peer_seconds": peer_seconds,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def ratio_row(
    job: str, overlock: float, peer: str, peer_seconds: float, bound: float
) -> dict[str, Any]:
    """A row whose target is ``overlock / peer <= bound``."""
    met = overlock / peer_seconds <= bound
    return row(job, overlock, peer, peer_seconds, target=f"<= {bound:g}x", met=met)


def save_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"\nresults saved to {path}")


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    """The comparison rows, as a plain-text table (``table.py`` prints them as Markdown)."""
    print()
    print(f"{'job':<58} {'overlock s':>10} {'peer s':>8} {'ratio':>6}  peer; target")
    for r in rows:
        peer_s = f"{r['peer_seconds']:8.3f}" if r["peer_seconds"] is not None else f"{'-':>8}"
        ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else f"{'-':>6}"
        verdict = "" if r["met"] is None else (" MET" if r["met"] else " NOT MET")
        target = f"; {r['target']}{verdict}" if r["target"] else ""
        print(f"{r['job']:<58} {r['overlock']:>10.3f} {peer_s} {ratio}  {r['peer']}{target}")


# -- bases -----------------------------------------------------------------------------------


def kept_base(path: Path, *, keep: bool) -> Base | None:
    """The base a previous run finished at ``path`` (with --keep); else clear the way."""
    if keep and (path / ".bench-complete").is_file():
        return Base(prefix=path, python=path / "bin" / "python", kind="venv")
    if path.exists():
        shutil.rmtree(path)
    return None


def build_base(path: Path, wheels: Sequence[Path], *, keep: bool) -> Base:
    """A ``venv --without-pip`` base at ``path`` holding ``wheels`` (reused with ``keep``)."""
    kept = kept_base(path, keep=keep)
    if kept is not None:
        return kept
    marker = path / ".bench-complete"
    started = time.perf_counter()
    base = make_venv_base(path, wheels)
    marker.write_text("ok\n")
    log(f"built base {path.name}: {len(wheels)} wheels in {time.perf_counter() - started:.1f}s")
    return base


def synthetic_dists(
    site_packages: Path, count: int, *, prefix: str, requires: Sequence[str] = ()
) -> None:
    """Write ``count`` installed distributions straight into ``site_packages``.

    Each has what an installer leaves: a dist-info with METADATA (one ``Requires-Dist`` from
    ``requires``, in turn), INSTALLER, RECORD and top_level.txt, and a one-module package.
    Writing them is ~100x faster than building and installing that many wheels.
    """
    for i in range(count):
        name = f"{prefix}{i:05d}"
        (site_packages / name).mkdir()
        (site_packages / name / "__init__.py").write_text(f'"""{name}."""\n')
        info = site_packages / f"{name}-1.0.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
        if requires:
            lines.append(f"Requires-Dist: {requires[i % len(requires)]}")
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        (info / "INSTALLER").write_text("bench\n")
        (info / "top_level.txt").write_text(name + "\n")
        rows = (f"{name}/__init__.py", *(f"{info.name}/{f}" for f in ("METADATA", "INSTALLER")))
        record = "".join(f"{r},,\n" for r in (*rows, f"{info.name}/top_level.txt"))
        (info / "RECORD").write_text(record + f"{info.name}/RECORD,,\n")
