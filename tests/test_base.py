# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""The base probe: one subprocess of the base interpreter, never the running one."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.bases import Base, MakeBase, other_pythons
from harness.wheels import MakeWheel
from overlock.base.env import BaseEnv, find_base_python, load_snapshot, probe
from overlock.errors import BaseProbeError

RUNNER_XY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _nodot(xy: str) -> str:
    return xy.replace(".", "")


def _write_dist(where: Path, name: str, version: str, *lines: str) -> Path:
    """A hand-made installed distribution: just a dist-info with METADATA."""
    info = where / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    body = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines]
    (info / "METADATA").write_text("\n".join(body) + "\n\n")
    return info


def _site_packages(base: Base) -> Path:
    return base.site_packages()


@pytest.fixture
def alpha(make_wheel: MakeWheel) -> Path:
    return make_wheel(name="alpha", version="1.0", requires=("beta>=2",), requires_python=">=3.8")


# -- a venv base ----------------------------------------------------------------------------


def test_venv_base(make_base: MakeBase, alpha: Path) -> None:
    base = make_base("venv", wheels=[alpha])
    env = probe(base.prefix)

    site_packages = str(_site_packages(base))
    assert env.kind == "venv"
    assert env.prefix == str(base.prefix)
    assert env.python == str(base.prefix / "bin" / "python3")
    assert env.python_version.startswith(base.version + ".")
    assert env.implementation == "cpython"
    assert env.markers["python_version"] == base.version
    assert env.tags[0].startswith(f"cp{_nodot(base.version)}-cp{_nodot(base.version)}-")
    assert env.tags[-1] == f"py{sys.version_info[0]}0-none-any"
    assert env.scheme["purelib"] == f"lib/python{base.version}/site-packages"
    assert env.scheme["platlib"] == f"lib/python{base.version}/site-packages"
    assert env.scheme["scripts"] == "bin"
    assert env.scheme["data"] == "."
    assert env.site_dirs == (site_packages,)
    assert env.hidden == ()

    [dist] = env.distributions
    assert dist.name == "alpha"
    assert dist.version == "1.0"
    assert dist.requires == ("beta>=2",)
    assert dist.requires_python == ">=3.8"
    assert dist.location == site_packages
    assert dist.installer == "harness"
    assert dist.top_level == ("alpha",)

    assert env.extra["executable"] == env.python
    assert env.extra["pyvenv_cfg"]["include-system-site-packages"] == "false"
    assert env.extra["user_site_possible"] is False


def test_venv_interpreter_path_is_kept_unresolved(make_base: MakeBase) -> None:
    base = make_base("venv")
    # bin/python of a venv is a symlink to the interpreter the venv was made from;
    # resolving it would probe that interpreter instead of the venv.
    assert base.python.is_symlink()
    assert find_base_python(base.python) == base.python

    env = probe(base.python)
    assert env.python == str(base.python)
    assert env.kind == "venv"
    assert env.prefix == str(base.prefix)


