# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""`overlock lock` on real bases against the harness's real HTTP index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from packaging.pylock import Pylock

from harness.bases import Base, other_pythons
from harness.index import PackageIndex
from harness.project import picks, write_manifest
from harness.wheels import WheelSpec, build_sdist
from overlock.lock.pylock import read_lock


def publish(index: PackageIndex, *specs: WheelSpec, **kw: Any) -> None:
    for spec in specs:
        index.add_spec(spec, **kw)


# -- the everyday cases --------------------------------------------------------------------


def test_addition_whose_dependencies_the_base_has(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="numpyish", version="1.26.0")])
    publish(
        index,
        WheelSpec("numpyish", "1.26.0"),
        WheelSpec("numpyish", "2.0.0"),
        WheelSpec("plotter", "0.13.2", requires=("numpyish>=1.20",)),
    )
    manifest = write_manifest(tmp_path / "p", base, ["plotter==0.13.2"], index=index)
    before = base.checksum()

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {"plotter": "0.13.2"}
    # The base copy was accepted, so the index was never asked about numpyish.
    assert index.count("/simple/numpyish/*") == 0
    assert base.checksum() == before


def test_addition_needing_packages_the_base_lacks(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="numpyish", version="1.26.0")])
    publish(
        index,
        WheelSpec("numpyish", "2.0.0"),
        WheelSpec("tablekit", "2.0.3", requires=("numpyish>=1.21",)),
        WheelSpec("tablekit", "1.0.0"),
        WheelSpec("plotter", "0.13.2", requires=("numpyish>=1.20", "tablekit>=1.2")),
    )
    manifest = write_manifest(tmp_path / "p", base, ["plotter"], index=index)

    assert overlock("lock", "-m", str(manifest)).code == 0
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {"plotter": "0.13.2", "tablekit": "2.0.3"}
    by_name = lock.by_name
    assert by_name["tablekit"].required_by == ("plotter 0.13.2",)
    assert by_name["plotter"].requested == ("plotter",)
    assert by_name["plotter"].dependencies == ("tablekit",)
    assert by_name["plotter"].shadows is None


