"""``[overlay] hide``: base distributions made invisible to the resolver and at run time.

Real wheels in a real venv base (the machine's Python and an old pyenv one), the harness
index on 127.0.0.1 and the real CLI: the lock reports the base package left requiring the
hidden one; inside the overlay its module does not import and ``importlib.metadata`` does not
know it; outside, the base is as it was, byte for byte. Hiding a package the overlay also
requests replaces it, with the base's caps on it enforced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase, clean_env, other_pythons
from harness.index import PackageIndex
from harness.project import Run
from harness.wheels import MakeWheel, WheelSpec
from overlock.lock.pylock import read_lock

Overlock = Callable[..., Run]

pytestmark = pytest.mark.slow

# What the overlay's Python says about the hidden package and its dependent.
_PROBE = """
import importlib.util, json, sys
out = {"spec": importlib.util.find_spec("alib") is None}
try:
    import alib
    out["import"] = alib.__file__
except ModuleNotFoundError as exc:
    out["import"] = "ModuleNotFoundError: " + str(exc)
try:
    import importlib.metadata as md
except ImportError:  # Python 3.7: no importlib.metadata
    md = None
if md is not None:
    try:
        out["version"] = md.version("alib")
    except md.PackageNotFoundError:
        out["version"] = "PackageNotFoundError"
    names = [d.metadata["Name"] for d in md.distributions()]
    out["listed"] = sorted(n for n in names if n in ("alib", "blib", "clib"))
    out["blib"] = md.version("blib")
