# mypy: disable-error-code="index, list-item"
# (name-keyed mappings are indexed with literal, already-normalized names like "urllib3")
"""Upstream metadata of base packages another installer put there (Debian, conda).

The stand-in for Debian's requests 2.28.1: ``reqlike 1.0`` imports ``urlish`` but its installed
metadata declares nothing (INSTALLER says ``debian``); the same release on the index requires
``urlish<2``. ``reqlike 1.1`` on the index accepts ``urlish<3``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import Base, MakeBase
from harness.index import PackageIndex
from harness.project import Run, write_manifest
from harness.wheels import MakeWheel, WheelSpec
from overlock.lock.pylock import read_lock

CLI = Callable[..., Run]


def reqlike(version: str, requires: tuple[str, ...] = ()) -> WheelSpec:
    return WheelSpec(
        name="reqlike",
        version=version,
        requires=requires,
        files={"reqlike/__init__.py": "import urlish\n"},
    )


def urlish(version: str) -> WheelSpec:
    return WheelSpec(name="urlish", version=version)


def make_foreign_base(make_base: MakeBase, make_wheel: MakeWheel, installer: str) -> Base:
    base = make_base("venv", wheels=[make_wheel(reqlike("1.0")), make_wheel(urlish("1.0"))])
    base.make_writable()
    (base.site_packages() / "reqlike-1.0.dist-info" / "INSTALLER").write_text(installer + "\n")
    return base


@pytest.fixture
def upstream_index(index: PackageIndex) -> PackageIndex:
    index.add_spec(reqlike("1.0", ("urlish<2",)))
    index.add_spec(reqlike("1.1", ("urlish<3",)))
    index.add_spec(urlish("1.0"))
    index.add_spec(urlish("2.0"))
    return index


def manifest_with(project: Path, base: Base, index: PackageIndex, policy: str | None) -> Path:
    resolve = [f'upstream-metadata = "{policy}"'] if policy is not None else []
    return write_manifest(project, base, ["urlish>=2"], index=index, resolve=resolve)


def test_warn_reports_an_upstream_cap_the_installed_copy_does_not_declare(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    upstream_index: PackageIndex,
    tmp_path: Path,
    overlock: CLI,
) -> None:
    base = make_foreign_base(make_base, make_wheel, "debian")
    manifest = manifest_with(tmp_path / "p", base, upstream_index, None)  # "warn" by default
    upstream_index.reset_log()
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    assert upstream_index.count("*reqlike*") > 0  # the page and metadata of reqlike 1.0
    assert (
        "warning: the base's reqlike 1.0 (installed by debian) declares no such requirement,"
        " but its upstream release on the index requires urlish<2: NOT satisfied by urlish 2.0"
        " in the overlay" in run.err
    )
    assert 'upstream-metadata = "enforce"' in run.err  # the hint
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert {p.name: p.version for p in lock.packages} == {"urlish": "2.0"}
    assert lock.upstream == ("reqlike 1.0 (debian): urlish<2",)

    shown = overlock("show", "-m", str(manifest))
    assert "from the index's metadata of base packages installed by another installer" in (
        shown.out
    )
    assert "  reqlike 1.0 (debian): urlish<2" in shown.out
    why = overlock("why", "urlish", "-m", str(manifest))
    assert (
        "note: base reqlike 1.0 requires urlish<2 according to the index's metadata of that"
        " release (its installed copy declares nothing), NOT satisfied by this version" in why.out
    )

    # Day two is not silent either.
    assert overlock("sync", "-m", str(manifest)).code == 0
    run = overlock("check", "-m", str(manifest))
    assert run.code == 1, run.out
    assert (
        "! upstream     the base's reqlike 1.0 (installed by debian) requires urlish<2 according"
        " to the index's metadata of that release; the overlay holds urlish 2.0" in run.out
    )


def test_enforce_shadows_the_base_package_with_a_release_that_accepts_the_overlay(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    upstream_index: PackageIndex,
    tmp_path: Path,
    overlock: CLI,
) -> None:
    base = make_foreign_base(make_base, make_wheel, "debian")
    manifest = manifest_with(tmp_path / "p", base, upstream_index, "enforce")
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0, run.err
    assert "warning:" not in run.err
    lock = read_lock(manifest.parent / "pylock.overlay.toml")
    assert {p.name: p.version for p in lock.packages} == {"reqlike": "1.1", "urlish": "2.0"}
    assert lock.by_name["reqlike"].shadows == "1.0"
    why = overlock("why", "reqlike", "-m", str(manifest))
    assert (
        "the base's reqlike 1.0 requires urlish<2 (per the index's metadata of that release;"
        " the base's copy does not declare it), which urlish 2.0 does not satisfy" in why.out
    )
    assert "(reported, not enforced)" not in overlock("show", "-m", str(manifest)).out
    assert overlock("sync", "-m", str(manifest)).code == 0
    assert overlock("check", "-m", str(manifest)).code == 0


def test_off_asks_nothing_and_a_pip_installed_base_is_not_second_guessed(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    upstream_index: PackageIndex,
    tmp_path: Path,
    overlock: CLI,
) -> None:
    foreign = make_foreign_base(make_base, make_wheel, "debian")
    manifest = manifest_with(tmp_path / "off", foreign, upstream_index, "off")
    upstream_index.reset_log()
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0 and "warning:" not in run.err, run.err
    assert upstream_index.count("*reqlike*") == 0
    assert read_lock(manifest.parent / "pylock.overlay.toml").upstream == ()

    pip_base = make_foreign_base(make_base, make_wheel, "pip")
    manifest = manifest_with(tmp_path / "pip", pip_base, upstream_index, "warn")
    upstream_index.reset_log()
    run = overlock("lock", "-m", str(manifest))
    assert run.code == 0 and "warning:" not in run.err, run.err
    assert upstream_index.count("*reqlike*") == 0


def test_an_unknown_policy_is_a_manifest_error(
    make_base: MakeBase, upstream_index: PackageIndex, tmp_path: Path, overlock: CLI
) -> None:
    manifest = manifest_with(tmp_path / "p", make_base(), upstream_index, "strict")
    run = overlock("lock", "-m", str(manifest))
    assert run.code != 0
    assert (
        '[resolve] upstream-metadata: "strict" is not a policy; use one of "warn", "enforce",'
        ' "off"' in run.err
    )
    assert "Traceback" not in run.err
