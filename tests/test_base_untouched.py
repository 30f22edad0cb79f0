"""Nothing is written below the base, even where the OS would allow it.

The tests run as root (CI does too) on bases left *writable*, so only overlock itself stands
between its processes and the base: every base-interpreter process runs with byte-code writing
off (overlock.baseproc), and no write follows a symbolic link out of the prefix. Each base kind
is one a facility runs: a venv, a conda-shaped prefix whose stdlib directory has no byte-code
of its own (as the issue observed: a sync wrote 41 files into ``BASE/lib/python3.11/__pycache__``),
and a system-like copy of a CPython installation without any ``.pyc`` file. The base's own
packages are installed without byte-code too, so importing them without ``-B`` would write.

The checksum (``harness.bases.tree_checksum``) covers every entry's path, type, mode and
content or link target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.sources import backend_wheel_files, write_project
from harness.wheels import MakeWheel, WheelSpec
from overlock.base.env import probe
from overlock.errors import SyncError
from overlock.sync.bytecode import ByteCompiler
from overlock.sync.install import install_wheel

KINDS = ("venv", "conda", "system")


def cli(*args: str, cwd: Path | None = None) -> Run:
    """The real CLI, as a subprocess of its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def pycache_dirs(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(d, root) for d, names, _ in os.walk(root) if "__pycache__" in names
    )


def writable_base(make_base: MakeBase, make_wheel: MakeWheel, kind: str) -> Base:
    """A base holding alpha 1.0 and beta 1.0 (which needs alpha), without byte-code."""
    base = make_base(kind)
    base.install(
        make_wheel(name="alpha", version="1.0"),
        make_wheel(name="beta", version="1.0", requires=("alpha",)),
        compile=False,
    )
    assert os.access(base.prefix / "bin", os.W_OK)  # the OS would let anyone here write
    return base


