"""Module stacks (Lmod) put packages on PYTHONPATH: a layer of the base, end to end.

Real Lmod from Debian's ``lmod`` package (``.ci/run`` installs it), real bash, the real
``overlock`` console script: `module load` changes the base overlock sees, the lock records
it, the overlay stays in front of it, and `module unload` is drift that `overlock check`
names.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.bases import MakeBase, clean_env
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.wheels import MakeWheel, WheelSpec

LMOD_INIT = Path("/usr/share/lmod/lmod/init/bash")
OVERLOCK = Path(sys.executable).with_name("overlock")

pytestmark = pytest.mark.slow


@pytest.fixture
def lmod() -> Path:
    if not LMOD_INIT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Lmod ({LMOD_INIT} is missing): see .ci/run")
        pytest.skip("Lmod is not installed (apt-get install lmod)")
    return LMOD_INIT


def _module(tree: Path, name: str, version: str, wheel: Path) -> Path:
    """An Lmod module NAME/VERSION whose PYTHONPATH directory holds ``wheel`` installed."""
    target = tree / "sw" / name / version
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)  # a pure wheel unpacked is an installed distribution
    modulefile = tree / "modulefiles" / name / f"{version}.lua"
    modulefile.parent.mkdir(parents=True, exist_ok=True)
    modulefile.write_text(f'prepend_path("PYTHONPATH", "{target}")\n')
    return target


def _session(lmod: Path, modulepath: Path, steps: list[str]) -> subprocess.CompletedProcess[str]:
    script = "\n".join(
        [
            "set -u",
            f". {shlex.quote(str(lmod))}",
            f"module use {shlex.quote(str(modulepath))}",
            *steps,
        ]
    )
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )


def test_a_loaded_module_is_part_of_the_base_and_the_overlay_stays_in_front(
    lmod: Path,
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
) -> None:
    base = make_base("venv")
    tree = tmp_path / "modules"
    six_dir = _module(tree, "sixish", "1.16.0", make_wheel(name="sixish", version="1.16.0"))
    index.add_spec(WheelSpec("sixish", "1.16.0"))
    index.add_spec(WheelSpec("sixish", "1.17.0"))
    index.add_spec(WheelSpec("usesix", "1.0", requires=("sixish>=1.16",)))
    manifest = write_manifest(tmp_path / "p", base, ["usesix"], index=index)
    m = shlex.quote(str(manifest))
    ol = shlex.quote(str(OVERLOCK))
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    show = "import sixish, usesix; print('versions', sixish.__version__, sixish.__file__)"

    # With the module loaded, its sixish satisfies usesix: nothing of it is locked.
    first = _session(
        lmod,
        tree / "modulefiles",
        [
            "module load sixish/1.16.0",
            f"{ol} lock -m {m}",
            f"{ol} sync -m {m}",
            f"{ol} run -m {m} -- python -c {shlex.quote(show)}",
            f"{ol} check -m {m}",
        ],
    )
    assert first.returncode == 0, first.stdout + first.stderr
    lock_text = (manifest.parent / "pylock.overlay.toml").read_text()
    assert 'name = "sixish"' not in lock_text
    assert str(six_dir) in lock_text  # the module layer is recorded in the lock
    assert f"versions 1.16.0 {six_dir}" in first.stdout
    assert "all well" in first.stdout

    # Asking for a newer sixish shadows the module's copy; the overlay wins at import time.
    write_manifest(tmp_path / "p", base, ["usesix", "sixish>=1.17"], index=index)
    second = _session(
        lmod,
        tree / "modulefiles",
        [
            "module load sixish/1.16.0",
            f"{ol} lock -m {m}",
            f"{ol} sync -m {m}",
            f"{ol} run -m {m} -- python -c {shlex.quote(show)}",
            # An activated shell, running the base's interpreter as its users do.
            f'eval "$({ol} activate -m {m})"',
            f"{shlex.quote(str(base.python))} -c {shlex.quote(show)}",
            f"{ol} check -m {m}",
        ],
    )
    assert second.returncode == 0, second.stdout + second.stderr
    shadow = f"versions 1.17.0 {prefix}"
    assert second.stdout.count(shadow) == 2, second.stdout
    assert "all well" in second.stdout

    # Without the module the base is not the one locked against: check says so, by name.
    third = _session(lmod, tree / "modulefiles", [f"{ol} check -m {m}"])
    assert third.returncode != 0 or "drift" in third.stdout
    assert "module path (PYTHONPATH) changed" in third.stdout, third.stdout
    assert f"-{six_dir}" in third.stdout
    # Unloading a module needs no rebuild: the bootstrap finds the layer on PYTHONPATH.
    assert "✗ integrity" not in third.stdout, third.stdout
    assert "load the same modules" in third.stdout + third.stderr

    # Locked without the module, then the module is loaded: the overlay still comes first,
    # and check names the directory that appeared.
    fourth = _session(
        lmod,
        tree / "modulefiles",
        [
            f"{ol} lock -m {m}",
            f"{ol} sync -m {m}",
            "module load sixish/1.16.0",
            f"{ol} run -m {m} -- python -c {shlex.quote(show)}",
            f"{ol} check -m {m} || true",
        ],
    )
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert shadow in fourth.stdout
    assert f"+{six_dir}" in fourth.stdout
    assert "✗ integrity" not in fourth.stdout, fourth.stdout


# -- modulefiles that activate an overlay ----------------------------------------------------

# Debian's lmod and environment-modules conflict as packages, so .ci/run installs Lmod and
# unpacks environment-modules' .deb into this directory; its modulecmd.tcl runs from there.
ENVMODULES_ROOT = Path("/opt/environment-modules")


def _init_line(system: str) -> str | None:
    """The shell line that defines `module` for ``system``, or None when it is missing."""
    if system == "lmod":
        return f". {shlex.quote(str(LMOD_INIT))}" if LMOD_INIT.exists() else None
    found = sorted(ENVMODULES_ROOT.glob("usr/lib/*/modulecmd.tcl"))
    installed = Path("/usr/share/modules/init/bash")
    if found:
        return f'eval "$(tclsh {shlex.quote(str(found[0]))} bash autoinit)"'
    return f". {installed}" if installed.exists() else None


# What a module system may add to the environment for its own bookkeeping.
_BOOKKEEPING = ("_LM", "__LM", "_ModuleTable", "LOADEDMODULES", "_LMFILES_", "MODULE", "LMOD")


def _environment(text: str) -> dict[str, str]:
    out = {}
    for record in text.split("\0"):
        key, sep, value = record.partition("=")
        if sep and not key.startswith(_BOOKKEEPING):
            out[key] = value
    return out


@pytest.mark.parametrize("system", ["lmod", "envmodules"])
def test_an_exported_modulefile_activates_the_overlay_and_unloads_cleanly(
    system: str,
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
) -> None:
    init = _init_line(system)
    if init is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {system}: see .ci/run")
        pytest.skip(f"{system} is not installed here")
    base = make_base("venv", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec("alpha", "2.0"))
    # Characters a shell, Tcl or Lua would interpret must arrive as written.
    manifest = write_manifest(
        tmp_path / "p", base, ["alpha>=2"], index=index, prefix="over lay $HOME [x] 'q'/{name}"
    )
    m = shlex.quote(str(manifest))
    ol = shlex.quote(str(OVERLOCK))
    modules = tmp_path / "modulefiles"
    target = modules / "overlay" / ("1.lua" if system == "lmod" else "1")
    target.parent.mkdir(parents=True)
    show = "import alpha, os; print('alpha', alpha.__version__, os.environ['OVERLOCK_ACTIVE'])"
    python = shlex.quote(str(base.python))
    steps = [
        f"{ol} lock -m {m} && {ol} sync -m {m}",
        f"{ol} export -m {m} --format {system} -o {shlex.quote(str(target))}",
        init,
        f"module use {shlex.quote(str(modules))}",
        "export PYTHONPATH=/already/there",
        f"env -0 > {shlex.quote(str(tmp_path / 'before'))}",
        "module load overlay/1",
        f"{python} -c {shlex.quote(show)}",
        "module unload overlay/1",
        f"env -0 > {shlex.quote(str(tmp_path / 'after'))}",
        f"{python} -c 'import alpha; print(\"after\", alpha.__version__)'",
    ]
    env = clean_env()
    # Module systems fold duplicate PATH entries when they unload; start without any.
    env["PATH"] = os.pathsep.join(dict.fromkeys(env.get("PATH", os.defpath).split(os.pathsep)))
    run = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "set -e\n" + "\n".join(steps)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    prefix = tmp_path / "p" / "over lay $HOME [x] 'q'" / base.prefix.name
    assert f"alpha 2.0 {prefix}\n" in run.stdout, run.stdout + run.stderr
    assert "after 1.0\n" in run.stdout
    before = _environment((tmp_path / "before").read_text())
    after = _environment((tmp_path / "after").read_text())
    assert after == before
