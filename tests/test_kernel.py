"""Jupyter kernels: real ipykernel in a real base, started by real jupyter_client.

The base is a venv into which pip installs ipykernel from wheels ``.ci/run`` downloads into
``$OVERLOCK_TEST_WHEELS/jupyter`` (no test reaches the network). Under ``CI=true`` missing
wheels fail the tests; on a developer machine they skip with the command that fetches them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from harness.bases import Base, MakeBase, clean_env, make_venv_base
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.app.kernel import default_name, user_data_dir

pytestmark = pytest.mark.slow

# Generous on purpose: a kernel imports IPython, which takes seconds on a loaded machine.
TIMEOUT = 120
FETCH = 'python3 -m pip download --dest "$OVERLOCK_TEST_WHEELS/jupyter" ipykernel'
SHOW = (  # "|"-separated: the paths hold spaces
    "import sys, ipykernel, shadowme\n"
    "print('shadowme', shadowme.__version__, shadowme.__file__, sep='|')\n"
    "print('ipykernel', ipykernel.__version__, ipykernel.__file__, sep='|')\n"
    "print('python', sys.executable, sep='|')\n"
)

OverlockCLI = Callable[..., Run]


def _ipykernel_wheels(directory: Path) -> list[Path]:
    found = [(parse_wheel_filename(p.name)[1], p) for p in directory.glob("ipykernel-*.whl")]
    return [p for _, p in sorted(found)]


@pytest.fixture(scope="module")
def jupyter_wheels() -> Path:
    root = os.environ.get("OVERLOCK_TEST_WHEELS")
    directory = Path(root) / "jupyter" if root else None
    if directory is None or len(_ipykernel_wheels(directory)) < 2:
        reason = (
            "needs the wheels of ipykernel (two releases) and its dependencies in"
            f" $OVERLOCK_TEST_WHEELS/jupyter; .ci/run fetches them ({FETCH}, and"
            " ipykernel==7.3.0 with --no-deps)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide them: {reason}")
        pytest.skip(reason)
    return directory


@pytest.fixture(scope="module")
def kernel_base(
    jupyter_wheels: Path,
    tmp_path_factory: pytest.TempPathFactory,
    built_wheels: Callable[[WheelSpec], Path],
) -> Iterator[Base]:
    """A venv base with the older ipykernel (pip, from the local wheels) and shadowme 1.0.

    Shared by the tests of this module, which never write to it.
    """
    base = make_venv_base(tmp_path_factory.mktemp("kernel-base") / "env")
    oldest = parse_wheel_filename(_ipykernel_wheels(jupyter_wheels)[0].name)[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(base.python),
            "install",
            "--no-index",
            "--find-links",
            str(jupyter_wheels),
            f"ipykernel=={oldest}",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base.install(built_wheels(WheelSpec("shadowme", "1.0")))
    # Without byte-code, as a conda base's stdlib: importing it must not write any.
    base.install(built_wheels(WheelSpec("plainmod", "1.0")), compile=False)
    yield base
    base.make_writable()


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jupyter's and IPython's per-user directories inside the test; the data dir returned."""
    data = tmp_path / "jupyter-data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core warns without it
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    # The kernelspec, not the server's environment, must keep byte-code out of the base.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    return data