@pytest.mark.parametrize("kind", KINDS)
def test_lock_sync_run_check_write_nothing_below_a_writable_base(
    kind: str, make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> None:
    base = writable_base(make_base, make_wheel, kind)
    before = base.checksum()
    base_pycaches = pycache_dirs(base.prefix)
    index.add_spec(WheelSpec(name="alpha", version="2.0"))
    index.add_spec(
        WheelSpec(
            name="gamma",
            version="1.0",
            entry_points={"console_scripts": {"gamma-tool": "gamma:main"}},
        )
    )
    manifest = write_manifest(tmp_path / "p", base, ["alpha==2.0", "gamma"], index=index)
    m = str(manifest)

    for args in (("lock",), ("sync",), ("check",)):
        run = cli(*args, "-m", m)
        assert run.code == 0, (args, run.out, run.err)
    # The import check imported beta (it depends on the shadowed alpha) from the base.
    run = cli(
        "run",
        "-m",
        m,
        "--",
        "python",
        "-c",
        "import alpha, beta, gamma, json, email.mime.text; print(alpha.__version__)",
    )
    assert (run.code, run.out) == (0, "2.0\n"), run.err

    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    # The overlay's own files were byte-compiled, into the overlay.
    assert any(name.endswith("site-packages/gamma") for name in pycache_dirs(prefix))
    assert pycache_dirs(base.prefix) == base_pycaches
    assert base.checksum() == before


def test_the_byte_compiler_refuses_a_file_reached_through_a_link_into_the_base(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    base = writable_base(make_base, make_wheel, "system")
    env = probe(base.prefix)
    before = base.checksum()
    built = tmp_path / "gen"
    site = built / env.scheme["purelib"]
    site.mkdir(parents=True)
    (site / "own.py").write_text("X = 1\n")
    (site / "alpha").symlink_to(base.site_packages() / "alpha")
    purelib = env.scheme["purelib"]

    with ByteCompiler(env, built, tmp_path / "seen") as compiler:
        compiler.add([f"{purelib}/own.py", f"{purelib}/alpha/__init__.py"])
        ok, output = compiler.finish()

    assert not ok
    assert f"not compiled: {purelib}/alpha/__init__.py leads out of the overlay" in output
    assert (site / "__pycache__").is_dir()  # the overlay's own file is compiled
    assert base.checksum() == before


def test_a_wheel_is_never_installed_through_a_link_out_of_the_target(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    base = writable_base(make_base, make_wheel, "venv")
    env = probe(base.prefix)
    before = base.checksum()
    target = tmp_path / "gen"
    site = target / env.scheme["purelib"]
    site.mkdir(parents=True)
    (site / "newpkg").symlink_to(base.site_packages())
    wheel = make_wheel(WheelSpec(name="newpkg", version="1.0"))

    with pytest.raises(SyncError, match="through a symbolic link that leads out of the overlay"):
        install_wheel(wheel, target, env)

    assert base.checksum() == before
    assert not (base.site_packages() / "__init__.py").exists()


@pytest.mark.parametrize("kind", ["venv", "conda"])
def test_a_link_into_the_base_left_in_the_prefix_is_dropped_not_written_through(
    kind: str, make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> None:
    base = writable_base(make_base, make_wheel, kind)
    index.add_spec(WheelSpec(name="gamma", version="1.0"))
    index.add_spec(WheelSpec(name="newpkg", version="1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["gamma"], index=index)
    m = str(manifest)
    assert cli("lock", "-m", m).code == 0
    assert cli("sync", "-m", m).code == 0
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    site = prefix / os.path.relpath(base.site_packages(), base.prefix)
    assert site.is_dir()
    # Someone links a directory of the base into the overlay (the case) ...
    (site / "newpkg").symlink_to(base.site_packages())
    before = base.checksum()

    # ... and the next sync installs a package of that very name.
    write_manifest(tmp_path / "p", base, ["gamma", "newpkg"], index=index)
    assert cli("lock", "-m", m).code == 0
    run = cli("sync", "-m", m, "--json")

    assert run.code == 0, run.err
    [dropped] = [w for w in json.loads(run.out)["warnings"] if "symbolic link" in w]
    assert f"newpkg -> {base.site_packages()}" in dropped
    assert "leading out of" in dropped
    assert not (site / "newpkg").is_symlink()
    assert (site / "newpkg" / "__init__.py").is_file()
    assert not (base.site_packages() / "__init__.py").exists()
    assert base.checksum() == before
    check = cli("check", "-m", m)
    assert check.code == 0, check.out + check.err


def test_overlay_run_turns_byte_code_writing_off_for_the_command(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> None:
    base = writable_base(make_base, make_wheel, "venv")
    index.add_spec(WheelSpec(name="gamma", version="1.0"))
    m = str(write_manifest(tmp_path / "p", base, ["gamma"], index=index))
    assert cli("lock", "-m", m).code == 0
    assert cli("sync", "-m", m).code == 0
    run = cli("run", "-m", m, "--", "python", "-c", "import sys; print(sys.dont_write_bytecode)")
    assert (run.code, run.out) == (0, "True\n"), run.err
    # Without overlock, the same interpreter would have written (the guard is not the OS's).
    plain = subprocess.run(
        [str(base.python), "-c", "import beta"],
        env={k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
    )
    assert plain.returncode == 0
    assert (base.site_packages() / "beta" / "__pycache__").is_dir()


def test_building_a_local_tree_for_a_writable_base_writes_nothing_below_it(
    make_base: MakeBase, make_wheel: MakeWheel, index: PackageIndex, tmp_path: Path
) -> None:
    # The build environment is a venv of the base interpreter, and the PEP 517 hooks run in
    # it: every stdlib module they import lives below the base.
    base = writable_base(make_base, make_wheel, "system")
    before = base.checksum()
    index.add_spec(WheelSpec("tinybuild-backend", "1.0", files=backend_wheel_files()))
    write_project(
        tmp_path / "devpkg", "devpkg", "0.3", build_requires=["tinybuild-backend"], in_tree=False
    )
    project = tmp_path / "p"
    project.mkdir()
    (project / "overlay.toml").write_text(
        f'[overlay]\nbase = "{base.prefix}"\nprefix = "overlay/{{name}}"\n'
        'requires = [{ name = "devpkg", path = "../devpkg" }]\n\n'
        f'[index]\nurls = ["{index.url}"]\n'
    )
    m = str(project / "overlay.toml")
    for args in (("lock",), ("sync",), ("check",)):
        run = cli(*args, "-m", m)
        assert run.code == 0, (args, run.out, run.err)

    assert pycache_dirs(base.prefix) == []
    assert base.checksum() == before