import blib
out["blib_file"] = blib.__file__
json.dump(out, open(sys.argv[1], "w"))
"""


def _manifest(
    path: Path, base: Base, index: PackageIndex, *, requires: list[str], extra: str = ""
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    manifest = path / "overlay.toml"
    manifest.write_text(
        "[overlay]\n"
        f"base = {json.dumps(str(base.prefix))}\n"
        'prefix = "overlay/{name}"\n'
        'name = "hider"\n'
        f"requires = {json.dumps(requires)}\n"
        'hide = ["alib"]\n'
        f'{extra}\n[index]\nurls = ["{index.url}"]\n'
    )
    return manifest


def _probe(overlock: Overlock, manifest: Path, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "probe.json"
    run = overlock("run", "-m", str(manifest), "--", "python", "-c", _PROBE, str(out))
    assert run.code == 0, run.err
    result: dict[str, object] = json.loads(out.read_text())
    return result


def _base_probe(base: Base, tmp_path: Path) -> dict[str, object]:
    import subprocess

    out = tmp_path / "base-probe.json"
    proc = subprocess.run(
        [str(base.python), "-I", "-B", "-c", _PROBE, str(out)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(out.read_text())
    return result


def _pythons() -> list[str | None]:
    """The machine's python3 (None), plus old pyenv bases: the bootstrap runs on the base's
    Python; 3.8 has the oldest importlib.metadata (no ``Distribution.name``), 3.7 none."""
    others = other_pythons()
    return [None, *(str(others[v]) for v in ("3.8", "3.7") if v in others)]


def _id(python: str | None) -> str:
    return "default" if python is None else "py" + Path(python).name.removeprefix("python")


@pytest.mark.parametrize("python", _pythons(), ids=_id)
def test_a_hidden_base_package_is_gone_for_the_resolver_and_at_run_time(
    python: str | None,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="alib", version="1.0"),
            make_wheel(name="blib", version="1.0", requires=("alib>=1",)),
            make_wheel(name="clib", version="1.0"),
        ],
        python=python,
    )
    base.make_readonly()
    before = base.checksum()
    index.add_spec(WheelSpec("tool", "1.0"))
    manifest = _manifest(tmp_path / "proj", base, index, requires=["tool"])

    lock = overlock("lock", "-m", str(manifest))
    assert lock.code == 0, lock.err
    # Reported, not refused: pip warns about an installed package's missing dependency too.
    assert "warning: base blib 1.0 requires alib>=1, which overlay.toml hides" in lock.err
    locked = read_lock(manifest.parent / "pylock.overlay.toml")
    assert locked.hide == ("alib",)
    assert locked.hidden_breakage == ("base blib 1.0 requires alib>=1, which overlay.toml hides",)
    assert [p.name for p in locked.packages] == ["tool"]

    sync = overlock("sync", "-m", str(manifest))
    assert sync.code == 0, sync.err
    inside = _probe(overlock, manifest, tmp_path)
    assert inside["spec"] is True  # find_spec says None, as for a module that is not there
    assert inside["import"] == "ModuleNotFoundError: No module named 'alib'"
    if python is None or not Path(python).name.endswith("3.7"):  # 3.7: no importlib.metadata
        assert inside["version"] == "PackageNotFoundError"
        assert inside["listed"] == ["blib", "clib"]
        assert inside["blib"] == "1.0"
    assert str(inside["blib_file"]).startswith(str(base.prefix))
    # A bare import fails the way it does for any missing module.
    failing = overlock("run", "-m", str(manifest), "--", "python", "-c", "import alib")
    assert failing.code == 1

    outside = _base_probe(base, tmp_path)
    assert str(outside["import"]).startswith(str(base.prefix))
    assert outside.get("version", "1.0") == "1.0"
    assert outside.get("listed", ["alib", "blib", "clib"]) == ["alib", "blib", "clib"]

    why = overlock("why", "-m", str(manifest), "alib")
    assert why.code == 0, why.err
    assert "the base's alib 1.0 is hidden by overlay.toml" in why.out
    assert "base blib 1.0 requires alib>=1: not met" in why.out
    show = overlock("show", "-m", str(manifest))
    assert "hidden  alib 1.0 (base; hidden by overlay.toml)" in show.out, show.out
    check = overlock("check", "-m", str(manifest), "--json")
    findings = check.json()["findings"]
    hidden = [f for f in findings if f["data"].get("cause") == "hidden"]
    assert [(f["severity"], f["subject"]) for f in hidden] == [("info", "blib")], findings
    assert check.code == 0, check.out

    # A change to hide makes the lock stale, naming it.
    manifest.write_text(manifest.read_text().replace('hide = ["alib"]', 'hide = ["alib", "clib"]'))
    stale = overlock("lock", "-m", str(manifest), "--check")
    assert stale.code == 1
    assert "overlay.toml's hide changed since the lock was written (+clib)" in stale.out
    assert base.checksum() == before


def test_hiding_a_requested_package_replaces_it_and_keeps_the_base_caps(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="alib", version="1.0"),
            make_wheel(name="blib", version="1.0", requires=("alib<3",)),
            make_wheel(name="clib", version="1.0"),
        ],
    )
    base.make_readonly()
    before = base.checksum()
    for version in ("2.0", "3.0"):
        index.add_spec(WheelSpec("alib", version))
    manifest = _manifest(tmp_path / "proj", base, index, requires=["alib>=2"])

    lock = overlock("lock", "-m", str(manifest))
    assert lock.code == 0, lock.err
    assert "warning:" not in lock.err
    locked = read_lock(manifest.parent / "pylock.overlay.toml")
    # The newest release would be 3.0; the base's blib caps it, as it caps any overlay copy.
    assert {p.name: p.version for p in locked.packages} == {"alib": "2.0"}
    assert locked.hidden_breakage == ()
    assert overlock("sync", "-m", str(manifest)).code == 0
    inside = _probe(overlock, manifest, tmp_path)
    assert str(inside["import"]).startswith(str(manifest.parent / "overlay" / "hider"))
    assert inside["version"] == "2.0"
    assert inside["listed"] == ["alib", "blib", "clib"]
    why = overlock("why", "-m", str(manifest), "alib")
    assert "it replaces the base's 1.0, which overlay.toml hides" in why.out, why.out
    check = overlock("check", "-m", str(manifest))
    assert check.code == 0, check.out
    assert base.checksum() == before


def test_hide_is_validated(tmp_path: Path, overlock: Overlock) -> None:
    manifest = tmp_path / "overlay.toml"
    manifest.write_text(
        '[overlay]\nbase = "/usr"\nprefix = "p"\nrequires = []\nhide = ["ok", "not a name"]\n'
        '\n[resolve]\nkeep = ["ok"]\n'
    )
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 2
    assert '[overlay] hide[0]: "ok" is also in [resolve] keep' in run.err, run.err
    assert '[overlay] hide[1]: "not a name" is not a project name' in run.err


def test_what_a_lower_overlay_hides_stays_hidden_above_it(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    """The group hides alib (and replaces blib's dependency dlib); alice, on the group, sees
    the stack as the group does: no alib, the group's dlib, the base's own copies below."""
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="alib", version="1.0"),
            make_wheel(name="blib", version="1.0", requires=("alib>=1",)),
            make_wheel(name="clib", version="1.0"),
            make_wheel(name="dlib", version="1.0"),
        ],
    )
    base.make_readonly()
    index.add_spec(WheelSpec("dlib", "2.0"))
    index.add_spec(WheelSpec("tool", "1.0"))
    group = tmp_path / "group"
    group.mkdir()
    (group / "overlay.toml").write_text(
        f'[overlay]\nbase = "{base.prefix}"\nprefix = "overlay/{{name}}"\nname = "grp"\n'
        f'requires = ["dlib>=2"]\nhide = ["alib", "dlib"]\n\n[index]\nurls = ["{index.url}"]\n'
    )
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(group / "overlay.toml"))
        assert run.code == 0, run.err
    alice = tmp_path / "alice"
    alice.mkdir()
    (alice / "overlay.toml").write_text(
        '[overlay]\nbase = "../group/overlay.toml"\nprefix = "overlay/{name}"\nname = "alice"\n'
        f'requires = ["tool"]\n\n[index]\nurls = ["{index.url}"]\n'
    )
    lock = overlock("lock", "-m", str(alice / "overlay.toml"))
    assert lock.code == 0, lock.err
    hides = "which the group overlay 'grp' hides"
    assert f"warning: base blib 1.0 requires alib>=1, {hides}" in lock.err, lock.err
    assert overlock("sync", "-m", str(alice / "overlay.toml")).code == 0
    out = tmp_path / "stack.json"
    code = (
        "import importlib.metadata as md, importlib.util, json, sys\n"
        "import dlib\n"
        "json.dump({'alib': importlib.util.find_spec('alib') is None,"
        " 'dlib': [md.version('dlib'), dlib.__file__],"
        " 'names': sorted(d.metadata['Name'] for d in md.distributions())},"
        " open(sys.argv[1], 'w'))\n"
    )
    run = overlock("run", "-m", str(alice / "overlay.toml"), "--", "python", "-c", code, str(out))
    assert run.code == 0, run.err
    seen = json.loads(out.read_text())
    assert seen["alib"] is True
    assert seen["dlib"][0] == "2.0" and seen["dlib"][1].startswith(str(group / "overlay" / "grp"))
    assert seen["names"] == ["blib", "clib", "dlib", "tool"]
    why = overlock("why", "-m", str(alice / "overlay.toml"), "alib")
    assert "the base's alib 1.0 is hidden by the group overlay 'grp'" in why.out, why.out


def test_the_readme_example_is_a_valid_manifest(tmp_path: Path) -> None:
    import re

    from overlock.manifest.load import load_manifest

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Hiding base packages", 1)[1]
    block = re.search(r"```toml\n(.+?)\n```", section, flags=re.S)
    assert block is not None
    (tmp_path / "overlay.toml").write_text(block.group(1) + "\n")
    manifest = load_manifest(tmp_path / "overlay.toml")
    assert manifest.hide == ("python-ldap",)


def test_a_hidden_module_a_base_pth_imported_at_start_up_is_forgotten(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="alib", version="1.0", pth={"alib-boot.pth": "import alib\n"}),
            make_wheel(name="blib", version="1.0"),
        ],
    )
    base.make_readonly()
    index.add_spec(WheelSpec("tool", "1.0"))
    manifest = _manifest(tmp_path / "proj", base, index, requires=["tool"])
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(manifest))
        assert run.code == 0, run.err
    out = tmp_path / "pth.json"
    code = (
        "import json, sys\n"
        "try:\n    import alib\n    seen = alib.__file__\n"
        "except ModuleNotFoundError as exc:\n    seen = str(exc)\n"
        "json.dump(seen, open(sys.argv[1], 'w'))\n"
    )
    run = overlock("run", "-m", str(manifest), "--", "python", "-c", code, str(out))
    assert run.code == 0, run.err
    assert json.loads(out.read_text()) == "No module named 'alib'"


# The importlib_metadata backport appends its own finder when imported (and switches the
# standard one off): wheels fetched by .ci/run, for a 3.7 base and for the machine's python3.
BACKPORT_FETCH = (
    'python3 -m pip download --no-deps --only-binary=:all: --python-version 3.7 -d "$W/py37"'
    " importlib_metadata==6.7.0 zipp==3.15.0 typing_extensions==4.7.1;"
    ' python3 -m pip download --only-binary=:all: -d "$W/current" importlib_metadata==10.2.0'
)

_BACKPORT_PROBE = """
import json, sys
import importlib_metadata as md
out = {}
try:
    out["version"] = md.version("alib")
except md.PackageNotFoundError:
    out["version"] = "PackageNotFoundError"
names = [d.metadata["Name"] for d in md.distributions()]
out["listed"] = sorted(n for n in names if n in ("alib", "blib"))
out["duplicates"] = sorted(n for n in set(names) if names.count(n) > 1)
json.dump(out, open(sys.argv[1], "w"))
"""


def _backport_wheels(kind: str) -> list[Path]:
    import os

    root = os.environ.get("OVERLOCK_TEST_WHEELS")
    directory = Path(root) / "importlib-metadata" / kind if root else None
    wheels = sorted(directory.glob("*.whl")) if directory is not None else []
    if not any(w.name.startswith("importlib_metadata-") for w in wheels):
        reason = (
            "needs the importlib_metadata backport's wheels in"
            f" $OVERLOCK_TEST_WHEELS/importlib-metadata/{kind}; .ci/run fetches them"
            f" (W=$OVERLOCK_TEST_WHEELS/importlib-metadata; {BACKPORT_FETCH})"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide them: {reason}")
        pytest.skip(reason)
    return wheels


@pytest.mark.parametrize("kind", ["py37", "current"])
def test_the_importlib_metadata_backport_does_not_list_a_hidden_package(
    kind: str,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    python = None
    if kind == "py37":
        found = other_pythons().get("3.7")
        if found is None:
            pytest.skip("needs a Python 3.7 interpreter (pyenv)")
        python = str(found)
    base = make_base(
        "venv",
        wheels=[
            *_backport_wheels(kind),
            make_wheel(name="alib", version="1.0"),
            make_wheel(name="blib", version="1.0", requires=("alib>=1",)),
        ],
        python=python,
    )
    base.make_readonly()
    index.add_spec(WheelSpec("tool", "1.0"))
    manifest = _manifest(tmp_path / "proj", base, index, requires=["tool"])
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(manifest))
        assert run.code == 0, run.err
    out = tmp_path / "backport.json"
    run = overlock("run", "-m", str(manifest), "--", "python", "-c", _BACKPORT_PROBE, str(out))
    assert run.code == 0, run.err
    inside = json.loads(out.read_text())
    assert inside == {"version": "PackageNotFoundError", "listed": ["blib"], "duplicates": []}

    import subprocess

    proc = subprocess.run(
        [str(base.python), "-I", "-B", "-c", _BACKPORT_PROBE, str(out)],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["listed"] == ["alib", "blib"]  # outside: unchanged
