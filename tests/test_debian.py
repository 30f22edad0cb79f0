"""Debian's system Python with apt's scientific stack as the base, end to end.

Debian strips Requires-Dist from most of its Python packages (pandas, matplotlib, bottleneck
and requests declare nothing on numpy or urllib3), and its matplotlib loads ``mpl_toolkits``
through a ``-nspkg.pth`` at start-up. Overlock must still refuse what breaks them.

Needs: ``/usr/bin/python3`` with python3-numpy, -scipy, -pandas, -matplotlib, -requests,
-numexpr, -tables, -bottleneck, -kiwisolver (``.ci/run`` installs them with apt), and real
wheels from PyPI in ``$OVERLOCK_TEST_WHEELS`` (``.ci/run`` downloads them), served here by a
test index on 127.0.0.1. Under ``CI=true`` anything missing fails; elsewhere it skips.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.index import PackageIndex
from harness.project import Run, write_manifest
from overlock.lock.pylock import read_lock

CLI = Callable[..., Run]
PYTHON = Path("/usr/bin/python3")
DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
APT_PACKAGES = (
    "python3-numpy python3-scipy python3-pandas python3-matplotlib python3-requests"
    " python3-numexpr python3-tables python3-bottleneck python3-kiwisolver"
)
# Import names that must be in dist-packages.
MODULES = (
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "requests",
    "numexpr",
    "tables",
    "bottleneck",
    "kiwisolver",
)
# What the tests serve; `.ci/run` downloads exactly these (keep the two lists in step).
WHEELS = (
    "numpy-2.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "scipy-1.13.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "matplotlib-3.7.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "kiwisolver-1.4.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "urllib3-2.2.3-py3-none-any.whl",
    "requests-2.28.1-py3-none-any.whl",
    "requests-2.32.3-py3-none-any.whl",
)


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run must provide it so CI runs these tests")
    pytest.skip(f"{why}; .ci/run provides it in CI")


def _debian_stack_missing() -> str | None:
    if not PYTHON.is_file() or not DIST_PACKAGES.is_dir():
        return f"no Debian system Python ({PYTHON}, {DIST_PACKAGES})"
    version = subprocess.run(
        [str(PYTHON), "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if version != "3.11":
        return f"{PYTHON} is Python {version or '?'}, the wheels served here are cp311"
    missing = [
        m
        for m in MODULES
        if not (DIST_PACKAGES / m).is_dir() and not list(DIST_PACKAGES.glob(f"{m}.*"))
    ]
    if missing:
        return (
            f"apt's {', '.join(missing)} missing from {DIST_PACKAGES}"
            f" (apt-get install {APT_PACKAGES})"
        )
    return None


@pytest.fixture(scope="module")
def debian_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    problem = _debian_stack_missing()
    if problem:
        _unavailable(problem)
    wheels = os.environ.get("OVERLOCK_TEST_WHEELS")
    if not wheels:
        _unavailable("OVERLOCK_TEST_WHEELS is not set (a directory of real wheels from PyPI)")
    directory = Path(wheels or "")
    missing = [w for w in WHEELS if not (directory / w).is_file()]
    if missing:
        _unavailable(f"{directory} lacks {', '.join(missing)}")
    with PackageIndex(tmp_path_factory.mktemp("debian-index")) as index:
        for wheel in WHEELS:
            index.add(directory / wheel)
        yield index


def dist_packages_stamp() -> str:
    """Every path, size and mtime under dist-packages: any write there changes it."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(DIST_PACKAGES):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)  # noqa: PTH118
            st = os.lstat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        h.update(f"{root}\0{sorted(dirs)}\n".encode())
    return h.hexdigest()


def manifest(project: Path, index: PackageIndex, requires: list[str], policy: str = "") -> Path:
    resolve = [f'upstream-metadata = "{policy}"'] if policy else []
    return write_manifest(
        project, str(PYTHON), requires, index=index, prefix="overlay", resolve=resolve
    )


