"""Every CPython overlock supports as a base (3.7 up), end to end: lock, sync, run, check.

The runner is whatever Python runs the tests; each base is a venv of another interpreter from
this machine (pyenv's), so tags, markers, the install scheme, byte-code, launchers, the
bootstrap and the import check must all come from the base, not from the runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bases import MakeBase, clean_env, other_pythons
from harness.index import PackageIndex
from harness.project import write_manifest
from harness.wheels import MakeWheel, WheelSpec

RUNNER_XY = "{}.{}".format(*sys.version_info[:2])
_PYTHONS = [(RUNNER_XY, Path(sys.executable)), *other_pythons().items()]
_PYTHONS.sort(key=lambda vp: tuple(int(x) for x in vp[0].split(".")))


@pytest.mark.slow
@pytest.mark.parametrize(("version", "python"), _PYTHONS, ids=[v for v, _ in _PYTHONS])
def test_lock_sync_run_check_on_a_base_of_each_python(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: object,
    version: str,
    python: Path,
) -> None:
    run_cli = overlock
    assert callable(run_cli)
    # scanlib 1.4.0 in the base caps hdfio below 3; asking for hdfio>=3 must shadow scanlib.
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="hdfio", version="2.1.0"),
            make_wheel(name="scanlib", version="1.4.0", requires=("hdfio>=2,<3",)),
        ],
        python=python,
    )
    nodot = version.replace(".", "")
    index.add_spec(WheelSpec("hdfio", "3.0.0"))
    index.add_spec(WheelSpec("scanlib", "1.5.0", requires=("hdfio>=2",)))
    # Only the base's own Python may pick the compiled-looking wheel of toolkit 2.0; the
    # runner's would pick 2.1 (and a runner-derived tag list would show it).
    index.add_spec(
        WheelSpec(
            "toolkit",
            "2.0",
            tag=f"py{nodot}-none-any",
            entry_points={"console_scripts": {"toolkit-version": "toolkit:main"}},
            files={
                "toolkit/__init__.py": "import hdfio\n"
                "def main():\n    print('toolkit 2.0 with hdfio', hdfio.__version__)\n"
            },
        )
    )
    index.add_spec(WheelSpec("toolkit", "2.1", requires_python=f"!={version}.*"))
    manifest = write_manifest(tmp_path / "p", base, ["hdfio>=3", "toolkit"], index=index)
    prefix = tmp_path / "p" / "overlay" / base.prefix.name
    before = base.checksum()
    m = str(manifest)

    locked = run_cli("lock", "-m", m)
    assert locked.code == 0, locked.err
    lock_text = (manifest.parent / "pylock.overlay.toml").read_text()
    assert f'requires-python = "=={version}.*"' in lock_text
    for name, pinned in (("hdfio", "3.0.0"), ("scanlib", "1.5.0"), ("toolkit", "2.0")):
        assert f'name = "{name}"\nversion = "{pinned}"' in lock_text, lock_text

    synced = run_cli("sync", "-m", m)
    assert synced.code == 0, synced.err
    site = next(prefix.glob(f"lib/python{version}/site-packages"))
    # Byte-code for the base's interpreter, not the runner's.
    tags = {p.name.split(".")[1] for p in site.glob("hdfio/__pycache__/*.pyc")}
    assert tags == {f"cpython-{nodot}"}

    out = tmp_path / "out.json"
    code = (
        "import json, sys, hdfio, scanlib, toolkit\n"
        f"json.dump([list(sys.version_info[:2]), hdfio.__version__, scanlib.__version__,"
        f" hdfio.__file__], open({str(out)!r}, 'w'))\n"
    )
    ran = run_cli("run", "-m", m, "--", "python", "-c", code)
    assert ran.code == 0, ran.err
    seen_version, hdfio_v, scanlib_v, hdfio_file = json.loads(out.read_text())
    assert ".".join(map(str, seen_version)) == version
    assert (hdfio_v, scanlib_v) == ("3.0.0", "1.5.0")
    assert hdfio_file.startswith(str(prefix))

    # The launcher runs the base interpreter with the overlay, without activation.
    tool = subprocess.run(
        [str(prefix / "bin" / "toolkit-version")],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert tool.stdout == "toolkit 2.0 with hdfio 3.0.0\n", tool.stderr

    checked = run_cli("check", "-m", m)
    assert checked.code == 0, checked.out + checked.err
    assert "all well" in checked.out
    assert base.checksum() == before