def test_probe_runs_one_isolated_subprocess(make_base: MakeBase) -> None:
    base = make_base("venv")
    commands: list[list[str]] = []

    def recording_runner(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        return subprocess.run(cmd, **kwargs)

    probe(base.prefix, runner=recording_runner)
    assert len(commands) == 1
    assert commands[0][0] == str(base.prefix / "bin" / "python3")
    assert {"-I", "-B"} <= set(commands[0][1 : commands[0].index("-c")])


def test_probe_lists_records_and_skips_what_has_no_name(make_base: MakeBase) -> None:
    base = make_base("venv")
    site_packages = _site_packages(base)
    info = _write_dist(site_packages, "Weird.Name", "2.0rc1", "Requires-Dist: x; extra == 'y'")
    (info / "RECORD").write_text(
        "weird/__init__.py,,\n"
        "weird/__pycache__/__init__.cpython-312.pyc,,\n"
        "weirdmod.py,,\n"
        "_weird_c.cpython-312-x86_64-linux-gnu.so,,\n"
        "weird.pth,,\n"
        "Weird.Name-2.0rc1.dist-info/METADATA,,\n"
        "../../../bin/weird,,\n"
    )
    # Leftovers of failed uninstalls: metadata without a name, and no metadata at all.
    nameless = site_packages / "nameless-1.0.dist-info"
    nameless.mkdir()
    (nameless / "METADATA").write_text("Metadata-Version: 2.1\nVersion: 1.0\n\n")
    (site_packages / "empty-1.0.dist-info").mkdir()

    env = probe(base.prefix)
    assert [d.name for d in env.distributions] == ["weird-name"]
    [dist] = env.distributions
    assert dist.version == "2.0rc1"
    assert dist.requires == ("x; extra == 'y'",)
    assert dist.requires_python is None
    assert dist.installer is None
    assert dist.top_level == ("_weird_c", "weird", "weirdmod")


def test_top_level_txt_wins_over_record(make_base: MakeBase) -> None:
    base = make_base("venv")
    info = _write_dist(_site_packages(base), "legacy", "0.1")
    (info / "top_level.txt").write_text("legacy_core\n\ngoogle/protobuf\n")
    (info / "RECORD").write_text("something_else/__init__.py,,\n")
    env = probe(base.prefix)
    assert env.by_name[canonicalize_name("legacy")].top_level == ("google", "legacy_core")


# -- duplicates along sys.path ----------------------------------------------------------------


def test_first_copy_on_sys_path_wins_later_ones_are_hidden(
    make_base: MakeBase, alpha: Path, tmp_path: Path
) -> None:
    base = make_base("venv", wheels=[alpha])
    site_packages = _site_packages(base)
    later = tmp_path / "later-on-path"
    _write_dist(later, "alpha", "2.0")
    _write_dist(later, "gamma", "1.0")
    # A .pth file appends its directories after the site dir that holds it.
    (site_packages / "zz-later.pth").write_text(f"{later}\n")

    env = probe(base.prefix)
    assert env.by_name[canonicalize_name("alpha")].version == "1.0"
    assert env.by_name[canonicalize_name("alpha")].location == str(site_packages)
    assert env.by_name[canonicalize_name("gamma")].location == str(later)
    assert [(d.name, d.version, d.location) for d in env.hidden] == [("alpha", "2.0", str(later))]
    # Both hold distributions, in sys.path order.
    assert env.site_dirs == (str(site_packages), str(later))
    # The fingerprint is about what imports see.
    assert "alpha==1.0" in env.fingerprint_text()
    assert "alpha==2.0" not in env.fingerprint_text()


# -- a conda-shaped base ----------------------------------------------------------------------


def test_conda_base(make_base: MakeBase, alpha: Path) -> None:
    base = make_base("conda", wheels=[alpha])
    env = probe(base.prefix)
    assert env.kind == "conda"
    assert env.prefix == str(base.prefix)
    assert env.extra["base_prefix"] == str(base.prefix)
    assert env.extra["pyvenv_cfg"] is None
    assert env.scheme["purelib"] == f"lib/python{base.version}/site-packages"
    # Not a venv, so pip's venv-only header location does not apply.
    assert env.scheme["headers"] == f"include/python{base.version}"
    assert env.site_dirs == (str(_site_packages(base)),)
    assert [(d.name, d.version) for d in env.distributions] == [("alpha", "1.0")]


# -- the target is not the runner -------------------------------------------------------------


_OTHERS = list(other_pythons().items())  # oldest first
# What the issue tracker and the README promise: bases of these run lock, sync, run, check.
_PROMISED = ("3.7", "3.8", "3.9", "3.11", "3.13")


def test_every_promised_base_python_is_tested_in_ci() -> None:
    present = {*other_pythons(), RUNNER_XY}
    missing = [v for v in _PROMISED if v not in present]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI lacks the base Pythons {missing}: install them in .ci/run")
    if missing:
        pytest.skip(f"no Python {', '.join(missing)} on this machine")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "python"),
    _OTHERS or [pytest.param("", Path(), marks=pytest.mark.skip(reason="no other Python"))],
    ids=[v for v, _ in _OTHERS] or ["none"],
)
def test_base_of_another_python_reports_its_own_facts(
    make_base: MakeBase, alpha: Path, version: str, python: Path
) -> None:
    base = make_base("venv", wheels=[alpha], python=python)
    # Ground truth from the base itself, independent of the probe.
    truth = json.loads(
        base.run(
            "import json, platform, sysconfig; print(json.dumps("
            "[platform.python_version(), sysconfig.get_config_var('SOABI')]))"
        ).stdout
    )
    env = probe(base.prefix)

    assert version != RUNNER_XY
    assert env.python_version == truth[0]
    assert env.py_short == version
    assert env.markers["python_version"] == version
    assert env.markers["python_full_version"] == truth[0]
    cp = f"cp{_nodot(version)}"
    assert truth[1].startswith(f"cpython-{_nodot(version)}")
    # 3.7's ABI is "cp37m" (pymalloc); later ones have no flag.
    assert env.tags[0].startswith(f"{cp}-{cp}")
    # Nothing of the runner's interpreter may leak into the tags: cpXY-cpXY tags exist only
    # for the interpreter itself (older cpXY appear only with the abi3 ABI).
    runner_cp = f"cp{_nodot(RUNNER_XY)}"
    assert not any(t.startswith(f"{runner_cp}-{runner_cp}-") for t in env.tags)
    assert f"py{_nodot(version)}-none-any" in env.tags
    assert env.scheme["purelib"] == f"lib/python{version}/site-packages"
    assert env.accepts_python(f"=={version}.*")
    assert not env.accepts_python(f"=={RUNNER_XY}.*")
    assert env.by_name[canonicalize_name("alpha")].location == str(base.site_packages())


