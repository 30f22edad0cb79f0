"""A base snapshot read twice by one process is parsed and checked once, never reused stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overlock.base.env import load_snapshot
from overlock.errors import BaseProbeError

from .values import dist, make_base

pytestmark = pytest.mark.unit


def test_the_same_snapshot_is_read_once_and_a_changed_one_again(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    path.write_text(make_base(dist("alib", "1.0")).dumps())
    first = load_snapshot(path)
    assert load_snapshot(path) is first  # an audit of 100 overlays on one snapshot

    path.write_text(make_base(dist("alib", "2.0")).dumps())
    second = load_snapshot(path)
    assert second is not first and [d.version for d in second.distributions] == ["2.0"]

    # What was accepted before does not vouch for a hostile rewrite of the same file.
    data = json.loads(path.read_text())
    data["tags"] = ["not a tag"]
    path.write_text(json.dumps(data))
    with pytest.raises(BaseProbeError):
        load_snapshot(path)
