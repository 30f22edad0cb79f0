"""Isolation from the developer's machine, and fixtures built on tests/harness.

Tests import the harness as ``harness`` (``from harness.wheels import WheelSpec``): pytest puts
``tests/`` on sys.path for this rootdir conftest, and one import name keeps one copy of each
class (two names would give two ``NetworkGuardError`` classes that ``pytest.raises`` confuses).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import netguard
from harness.bases import Base, MakeBase, make_conda_base, make_system_base, make_venv_base
from harness.index import PackageIndex
from harness.project import Run
from harness.tls import Certificate, self_signed
from harness.wheels import MakeWheel, WheelSpec, build_wheel

_STRIP_PREFIXES = ("PIP_", "UV_")
_STRIP_NAMES = frozenset({"PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME"})


def _strip_environment(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if (
            key.startswith(_STRIP_PREFIXES)
            or key in _STRIP_NAMES
            or key.lower().endswith("_proxy")
            or key.startswith("CONDA_")
        ):
            mp.delenv(key, raising=False)


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    _strip_environment(mp)
    # HOME stays: pyenv and friends find interpreters through it. pip reads only what
    # PIP_CONFIG_FILE names (os.devnull) plus the XDG dirs below, which are empty.
    mp.setenv("PIP_CONFIG_FILE", os.devnull)
    mp.setenv("PIP_NO_INPUT", "1")
    mp.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    mp.setenv("XDG_CONFIG_HOME", str(root / "config"))
    mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
    mp.setenv("XDG_DATA_HOME", str(root / "data"))
    mp.setenv("NO_COLOR", "1")
    mp.setenv("NO_PROXY", "*")
    mp.setenv("no_proxy", "*")
    mp.setenv("OVERLOCK_CACHE_DIR", str(root / "overlock-cache"))


@pytest.fixture(scope="session", autouse=True)
def _session_isolation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Environment isolation that session-scoped fixtures (cached wheels, bases) see too."""
    root = tmp_path_factory.mktemp("isolated-home")
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, root)
        yield root


@pytest.fixture(autouse=True)
def _test_isolation(
    _session_isolation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Again per test: an earlier test or fixture may have set something this one must not
    # inherit. Each test gets its own overlock cache so no test sees another's downloads.
    _isolate(monkeypatch, _session_isolation)
    monkeypatch.setenv("OVERLOCK_CACHE_DIR", str(tmp_path / "overlock-cache"))
    netguard.install(monkeypatch)


# -- wheels -------------------------------------------------------------------------------


@pytest.fixture
def wheel_dir(tmp_path: Path) -> Path:
    path = tmp_path / "wheels"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def built_wheels(tmp_path_factory: pytest.TempPathFactory) -> Callable[[WheelSpec], Path]:
    """Session cache: the same spec is built once. Returned paths must not be modified."""
    root = tmp_path_factory.mktemp("wheel-cache")
    cache: dict[str, Path] = {}

    def get(spec: WheelSpec) -> Path:
        key = spec.cache_key()
        if key not in cache:
            cache[key] = build_wheel(spec, root / key[:16])
        return cache[key]

    return get


@pytest.fixture
def make_wheel(wheel_dir: Path, built_wheels: Callable[[WheelSpec], Path]) -> MakeWheel:
    """make_wheel(WheelSpec(...)) or make_wheel(name="a", version="1.0", ...) -> a .whl path
    in this test's wheel_dir (a fresh copy the test may modify)."""

    def make(spec: WheelSpec | None = None, /, **kwargs: Any) -> Path:
        if spec is None:
            spec = WheelSpec(**kwargs)
        elif kwargs:
            raise TypeError("pass either a WheelSpec or keyword arguments, not both")
        target = wheel_dir / built_wheels(spec).name
        shutil.copyfile(built_wheels(spec), target)
        return target

    return make


# -- index --------------------------------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path) -> Iterator[PackageIndex]:
    with PackageIndex(tmp_path / "index") as started:
        yield started


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 that no trust store holds (harness/tls.py)."""
    made = self_signed(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("needs the openssl command (.ci/run installs it)")
    return made


# -- bases --------------------------------------------------------------------------------


@pytest.fixture
def make_base(tmp_path: Path) -> Iterator[MakeBase]:
    made: list[Base] = []

    def make(
        kind: str = "venv",
        wheels: Sequence[Path] = (),
        python: str | Path | None = None,
        **kwargs: Any,
    ) -> Base:
        path = tmp_path / f"base-{kind}-{len(made)}"
        if kind == "venv":
            base = make_venv_base(path, wheels, python=python, **kwargs)
        elif kind == "conda":
            base = make_conda_base(path, wheels, python=python, **kwargs)
        elif kind == "system":
            base = make_system_base(path, wheels, python=python, **kwargs)
        else:
            raise ValueError(f"unknown base kind {kind!r}; expected 'venv', 'conda' or 'system'")
        made.append(base)
        return base

    yield make
    for base in made:
        # Read-only trees would make tmp_path cleanup fail for a non-root user.
        if base.prefix.exists():
            base.make_writable()


# -- the CLI, in-process ------------------------------------------------------------------


@pytest.fixture
def overlock(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """overlock("lock", "-m", path) -> Run(code, out, err): the real CLI, in this process."""
    from overlock.cli.main import main

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