@pytest.mark.slow
def test_conda_base_of_the_oldest_python(make_base: MakeBase, alpha: Path) -> None:
    if not _OTHERS:
        pytest.skip("no Python other than the runner's is installed")
    version, python = _OTHERS[0]
    base = make_base("conda", wheels=[alpha], python=python)
    env = probe(base.prefix)
    assert env.kind == "conda"
    assert env.py_short == version
    assert env.tags[0].startswith(f"cp{_nodot(version)}-cp{_nodot(version)}")
    assert env.scheme["purelib"] == f"lib/python{version}/site-packages"
    assert [d.name for d in env.distributions] == ["alpha"]


def _interpreters() -> list[tuple[str, Path]]:
    found = [(RUNNER_XY, Path(sys.executable)), *_OTHERS]
    system = Path("/usr/bin/python3")
    if system.exists() and system.resolve() not in {p.resolve() for _, p in found}:
        found.append(("system", system))
    return found


# The base's own view of its tags, through a packaging it can import: the runner's when it
# supports the base's Python (an exact, ordered comparison), else the copy pip vendors.
_TRUTH = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
try:
    from packaging import tags, markers
    import packaging as p
    source = "runner"
except Exception:
    for name in [n for n in sys.modules if n.split(".")[0] == "packaging"]:
        del sys.modules[name]
    sys.path.remove(sys.argv[1])
    from pip._vendor.packaging import tags, markers
    import pip._vendor.packaging as p
    source = "pip"
