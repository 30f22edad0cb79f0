"""Other installers install overlock's lock: pip and uv read ``pylock.overlay.toml`` (PEP 751).

overlock locks and syncs a real overlay (wheels built by the harness, served on 127.0.0.1, a
real venv base); then ``pip install -r pylock.overlay.toml -I --no-deps --prefix DIR`` and
``uv pip install -r pylock.overlay.toml --prefix DIR`` install the same lock into prefixes of
their own, for the base's interpreter. Each must accept the lock as it is and install the
same distributions, at the same versions, with the same files, as ``overlock sync`` did; the
base stays byte-for-byte unchanged. For another interpreter than the base's, both refuse the
lock by its ``environments`` / ``requires-python``, which name the base's exact Python.

pip reads a pylock file given to ``-r`` from 26.1 on (experimental there; older pips parse
it as a requirements.txt and fail on its first line); uv from 0.6.15. Both are in the
``[test]`` extra. Both run with ``--no-index``: the lock's URLs are all they may fetch, and
they point at the harness index on loopback. pip's and uv's configuration is not read
(``PIP_CONFIG_FILE=/dev/null`` from conftest, ``UV_NO_CONFIG=1`` here), caches are in the
test's temporary directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
from packaging.version import Version

from harness.bases import Base, MakeBase, other_pythons
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.wheels import MakeWheel, WheelSpec

PIP_WITH_PYLOCK = Version("26.1")
UV_WITH_PYLOCK = Version("0.6.15")
# Written by each installer about itself, or by the installer only: not part of what the
# lock asked for.
INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"})


@dataclass
class Locked:
    base: Base
    project: Path
    lock: Path
    prefix: Path  # what `overlock sync` made
    base_checksum: str


def _overlock(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", *args], cwd=cwd, text=True, capture_output=True
    )
    assert proc.returncode == 0, f"overlock {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc


@pytest.fixture
def locked(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> Iterator[Locked]:
    """A synced overlay: an upgrade that shadows a base package, a new package with a
    console script, a dependency and a Requires-Python, all wheels from the index."""
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="hdfio", version="2.1.0"),
            make_wheel(WheelSpec("scanlib", "1.4.0", requires=("hdfio>=2,<3",))),
        ],
    )
    for spec in (
        WheelSpec("hdfio", "3.0.0", requires_python=">=3.7"),
        WheelSpec("scanlib", "1.5.0", requires=("hdfio>=2,<4",)),
        WheelSpec(
            "plotkit",
            "1.2",
            requires=("hdfio>=3",),
            requires_python=">=3.8",
            entry_points={"console_scripts": {"plotkit": "plotkit:main"}},
            files={"plotkit/__init__.py": "def main():\n    print('plotkit')\n"},
        ),
    ):
        index.add(make_wheel(spec))
    base.make_readonly()
    before = base.checksum()
    manifest = write_manifest(
        tmp_path / "project", base, ["hdfio>=3", "plotkit"], index=index, prefix="synced"
    )
    _overlock("lock", cwd=manifest.parent)
    _overlock("sync", cwd=manifest.parent)
    yield Locked(
        base=base,
        project=manifest.parent,
        lock=manifest.parent / "pylock.overlay.toml",
        prefix=manifest.parent / "synced",
        base_checksum=before,
    )


def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    assert len(found) == 1, f"expected one site-packages under {prefix}, found {found}"
    return found[0]


def _installed(prefix: Path) -> dict[str, str]:
    """name -> version of each distribution installed in ``prefix``."""
    dists = {}
    for info in _site_packages(prefix).glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        dists[name] = version
    return dists


def _files(prefix: Path) -> dict[str, str]:
    """relative path -> sha256 of every file the wheels put in site-packages (byte-code and
    the files each installer writes about itself left out)."""
    site = _site_packages(prefix)
    out = {}
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if path.is_dir() or "__pycache__" in rel.parts:
            continue
        if rel.parts[0].endswith(".dist-info") and rel.name in INSTALLER_FILES:
            continue
        out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _scripts(prefix: Path) -> set[str]:
    return {p.name for p in (prefix / "bin").iterdir()} if (prefix / "bin").is_dir() else set()


def _require(found: Version | None, needed: Version, what: str) -> None:
    if found is not None and found >= needed:
        return
    why = f"{what} {found or 'is not installed'}: reading pylock files needs {needed} or newer"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; the [test] extra requires it")
    pytest.skip(f"{why} (pip install -e '.[test]')")


def _pip_version() -> Version | None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], text=True, capture_output=True
    )
    return Version(proc.stdout.split()[1]) if proc.returncode == 0 else None


def _uv() -> tuple[str, Version | None]:
    if importlib.util.find_spec("uv") is None:
        return "", None
    from uv import find_uv_bin

    uv = find_uv_bin()
    proc = subprocess.run([uv, "--version"], text=True, capture_output=True)
    return uv, Version(proc.stdout.split()[1]) if proc.returncode == 0 else None


def _assert_same_install(locked: Locked, prefix: Path, tool: str) -> None:
    synced = _installed(locked.prefix)
    assert synced == {"hdfio": "3.0.0", "scanlib": "1.5.0", "plotkit": "1.2"}
    assert _installed(prefix) == synced, f"{tool} installed other distributions"
    files = _files(locked.prefix)
    assert "plotkit/__init__.py" in files and "hdfio-3.0.0.dist-info/METADATA" in files
    assert _files(prefix) == files, f"{tool} installed other files"
    assert "plotkit" in _scripts(prefix) and "plotkit" in _scripts(locked.prefix)
    assert locked.base.checksum() == locked.base_checksum, f"{tool} changed the base"


def test_the_lock_has_the_standard_keys(locked: Locked) -> None:
    # What pip and uv read: PEP 751's own keys, at their places (not under [tool]).
    data = tomlkit.parse(locked.lock.read_text()).unwrap()
    assert data["lock-version"] == "1.0"
    assert "python_full_version" in data["environments"][0]
    assert data["requires-python"].startswith("==3.")
    by_name = {p["name"]: p for p in data["packages"]}
    assert by_name["plotkit"]["requires-python"] == ">=3.8"
    assert by_name["hdfio"]["requires-python"] == ">=3.7"
    assert "requires-python" not in by_name["scanlib"]  # its wheel declares none
    assert all(
        "requires-python" not in p.get("tool", {}).get("overlock", {}) for p in by_name.values()
    )


def _pip_install(lock: Path, python: Path, prefix: Path) -> list[str]:
    _require(_pip_version(), PIP_WITH_PYLOCK, "pip")
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",  # pip installs for the base's interpreter, as a user would run it
        str(python),
        "install",
        "--no-index",
        "-r",
        str(lock),
        "-I",
        "--no-deps",
        "--prefix",
        str(prefix),
    ]


def _uv_install(lock: Path, python: Path, prefix: Path) -> list[str]:
    uv, version = _uv()
    _require(version, UV_WITH_PYLOCK, "uv")
    return [
        uv,
        "pip",
        "install",
        "--no-index",
        "-r",
        str(lock),
        "--python",
        str(python),
        "--prefix",
        str(prefix),
    ]


@pytest.fixture(autouse=True)
def _uv_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")


INSTALLERS = {"pip": _pip_install, "uv": _uv_install}


@pytest.mark.parametrize("tool", sorted(INSTALLERS))
def test_installs_the_lock_as_overlock_synced_it(locked: Locked, tmp_path: Path, tool: str) -> None:
    prefix = tmp_path / f"{tool}-prefix"
    argv = INSTALLERS[tool](locked.lock, locked.base.python, prefix)
    proc = subprocess.run(argv, cwd=locked.project, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_same_install(locked, prefix, tool)


@pytest.mark.parametrize("tool", sorted(INSTALLERS))
def test_refuses_the_lock_for_another_interpreter(
    locked: Locked, tmp_path: Path, tool: str
) -> None:
    # The lock names the base's exact interpreter (`environments`, `requires-python`): another
    # Python is refused by the installer itself. pip runs under that Python: one pip supports.
    others = [p for v, p in other_pythons().items() if tuple(map(int, v.split("."))) >= (3, 9)]
    if not others:
        pytest.skip("no other CPython >= 3.9 on this machine")
    prefix = tmp_path / f"{tool}-prefix"
    argv = INSTALLERS[tool](locked.lock, others[-1], prefix)
    proc = subprocess.run(argv, cwd=locked.project, text=True, capture_output=True)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    # By the lock's `environments` (pip) or its `requires-python` (uv): both overlock's.
    said = " ".join(proc.stderr.lower().split())  # uv wraps its lines
    assert "environment" in said or "python requirement: `==3." in said, proc.stderr
    assert not list(prefix.rglob("*.dist-info"))  # nothing installed
    assert locked.base.checksum() == locked.base_checksum
