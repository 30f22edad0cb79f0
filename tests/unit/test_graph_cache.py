# mypy: disable-error-code="index"
"""The base's dependency graph kept between locks (resolve/graph_cache.py): reused only for
the same base, and read back as untrusted input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overlock.resolve.graph_cache import base_graph
from overlock.resolve.provider import BaseGraph

from .values import dist, make_base

pytestmark = pytest.mark.unit


def _base(plugin_requires: str = "corelib<2", corelib: str = "1.0") -> object:
    return make_base(
        dist("corelib", corelib),
        dist("plugin", "1.0", plugin_requires, "extra-thing; extra == 'x'"),
        dist("tool", "1.0", "plugin", "missing-one"),
    )


def _entry(directory: Path) -> Path:
    [entry] = directory.iterdir()
    return entry


def _edit(entry: Path, change: object) -> None:
    saved = json.loads(entry.read_text())
    change(saved["graph"])  # type: ignore[operator]
    entry.write_text(json.dumps(saved))


def _same(a: BaseGraph, b: BaseGraph) -> bool:
    return (
        {k: [str(r) for r in v] for k, v in a.deps.items()}
        == {k: [str(r) for r in v] for k, v in b.deps.items()}
        and dict(a.dependents) == dict(b.dependents)
        and a.broken == b.broken
    )


def test_a_kept_graph_is_the_computed_one_and_is_reused(tmp_path: Path) -> None:
    base = _base()
    computed = BaseGraph.of(base)  # type: ignore[arg-type]
    first = base_graph(base, (), tmp_path)  # type: ignore[arg-type]
    assert _same(first, computed)
    assert first.broken == ("tool 1.0 requires missing-one, which the base does not have",)
    # A (valid) note put in the entry comes back: the second lock read it, parsed nothing.
    _edit(_entry(tmp_path), lambda g: g["broken"].append("noted"))
    again = base_graph(base, (), tmp_path)  # type: ignore[arg-type]
    assert again.broken[-1] == "noted"
    assert [str(r) for r in again.deps["plugin"]] == ["corelib<2"]


def test_a_changed_base_does_not_reuse_the_entry(tmp_path: Path) -> None:
    base_graph(_base(), (), tmp_path)  # type: ignore[arg-type]
    _edit(_entry(tmp_path), lambda g: g["broken"].append("noted"))
    # The same Requires-Dist lines, another version: plugin's cap is now broken.
    upgraded = _base(corelib="2.5")
    graph = base_graph(upgraded, (), tmp_path)  # type: ignore[arg-type]
    assert "noted" not in graph.broken
    assert "plugin 1.0 requires corelib<2, but the base has corelib 2.5" in graph.broken
    assert _same(graph, BaseGraph.of(upgraded))  # type: ignore[arg-type]
    changed = _base("corelib<3")
    graph = base_graph(changed, (), tmp_path)  # type: ignore[arg-type]
    assert [str(r) for r in graph.deps["plugin"]] == ["corelib<3"]
    assert _same(graph, BaseGraph.of(changed))  # type: ignore[arg-type]


def test_an_entry_with_an_edge_the_base_does_not_declare_is_not_trusted(
    tmp_path: Path,
) -> None:
    base = _base()
    base_graph(base, (), tmp_path)  # type: ignore[arg-type]
    _edit(_entry(tmp_path), lambda g: g["deps"]["plugin"].append("corelib>=5"))
    graph = base_graph(base, (), tmp_path)  # type: ignore[arg-type]
    assert [str(r) for r in graph.deps["plugin"]] == ["corelib<2"]
    _edit(_entry(tmp_path), lambda g: g.update(dependents=["not", "a", "mapping"]))
    assert _same(base_graph(base, (), tmp_path), BaseGraph.of(base))  # type: ignore[arg-type]