print(json.dumps([source, p.__version__, [str(t) for t in tags.sys_tags()],
                  markers.default_environment()]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("label", "python"), _interpreters(), ids=[v for v, _ in _interpreters()])
def test_tags_and_markers_are_what_packaging_computes_in_the_base(
    tmp_path: Path, label: str, python: Path
) -> None:
    import packaging

    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "packaging").symlink_to(Path(packaging.__file__).parent)
    out = subprocess.run(
        [str(python), "-I", "-B", "-c", _TRUTH, str(staged)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        pytest.skip(f"{python} has no packaging to compare with: {out.stderr[-200:]}")
    source, version, truth, truth_markers = json.loads(out.stdout)
    env = probe(python)
    assert dict(env.markers) == truth_markers
    if source == "runner":
        assert list(env.tags) == truth
        return
    # An older packaging: the same tags, ordered differently among the linux_ platforms, and
    # without "cpXY-none-any", which packaging yields since 22.0.
    newer = {f"cp{_nodot(env.py_short)}-none-any"} if Version(version) < Version("22") else set()
    assert set(env.tags) == set(truth) | newer, (source, version)
    not_linux = [t for t in env.tags if "-linux_" not in t and t not in newer]
    assert not_linux == [t for t in truth if "-linux_" not in t]


def _too_old_pythons() -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    found = [*root.glob("3.6*/bin/python3"), *root.glob("2.7*/bin/python")]
    return sorted(p for p in found if os.access(p, os.X_OK))


@pytest.mark.parametrize(
    "python",
    _too_old_pythons()
    or [pytest.param(Path(), marks=pytest.mark.skip(reason="no Python older than 3.7"))],
)
def test_base_older_than_3_7_is_refused_clearly(python: Path) -> None:
    with pytest.raises(BaseProbeError) as info:
        probe(python)
    message = str(info.value)
    assert "too old" in message
    assert "3.7 or newer" in (info.value.hint or "")
    assert "Traceback" not in message


def test_probe_needs_nothing_but_the_base_stdlib(make_base: MakeBase, alpha: Path) -> None:
    # A base whose own packaging (or anything else overlock itself uses) is broken or
    # hostile: the probe imports none of it, and the runner's packaging never enters the base.
    base = make_base("venv", wheels=[alpha])
    site = _site_packages(base)
    for name in ("packaging", "typing_extensions"):
        (site / name).mkdir()
        (site / name / "__init__.py").write_text("raise SystemExit('imported ' + __name__)\n")
    env = probe(base.prefix)
    assert [d.name for d in env.distributions] == ["alpha"]
    assert env.tags[0].startswith(f"cp{_nodot(env.py_short)}-")
    assert env.extra["facts"]["version_info"][:2] == [int(x) for x in env.py_short.split(".")]
    assert not any("overlock-probe-" in entry for entry in env.extra["sys_path"])


def test_egg_info_requirements_read_as_importlib_metadata_reads_them(
    make_base: MakeBase,
) -> None:

    base = make_base("venv")
    site = _site_packages(base)
    egg = site / "eggy-1.0-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: eggy\nVersion: 1.0\n\n")
    (egg / "requires.txt").write_text(
        'six>=1.0\n\n[:python_version < "4"]\nattrs\n'
        '[fast]\nujson\n[tests:sys_platform == "linux"]\npytest>=7\n'
        "remote @ https://example.invalid/r.whl\n"
    )
    (egg / "installed-files.txt").write_text("../eggy/__init__.py\n../eggy_helper.py\nPKG-INFO\n")
    (site / "flat-2.0-py3.11.egg-info").write_text(
        "Metadata-Version: 1.1\nName: flat\nVersion: 2.0\n"
    )
    env = probe(base.prefix)
    truth = {d.metadata["Name"]: d for d in importlib.metadata.distributions(path=[str(site)])}
    assert list(env.by_name["eggy"].requires) == truth["eggy"].requires
    assert env.by_name["eggy"].top_level == ("eggy", "eggy_helper")
    assert env.by_name["flat"].version == "2.0"
    assert env.by_name["flat"].requires == ()


def test_debian_posix_local_scheme_is_not_used_for_the_prefix() -> None:
    # Debian's system Python answers "posix_local" (<prefix>/local/...) as its preferred
    # prefix scheme; pip users expect <prefix>/lib/pythonX.Y/site-packages.
    for candidate in sorted(Path("/usr/bin").glob("python3.*")):
        if not candidate.name[len("python") :].replace(".", "").isdigit():
            continue
        out = subprocess.run(
            [
                str(candidate),
                "-I",
                "-c",
                "import sysconfig, sys;"
                "print(getattr(sysconfig, 'get_preferred_scheme', lambda k: '')('prefix'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.stdout.strip() == "posix_local":
            break
    else:
        pytest.skip("no Debian-patched system Python here")
    env = probe(candidate)
    assert env.kind == "system"
    assert env.scheme["purelib"] == f"lib/python{env.py_short}/site-packages"
    assert env.scheme["scripts"] == "bin"
    assert env.extra["scheme_name"] == "posix_prefix"


# -- isolation from the caller's environment --------------------------------------------------


def test_caller_environment_does_not_leak_into_the_probe(
    make_base: MakeBase, alpha: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A conda-shaped base, because it is not a venv: its user site would be live.
    base = make_base("conda", wheels=[alpha])
    # PYTHONPATH is the module-system layer of the base (tested below), never anything else.
    on_pythonpath = tmp_path / "pythonpath"
    _write_dist(on_pythonpath, "from-module", "9.9")
    (on_pythonpath / "from_module.py").write_text("")
    boot = tmp_path / "overlay" / ".overlock" / "boot"
    _write_dist(boot, "leaked-from-boot", "9.9")
    user_base = tmp_path / "userbase"
    _write_dist(
        user_base / "lib" / f"python{base.version}" / "site-packages", "leaked-from-user", "9.9"
    )
    home = tmp_path / "home"
    _write_dist(
        home / ".local" / "lib" / f"python{base.version}" / "site-packages",
        "leaked-from-home",
        "9.9",
    )
    in_cwd = tmp_path / "cwd"
    _write_dist(in_cwd, "leaked-from-cwd", "9.9")

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(boot), "", str(on_pythonpath)]))
    monkeypatch.setenv("PYTHONUSERBASE", str(user_base))
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "no-such-home"))
    monkeypatch.setenv("PYTHONSTARTUP", str(tmp_path / "no-such-startup.py"))
    # HOME must stay (interpreters and their tools may need it), so only -I keeps the
    # default user site out.
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(in_cwd)

    env = probe(base.prefix)
    assert [d.name for d in env.distributions] == ["alpha", "from-module"]
    assert env.hidden == ()
    sys_path = env.extra["sys_path"]
    assert env.extra["module_path"] == [str(on_pythonpath)]
    for leak in (boot, user_base, home, in_cwd):
        assert not any(entry.startswith(str(leak)) for entry in sys_path), sys_path
    assert "" not in sys_path
    assert env.prefix == str(base.prefix)
    assert [d.name for d in probe(base.prefix, module_path=()).distributions] == ["alpha"]


