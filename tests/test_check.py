"""`overlock check` on real bases, a real index and real synced prefixes."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.app.overlay import Overlay
from overlock.base.env import probe
from overlock.check import (
    ERROR,
    INFO,
    WARNING,
    Dist,
    check_integrity,
    check_shadows,
    scan_prefix,
    unmet,
)
from overlock.lock.pylock import Lock, read_lock, write_lock
from overlock.prefix.state import read_state
from overlock.sync.engine import sync
from overlock.sync.install import install_wheel
from test_sync import FileFetcher, make_lock

CLI = Callable[..., Run]


# -- helpers ------------------------------------------------------------------------------


@dataclasses.dataclass
class Project:
    base: Base
    manifest: Path
    overlock: CLI

    @property
    def prefix(self) -> Path:
        return Overlay.load(self.manifest).prefix

    @property
    def site(self) -> Path:
        env = probe(self.base.prefix)
        return self.prefix / env.scheme["purelib"]

    def check(self, *args: str) -> Run:
        return self.overlock("check", "-m", str(self.manifest), *args)

    def check_json(self) -> Any:
        run = self.check("--json")
        assert run.code in (0, 1), run.err
        return run.json()


def make_project(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
    *,
    base: Sequence[WheelSpec],
    published: Sequence[WheelSpec],
    requires: list[str],
) -> Project:
    """A base, an index, overlay.toml; locked and synced with the real CLI."""
    made = make_base(wheels=[make_wheel(spec) for spec in base])
    for spec in published:
        index.add_spec(spec)
    manifest = write_manifest(tmp_path / "p", made, requires, index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    run = overlock("sync", "-m", str(manifest))
    assert run.code == 0, run.err
    # Deployed bases are read-only; a redeploy makes them writable for the time it takes.
    made.make_readonly()
    return Project(made, manifest, overlock)


def redeploy(base: Base, wheel: Path) -> None:
    """Replace the base's copy of the wheel's project with the wheel, as a redeploy would."""
    name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
    site = base.site_packages()
    base.make_writable()
    for info in site.glob("*.dist-info"):
        if canonicalize_name(info.name.split("-")[0]) != name:
            continue
        with open(info / "RECORD", newline="") as f:
            for row in csv.reader(f):
                if row:
                    (site / row[0]).unlink(missing_ok=True)
        shutil.rmtree(info)
    base.install(wheel)
    base.make_readonly()


def findings(data: Any, kind: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["kind"] == kind]


@pytest.fixture
def hotfix(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
) -> Project:
    """Base: alpha 1.0, beta 1.0 and app 1.0 (needs alpha>=1, beta); overlay: alpha>=2 and
    gamma (needs beta>=1, which the base provides)."""
    return make_project(
        tmp_path,
        index,
        make_base,
        make_wheel,
        overlock,
        base=[
            WheelSpec("alpha", "1.0"),
            WheelSpec("beta", "1.0"),
            WheelSpec("app", "1.0", requires=("alpha>=1", "beta")),
        ],
        published=[
            WheelSpec("alpha", "2.0"),
            WheelSpec("gamma", "1.0", requires=("beta>=1",)),
        ],
        requires=["alpha>=2", "gamma"],
    )


# -- all well ----------------------------------------------------------------------------


def test_a_fresh_overlay_is_all_well(hotfix: Project) -> None:
    run = hotfix.check()

    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["✓", "drift"],
        ["✓", "lock"],
        ["✓", "integrity"],
        ["✓", "consistency"],
        ["✓", "upstream"],
        ["✓", "redundant"],
        ["✓", "shadowing"],
        ["✓", "imports"],
        ["✓", "sources"],
    ]
    assert "1 shadowing package(s) are imported from the overlay" in run.out
    assert "the lock pins no git reference" in run.out
    assert lines[-1] == "all well"

    data = hotfix.check_json()
    assert data["ok"] is True
    assert data["findings"] == []
    assert set(data["checks"]) == {
        "drift",
        "stale",
        "integrity",
        "consistency",
        "upstream",
        "redundant",
        "shadow",
        "imports",
        "sources",
    }
    assert all(c["ok"] for c in data["checks"].values())
    assert data["prefix"] == str(hotfix.prefix)


def test_quiet_prints_nothing_and_keeps_the_exit_status(hotfix: Project) -> None:
    run = hotfix.check("-q")
    assert (run.code, run.out, run.err) == (0, "", "")

    (hotfix.site / "alpha" / "__init__.py").write_text("broken = True\n")
    run = hotfix.check("-q")
    assert (run.code, run.out, run.err) == (1, "", "")


def test_help_has_an_example(overlock: CLI, capsys: pytest.CaptureFixture[str]) -> None:
    from overlock.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["check", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example:\n  overlock check" in text
    assert "--json" in text and "-q" in text and "-v" in text


# -- drift -------------------------------------------------------------------------------


def test_redeployed_base_with_a_changed_version_is_drift(
    hotfix: Project, make_wheel: MakeWheel
) -> None:
    redeploy(hotfix.base, make_wheel(name="beta", version="1.1"))

    run = hotfix.check()

    assert run.code == 1
    assert "! drift" in run.out
    assert "the base changed since the lock was made: beta 1.0 -> 1.1" in run.out
    assert "the lock is still consistent with it: re-lock recommended but not required" in (run.out)
    assert "hint: run `overlock lock`, then `overlock sync`" in run.err
    assert "Traceback" not in run.err
    [drift] = findings(hotfix.check_json(), "drift")
    assert drift["severity"] == WARNING
    assert drift["data"]["changed"] == [{"name": "beta", "old": "1.0", "new": "1.1"}]
    assert drift["data"]["appeared"] == drift["data"]["went"] == []
    assert drift["data"]["lock_consistent"] is True
    # Nothing else is wrong: the prefix is intact and beta 1.1 still suits everyone.
    data = hotfix.check_json()
    assert [f["kind"] for f in data["findings"]] == ["drift"]


def test_drift_that_breaks_the_lock_names_the_broken_requirement(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
) -> None:
    project = make_project(
        tmp_path,
        index,
        make_base,
        make_wheel,
        overlock,
        base=[WheelSpec("beta", "1.0"), WheelSpec("old", "1.0")],
        published=[WheelSpec("gamma", "1.0", requires=("beta<1.1",))],
        requires=["gamma"],
    )
    redeploy(project.base, make_wheel(name="beta", version="1.1"))
    project.base.make_writable()
    shutil.rmtree(next(project.base.site_packages().glob("old-1.0.dist-info")))
    project.base.install(make_wheel(name="new", version="0.1"))

    run = project.check()

    assert run.code == 1
    assert "✗ drift" in run.out
    assert "beta 1.0 -> 1.1, new 0.1 appeared, old 1.0 went away" in run.out
    broken = "gamma 1.0 (overlay) requires beta<1.1, but beta 1.1 (base) is installed"
    assert "the lock is no longer consistent with the base:" in run.out
    assert run.out.count(broken) == 2  # under drift, and under consistency
    data = project.check_json()
    [drift] = findings(data, "drift")
    assert drift["severity"] == ERROR
    assert drift["data"]["lock_consistent"] is False
    assert drift["data"]["broken"] == [broken]
    assert drift["data"]["appeared"] == [{"name": "new", "version": "0.1"}]
    assert drift["data"]["went"] == [{"name": "old", "version": "1.0"}]
    [edge] = findings(data, "consistency")
    assert (edge["severity"], edge["subject"], edge["message"]) == (ERROR, "gamma", broken)
    assert edge["data"]["cause"] == "overlay"


def test_a_lock_without_base_distributions_says_drift_details_are_unavailable(
    hotfix: Project, make_wheel: MakeWheel
) -> None:
    lock_path = hotfix.manifest.parent / "pylock.overlay.toml"
    old = dataclasses.replace(read_lock(lock_path), base_distributions=None)
    write_lock(old, lock_path)
    assert "distributions" not in lock_path.read_text()
    assert hotfix.check().code == 0  # an old lock still checks while the base is unchanged

    redeploy(hotfix.base, make_wheel(name="beta", version="1.1"))
    run = hotfix.check()

    assert run.code == 1
    assert "this lock predates drift details (re-lock to record them)" in run.out
    [drift] = findings(hotfix.check_json(), "drift")
    assert drift["data"]["details_available"] is False
    assert drift["data"]["changed"] is None
    assert drift["data"]["lock_consistent"] is True


# -- stale lock --------------------------------------------------------------------------


def test_changed_manifest_is_a_stale_lock(hotfix: Project, index: PackageIndex) -> None:
    write_manifest(hotfix.manifest.parent, hotfix.base, ["alpha>=2"], index=index)

    run = hotfix.check()

    assert run.code == 1
    assert "! lock" in run.out and "overlay.toml changed since the lock was written" in run.out
    [stale] = findings(hotfix.check_json(), "stale")
    assert stale["severity"] == WARNING

    # Locked again without gamma, not yet synced: the prefix holds what the lock dropped.
    assert hotfix.overlock("lock", "-m", str(hotfix.manifest)).code == 0
    data = hotfix.check_json()
    assert data["checks"]["stale"]["ok"]
    [extra] = findings(data, "integrity")
    assert extra["message"] == "gamma 1.0 is in the prefix but not in the lock"
    assert extra["hint"] == "run `overlock sync`"
    assert hotfix.overlock("sync", "-m", str(hotfix.manifest)).code == 0
    assert hotfix.check().code == 0


# -- integrity ---------------------------------------------------------------------------


def test_a_file_edited_inside_the_prefix_is_reported(hotfix: Project) -> None:
    env = probe(hotfix.base.prefix)
    rel = f"{env.scheme['purelib']}/alpha/__init__.py"
    (hotfix.prefix / rel).write_text('__version__ = "2.0"\npatched = True\n')
    (hotfix.prefix / env.scheme["purelib"] / "gamma" / "__init__.py").unlink()

    run = hotfix.check()

    assert run.code == 1
    assert "✗ integrity" in run.out
    assert "alpha 2.0: 1 file(s) no longer match their RECORD hash" in run.out
    assert f"modified: {rel}" in run.out
    assert "gamma 1.0: 1 file(s) are missing" in run.out
    assert "`overlock sync` leaves packages it did not change as they are" in run.err
    assert f"(`rm {hotfix.prefix}`)" in run.err
    data = hotfix.check_json()
    by_subject = {f["subject"]: f for f in findings(data, "integrity")}
    assert by_subject["alpha"]["data"] == {
        "problem": "files",
        "modified": [rel],
        "missing": [],
        "unreadable": [],
    }
    assert by_subject["gamma"]["data"]["missing"] == [f"{env.scheme['purelib']}/gamma/__init__.py"]
    assert data["checks"]["drift"]["ok"] and data["checks"]["consistency"]["ok"]


def test_packages_missing_or_extra_against_the_lock(hotfix: Project, make_wheel: MakeWheel) -> None:
    env = probe(hotfix.base.prefix)
    # Someone ran `pip install --prefix` into the overlay, and removed gamma by hand.
    install_wheel(make_wheel(name="delta", version="3.0"), hotfix.prefix, env)
    for path in hotfix.site.glob("gamma*"):
        shutil.rmtree(path)
    (hotfix.site / "stray.py").write_text("x = 1\n")

    data = hotfix.check_json()

    assert data["ok"] is False
    by_subject = {f["subject"]: f for f in findings(data, "integrity")}
    assert by_subject["gamma"]["message"] == "gamma 1.0 is locked but not installed in the prefix"
    assert by_subject["gamma"]["data"] == {"problem": "missing", "locked": "1.0"}
    assert by_subject["delta"]["message"] == "delta 3.0 is in the prefix but not in the lock"
    assert by_subject["delta"]["data"] == {"problem": "extra", "installed": "3.0"}
    # Both changed behind overlock's back: a plain sync would not touch them.
    assert by_subject["gamma"]["hint"].startswith("`overlock sync` leaves packages")
    assert by_subject["delta"]["hint"].startswith(
        "add it to overlay.toml if the overlay should hold it; otherwise `overlock sync` leaves"
    )
    assert by_subject["prefix"]["severity"] == WARNING
    assert by_subject["prefix"]["data"]["files"] == [f"{env.scheme['purelib']}/stray.py"]
    # Nothing requires gamma, so its absence leaves the combined environment consistent.
    assert data["checks"]["consistency"]["ok"]


def test_integrity_of_fifty_packages_is_fast(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    base = make_base()
    env = probe(base.prefix)
    wheels = [
        make_wheel(
            name=f"pkg{i}",
            version="1.0",
            files={f"pkg{i}/__init__.py": "x = 1\n" * 2000, f"pkg{i}/data.bin": bytes(200_000)},
        )
        for i in range(50)
    ]
    lock = make_lock(*wheels)
    prefix = tmp_path / "ov"
    sync(lock, env, prefix, fetch=FileFetcher(), compile_bytecode=False, verify_imports=False)
    state = read_state(prefix)
    assert state is not None

    started = time.perf_counter()
    section = check_integrity(lock, env, prefix, state, scan_prefix(env, prefix))
    elapsed = time.perf_counter() - started

    assert section.ok, section.findings
    assert "50 package(s) as locked, 350 file(s) match their RECORD" in section.summary
    print(f"check_integrity: {elapsed:.3f} s")
    assert elapsed < 3.0


# -- consistency -------------------------------------------------------------------------


def test_breakage_the_base_already_had_is_a_note_not_a_problem(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
) -> None:
    project = make_project(
        tmp_path,
        index,
        make_base,
        make_wheel,
        overlock,
        base=[WheelSpec("legacy", "1.0", requires=("gone>=1",))],
        published=[WheelSpec("gamma", "1.0")],
        requires=["gamma"],
    )

    run = project.check()

    assert run.code == 0, run.out
    assert "apart from 1 the base already had" in run.out
    assert "note: 1 finding(s) are not problems (breakage the base already had)" in run.err
    assert "gone" not in run.out
    verbose = project.check("-v")
    assert verbose.code == 0
    assert (
        "· consistency  legacy 1.0 (base) requires gone>=1, which is not installed"
        " (already so in the base when the overlay was locked)"
    ) in verbose.out
    [note] = findings(project.check_json(), "consistency")
    assert (note["severity"], note["data"]["cause"]) == (INFO, "preexisting")


def test_unmet_follows_extras_markers_and_requires_python(
    make_base: MakeBase, make_wheel: MakeWheel
) -> None:
    env = probe(make_base().prefix)

    def dist(name: str, version: str, *requires: str, layer: str = "overlay") -> Dist:
        return Dist(canonicalize_name(name), version, requires, None, layer)

    visible = {
        d.name: d
        for d in [
            dist("app", "1.0", "lib[fast]>=1", 'never>=1; python_version < "3"', layer="base"),
            dist(
                "lib",
                "1.0",
                'speedups>=2; extra == "fast"',
                'docs; extra == "docs"',
                "dep==1.0",
            ),
            dist("speedups", "1.5"),
            dist("dep", "1.0", "tool @ https://example.invalid/tool.whl", layer="base"),
            Dist(canonicalize_name("newer"), "1.0", (), ">=4", "overlay"),
        ]
    }

    found = [str(u) for u in unmet(visible, env, roots=[Requirement("dep[x]")])]

    assert found == [
        "dep 1.0 (base) requires tool @ https://example.invalid/tool.whl, which is not installed",
        "lib 1.0 (overlay) [fast] requires speedups>=2, but speedups 1.5 (overlay) is installed",
        f"newer 1.0 (overlay) requires Python >=4, but the base has {env.python_version}",
    ]


# -- redundant hot-fixes -----------------------------------------------------------------


def test_a_base_that_now_provides_the_requested_version_makes_the_entry_redundant(
    hotfix: Project, make_wheel: MakeWheel
) -> None:
    redeploy(hotfix.base, make_wheel(name="alpha", version="2.0"))

    run = hotfix.check()

    assert run.code == 1
    assert "! redundant" in run.out
    assert (
        "the base now provides alpha 2.0, which satisfies `alpha>=2`; the overlay entry can go"
        in run.out
    )
    data = hotfix.check_json()
    [redundant] = findings(data, "redundant")
    assert redundant["subject"] == "alpha"
    assert redundant["data"] == {"base_version": "2.0", "overlay_version": "2.0"}
    # gamma is still needed: the base has no gamma.
    assert [f["subject"] for f in findings(data, "redundant")] == ["alpha"]
    assert data["checks"]["shadow"]["ok"]


def test_not_redundant_when_the_base_copy_would_break_something(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
) -> None:
    project = make_project(
        tmp_path,
        index,
        make_base,
        make_wheel,
        overlock,
        base=[WheelSpec("alpha", "1.0")],
        published=[WheelSpec("alpha", "2.0"), WheelSpec("gamma", "1.0")],
        requires=["alpha>=2", "gamma"],
    )
    # The redeployed base has alpha 2.0, but built against something the base lacks.
    redeploy(project.base, make_wheel(name="alpha", version="2.0", requires=("missing>=1",)))

    data = project.check_json()

    assert findings(data, "redundant") == []
    assert data["checks"]["redundant"]["ok"]


# -- shadow effectiveness ----------------------------------------------------------------


def _another_alpha(where: Path) -> Path:
    (where / "alpha").mkdir(parents=True)
    (where / "alpha" / "__init__.py").write_text("")
    (where / "alpha-9.0.dist-info").mkdir()
    (where / "alpha-9.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: alpha\nVersion: 9.0\n"
    )
    return where


def test_a_shadow_that_is_not_imported_is_reported(hotfix: Project, tmp_path: Path) -> None:
    # A .pth file of the base that puts another copy of alpha first on sys.path wins over
    # the overlay's (site runs it before any sitecustomize).
    elsewhere = _another_alpha(tmp_path / "elsewhere")
    (hotfix.base.site_packages() / "zz_elsewhere.pth").write_text(
        f"import sys; sys.path.insert(0, {str(elsewhere)!r})\n"
    )

    run = hotfix.check()

    assert run.code == 1
    assert "✗ shadowing" in run.out
    assert "alpha 2.0 in the overlay is not what Python imports" in run.out
    assert f"`import alpha` loads {elsewhere / 'alpha' / '__init__.py'}" in run.out
    for line in ("importlib.metadata reports alpha 9.0", "`import alpha` loads"):
        assert run.out.count(line) == 1, run.out  # each problem is printed once
    [shadow] = findings(hotfix.check_json(), "shadow")
    assert shadow["data"]["problems"][0] == (
        "importlib.metadata reports alpha 9.0, the overlay holds 2.0"
    )


def test_a_copy_on_pythonpath_is_a_module_layer_the_overlay_stays_in_front_of(
    hotfix: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a module system does; the lock was made without it, so it is drift, named.
    elsewhere = _another_alpha(tmp_path / "elsewhere")
    monkeypatch.setenv("PYTHONPATH", str(elsewhere))

    run = hotfix.check()

    assert "✓ shadowing" in run.out, run.out
    assert f"module path (PYTHONPATH) changed, +{elsewhere}" in run.out
    [drift] = findings(hotfix.check_json(), "drift")
    assert drift["data"]["module_path"] == {"locked": [], "now": [str(elsewhere)]}


# -- errors ------------------------------------------------------------------------------


def test_without_a_lock_or_a_synced_prefix_says_what_to_run(
    tmp_path: Path, index: PackageIndex, make_base: MakeBase, overlock: CLI
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("gamma", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["gamma"], index=index)

    run = overlock("check", "-m", str(manifest))
    assert run.code == 1
    assert "there is no lock to check" in run.err
    assert "hint: run `overlock lock`, then `overlock sync`" in run.err
    assert "Traceback" not in run.err

    assert overlock("lock", "-m", str(manifest)).code == 0
    run = overlock("check", "-m", str(manifest))
    assert run.code == 1
    assert "has not been synced" in run.err
    assert "hint: run `overlock sync`" in run.err
    assert "Traceback" not in run.err
    data = overlock("check", "-m", str(manifest), "--json").json()
    assert data["ok"] is False and data["error"] == "SyncError"


# -- the lock records the base -----------------------------------------------------------


def test_lock_records_base_distributions_sorted_and_round_trips() -> None:
    lock = Lock(
        packages=(),
        base_fingerprint="sha256:x",
        manifest_hash="sha256:y",
        base_python_version="3.11.7",
        base_distributions=("zeta==1.0", "alpha==2.0"),
    )
    text = lock.dumps()
    assert 'distributions = [\n    "alpha==2.0",\n    "zeta==1.0",\n]' in text
    again = Lock.loads(text)
    assert again.base_distributions == ("alpha==2.0", "zeta==1.0")
    assert again.dumps() == text

    empty = dataclasses.replace(lock, base_distributions=())
    assert Lock.loads(empty.dumps()).base_distributions == ()
    absent = dataclasses.replace(lock, base_distributions=None)
    assert Lock.loads(absent.dumps()).base_distributions is None


def test_on_a_conda_like_base(
    tmp_path: Path,
    index: PackageIndex,
    make_base: MakeBase,
    make_wheel: MakeWheel,
    overlock: CLI,
) -> None:
    made = make_base("conda", wheels=[make_wheel(name="alpha", version="1.0")])
    index.add_spec(WheelSpec("alpha", "2.0"))
    manifest = write_manifest(tmp_path / "p", made, ["alpha>=2"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert overlock("sync", "-m", str(manifest)).code == 0
    project = Project(made, manifest, overlock)

    run = project.check()
    assert run.code == 0, run.out + run.err
    assert "1 shadowing package(s) are imported from the overlay" in run.out

    redeploy(made, make_wheel(name="alpha", version="2.0"))
    data = project.check_json()
    assert [(f["kind"], f["severity"]) for f in data["findings"]] == [
        ("drift", WARNING),
        ("redundant", WARNING),
    ]


def test_an_edited_activation_bootstrap_is_reported(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(make_base().prefix)
    lock = make_lock(make_wheel(name="alpha", version="2.0"))
    prefix = tmp_path / "ov"
    sync(lock, env, prefix, fetch=FileFetcher())
    state = read_state(prefix)
    assert state is not None
    assert check_integrity(lock, env, prefix, state, scan_prefix(env, prefix)).ok

    boot = prefix / ".overlock" / "boot" / "sitecustomize.py"
    boot.write_text(boot.read_text() + "\nprint('hello')\n")
    section = check_integrity(lock, env, prefix, state, scan_prefix(env, prefix))

    [finding] = section.findings
    assert finding.subject == ".overlock/boot/sitecustomize.py"
    assert finding.message == (
        "the activation bootstrap .overlock/boot/sitecustomize.py differs from what"
        " `overlock sync` wrote"
    )


def test_a_base_interpreter_that_cannot_report_is_a_clear_finding(
    make_base: MakeBase, make_wheel: MakeWheel, tmp_path: Path
) -> None:
    env = probe(make_base(wheels=[make_wheel(name="alpha", version="1.0")]).prefix)
    lock = make_lock(make_wheel(name="alpha", version="2.0"))
    prefix = tmp_path / "ov"
    sync(lock, env, prefix, fetch=FileFetcher())

    def broken(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "Fatal Python error: init_fs_encoding\n")

    section = check_shadows(env, prefix, scan_prefix(env, prefix), runner=broken)

    assert not section.ok
    [finding] = section.findings
    assert finding.message == (
        "the base interpreter with the overlay active failed to report what it imports"
    )
    assert finding.details == ("exit status 1: Fatal Python error: init_fs_encoding",)


def test_a_prefix_an_older_overlock_wrote_is_rebuilt_by_sync_not_reported_as_edited(
    hotfix: Project,
) -> None:
    # As an older overlock left it: other bootstrap code, and no digest of it in the layout.
    state_file = hotfix.prefix / ".overlock" / "state.json"
    state = json.loads(state_file.read_text())
    del state["layout"]["bootstrap-code"]
    state_file.write_text(json.dumps(state))
    boot = hotfix.prefix / ".overlock" / "boot" / "sitecustomize.py"
    boot.write_text("# the bootstrap of an older overlock\n" + boot.read_text())
    generation = hotfix.prefix.resolve()

    run = hotfix.check()
    assert run.code == 1
    assert "built for another base layout (bootstrap-code)" in run.out, run.out
    assert "differs from what `overlock sync` wrote" not in run.out
    assert "run `overlock sync` to rebuild it" in run.err

    synced = hotfix.overlock("sync", "-m", str(hotfix.manifest))
    assert synced.code == 0, synced.err
    assert hotfix.prefix.resolve() != generation  # rebuilt, not "nothing to do"
    assert not boot.read_text().startswith("# the bootstrap of an older overlock")
    assert hotfix.check().code == 0
