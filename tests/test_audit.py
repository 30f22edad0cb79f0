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