def test_upgrade_needing_a_newer_dependency_shadows_it_with_least_change(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(
        wheels=[
            make_wheel(name="app", version="1.0", requires=("corelib>=1",)),
            make_wheel(name="corelib", version="1.0"),
        ]
    )
    publish(
        index,
        WheelSpec("app", "2.0", requires=("corelib>=2",)),
        WheelSpec("corelib", "2.0"),
        WheelSpec("corelib", "2.1"),
        WheelSpec("corelib", "3.0"),
    )
    manifest = write_manifest(tmp_path / "p", base, ["app>=2"], index=index)

    assert overlock("lock", "-m", str(manifest)).code == 0
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    # corelib is shadowed only because app needs it, so the closest release wins, not 3.0.
    assert picks(lock) == {"app": "2.0", "corelib": "2.0"}
    assert lock.by_name["corelib"].shadows == "1.0"
    assert lock.by_name["corelib"].required_by == ("app 2.0",)
    assert lock.by_name["app"].shadows == "1.0"


def _capped_base(make_base: Any, make_wheel: Any) -> Base:
    base: Base = make_base(
        wheels=[
            make_wheel(name="requests", version="2.28.2", requires=("urllib3<1.27,>=1.21.1",)),
            make_wheel(name="urllib3", version="1.26.15"),
        ]
    )
    return base


def test_upgrade_violating_a_base_cap_shadows_the_capping_package_in_auto_mode(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = _capped_base(make_base, make_wheel)
    publish(
        index,
        WheelSpec("urllib3", "2.2.3"),
        WheelSpec("requests", "2.29.0", requires=("urllib3<1.27,>=1.21.1",)),
        WheelSpec("requests", "2.30.0", requires=("urllib3<3,>=1.21.1",)),
        WheelSpec("requests", "2.32.3", requires=("urllib3<3,>=1.21.1",)),
    )
    manifest = write_manifest(tmp_path / "p", base, ["urllib3==2.2.3"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    # 2.30.0 is the release closest to the base's 2.28.2 that accepts urllib3 2.
    assert picks(lock) == {"urllib3": "2.2.3", "requests": "2.30.0"}
    assert lock.by_name["requests"].kept_for == ("urllib3 2.2.3",)
    assert lock.by_name["requests"].shadows == "2.28.2"
    assert "shadowed to stay compatible with urllib3 2.2.3" in run.out


def test_upgrade_violating_a_base_cap_is_a_conflict_in_explicit_mode(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = _capped_base(make_base, make_wheel)
    publish(
        index,
        WheelSpec("urllib3", "2.2.3"),
        WheelSpec("requests", "2.30.0", requires=("urllib3<3,>=1.21.1",)),
    )
    manifest = write_manifest(
        tmp_path / "p", base, ["urllib3==2.2.3"], index=index, shadow="explicit"
    )

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 1
    assert (
        "urllib3==2.2.3 (requested in overlay.toml) conflicts with requests 2.28.2 (base),"
        " which requires urllib3<1.27,>=1.21.1" in run.err
    )
    assert 'add "requests>=2.30.0" to requires to shadow it' in run.err
    assert "Traceback" not in run.err
    assert not (manifest.parent / "pylock.overlay.toml").exists()

    as_json = overlock("lock", "-m", str(manifest), "--json")
    assert as_json.code == 1
    data = as_json.json()
    assert data["ok"] is False
    [conflict] = data["conflicts"]
    assert conflict["package"] == "urllib3"
    parents = {r["parent"] for r in conflict["requirements"]}
    assert parents == {None, "requests 2.28.2"}

    # Naming requests in requires allows shadowing it even in explicit mode.
    write_manifest(
        tmp_path / "p",
        base,
        ["urllib3==2.2.3", "requests>=2.30"],
        index=index,
        shadow="explicit",
    )
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {
        "urllib3": "2.2.3",
        "requests": "2.30.0",
    }


def test_impossible_request_names_both_sides(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(
        wheels=[
            make_wheel(name="scipyish", version="1.10.1", requires=("numpyish<1.27,>=1.19.5",)),
            make_wheel(name="numpyish", version="1.24.0"),
        ]
    )
    # No release of scipyish accepts numpyish 2: nothing can be shadowed to fix it.
    publish(
        index,
        WheelSpec("numpyish", "2.0.0"),
        WheelSpec("scipyish", "1.11.0", requires=("numpyish<1.28,>=1.21",)),
    )
    manifest = write_manifest(tmp_path / "p", base, ["numpyish>=2"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 1
    assert "numpyish>=2 (requested in overlay.toml)" in run.err
    assert "scipyish" in run.err and "numpyish<1.2" in run.err
    assert "Traceback" not in run.err


def test_no_release_at_all_says_what_the_index_has(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    publish(index, WheelSpec("tool", "1.0"), WheelSpec("tool", "1.1"))
    manifest = write_manifest(tmp_path / "p", base, ["tool>=2", "ghost"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 1
    assert "no release of" in run.err
    assert ("index has 1.1, 1.0" in run.err) or ("no usable release of it" in run.err)


# -- judged for the base interpreter ---------------------------------------------------------


def _other_python() -> Path:
    pythons = other_pythons()
    if not pythons:
        pytest.skip("no interpreter of another Python version on this machine")
    # The newest: other_pythons() is ordered by version (never compare version strings).
    return list(pythons.values())[-1]


def test_markers_extras_requires_python_and_tags_are_judged_for_the_base(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    other = _other_python()
    base = make_base(python=other)
    probe = base.run("import sys; print('%d%d' % sys.version_info[:2])")
    nodot = probe.stdout.strip()
    runner = "{}{}".format(*sys.version_info[:2])
    assert nodot != runner
    publish(
        index,
        # A compiled-looking wheel for the runner's Python only, and a pure fallback.
        WheelSpec("fastlib", "2.0", tag=f"cp{runner}-cp{runner}-manylinux_2_17_x86_64"),
        WheelSpec("fastlib", "1.5"),
        # Requires-Python that only the base's version satisfies (or does not).
        WheelSpec("newlib", "2.0", requires_python=f"=={nodot[0]}.{nodot[1:]}.*"),
        WheelSpec("newlib", "1.0"),
        WheelSpec("markerdep", "1.0"),
        WheelSpec("runneronly", "1.0"),
        WheelSpec("extradep", "1.0"),
        WheelSpec(
            "withmarkers",
            "1.0",
            requires=(
                f"markerdep; python_version == '{nodot[0]}.{nodot[1:]}'",
                f"runneronly; python_version == '{runner[0]}.{runner[1:]}'",
            ),
            extras={"fast": ("extradep",)},
        ),
    )
    manifest = write_manifest(
        tmp_path / "p",
        base,
        [
            "fastlib",
            "newlib",
            "withmarkers[fast]",
            f"skipped; python_version == '{runner[0]}.{runner[1:]}'",
        ],
        index=index,
    )

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {
        "fastlib": "1.5",  # the runner-only compiled wheel is not for this base
        "newlib": "2.0",  # Requires-Python judged for the base's version
        "withmarkers": "1.0",
        "markerdep": "1.0",  # its marker holds for the base, not for the runner
        "extradep": "1.0",  # the [fast] extra was honoured
    }
    assert lock.base_python_version.startswith(f"{nodot[0]}.{nodot[1:]}.")
    assert index.count("/simple/skipped/*") == 0


def test_requires_python_excludes_releases_for_the_base(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    publish(
        index,
        WheelSpec("modern", "3.0", requires_python=">=3.99"),
        WheelSpec("modern", "2.0", requires_python=">=3.8"),
    )
    manifest = write_manifest(tmp_path / "p", base, ["modern"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {"modern": "2.0"}


# -- bases as they really are -----------------------------------------------------------------


def test_a_prebroken_base_is_tolerated_and_reported_once(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(
        wheels=[
            make_wheel(name="oldtool", version="1.0", requires=("zlibish>=2", "missingdep")),
            make_wheel(name="zlibish", version="1.0"),
        ]
    )
    publish(index, WheelSpec("zlibish", "2.5"), WheelSpec("extra", "1.0", requires=("zlibish",)))
    manifest = write_manifest(tmp_path / "p", base, ["extra"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    # The base's breakage is not "fixed" behind the user's back: zlibish stays the base's.
    assert picks(lock) == {"extra": "1.0"}
    assert len(lock.preexisting) == 2
    assert any("zlibish>=2" in p and "base has zlibish 1.0" in p for p in lock.preexisting)
    assert any("missingdep" in p for p in lock.preexisting)
    assert "already inconsistent in 2 place(s)" in run.err

    # An edge that was broken before the overlay does not block it either: oldtool wanted
    # zlibish>=2 and had 1.0; with 1.5 it is no worse off, so 1.5 may be shadowed in.
    publish(index, WheelSpec("zlibish", "1.5"))
    write_manifest(tmp_path / "p", base, ["zlibish==1.5"], index=index)
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {"zlibish": "1.5"}


def test_conda_shaped_base(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base("conda", wheels=[make_wheel(name="corelib", version="1.0")])
    publish(index, WheelSpec("corelib", "2.0"), WheelSpec("app", "1.0", requires=("corelib>=2",)))
    manifest = write_manifest(tmp_path / "p", base, ["app"], index=index)
    before = base.checksum()

    assert overlock("lock", "-m", str(manifest)).code == 0
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert picks(lock) == {"app": "1.0", "corelib": "2.0"}
    assert lock.by_name["corelib"].shadows == "1.0"
    assert base.checksum() == before


def test_a_large_base_costs_no_index_requests(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    wheels = [make_wheel(name="corelib", version="1.0")]
    for i in range(150):
        wheels.append(make_wheel(name=f"basepkg{i}", version="1.0", requires=("corelib>=1",)))
    base = make_base(wheels=wheels)
    publish(index, WheelSpec("newthing", "1.0", requires=("corelib>=1", "basepkg7")))
    manifest = write_manifest(tmp_path / "p", base, ["newthing"], index=index)
    index.reset_log()

    assert overlock("lock", "-m", str(manifest)).code == 0
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {"newthing": "1.0"}
    pages = [r.path for r in index.requests if r.path.startswith("/simple/")]
    assert pages == ["/simple/newthing/"]


# -- index behaviour that matters to the lock ---------------------------------------------------


def test_yanked_releases_only_when_pinned(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("flaky", "1.0"))
    index.add_spec(WheelSpec("flaky", "2.0"), yanked="broken upload")
    manifest = write_manifest(tmp_path / "p", base, ["flaky"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {"flaky": "1.0"}

    write_manifest(tmp_path / "p", base, ["flaky==2.0"], index=index)
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert picks(read_lock(manifest.parent / "pylock.overlay.toml")) == {"flaky": "2.0"}


def test_sdist_only_package_is_a_clear_error(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    index.add(build_sdist("sourceonly", "1.0", tmp_path / "sd"))
    manifest = write_manifest(tmp_path / "p", base, ["sourceonly"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 1
    assert "sourceonly" in run.err and "source distribution" in run.err
    assert "Traceback" not in run.err


def test_direct_reference_to_a_wheel(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="patched", version="1.0")])
    wheel = make_wheel(name="patched", version="1.0.post1")
    publish(index, WheelSpec("patched", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, [f"patched @ {wheel.as_uri()}"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    [pkg] = lock.packages
    assert (pkg.name, pkg.version, pkg.shadows) == ("patched", "1.0.post1", "1.0")
    assert pkg.is_direct and pkg.file.url == wheel.as_uri()


def test_credentials_never_reach_the_lock_or_the_output(
    tmp_path: Path, make_base: Any, overlock: Any
) -> None:
    with PackageIndex(tmp_path / "secret-index", auth=("alice", "s3cr3t-pw")) as index:
        index.add_spec(WheelSpec("private", "1.0"))
        base = make_base()
        manifest = write_manifest(tmp_path / "p", base, ["private"], index=index)
        assert "s3cr3t-pw" in index.url  # the manifest really carries them

        run = overlock("lock", "-m", str(manifest), "--json")

        assert run.code == 0, run.err
        text = (manifest.parent / "pylock.overlay.toml").read_text()
        assert "private-1.0-py3-none-any.whl" in text
        for blob in (text, run.out, run.err):
            assert "s3cr3t-pw" not in blob
            assert "alice:" not in blob


# -- the lock file itself --------------------------------------------------------------------


def test_lock_is_valid_pep751_and_byte_identical_across_runs(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = _capped_base(make_base, make_wheel)
    publish(
        index,
        WheelSpec("urllib3", "2.2.3"),
        WheelSpec("requests", "2.30.0", requires=("urllib3<3,>=1.21.1", "idnaish")),
        WheelSpec("idnaish", "3.4"),
    )
    manifest = write_manifest(tmp_path / "p", base, ["urllib3>=2"], index=index)
    lock_file = manifest.parent / "pylock.overlay.toml"

    assert overlock("lock", "-m", str(manifest)).code == 0
    first = lock_file.read_bytes()
    lock_file.unlink()
    assert overlock("lock", "-m", str(manifest)).code == 0
    assert lock_file.read_bytes() == first

    pylock = Pylock.from_dict(tomlkit.parse(first.decode()).unwrap())
    pylock.validate()
    names = {p.name for p in pylock.packages}
    assert names == {"urllib3", "requests", "idnaish"}
    for package in pylock.packages:
        [wheel] = package.wheels or []
        assert wheel.url and wheel.size and wheel.hashes["sha256"]
    tool = (pylock.tool or {})["overlock"]
    assert tool["base-fingerprint"].startswith("sha256:")
    assert tool["manifest-hash"].startswith("sha256:")


def test_snapshot_lock_equals_live_lock(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = _capped_base(make_base, make_wheel)
    publish(
        index,
        WheelSpec("urllib3", "2.2.3"),
        WheelSpec("requests", "2.30.0", requires=("urllib3<3,>=1.21.1",)),
    )
    live = write_manifest(tmp_path / "live", base, ["urllib3>=2"], index=index)
    assert overlock("lock", "-m", str(live)).code == 0

    snapshot = tmp_path / "base.json"
    run = overlock("base", "snapshot", "--base", str(base.prefix), "-o", str(snapshot))
    assert run.code == 0, run.err
    frozen = write_manifest(
        tmp_path / "frozen", None, ["urllib3>=2"], index=index, snapshot=snapshot
    )
    assert overlock("lock", "-m", str(frozen)).code == 0

    live_lock = read_lock(live.parent / "pylock.overlay.toml")
    frozen_lock = read_lock(frozen.parent / "pylock.overlay.toml")
    assert frozen_lock.packages == live_lock.packages
    assert frozen_lock.base_fingerprint == live_lock.base_fingerprint
    # The manifests differ (base vs base-snapshot), so only their hashes may differ.
    assert frozen_lock.base_python == live_lock.base_python


def test_check_and_dry_run(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(wheels=[make_wheel(name="corelib", version="1.0")])
    publish(index, WheelSpec("corelib", "2.0"), WheelSpec("app", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["app"], index=index)
    lock_file = manifest.parent / "pylock.overlay.toml"

    assert overlock("lock", "-m", str(manifest), "--check").code == 1  # missing
    dry = overlock("lock", "-m", str(manifest), "--dry-run")
    assert dry.code == 0 and "app 1.0" in dry.out
    assert not lock_file.exists()

    assert overlock("lock", "-m", str(manifest)).code == 0
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    mtime = lock_file.stat().st_mtime_ns
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    assert lock_file.stat().st_mtime_ns == mtime

    # A comment is not a change; a new requirement is.
    manifest.write_text("# a comment\n" + manifest.read_text())
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    write_manifest(tmp_path / "p", base, ["app", "corelib>=2"], index=index)
    stale = overlock("lock", "-m", str(manifest), "--check", "--json")
    assert stale.code == 1
    assert stale.json()["manifest_changed"] is True

    # The base drifting under the lock is noticed too.
    write_manifest(tmp_path / "p", base, ["app"], index=index)
    assert overlock("lock", "-m", str(manifest), "--check").code == 0
    base.install(make_wheel(name="newcomer", version="0.1"))
    drift = overlock("lock", "-m", str(manifest), "--check")
    assert drift.code == 1
    assert "base changed" in drift.out


def test_lock_with_nothing_changed_keeps_the_lock_and_upgrade_resolves_again(
    tmp_path: Path, index: PackageIndex, make_base: Any, overlock: Any
) -> None:
    base = make_base()
    publish(index, WheelSpec("app", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["app"], index=index)
    lock_file = manifest.parent / "pylock.overlay.toml"
    assert overlock("lock", "-m", str(manifest)).code == 0
    first = lock_file.read_bytes()
    requests = index.count("/simple/app/*")

    # A newer release appears; nothing the lock was made from changed, so it stays.
    publish(index, WheelSpec("app", "1.1"))
    same = overlock("lock", "-m", str(manifest), "--json")
    assert same.code == 0, same.err
    assert same.json()["current"] is True
    assert [p["version"] for p in same.json()["packages"]] == ["1.0"]
    assert "is up to date" in same.err and "--upgrade" in same.err
    assert lock_file.read_bytes() == first
    assert index.count("/simple/app/*") == requests  # the index was not asked

    upgraded = overlock("lock", "-m", str(manifest), "--upgrade")
    assert upgraded.code == 0, upgraded.err
    assert "~ app 1.0 -> 1.1" in upgraded.out
    assert read_lock(lock_file).by_name["app"].version == "1.1"

    # A changed overlay.toml resolves again without --upgrade.
    publish(index, WheelSpec("extra", "1.0"))
    write_manifest(tmp_path / "p", base, ["app", "extra"], index=index)
    changed = overlock("lock", "-m", str(manifest))
    assert changed.code == 0 and "+ extra 1.0" in changed.out


def test_pip_constraints_are_honoured_recorded_and_make_the_lock_stale_when_they_change(
    tmp_path: Path,
    index: PackageIndex,
    make_base: Any,
    overlock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a facility's /etc/pip.conf `constraint = ...` does to pip, via PIP_CONSTRAINT.
    base = make_base()
    publish(index, WheelSpec("urllib3", "2.4.0"), WheelSpec("urllib3", "2.8.0"))
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# site policy\nurllib3<2.5  # tested with our services\n")
    monkeypatch.setenv("PIP_CONSTRAINT", str(constraints))
    manifest = write_manifest(tmp_path / "p", base, ["urllib3>=2"], index=index)
    m = str(manifest)

    assert overlock("lock", "-m", m).code == 0
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert lock.by_name["urllib3"].version == "2.4.0"
    assert lock.constraints == ("urllib3<2.5",)

    constraints.write_text("urllib3<2.3\n")
    stale = overlock("lock", "-m", m, "--check")
    assert stale.code == 1 and "pip's constraints changed" in stale.out
    refused = overlock("lock", "-m", m)
    assert refused.code == 1
    assert f"excluded by the constraint urllib3<2.3 ({constraints}:1)" in refused.err

    constraints.write_text("-r other.txt\n")
    bad = overlock("lock", "-m", m)
    assert bad.code == 2 and f"{constraints}:1: pip option -r" in bad.err


def test_pip_index_options_on_the_command_line_apply_to_this_run(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    import shutil

    base = make_base()
    publish(index, WheelSpec("tool", "1.0"))
    manifest = write_manifest(tmp_path / "p", base, ["tool"], index=index)
    m = str(manifest)
    lock_file = manifest.parent / "pylock.overlay.toml"
    with PackageIndex(tmp_path / "mirror") as mirror:
        mirror.add_spec(WheelSpec("tool", "2.0"))
        # --index-url replaces overlay.toml's primary index for this run only.
        run = overlock("lock", "-m", m, "--index-url", mirror.url)
        assert run.code == 0, run.err
        assert read_lock(lock_file).by_name["tool"].version == "2.0"
        assert mirror.url.rstrip("/") in lock_file.read_text()
        assert index.count("/simple/tool/*") == 0
        # --extra-index-url adds it: the newest of both.
        run = overlock("lock", "-m", m, "-U", "--extra-index-url", mirror.url)
        assert run.code == 0, run.err
        assert read_lock(lock_file).by_name["tool"].version == "2.0"
    # --no-index with --find-links: a directory of wheels, nothing else.
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(make_wheel(name="tool", version="3.0"), links)
    run = overlock("lock", "-m", m, "--no-index", "--find-links", str(links))
    assert run.code == 0, run.err
    assert read_lock(lock_file).by_name["tool"].version == "3.0"
    # overlay.toml is unchanged, and so is what a plain lock asks.
    assert "links" not in manifest.read_text()
    assert overlock("lock", "-m", m, "-U").code == 0
    assert read_lock(lock_file).by_name["tool"].version == "1.0"


# -- bad input ----------------------------------------------------------------------------------


def test_bad_manifest_exits_2_with_every_problem(tmp_path: Path, overlock: Any) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "overlay.toml").write_text(
        '[overlay]\nbse = "/x"\nprefix = "o"\nrequires = ["ok", "numpy>>1"]\n'
        '[resolve]\nshadow = "sometimes"\n'
    )
    run = overlock("lock", "-m", str(project / "overlay.toml"))
    assert run.code == 2
    assert "line 2" in run.err and "base" in run.err
    assert "numpy>>1" in run.err
    assert "sometimes" in run.err
    assert "Traceback" not in run.err


def test_unreachable_base_exits_2(tmp_path: Path, overlock: Any) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "overlay.toml").write_text(
        f'[overlay]\nbase = "{tmp_path / "nowhere"}"\nprefix = "o"\nrequires = []\n'
    )
    run = overlock("lock", "-m", str(project / "overlay.toml"))
    assert run.code == 2
    assert "nowhere" in run.err


def test_missing_manifest_exits_2(tmp_path: Path, overlock: Any) -> None:
    run = overlock("lock", "-m", str(tmp_path / "overlay.toml"))
    assert run.code == 2
    assert "overlock init" in run.err


def test_console_script_entry_point(tmp_path: Path) -> None:
    """`python -m overlock` and `--version` work from a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "overlock", "--version"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("overlock ")


def test_without_an_index_table_the_pip_configuration_applies(
    tmp_path: Path,
    index: PackageIndex,
    make_base: Any,
    overlock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = make_base()
    index.add_spec(WheelSpec("viaenv", "1.0"))
    with PackageIndex(tmp_path / "extra-index") as extra:
        extra.add_spec(WheelSpec("viaextra", "2.0"))
        manifest = write_manifest(tmp_path / "p", base, ["viaenv", "viaextra"])
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", extra.url)

        run = overlock("lock", "-m", str(manifest))

        assert run.code == 0, run.err
        lock = read_lock(manifest.parent / "pylock.overlay.toml")
        assert picks(lock) == {"viaenv": "1.0", "viaextra": "2.0"}
        assert lock.by_name["viaextra"].index == extra.url


def test_extras_of_a_base_package_add_only_the_extras_dependencies(
    tmp_path: Path, index: PackageIndex, make_base: Any, make_wheel: Any, overlock: Any
) -> None:
    base = make_base(
        wheels=[make_wheel(name="webclient", version="1.0", extras={"socks": ("socksy>=1.5",)})]
    )
    publish(
        index,
        WheelSpec("webclient", "1.1", extras={"socks": ("socksy>=1.5",)}),
        WheelSpec("socksy", "1.4"),
        WheelSpec("socksy", "1.7"),
    )
    manifest = write_manifest(tmp_path / "p", base, ["webclient[socks]"], index=index)

    run = overlock("lock", "-m", str(manifest))

    assert run.code == 0, run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    # The base's webclient serves; its [socks] extra brings in socksy, which the base lacks.
    assert picks(lock) == {"socksy": "1.7"}
    assert lock.by_name["socksy"].required_by == ("webclient[socks] 1.0",)
