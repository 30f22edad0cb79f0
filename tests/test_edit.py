"""`overlock init`, `add` and `remove`: editing overlay.toml without losing what people wrote.

The unit tests edit text (overlock.manifest.edit); the CLI tests run on real bases against the
harness's real HTTP index.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.bases import Base
from harness.index import PackageIndex
from harness.project import Run, picks, write_manifest
from harness.wheels import WheelSpec
from overlock.errors import BadInputError
from overlock.lock.pylock import read_lock
from overlock.manifest.edit import Change, add_requirements, remove_requirements
from overlock.manifest.load import load_manifest

Overlock = Callable[..., Run]

COMMENTED = """\
# The beamline overlay.   (a comment that must survive)
[overlay]
base = "/opt/conda/envs/analysis"   # the facility env
prefix = "overlays/{name}"
requires = [
    "numpy<2",  # pandas in the base breaks on numpy 2
    # the plotting stack
    "seaborn==0.13.2",
]  # end of requires

# Where packages come from.
[index]
urls = ["https://index.example.org/simple"]
"""


# -- add (text) ----------------------------------------------------------------------------


def test_add_to_a_multiline_array_appends_one_line_with_a_trailing_comma() -> None:
    edit = add_requirements(COMMENTED, ["urllib3>=2"])
    assert edit.text == COMMENTED.replace(
        '    "seaborn==0.13.2",\n', '    "seaborn==0.13.2",\n    "urllib3>=2",\n'
    )
    assert edit.changes == (Change(None, "urllib3>=2"),)
    assert str(edit.changes[0]) == "+ urllib3>=2"


def test_add_of_a_present_name_replaces_it_in_place_keeping_its_comment() -> None:
    edit = add_requirements(COMMENTED, ["NumPy>=2"])
    assert edit.text == COMMENTED.replace('"numpy<2",  # pandas', '"NumPy>=2",  # pandas')
    assert edit.changes == (Change("numpy<2", "NumPy>=2"),)
    assert str(edit.changes[0]) == "~ numpy<2 -> NumPy>=2"


def test_add_keeps_an_inline_array_inline() -> None:
    text = '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = ["a", "b"]  # two\n'
    edit = add_requirements(text, ["c==1", "a>1"])
    assert (
        edit.text
        == '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = ["a>1", "b", "c==1"]  # two\n'
    )


def test_add_to_the_templates_empty_array() -> None:
    text = '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = []\n'
    assert add_requirements(text, ["a"]).text == text.replace("[]", '["a"]')


def test_add_follows_the_arrays_indentation() -> None:
    text = '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n  "a",\n  "b"\n]\n'
    edit = add_requirements(text, ["c"])
    assert (
        edit.text
        == '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n  "a",\n  "b",\n  "c",\n]\n'
    )


def test_add_creates_requires_at_the_end_of_the_overlay_table() -> None:
    text = (
        '[overlay]\nbase = "/b"\nprefix = "p"  # here\n\n'
        '# this comment introduces [index]\n[index]\nurls = ["https://x.example/simple"]\n'
    )
    edit = add_requirements(text, ["a"])
    assert edit.text == text.replace("# here\n", '# here\nrequires = ["a"]\n')


def test_marker_with_double_quotes_is_written_as_a_literal_string(tmp_path: Path) -> None:
    text = '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = []\n'
    req = 'tomli>=2; python_version < "3.11"'
    edit = add_requirements(text, [req])
    assert f"requires = ['{req}']" in edit.text
    path = tmp_path / "overlay.toml"
    path.write_text(edit.text)
    assert load_manifest(path).requires_text == (req,)


def test_adding_what_is_already_there_changes_nothing() -> None:
    edit = add_requirements(COMMENTED, ["seaborn==0.13.2"])
    assert edit.text == COMMENTED
    assert not edit.changed
    assert edit.changes == ()


def test_add_replaces_only_the_entry_with_the_same_marker() -> None:
    text = (
        '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n'
        "    \"numpy<2; python_version < '3.10'\",\n"
        "    \"numpy>=2; python_version >= '3.10'\",\n]\n"
    )
    edit = add_requirements(text, ["numpy>=2.1; python_version >= '3.10'"])
    assert edit.changes == (
        Change("numpy>=2; python_version >= '3.10'", "numpy>=2.1; python_version >= '3.10'"),
    )
    assert "numpy<2; python_version < '3.10'" in edit.text

    with pytest.raises(BadInputError, match="appears 2 times in requires"):
        add_requirements(text, ["numpy>=2"])


@pytest.mark.parametrize(
    ("reqs", "message"),
    [
        (["numpy=2"], '"numpy=2" is not a valid requirement'),
        (["  "], "an empty requirement"),
        (["numpy", "NumPy>=2"], "name the same project"),
    ],
)
def test_add_rejects_bad_requirements(reqs: list[str], message: str) -> None:
    with pytest.raises(BadInputError, match=message) as info:
        add_requirements(COMMENTED, reqs)
    assert info.value.hint


def test_development_source_tables_are_matched_by_name_and_left_intact(tmp_path: Path) -> None:
    text = (
        '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n'
        '    { name = "My_Lib", path = "../mylib" },  # hacking on it\n'
        '    "scipy",\n]\n'
    )
    edit = add_requirements(text, ["numpy"])
    assert '    { name = "My_Lib", path = "../mylib" },  # hacking on it\n' in edit.text
    (tmp_path / "mylib").mkdir()
    path = tmp_path / "p" / "overlay.toml"
    path.parent.mkdir()
    path.write_text(edit.text)
    loaded = load_manifest(path)
    assert [s.name for s in loaded.sources] == ["my-lib"]
    assert loaded.requirement_names == ("my-lib", "scipy", "numpy")
    with pytest.raises(BadInputError, match="development source") as info:
        add_requirements(text, ["my-lib>=2"])
    assert "overlock remove my-lib" in (info.value.hint or "")

    removed = remove_requirements(text, ["my.lib"])
    assert removed.text == text.replace(
        '    { name = "My_Lib", path = "../mylib" },  # hacking on it\n', ""
    )
    assert removed.changes == (Change('{ name = "My_Lib", path = "../mylib" }', None),)


def test_crlf_files_stay_crlf() -> None:
    text = COMMENTED.replace("\n", "\r\n")
    edit = add_requirements(text, ["urllib3"])
    assert "\n" not in edit.text.replace("\r\n", "")
    assert '    "urllib3",\r\n' in edit.text


# -- remove (text) ---------------------------------------------------------------------------


def test_add_then_remove_gives_back_the_same_bytes() -> None:
    added = add_requirements(COMMENTED, ["urllib3>=2"])
    assert remove_requirements(added.text, ["urllib3"]).text == COMMENTED


def test_remove_matches_canonical_names_and_keeps_other_comments() -> None:
    edit = remove_requirements(COMMENTED, ["Seaborn"])
    assert edit.text == COMMENTED.replace('    "seaborn==0.13.2",\n', "")
    assert edit.changes == (Change("seaborn==0.13.2", None),)
    assert str(edit.changes[0]) == "- seaborn==0.13.2"


def test_remove_takes_every_marker_variant() -> None:
    text = (
        '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n'
        "    \"numpy<2; python_version < '3.10'\",\n"
        '    "scipy",\n'
        "    \"numpy>=2; python_version >= '3.10'\",\n]\n"
    )
    edit = remove_requirements(text, ["numpy"])
    assert edit.text == '[overlay]\nbase = "/b"\nprefix = "p"\nrequires = [\n    "scipy",\n]\n'
    assert len(edit.changes) == 2


def test_remove_of_an_absent_name_suggests_the_nearest() -> None:
    with pytest.raises(BadInputError, match="`seabron` is not in requires; did you mean `seaborn`"):
        remove_requirements(COMMENTED, ["seabron"])
    with pytest.raises(BadInputError, match="not in requires") as info:
        remove_requirements('[overlay]\nbase = "/b"\nprefix = "p"\n', ["x"])
    assert info.value.hint == "requires lists: nothing"


def test_remove_wants_names_not_requirements() -> None:
    with pytest.raises(BadInputError, match='"numpy<2" is not a project name'):
        remove_requirements(COMMENTED, ["numpy<2"])


# -- init ------------------------------------------------------------------------------------


def test_init_uses_conda_prefix(
    tmp_path: Path, make_base: Any, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base("conda")
    monkeypatch.setenv("CONDA_PREFIX", str(base.prefix))
    monkeypatch.chdir(tmp_path)

    run = overlock("init", "--prefix", "ov/{name}")

    assert run.code == 0, run.err
    assert f"using the active conda environment {base.prefix} ($CONDA_PREFIX)" in run.err
    assert "overlock add PACKAGE" in run.err
    manifest = load_manifest(tmp_path / "overlay.toml")
    assert manifest.base == str(base.prefix)
    # Named after overlay.toml's directory, not the base's: see test_shared_prefix.py.
    assert manifest.name == tmp_path.name
    assert manifest.prefix(str(base.prefix)) == tmp_path / "ov" / tmp_path.name
    assert manifest.requires == ()
    assert "# PEP 508 requirements" in (tmp_path / "overlay.toml").read_text()


def test_init_uses_virtual_env(
    tmp_path: Path, make_base: Any, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base("venv")
    monkeypatch.setenv("VIRTUAL_ENV", str(base.prefix))
    target = tmp_path / "proj" / "overlay.toml"

    run = overlock("init", "-m", str(target), "--name", "hotfix", "--prefix", str(tmp_path / "o"))

    assert run.code == 0, run.err
    assert f"using the active virtual environment {base.prefix} ($VIRTUAL_ENV)" in run.err
    assert f"overlock add -m {target} PACKAGE" in run.err
    manifest = load_manifest(target)
    assert (manifest.base, manifest.name) == (str(base.prefix), "hotfix")
    assert manifest.prefix(str(base.prefix)) == tmp_path / "o"


def test_init_prefers_conda_prefix_and_mentions_virtual_env(
    tmp_path: Path, make_base: Any, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    conda = make_base("conda")
    monkeypatch.setenv("CONDA_PREFIX", str(conda.prefix))
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "some-venv"))
    run = overlock("init", "-m", str(tmp_path / "overlay.toml"))
    assert run.code == 0, run.err
    assert "$VIRTUAL_ENV is set too" in run.err
    assert load_manifest(tmp_path / "overlay.toml").base == str(conda.prefix)


def test_init_without_an_active_env_uses_python3_on_path(
    tmp_path: Path, make_base: Any, overlock: Overlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base("conda")
    bin_dir = tmp_path / "path-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(base.python)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)

    run = overlock("init")

    assert run.code == 0, run.err
    assert f"using the python3 on PATH: {bin_dir / 'python3'} (prefix {base.prefix})" in run.err
    manifest = load_manifest(tmp_path / "overlay.toml")
    # The environment's prefix, not the symlink that happened to be on PATH.
    assert manifest.base == str(base.prefix)
    assert manifest.prefix_template == "~/overlays/{name}"


def test_init_refuses_to_overwrite(tmp_path: Path, make_base: Any, overlock: Overlock) -> None:
    base = make_base("venv")
    target = tmp_path / "overlay.toml"
    target.write_text("# mine\n")

    run = overlock("init", "-m", str(target), "--base", str(base.prefix))

    assert run.code == 1
    assert f"{target} already exists; init does not overwrite it" in run.err
    assert "hint:" in run.err
    assert target.read_bytes() == b"# mine\n"


def test_init_with_index_url_and_a_python_executable_as_base(
    tmp_path: Path, make_base: Any, overlock: Overlock
) -> None:
    base = make_base("venv")
    target = tmp_path / "overlay.toml"
    run = overlock(
        "init",
        "-m",
        str(target),
        "--base",
        str(base.python),
        "--index-url",
        "https://x.example/simple",
    )
    assert run.code == 0, run.err
    manifest = load_manifest(target)
    assert manifest.base == str(base.python)
    assert manifest.index is not None
    assert manifest.index.urls == ("https://x.example/simple",)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "{missing}"], "does not exist"),
        (["--prefix", "{base}/overlay"], "is inside the base"),
        (["--prefix", "{file}/o"], "cannot be created"),
        (["--name", "a/b"], "these options do not make a valid overlay.toml"),
    ],
)
def test_init_rejects_unusable_options_and_writes_nothing(
    tmp_path: Path, make_base: Any, overlock: Overlock, args: list[str], message: str
) -> None:
    base = make_base("venv")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    values = {"missing": tmp_path / "nope", "base": base.prefix, "file": a_file}
    target = tmp_path / "proj" / "overlay.toml"
    filled = [a.format(**values) for a in args]
    if "--base" not in args:
        filled += ["--base", str(base.prefix)]

    run = overlock("init", "-m", str(target), *filled)

    assert run.code == 2
    assert message in run.err
    assert "hint:" in run.err
    assert "Traceback" not in run.err
    assert not target.parent.exists()


# -- add / remove on a real base and index -----------------------------------------------


def _project(tmp_path: Path, base: Base, index: PackageIndex, requires_block: str) -> Path:
    text = f"""\
