"""``overlock audit``: several overlays against a changed base snapshot, real CLI and index."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bases import MakeBase, tree_checksum
from harness.index import PackageIndex
from harness.project import Run
from harness.wheels import MakeWheel, WheelSpec

Overlock = Callable[..., Run]

pytestmark = pytest.mark.slow


def _overlay(
    root: Path, name: str, base: str, requires: list[str], url: str, extra: str = ""
) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    path = directory / "overlay.toml"
    path.write_text(
        f'[overlay]\nbase = "{base}"\nprefix = "overlay/{{name}}"\nname = "{name}"\n'
        f'requires = {json.dumps(requires)}\n\n[index]\nurls = ["{url}"]\n{extra}'
    )
    return path


def test_audit_reports_each_overlay_against_a_changed_snapshot(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
) -> None:
    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="scanlib", version="1.4.0", requires=("hdfio>=2,<3",)),
            make_wheel(name="hdfio", version="2.1.0"),
        ],
    )
    for version in ("2.1.0", "2.2.0", "3.0.0"):
        index.add_spec(WheelSpec("hdfio", version))
    index.add_spec(WheelSpec("scanlib", "1.4.0", requires=("hdfio>=2,<3",)))
    index.add_spec(WheelSpec("scanlib", "1.5.0", requires=("hdfio>=3",)))
    index.add_spec(WheelSpec("netlib", "2.0", requires=("hdfio>=2",)))
    index.add_spec(WheelSpec("calib", "1.0"))
    root = tmp_path / "overlays"
    b, url = str(base.prefix), index.url
    manifests = {
        "fix": _overlay(root, "fix", b, ["hdfio>=3"], url),
        "legacy": _overlay(
            root, "legacy", b, ["hdfio<3"], url, '\n[resolve]\nshadow = "explicit"\n'
        ),
        "plain": _overlay(root, "plain", b, ["calib"], url),
        "plot": _overlay(root, "plot", b, ["netlib"], url),
        "plot-too": _overlay(root, "plot-too", b, ["netlib"], url),
    }
    for m in manifests.values():
        run = overlock("lock", "-m", str(m))
        assert run.code == 0, run.err

    # The base the facility plans to deploy: hdfio 3, scanlib 1.5.0 (needs hdfio>=3), calib.
    snapshot = tmp_path / "next.json"
    assert overlock("base", "snapshot", "--base", b, "-o", str(snapshot)).code == 0
    data = json.loads(snapshot.read_text())
    for dist in data["distributions"]:
        if dist["name"] == "hdfio":
            dist["version"] = "3.0.0"
        if dist["name"] == "scanlib":
            dist["version"], dist["requires"] = "1.5.0", ["hdfio>=3"]
    data["distributions"].append(
        {**data["distributions"][0], "name": "calib", "version": "1.0", "requires": []}
    )
    snapshot.write_text(json.dumps(data))
    before = (tree_checksum(root), base.checksum())

    run = overlock("audit", "--base", str(snapshot), "--json", *map(str, manifests.values()))
    assert run.code == 1, run.err
    report = run.json()
    verdicts = {v["name"]: v for v in report["overlays"]}
    assert {n: v["status"] for n, v in verdicts.items()} == {
        "fix": "changes",
        "legacy": "breaks",
        "plain": "changes",
        "plot": "unchanged",
        "plot-too": "unchanged",
    }
    fix = verdicts["fix"]
    assert [r["name"] for r in fix["redundant"]] == ["hdfio"]
    assert fix["redundant"][0]["base"] == "3.0.0"
    # Both leave the overlay for the new base's copies: moves to the base.
    assert {(c["name"], c["new"], c["to_base"]) for c in fix["changes"]} == {
        ("hdfio", "3.0.0", True),
        ("scanlib", "1.5.0", True),
    }
    assert [r["name"] for r in verdicts["plain"]["redundant"]] == ["calib"]
    assert "scanlib 1.5.0 (base)" in verdicts["legacy"]["problem"]
    assert verdicts["plot-too"]["shared"] and report["resolutions"] == 4
    assert not report["ok"]

    text = overlock("audit", "--base", str(snapshot), *map(str, manifests.values()))
    assert text.code == 1
    assert "✗ legacy" in text.out and "BREAKS" in text.out
    assert "redundant hot-fix: hdfio: the new base's 3.0.0 satisfies `hdfio>=3`" in text.out
    assert "2 unchanged, 2 would change, 1 break" in text.out
    # Audit writes nothing: no lock, manifest or prefix changed; the base neither.
    assert (tree_checksum(root), base.checksum()) == before

    fine = overlock("audit", "--base", str(snapshot), str(manifests["plot"]))
    assert fine.code == 0, fine.out + fine.err


def test_audit_judges_local_and_git_sources_as_locked_without_building(
    make_base: MakeBase,
    make_wheel: MakeWheel,
    index: PackageIndex,
    tmp_path: Path,
    overlock: Overlock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.sources import commit_all, git_init, write_project

    base = make_base(
        "venv",
        wheels=[
            make_wheel(name="scanlib", version="1.4.0", requires=("hdfio>=2,<3",)),
            make_wheel(name="hdfio", version="2.1.0"),
        ],
    )
    for version in ("2.1.0", "2.2.0", "3.0.0"):
        index.add_spec(WheelSpec("hdfio", version))
    root = tmp_path / "overlays"
    tree = write_project(tmp_path / "src" / "mytool", "mytool", "0.3", requires=["hdfio>=2"])
    repo = git_init(tmp_path / "repo")
    write_project(repo, "gitpkg", "1.0", requires=["hdfio<3"])
    commit_all(repo, "first")
    entries = {
        "local": f'{{ name = "mytool", path = "{tree}" }}',
        "gitty": json.dumps(f"gitpkg @ git+{repo.as_uri()}@main"),
    }
    manifests = {}
    for name, entry in entries.items():
        (root / name).mkdir(parents=True)
        manifests[name] = root / name / "overlay.toml"
        manifests[name].write_text(
            f'[overlay]\nbase = "{base.prefix}"\nprefix = "overlay/{{name}}"\nname = "{name}"\n'
            f'requires = [{entry}]\n\n[index]\nurls = ["{index.url}"]\n'
        )
        run = overlock("lock", "-m", str(manifests[name]))
        assert run.code == 0, run.err
    manifests["plain"] = _overlay(root, "plain", str(base.prefix), ["hdfio>=2.2"], index.url)
    assert overlock("lock", "-m", str(manifests["plain"])).code == 0

    # Next base: hdfio 3 and a scanlib that needs it; no older scanlib on the index.
    snapshot = tmp_path / "next.json"
    assert overlock("base", "snapshot", "--base", str(base.prefix), "-o", str(snapshot)).code == 0
    data = json.loads(snapshot.read_text())
    for dist in data["distributions"]:
        if dist["name"] == "hdfio":
            dist["version"] = "3.0.0"
        if dist["name"] == "scanlib":
            dist["version"], dist["requires"] = "1.5.0", ["hdfio>=3"]
    snapshot.write_text(json.dumps(data))
    before = (tree_checksum(root), tree_checksum(tree), tree_checksum(repo))
    log = tmp_path / "hooks.log"
    monkeypatch.setenv("TINYBUILD_LOG", str(log))

    run = overlock("audit", "--base", str(snapshot), "--json", *map(str, manifests.values()))
    assert run.code == 1, run.err
    verdicts = {v["name"]: v for v in run.json()["overlays"]}
    assert {n: v["status"] for n, v in verdicts.items()} == {
        "local": "unchanged",  # mytool 0.3 (hdfio>=2, as locked) takes the new base's hdfio
        "gitty": "breaks",  # gitpkg at its locked commit needs hdfio<3; scanlib 1.5.0 >=3
        "plain": "changes",
    }, verdicts
    problem = verdicts["gitty"]["problem"]
    assert "gitpkg 1.0 (direct reference), which requires hdfio<3" in problem, problem
    assert "scanlib 1.5.0 (base), which requires hdfio>=3" in problem, problem
    assert not log.exists(), "audit ran a build backend: " + log.read_text()
    assert (tree_checksum(root), tree_checksum(tree), tree_checksum(repo)) == before
