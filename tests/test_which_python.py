"""Which interpreter: the base ``init`` picks when none is named, and ``python3`` once an
overlay is activated (in a shell, and from a direnv ``.envrc``).

``init`` without ``--base`` used to take overlock's own venv when that was first on ``PATH``
(or activated to run overlock): an overlay for overlock's interpreter, not the user's work.
The venv here really runs overlock (its site-packages point at this checkout and at the test
runner's dependencies) and its ``bin`` is really first on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.wheels import MakeWheel
from overlock.manifest.load import load_manifest

SRC = Path(__file__).resolve().parent.parent / "src"


def _overlock_venv(make_base: MakeBase) -> Base:
    """A venv that runs overlock: `VENV/bin/python -m overlock` imports this checkout."""
    venv = make_base("venv")
    runner_sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (venv.site_packages() / "overlock-checkout.pth").write_text(
        "\n".join([str(SRC), *runner_sites]) + "\n"
    )
    return venv


def _init(
    venv: Base, project: Path, path: list[Path], **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(str(p) for p in path)
    env.update(environ)
    return subprocess.run(
        [str(venv.prefix / "bin" / "python"), "-m", "overlock", "init", "-m", str(project)],
        env=env,
        text=True,
        capture_output=True,
    )


def test_init_passes_over_overlocks_own_venv_first_on_path(
    make_base: MakeBase, tmp_path: Path
) -> None:
    own = _overlock_venv(make_base)
    work = make_base("venv")
    manifest = tmp_path / "p" / "overlay.toml"
    proc = _init(own, manifest, [own.prefix / "bin", work.prefix / "bin", Path("/usr/bin")])
    assert proc.returncode == 0, proc.stderr
    assert load_manifest(manifest).base == str(work.prefix)
    assert (
        f"not using the python3 on PATH: {own.prefix / 'bin' / 'python3'}:"
        " overlock itself is installed there" in proc.stderr
    )
    assert f"using the python3 on PATH: {work.prefix / 'bin' / 'python3'}" in proc.stderr


def test_init_passes_over_overlocks_own_activated_venv(make_base: MakeBase, tmp_path: Path) -> None:
    own = _overlock_venv(make_base)
    work = make_base("venv")
    manifest = tmp_path / "p" / "overlay.toml"
    proc = _init(
        own,
        manifest,
        [own.prefix / "bin", work.prefix / "bin"],
        VIRTUAL_ENV=str(own.prefix),
    )
    assert proc.returncode == 0, proc.stderr
    assert load_manifest(manifest).base == str(work.prefix)
    assert f"not using the active virtual environment {own.prefix} ($VIRTUAL_ENV)" in proc.stderr


def test_init_warns_when_overlocks_own_venv_is_the_only_choice(
    make_base: MakeBase, tmp_path: Path
) -> None:
    own = _overlock_venv(make_base)
    manifest = tmp_path / "p" / "overlay.toml"
    proc = _init(own, manifest, [own.prefix / "bin"])
    assert proc.returncode == 0, proc.stderr
    assert load_manifest(manifest).base == str(own.prefix)
    assert "warning: the only base found is the environment overlock itself runs in" in (
        proc.stderr
    )
    assert "--base PATH" in proc.stderr


# -- python3 after activation --------------------------------------------------------------


@pytest.fixture
def synced(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> tuple[Base, Path]:
    """A venv base with hdfio 2.1.0 and a synced overlay shadowing it with 3.0.0."""
    base = make_base("venv", wheels=[make_wheel(name="hdfio", version="2.1.0")])
    index.add(make_wheel(name="hdfio", version="3.0.0"))
    manifest = write_manifest(tmp_path / "project", base, ["hdfio>=3"], index=index)
    for command in ("lock", "sync"):
        proc = subprocess.run(
            [sys.executable, "-m", "overlock", command, "-m", str(manifest)],
            text=True,
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr
    return base, manifest.parent


def _overlock_on_path(tmp_path: Path) -> Path:
    """A directory holding an `overlock` command that runs this checkout's overlock."""
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    script = bin_dir / "overlock"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m overlock "$@"\n')
    script.chmod(0o755)
    return bin_dir


def _direnv() -> str:
    found = shutil.which("direnv")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("direnv is missing: .ci/run installs it")
        pytest.skip("direnv is not installed (apt-get install direnv)")
    return found


IMPORT = "import hdfio; print(hdfio.__version__)"


@pytest.mark.parametrize("base_on_path", [False, True])
def test_envrc_activates_the_overlay_and_says_which_python3_sees_it(
    synced: tuple[Base, Path], tmp_path: Path, base_on_path: bool
) -> None:
    """The README's direnv recipe, run by direnv: `.envrc` evals `overlock activate`."""
    direnv = _direnv()
    base, project = synced
    envrc = 'eval "$(overlock activate --shell bash)"\n'
    if base_on_path:  # the README's optional first line
        envrc = f"PATH_add {base.prefix / 'bin'}\n" + envrc
    (project / ".envrc").write_text(envrc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRENV_")}
    env["PATH"] = os.pathsep.join([str(_overlock_on_path(tmp_path)), "/usr/bin", "/bin"])
    env["SHELL"] = "/usr/bin/fish"  # a fish user: .envrc is bash all the same
    allowed = subprocess.run([direnv, "allow", str(project)], env=env, capture_output=True)
    assert allowed.returncode == 0, allowed.stderr
    script = f"{base.python} -c '{IMPORT}'; python3 -c '{IMPORT}' 2>/dev/null || echo none"
    proc = subprocess.run(
        [direnv, "exec", str(project), "sh", "-c", script],
        env=env,
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    base_python, path_python3 = proc.stdout.split()
    assert base_python == "3.0.0"  # the base's interpreter always sees the overlay
    note = "not the base's interpreter"
    if base_on_path:
        assert path_python3 == "3.0.0"
        assert note not in proc.stderr
    else:
        # python3 is /usr/bin's, whose sys.prefix is not the base's: the bootstrap leaves it
        # alone (it has no hdfio at all), and activation said so.
        assert path_python3 != "3.0.0"
        assert f"`python3` in this shell is {shutil.which('python3', path='/usr/bin:/bin')}" in (
            proc.stderr
        )
        assert f"{note} {base.python}" in proc.stderr