def run_kernel(kernels: Path, name: str, code: str) -> tuple[str, dict[str, Any]]:
    """Start kernel ``name`` from ``kernels`` with jupyter_client, run ``code``.

    Returns what it printed and its kernel_info reply; the kernel is always shut down.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    manager = KernelManager(
        kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=TIMEOUT)
            printed: list[str] = []

            def hook(msg: dict[str, Any]) -> None:
                if msg["msg_type"] == "stream":
                    printed.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    printed.append("\n".join(msg["content"]["traceback"]))

            reply = client.execute_interactive(code, timeout=TIMEOUT, output_hook=hook)
            assert reply["content"]["status"] == "ok", "".join(printed)
            info = client.kernel_info(reply=True, timeout=TIMEOUT)
            return "".join(printed), info["content"]
        finally:
            client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)


def _shown(text: str) -> dict[str, tuple[str, ...]]:
    rows = [line.split("|") for line in text.splitlines() if line]
    return {row[0]: tuple(row[1:]) for row in rows}


def test_the_kernel_imports_the_overlay_and_follows_syncs_and_rollbacks(
    kernel_base: Base,
    jupyter_env: Path,
    tmp_path: Path,
    index: PackageIndex,
    overlock: OverlockCLI,
) -> None:
    index.add_spec(WheelSpec("shadowme", "2.0"))
    # jupyter_client substitutes ${VAR} and $VAR in a kernelspec's env: the kernelspec must
    # keep a prefix with `$` (and a space) intact.
    project = tmp_path / "p $HOME x"
    manifest = write_manifest(project, kernel_base, ["shadowme>=2"], index=index)
    m = str(manifest)
    for step in (("lock", "-m", m), ("sync", "-m", m)):
        run = overlock(*step)
        assert run.code == 0, run.err
    prefix = project / "overlay" / kernel_base.prefix.name

    run = overlock("kernel", "install", "-m", m)
    assert run.code == 0, run.err
    # The default place and name: $JUPYTER_DATA_DIR/kernels/<the overlay's name>.
    kernels = jupyter_env / "kernels"
    spec = json.loads((kernels / "env" / "kernel.json").read_text())
    python = spec["argv"][0]
    assert Path(python).parent == kernel_base.python.parent  # the base's own interpreter
    assert Path(python).samefile(kernel_base.python)
    assert spec["argv"][1:] == ["-B", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["language"] == "python"
    assert spec["env"]["PYTHONPATH"] == str(prefix / ".overlock" / "boot").replace("$", "$$")
    assert spec["metadata"]["overlock"] == {"manifest": m, "prefix": str(prefix)}

    before = kernel_base.checksum()
    printed, info = run_kernel(kernels, "env", SHOW + "import plainmod\n")
    assert kernel_base.checksum() == before  # no byte-code written below the base
    shown = _shown(printed)
    assert shown["shadowme"][0] == "2.0"
    assert shown["shadowme"][1].startswith(str(prefix) + os.sep)
    assert shown["python"] == (python,)
    # ipykernel is the base's: the overlay does not touch it.
    assert shown["ipykernel"][1].startswith(str(kernel_base.prefix) + os.sep)
    assert info["language_info"]["name"] == "python"

    # A sync changes what a new kernel sees, without reinstalling the kernelspec.
    index.add_spec(WheelSpec("shadowme", "3.0"))
    write_manifest(project, kernel_base, ["shadowme>=3"], index=index)
    for step in (("lock", "-m", m), ("sync", "-m", m)):
        run = overlock(*step)
        assert run.code == 0, run.err
    assert _shown(run_kernel(kernels, "env", SHOW)[0])["shadowme"][0] == "3.0"

    run = overlock("rollback", "-m", m)
    assert run.code == 0, run.err
    assert _shown(run_kernel(kernels, "env", SHOW)[0])["shadowme"][0] == "2.0"


def test_an_overlay_that_upgrades_the_bases_ipykernel_runs_its_own(
    kernel_base: Base,
    jupyter_wheels: Path,
    jupyter_env: Path,
    tmp_path: Path,
    index: PackageIndex,
    overlock: OverlockCLI,
) -> None:
    newest_wheel = _ipykernel_wheels(jupyter_wheels)[-1]
    newest = str(parse_wheel_filename(newest_wheel.name)[1])
    index.add(newest_wheel)  # the real wheel, served by the loopback index
    project = tmp_path / "p"
    manifest = write_manifest(project, kernel_base, [f"ipykernel>={newest}"], index=index)
    m = str(manifest)
    for step in (("lock", "-m", m), ("sync", "-m", m)):
        run = overlock(*step)
        assert run.code == 0, run.err
    lock_text = (project / "pylock.overlay.toml").read_text()
    assert 'name = "ipykernel"' in lock_text
    prefix = project / "overlay" / kernel_base.prefix.name

    where = tmp_path / "hub"
    run = overlock(
        "kernel", "install", "-m", m, "--prefix", str(where), "--name", "Hotfix",
        "--display-name", "Hotfix kernel",
    )  # fmt: skip
    assert run.code == 0, run.err
    kernels = where / "share" / "jupyter" / "kernels"
    spec = json.loads((kernels / "hotfix" / "kernel.json").read_text())  # Jupyter's lower case
    assert spec["display_name"] == "Hotfix kernel"
    assert not (jupyter_env / "kernels").exists()  # --prefix, not the user's directory

    printed, _info = run_kernel(kernels, "hotfix", SHOW)
    shown = _shown(printed)
    # `ipykernel` is already in sys.modules when the cell runs: the kernel process itself
    # runs the overlay's copy.
    assert Version(newest) > Version(kernel_base_ipykernel(kernel_base))
    assert shown["ipykernel"] == (newest, shown["ipykernel"][1])
    assert shown["ipykernel"][1].startswith(str(prefix) + os.sep)
    assert shown["shadowme"][0] == "1.0"  # the base's, as the overlay does not shadow it


def kernel_base_ipykernel(base: Base) -> str:
    out = subprocess.run(
        [str(base.python), "-c", "import ipykernel; print(ipykernel.__version__)"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=TIMEOUT,
        check=True,
    )
    return out.stdout.strip()


def test_no_ipykernel_anywhere_is_refused_with_a_hint(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    jupyter_env: Path,
    tmp_path: Path,
    index: PackageIndex,
    overlock: OverlockCLI,
) -> None:
    base = make_base("venv", wheels=[make_wheel(name="shadowme", version="1.0")])
    index.add_spec(WheelSpec("shadowme", "2.0"))
    manifest = write_manifest(tmp_path / "p", base, ["shadowme>=2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    run = overlock("kernel", "install", "-m", str(manifest))
    assert run.code == 1
    assert "neither the base" in run.err and "ipykernel" in run.err
    assert "overlock add ipykernel" in run.err
    assert not (jupyter_env / "kernels").exists()


def test_install_replace_and_remove_touch_only_overlocks_own_kernelspecs(
    kernel_base: Base,
    jupyter_env: Path,
    tmp_path: Path,
    overlock: OverlockCLI,
) -> None:
    kernels = jupyter_env / "kernels"
    foreign = kernels / "env" / "kernel.json"
    foreign.parent.mkdir(parents=True)
    foreign_text = '{"argv": ["python3", "-m", "ipykernel_launcher"], "display_name": "mine"}\n'
    foreign.write_text(foreign_text)
    first = str(write_manifest(tmp_path / "a", kernel_base, []))
    second = str(write_manifest(tmp_path / "b", kernel_base, []))

    run = overlock("kernel", "install", "-m", first)
    assert run.code == 1
    assert "--replace" in run.err
    assert foreign.read_text() == foreign_text
    run = overlock("kernel", "remove", "env")
    assert run.code == 1
    assert "not written by overlock" in run.err
    assert foreign.read_text() == foreign_text

    run = overlock("kernel", "install", "-m", first, "--replace")
    assert run.code == 0, run.err
    assert json.loads(foreign.read_text())["metadata"]["overlock"]["manifest"] == first
    # Installing again for the same overlay updates it in place.
    run = overlock("kernel", "install", "-m", first, "--display-name", "Renamed")
    assert run.code == 0, run.err
    assert json.loads(foreign.read_text())["display_name"] == "Renamed"
    # Another overlay's kernel of the same name is not silently taken over.
    run = overlock("kernel", "install", "-m", second)
    assert run.code == 1
    assert first in run.err
    assert json.loads(foreign.read_text())["metadata"]["overlock"]["manifest"] == first

    listed = overlock("kernel", "list", "--json")
    assert listed.code == 0
    assert [k["name"] for k in listed.json()] == ["env"]

    run = overlock("kernel", "remove", "ENV")  # Jupyter's names are case-insensitive
    assert run.code == 0, run.err
    assert not foreign.parent.exists()
    assert overlock("kernel", "remove", "env").code == 1


def test_bad_names_and_a_prefix_inside_the_base_are_refused(
    kernel_base: Base, jupyter_env: Path, tmp_path: Path, overlock: OverlockCLI
) -> None:
    manifest = str(write_manifest(tmp_path / "p", kernel_base, []))
    before = kernel_base.checksum()
    run = overlock("kernel", "install", "-m", manifest, "--name", "../escape")
    assert run.code == 2
    assert "not a valid kernel name" in run.err
    run = overlock("kernel", "install", "-m", manifest, "--prefix", str(kernel_base.prefix))
    assert run.code == 2
    assert "never writes into the base" in run.err
    assert kernel_base.checksum() == before
    assert not (kernel_base.prefix / "share" / "jupyter" / "kernels" / "env").exists()
    assert not jupyter_env.exists()


@pytest.mark.parametrize(
    "environ",
    [
        {"JUPYTER_DATA_DIR": "/srv/jupyter-data"},
        {"XDG_DATA_HOME": "/home/u/xdg"},
        {},
        {"JUPYTER_PLATFORM_DIRS": "1", "XDG_DATA_HOME": "/home/u/xdg"},
    ],
)
def test_the_user_kernels_directory_is_jupyter_cores(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_core.paths import jupyter_data_dir

    for key in ("JUPYTER_DATA_DIR", "XDG_DATA_HOME", "JUPYTER_PLATFORM_DIRS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert user_data_dir(os.environ) == Path(jupyter_data_dir())


def test_a_base_without_ipykernel_gets_it_from_the_overlay(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    jupyter_wheels: Path,
    jupyter_env: Path,
    tmp_path: Path,
    index: PackageIndex,
    overlock: OverlockCLI,
) -> None:
    """The common case: `overlock add ipykernel` on a base that has no Jupyter at all."""
    base = make_base("venv", wheels=[make_wheel(name="shadowme", version="1.0")])
    newest = _ipykernel_wheels(jupyter_wheels)[-1]
    for wheel in jupyter_wheels.glob("*.whl"):
        if not wheel.name.startswith("ipykernel-") or wheel == newest:
            index.add(wheel)  # real wheels, served by the loopback index
    manifest = str(write_manifest(tmp_path / "p", base, ["ipykernel"], index=index))
    for step in (("lock", "-m", manifest), ("sync", "-m", manifest)):
        run = overlock(*step)
        assert run.code == 0, run.err
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    run = overlock("kernel", "install", "-m", manifest, "--name", "fresh")
    assert run.code == 0, run.err

    shown = _shown(run_kernel(jupyter_env / "kernels", "fresh", SHOW)[0])
    assert shown["ipykernel"][0] == str(parse_wheel_filename(newest.name)[1])
    assert shown["ipykernel"][1].startswith(str(prefix) + os.sep)
    assert shown["shadowme"][0] == "1.0"


def test_the_kernel_carries_the_module_layer_the_lock_was_made_with(
    kernel_base: Base,
    make_wheel: MakeWheel,
    jupyter_env: Path,
    tmp_path: Path,
    index: PackageIndex,
    overlock: OverlockCLI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module system's PYTHONPATH directory is a layer of the base (see base.py)."""
    layer = tmp_path / "modules" / "modpkg"
    with zipfile.ZipFile(make_wheel(name="modpkg", version="1.0")) as archive:
        archive.extractall(layer)  # a pure wheel unpacked is an installed distribution
    index.add_spec(WheelSpec("shadowme", "2.0"))
    manifest = str(write_manifest(tmp_path / "p", kernel_base, ["shadowme>=2"], index=index))
    monkeypatch.setenv("PYTHONPATH", str(layer))  # as `module load modpkg` would
    for step in (("lock", "-m", manifest), ("sync", "-m", manifest)):
        run = overlock(*step)
        assert run.code == 0, run.err
    # The Jupyter server (and the shell installing the kernel) need not have the module.
    monkeypatch.delenv("PYTHONPATH")
    run = overlock("kernel", "install", "-m", manifest)
    assert run.code == 0, run.err
    spec = json.loads((jupyter_env / "kernels" / "env" / "kernel.json").read_text())
    prefix = tmp_path / "p" / "overlay" / kernel_base.prefix.name
    boot = prefix / ".overlock" / "boot"
    assert spec["env"]["PYTHONPATH"] == os.pathsep.join([str(boot), str(layer)])

    code = SHOW + "import modpkg\nprint('modpkg', modpkg.__version__, modpkg.__file__, sep='|')\n"
    shown = _shown(run_kernel(jupyter_env / "kernels", "env", code)[0])
    assert shown["modpkg"][1].startswith(str(layer) + os.sep)
    assert shown["shadowme"][0] == "2.0"
    assert shown["shadowme"][1].startswith(str(prefix) + os.sep)


@pytest.mark.parametrize(
    ("overlay", "kernel"),
    [
        ("analysis-hotfix", "analysis-hotfix"),
        ("Beamline 7 (fix)", "beamline-7-fix"),
        ("py3.11_env", "py3.11_env"),
        ("ünïcode", "n-code"),
        ("...", "overlay"),
    ],
)
def test_the_default_name_is_a_valid_lower_case_kernel_name(overlay: str, kernel: str) -> None:
    assert default_name(overlay) == kernel