# Hot-fixes for the beamline.  (comment 1)
[overlay]
base = "{base.prefix}"  # comment 2
prefix = "overlay/{{name}}"
{requires_block}

# comment 3, before [index]
[index]
urls = ["{index.url}"]   # comment 4
"""
    path = tmp_path / "p" / "overlay.toml"
    path.parent.mkdir()
    path.write_text(text)
    return path


@pytest.fixture
def plot_base(make_base: Any, make_wheel: Any, index: PackageIndex) -> Base:
    base: Base = make_base(wheels=[make_wheel(name="numpyish", version="1.26.0")])
    for spec in (
        WheelSpec("numpyish", "1.26.0"),
        WheelSpec("numpyish", "2.0.0"),
        WheelSpec("plotter", "0.13.2", requires=("numpyish>=1.20",)),
        WheelSpec("tablekit", "1.0.0"),
        WheelSpec("tablekit", "2.0.3", requires=("numpyish>=2",)),
    ):
        index.add_spec(spec)
    return base


def test_add_and_remove_edit_only_requires_and_lock(
    tmp_path: Path, plot_base: Base, index: PackageIndex, overlock: Overlock
) -> None:
    manifest = _project(
        tmp_path, plot_base, index, 'requires = [\n    "tablekit<2",  # keep 1.x\n]'
    )
    original = manifest.read_text()
    lock_path = manifest.parent / "pylock.overlay.toml"
    manifest.chmod(0o640)

    run = overlock("add", "-m", str(manifest), "plotter")

    assert run.code == 0, run.err
    assert manifest.read_text() == original.replace(
        '    "tablekit<2",  # keep 1.x\n', '    "tablekit<2",  # keep 1.x\n    "plotter",\n'
    )
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o640
    assert "+ plotter" in run.out
    assert "+ plotter 0.13.2" in run.out
    assert picks(read_lock(lock_path)) == {"plotter": "0.13.2", "tablekit": "1.0.0"}
    assert overlock("lock", "--check", "-m", str(manifest)).code == 0

    # Replacing an entry in place: the comment on its line stays.
    run = overlock("add", "-m", str(manifest), "tablekit>=2")
    assert run.code == 0, run.err
    assert '    "tablekit>=2",  # keep 1.x\n' in manifest.read_text()
    assert "~ tablekit<2 -> tablekit>=2" in run.out
    lock = read_lock(lock_path)
    assert picks(lock) == {"plotter": "0.13.2", "tablekit": "2.0.3", "numpyish": "2.0.0"}

    run = overlock("remove", "-m", str(manifest), "plotter", "TableKit")
    assert run.code == 0, run.err
    assert manifest.read_text() == original.replace('    "tablekit<2",  # keep 1.x\n', "")
    assert picks(read_lock(lock_path)) == {}
    assert overlock("lock", "--check", "-m", str(manifest)).code == 0


def test_add_changes_only_what_was_asked_and_upgrade_package_moves_one(
    tmp_path: Path, make_base: Any, index: PackageIndex, overlock: Overlock
) -> None:
    base = make_base()
    for name in ("urllib3", "idnaish"):
        index.add_spec(WheelSpec(name, "2.7.0"))
    manifest = _project(tmp_path, base, index, 'requires = ["urllib3", "idnaish"]')
    lock_path = manifest.parent / "pylock.overlay.toml"
    assert overlock("lock", "-m", str(manifest)).code == 0
    # Newer releases appear; adding an unrelated package must not move the locked ones.
    for name in ("urllib3", "idnaish"):
        index.add_spec(WheelSpec(name, "2.8.0"))
    index.add_spec(WheelSpec("six", "1.17.0"))

    run = overlock("add", "-m", str(manifest), "six")
    assert run.code == 0, run.err
    assert picks(read_lock(lock_path)) == {"urllib3": "2.7.0", "idnaish": "2.7.0", "six": "1.17.0"}
    assert "+ six 1.17.0" in run.out and "urllib3" not in run.out.split("pylock")[-1]

    run = overlock("lock", "-m", str(manifest), "--upgrade-package", "urllib3")
    assert run.code == 0, run.err
    assert "~ urllib3 2.7.0 -> 2.8.0" in run.out
    assert picks(read_lock(lock_path))["idnaish"] == "2.7.0"

    run = overlock("remove", "-m", str(manifest), "six", "-U")
    assert run.code == 0, run.err
    assert picks(read_lock(lock_path)) == {"urllib3": "2.8.0", "idnaish": "2.8.0"}


def test_conflicting_add_leaves_manifest_and_lock_byte_identical(
    tmp_path: Path, make_base: Any, make_wheel: Any, index: PackageIndex, overlock: Overlock
) -> None:
    base = make_base(
        wheels=[
            make_wheel(name="requests", version="2.28.2", requires=("urllib3<1.27,>=1.21.1",)),
            make_wheel(name="urllib3", version="1.26.15"),
        ]
    )
    index.add_spec(WheelSpec("urllib3", "2.2.3"))
    index.add_spec(WheelSpec("idna", "3.7"))
    manifest = write_manifest(tmp_path / "p", base, ["idna"], index=index, shadow="explicit")
    manifest.write_text("# keep me\n" + manifest.read_text())
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_path = manifest.parent / "pylock.overlay.toml"
    before = (manifest.read_bytes(), lock_path.read_bytes())
    listing = sorted(p.name for p in manifest.parent.iterdir())

    run = overlock("add", "-m", str(manifest), "urllib3==2.2.3")

    assert run.code == 1
    assert (
        "urllib3==2.2.3 (requested in overlay.toml) conflicts with requests 2.28.2 (base),"
        " which requires urllib3<1.27,>=1.21.1" in run.err
    )
    assert "nothing was written: overlay.toml and pylock.overlay.toml are unchanged" in run.err
    assert "Traceback" not in run.err
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before
    # No temporary file left behind either.
    assert sorted(p.name for p in manifest.parent.iterdir()) == listing

    # -v adds the traceback; the files still do not change.
    verbose = overlock("add", "-v", "-m", str(manifest), "urllib3==2.2.3")
    assert verbose.code == 1
    assert "Traceback" in verbose.err
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before


def test_failed_add_without_a_lock_creates_none(
    tmp_path: Path, plot_base: Base, index: PackageIndex, overlock: Overlock
) -> None:
    manifest = _project(tmp_path, plot_base, index, "requires = []")
    before = manifest.read_bytes()

    run = overlock("add", "-m", str(manifest), "no-such-project")

    assert run.code == 1
    assert "nothing was written" in run.err
    assert manifest.read_bytes() == before
    assert not (manifest.parent / "pylock.overlay.toml").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["add", "plotter=1"], '"plotter=1" is not a valid requirement'),
        (["remove", "plotterr"], "`plotterr` is not in requires; did you mean `plotter`?"),
        (["remove", "plotter>1"], "is not a project name"),
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(
    tmp_path: Path,
    plot_base: Base,
    index: PackageIndex,
    overlock: Overlock,
    command: list[str],
    message: str,
) -> None:
    manifest = _project(tmp_path, plot_base, index, 'requires = ["plotter"]')
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_path = manifest.parent / "pylock.overlay.toml"
    before = (manifest.read_bytes(), lock_path.read_bytes())

    run = overlock(command[0], "-m", str(manifest), *command[1:])

    assert run.code == 2
    assert message in run.err
    assert "hint:" in run.err
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before


def test_dry_run_shows_both_changes_and_writes_nothing(
    tmp_path: Path, plot_base: Base, index: PackageIndex, overlock: Overlock
) -> None:
    manifest = _project(tmp_path, plot_base, index, 'requires = ["tablekit<2"]')
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_path = manifest.parent / "pylock.overlay.toml"
    before = (manifest.read_bytes(), lock_path.read_bytes())

    run = overlock("add", "--dry-run", "-m", str(manifest), "plotter", "tablekit>=2")

    assert run.code == 0, run.err
    assert "+ plotter\n" in run.out
    assert "~ tablekit<2 -> tablekit>=2" in run.out
    assert "~ tablekit 1.0.0 -> 2.0.3" in run.out
    assert "+ numpyish 2.0.0" in run.out
    assert "dry run" in run.err
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before

    verbose = overlock("add", "--dry-run", "-v", "-m", str(manifest), "plotter")
    assert '+requires = ["tablekit<2", "plotter"]' in verbose.err  # the file's diff

    synced = overlock("add", "--dry-run", "--sync", "-m", str(manifest), "plotter")
    assert synced.code == 0, synced.err
    assert "sync:\n  + plotter 0.13.2\n  + tablekit 1.0.0" in synced.out
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before
    assert not (manifest.parent / "overlay").exists()


def test_failure_to_write_the_lock_restores_the_manifest(
    tmp_path: Path,
    plot_base: Base,
    index: PackageIndex,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = _project(tmp_path, plot_base, index, 'requires = ["tablekit<2"]')
    assert overlock("lock", "-m", str(manifest)).code == 0
    lock_path = manifest.parent / "pylock.overlay.toml"
    before = (manifest.read_bytes(), lock_path.read_bytes())

    def full_disk(*args: object) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("overlock.app.edit.write_lock", full_disk)
    run = overlock("add", "-m", str(manifest), "plotter")

    assert run.code == 1
    assert (manifest.read_bytes(), lock_path.read_bytes()) == before


def test_add_of_what_is_there_only_locks(
    tmp_path: Path, plot_base: Base, index: PackageIndex, overlock: Overlock
) -> None:
    manifest = _project(tmp_path, plot_base, index, 'requires = ["plotter"]')
    before = manifest.read_bytes()
    run = overlock("add", "-m", str(manifest), "plotter")
    assert run.code == 0, run.err
    assert "already says that" in run.out
    assert manifest.read_bytes() == before
    assert (manifest.parent / "pylock.overlay.toml").exists()

    quiet = overlock("add", "-q", "-m", str(manifest), "plotter")
    assert quiet.code == 0
    assert (quiet.out, quiet.err) == ("", "")


def test_add_sync_gives_an_importable_overlay(
    tmp_path: Path, plot_base: Base, index: PackageIndex, overlock: Overlock
) -> None:
    manifest = _project(tmp_path, plot_base, index, "requires = []")
    before = plot_base.checksum()

    run = overlock("add", "--sync", "-m", str(manifest), "tablekit==2.0.3")

    assert run.code == 0, run.err
    assert "synced" in run.err
    assert "sync:\n  + numpyish 2.0.0" in run.out
    check = (
        "import tablekit, numpyish; "
        "assert (tablekit.__version__, numpyish.__version__) == ('2.0.3', '2.0.0')"
    )
    assert overlock("run", "-m", str(manifest), "--", "python", "-c", check).code == 0
    assert plot_base.checksum() == before

    run = overlock("remove", "--sync", "-m", str(manifest), "tablekit")
    assert run.code == 0, run.err
    gone = "import importlib.util as u; assert u.find_spec('tablekit') is None"
    assert overlock("run", "-m", str(manifest), "--", "python", "-c", gone).code == 0


def test_help_text_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from overlock.cli.main import main

    for command in ("init", "add", "remove"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert f"overlock {command} " in text.split("example", 1)[1]
        assert "-q, --quiet" in text and "-v, --verbose" in text