def test_noisy_sitecustomize_does_not_break_the_report(make_base: MakeBase) -> None:
    base = make_base("venv")
    hook = _site_packages(base) / "sitecustomize.py"
    hook.write_text('print("hello from sitecustomize {")\n')
    env = probe(base.prefix)
    assert env.extra["sitecustomize"] == str(hook)


def test_broken_base_hook_is_reported_without_traceback_noise(make_base: MakeBase) -> None:
    base = make_base("venv")
    (_site_packages(base) / "sitecustomize.py").write_text(
        "import sysconfig\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('scheme lookup broken by sitecustomize')\n"
        "sysconfig.get_paths = broken\n"
    )
    with pytest.raises(BaseProbeError, match="scheme lookup broken by sitecustomize"):
        probe(base.prefix)


def test_probe_never_writes_below_the_base(make_base: MakeBase, alpha: Path) -> None:
    base = make_base("venv", wheels=[alpha])
    site_packages = _site_packages(base)
    # Modules without bytecode imported at startup: a probe that allowed bytecode writes
    # would add __pycache__ here (CI runs as root, so permissions would not stop it).
    (site_packages / "startup_hook.py").write_text("X = 1\n")
    (site_packages / "startup.pth").write_text("import startup_hook\n")
    (site_packages / "sitecustomize.py").write_text("import json\n")
    base.make_readonly()
    before = base.checksum()
    probe(base.prefix)
    probe(base.python)
    assert base.checksum() == before
    assert not (site_packages / "__pycache__").exists()


# -- snapshots and fingerprints ---------------------------------------------------------------


def test_snapshot_round_trip(make_base: MakeBase, alpha: Path, tmp_path: Path) -> None:
    base = make_base("venv", wheels=[alpha])
    _write_dist(tmp_path / "later", "alpha", "0.9")
    (_site_packages(base) / "later.pth").write_text(f"{tmp_path / 'later'}\n")
    env = probe(base.prefix)
    assert env.hidden  # the round trip covers hidden dists too

    assert BaseEnv.from_json(env.to_json()) == env
    assert BaseEnv.from_json(json.loads(env.dumps())) == env

    snapshot = tmp_path / "base.json"
    snapshot.write_text(env.dumps())
    loaded = load_snapshot(snapshot)
    assert loaded == env
    assert loaded.fingerprint() == env.fingerprint()
    assert loaded.dumps() == env.dumps()
    assert loaded.parsed_tags == env.parsed_tags


