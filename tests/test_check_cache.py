"""`overlock check` keeps the import verification's verdict per generation and base, and
runs its slow checks in parallel: a kept verdict is reused, and never hides a real problem."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.index import PackageIndex
from harness.wheels import MakeWheel, WheelSpec
from overlock.app.overlay import Overlay
from overlock.base.env import probe
from overlock.cache import Cache
from overlock.check import check_overlay
from test_check import Project, hotfix, redeploy
from test_layers import Overlock, Stack, _manifest, stack

__all__ = ["hotfix", "stack"]  # the fixtures, used by name


def kept_verdicts() -> list[Path]:
    root = Path(os.environ["OVERLOCK_CACHE_DIR"]) / "check-imports"
    return sorted(root.glob("*/*.json"))


def plant(entry: Path, summary: str) -> None:
    """Rewrite a kept verdict's summary: it shows whether the next check reused it."""
    data = json.loads(entry.read_text())
    data["summary"] = summary
    entry.write_text(json.dumps(data))


def imports_line(out: str) -> str:
    return next(line for line in out.splitlines() if "imports" in line.split()[:2])


def test_a_kept_verdict_is_reused_while_generation_and_base_are_unchanged(
    hotfix: Project,
) -> None:
    assert kept_verdicts() == []  # sync's own import check keeps nothing

    first = hotfix.check()

    assert first.code == 0, first.out + first.err
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: reused")
    again = hotfix.check()
    assert again.code == 0
    assert imports_line(again.out).split() == ["✓", "imports", "PLANTED:", "reused"]
    assert kept_verdicts() == [entry]


def test_a_file_edited_in_the_prefix_is_imported_again(hotfix: Project) -> None:
    assert hotfix.check().code == 0
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: all well")
    env = probe(hotfix.base.prefix)
    alpha = hotfix.prefix / env.scheme["purelib"] / "alpha" / "__init__.py"
    alpha.write_text('raise ImportError("alpha was edited in place")\n')

    run = hotfix.check()

    assert run.code == 1
    assert "✗ integrity" in run.out  # the RECORD hash check
    assert "PLANTED" not in run.out
    assert "`import alpha` of alpha (overlay) fails" in run.out
    assert "alpha was edited in place" in run.out
    # A verdict about files that are not as synced is not kept for later.
    assert kept_verdicts() == [entry]
    assert json.loads(entry.read_text())["summary"] == "PLANTED: all well"


def test_a_redeployed_base_is_imported_again(
    hotfix: Project, make_wheel: MakeWheel, index: PackageIndex
) -> None:
    assert hotfix.check().code == 0
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: all well")
    # app 1.1 works with alpha 1.x only; the overlay shadows alpha with 2.0.
    strict = WheelSpec(
        "app",
        "1.1",
        requires=("alpha>=1", "beta"),
        files={"app/__init__.py": 'import alpha\nassert alpha.__version__ == "1.0", "old alpha"\n'},
    )
    redeploy(hotfix.base, make_wheel(strict))

    run = hotfix.check()

    assert run.code == 1
    assert "PLANTED" not in run.out
    assert "`import app` of app (base) fails" in run.out
    assert len(kept_verdicts()) == 2  # one per base


def test_a_start_up_file_added_to_the_base_is_imported_again(hotfix: Project) -> None:
    """The base's names and versions stay the same: only its stat key sees the change."""
    assert hotfix.check().code == 0
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: all well")
    hotfix.base.make_writable()
    (hotfix.base.site_packages() / "zz_preload.pth").write_text("import alpha\n")
    hotfix.base.make_readonly()

    run = hotfix.check()

    assert run.code == 1
    assert "PLANTED" not in run.out
    assert "`alpha` is already loaded from" in run.out
    assert "zz_preload.pth" in run.out


def test_a_damaged_verdict_is_ignored(hotfix: Project) -> None:
    assert hotfix.check().code == 0
    [entry] = kept_verdicts()
    entry.write_text('{"format": 1, "key": "')

    run = hotfix.check()

    assert run.code == 0, run.out + run.err
    assert imports_line(run.out).endswith("import in the base interpreter")
    assert json.loads(entry.read_text())["key"] == entry.stem  # rewritten whole


@pytest.mark.parametrize("edit", [False, True])
def test_parallel_and_serial_checks_give_the_same_report(hotfix: Project, edit: bool) -> None:
    overlay = Overlay.load(hotfix.manifest)
    env = probe(hotfix.base.prefix)
    if edit:  # findings in several sections, imports among them
        alpha = hotfix.prefix / env.scheme["purelib"] / "alpha" / "__init__.py"
        alpha.write_text('raise ImportError("edited")\n')
    lock = overlay.read_lock()
    assert lock is not None

    def report(parallel: bool, cache: Cache | None) -> object:
        made = check_overlay(
            overlay.manifest, lock, env, overlay.prefix, cache=cache, parallel=parallel
        )
        return made.to_json()

    serial = report(False, None)
    assert report(True, None) == serial
    cache = Cache(Path(os.environ["OVERLOCK_CACHE_DIR"]))
    assert report(True, cache) == serial  # kept (when the files are intact) ...
    assert report(True, cache) == serial  # ... and reused: the same report
    assert report(False, cache) == serial
    assert (serial["ok"] is False) == edit  # type: ignore[index]


def test_refresh_imports_again_and_replaces_the_kept_verdict(hotfix: Project) -> None:
    assert hotfix.check().code == 0
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: all well")

    run = hotfix.check("--refresh")

    assert run.code == 0, run.out + run.err
    assert "PLANTED" not in run.out
    assert "PLANTED" not in entry.read_text()


def test_a_resynced_lower_overlay_is_imported_again(stack: Stack, overlock: Overlock) -> None:
    """The user's netlib 2.0 (shadowing the group's 1.0) imports the group's grouptool."""
    user = str(stack.user(["plotkit"]))
    for command in ("lock", "sync", "check"):
        run = overlock(command, "-m", user)
        assert run.code == 0, run.out + run.err
    [entry] = kept_verdicts()
    plant(entry, "PLANTED: all well")
    # The group maintainer drops grouptool and syncs: a new generation behind the same prefix.
    _manifest(
        stack.group.parent,
        str(stack.base.prefix),
        ["hdfio==2.2.0", "netlib==1.0"],
        stack.index,
        name="beamline-7",
    )
    for command in ("lock", "sync"):
        run = overlock(command, "-m", str(stack.group))
        assert run.code == 0, run.err

    run = overlock("check", "-m", user)

    assert run.code == 1
    assert "PLANTED" not in run.out
    assert "`import netlib` of netlib (overlay) fails" in run.out
    assert "grouptool" in imports_line(run.out)