def test_numpy_2_is_refused_naming_the_debian_packages_it_breaks(
    debian_index: PackageIndex, tmp_path: Path, overlock: CLI
) -> None:
    before = dist_packages_stamp()
    path = manifest(tmp_path / "p", debian_index, ["numpy>=2"])
    run = overlock("lock", "-m", str(path))
    assert run.code == 0, run.err
    picked = {p.name: p.version for p in read_lock(path.parent / "pylock.overlay.toml").packages}
    # Debian's scipy 1.10.1 declares numpy<1.27: it is shadowed too.
    assert picked == {"numpy": "2.0.2", "scipy": "1.13.1"}

    run = overlock("sync", "-m", str(path))
    assert run.code == 1, run.out + run.err
    assert "the new overlay breaks imports in the base interpreter" in run.err
    # Declared dependents (numexpr, tables) and the ones only their files reveal.
    for name in ("pandas", "matplotlib", "bottleneck", "numexpr", "tables"):
        assert f"of {name} (base) fails" in run.err, run.err
    for name in ("pandas", "matplotlib", "bottleneck"):
        assert f"{name}'s files import numpy" in run.err
    assert "numpy 2.0.2 shadowing base 1.24.2" in run.err
    assert "import src" not in run.err  # Debian's kiwisolver lists `src` in top_level.txt
    assert not (tmp_path / "p" / "overlay").exists()

    # Switched anyway: `check` must not call that well.
    assert overlock("sync", "-m", str(path), "--no-verify-imports").code == 0
    run = overlock("check", "-m", str(path))
    assert run.code == 1, run.out
    assert "all well" not in run.out
    lines = [line for line in run.out.splitlines() if "`import pandas` of pandas (base)" in line]
    assert len(lines) == 1, run.out
    assert "import src" not in run.out
    assert dist_packages_stamp() == before


def test_urllib3_2_over_debians_requests_is_not_silent(
    debian_index: PackageIndex, tmp_path: Path, overlock: CLI
) -> None:
    before = dist_packages_stamp()
    warned = manifest(tmp_path / "warn", debian_index, ["urllib3>=2"])
    run = overlock("lock", "-m", str(warned))
    assert run.code == 0, run.err
    assert (
        "warning: the base's requests 2.28.1 (installed by debian) declares no such requirement,"
        " but its upstream release on the index requires urllib3<1.27,>=1.21.1:"
        " NOT satisfied by urllib3 2.2.3" in run.err
    )
    assert (
        "requests 2.28.1 (debian): urllib3<1.27,>=1.21.1" in overlock("show", "-m", str(warned)).out
    )
    assert overlock("sync", "-m", str(warned)).code == 0
    run = overlock("check", "-m", str(warned))
    assert run.code == 1 and "all well" not in run.out, run.out
    assert "the base's requests 2.28.1 (installed by debian) requires urllib3<1.27" in run.out

    enforced = manifest(tmp_path / "enforce", debian_index, ["urllib3>=2"], "enforce")
    run = overlock("lock", "-m", str(enforced))
    assert run.code == 0, run.err
    picked = {
        p.name: p.version for p in read_lock(enforced.parent / "pylock.overlay.toml").packages
    }
    assert picked == {"requests": "2.32.3", "urllib3": "2.2.3"}
    run = overlock("sync", "-m", str(enforced))
    assert run.code == 0, run.err
    run = overlock(
        "run",
        "-m",
        str(enforced),
        "--",
        str(PYTHON),
        "-W",
        "error",
        "-c",
        "import requests, urllib3; print(requests.__version__, urllib3.__version__)",
    )
    assert run.code == 0, run.err
    assert dist_packages_stamp() == before


def test_a_matplotlib_shadow_behind_debians_nspkg_pth_is_refused(
    debian_index: PackageIndex, tmp_path: Path, overlock: CLI
) -> None:
    path = manifest(tmp_path / "p", debian_index, ["matplotlib==3.7.5"])
    run = overlock("lock", "-m", str(path))
    assert run.code == 0, run.err
    run = overlock("sync", "-m", str(path))
    assert run.code == 1, run.out + run.err
    assert "`import mpl_toolkits` of matplotlib (overlay) fails" in run.err
    assert f"by the base's start-up file {DIST_PACKAGES}/matplotlib-3.6.3-nspkg.pth" in run.err
    assert "Keep the base's copy of matplotlib" in run.err