def test_fingerprint_is_stable_and_follows_versions(make_base: MakeBase, alpha: Path) -> None:
    base = make_base("venv", wheels=[alpha])
    first = probe(base.prefix)
    assert probe(base.prefix).fingerprint() == first.fingerprint()

    # A redeploy bumps alpha in place and adds delta.
    site_packages = _site_packages(base)
    old = site_packages / "alpha-1.0.dist-info"
    metadata = (old / "METADATA").read_text().replace("Version: 1.0", "Version: 1.1")
    (old / "METADATA").write_text(metadata)
    old.rename(site_packages / "alpha-1.1.dist-info")
    _write_dist(site_packages, "delta", "3")

    second = probe(base.prefix)
    assert second.fingerprint() != first.fingerprint()
    # What `lock --check` reports as drift (check/drift.py) is these pins moving.
    assert (first.by_name["alpha"].version, second.by_name["alpha"].version) == ("1.0", "1.1")
    assert "delta" not in first.by_name and second.by_name["delta"].version == "3"
    assert first.tags == second.tags and first.python_version == second.python_version


def test_snapshot_errors(tmp_path: Path) -> None:
    with pytest.raises(BaseProbeError, match="cannot read base snapshot"):
        load_snapshot(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BaseProbeError, match="not JSON"):
        load_snapshot(bad)
    bad.write_text('{"overlock-base-snapshot": 99}')
    with pytest.raises(BaseProbeError, match="format 1"):
        load_snapshot(bad)
    bad.write_text('{"overlock-base-snapshot": 1, "python": "x"}')
    with pytest.raises(BaseProbeError, match="not a valid base snapshot"):
        load_snapshot(bad)


# -- what cannot be probed --------------------------------------------------------------------


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _probe_error(base: Path, **kwargs: Any) -> str:
    with pytest.raises(BaseProbeError) as info:
        probe(base, **kwargs)
    message = str(info.value)
    assert "Traceback" not in message
    assert "hint:" in message
    return message


def test_missing_path(tmp_path: Path) -> None:
    message = _probe_error(tmp_path / "nowhere")
    assert f"{tmp_path / 'nowhere'} does not exist" in message


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "python"
    link.symlink_to(tmp_path / "gone" / "python3")
    message = _probe_error(link)
    assert "broken symbolic link" in message
    assert "gone" in message


def test_directory_without_interpreter(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    message = _probe_error(tmp_path)
    assert f"no Python interpreter in {tmp_path}" in message
    assert "bin/python3" in message


def test_interpreter_that_is_not_executable(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").write_text("")
    message = _probe_error(tmp_path)
    assert "bin/python3 but it is not an executable file" in message
    message = _probe_error(tmp_path / "bin" / "python3")
    assert "is not an executable file" in message


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts stand in for interpreters")
def test_interpreter_that_fails(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    _script(tmp_path / "bin" / "python3", "echo 'fatal: no encodings module' >&2\nexit 1\n")
    message = _probe_error(tmp_path)
    assert "exit status 1" in message
    assert "fatal: no encodings module" in message


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts stand in for interpreters")
def test_interpreter_that_prints_garbage(tmp_path: Path) -> None:
    python = _script(tmp_path / "python", "echo 'this is not JSON {'\n")
    message = _probe_error(python)
    assert "did not print a probe report" in message
    assert "this is not JSON" in message


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts stand in for interpreters")
def test_interpreter_that_prints_a_broken_report(tmp_path: Path) -> None:
    from overlock.inbase import probe as _probe

    python = _script(
        tmp_path / "python", f"echo '{_probe.BEGIN}'\necho '{{\"pro'\necho '{_probe.END}'\n"
    )
    assert "did not print a probe report" in _probe_error(python)


@pytest.mark.skipif(os.name == "nt", reason="POSIX exec semantics")
def test_file_that_cannot_be_executed(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_bytes(b"\x00\x01 not a program")
    python.chmod(0o755)
    message = _probe_error(python)
    assert f"cannot run the base interpreter {python}" in message


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell scripts stand in for interpreters")
def test_interpreter_that_hangs(tmp_path: Path) -> None:
    python = _script(tmp_path / "python", "exec sleep 30\n")
    message = _probe_error(python, timeout=0.5)
    assert "did not answer within 0.5 s" in message
