"""The base's dependency graph kept between locks (``BaseGraph``), so a warm lock does not
parse every Requires-Dist of a large base again.

One entry per base interpreter and hiding, holding the graph and the digest of everything
``BaseGraph.of`` read to make it: each visible distribution's name, version and Requires-Dist
lines, the withheld names and which of them the overlay replaces, the base's marker
environment, and the code and the ``packaging`` that judge them. An entry is used only when
that digest matches the base at hand, so it is never stale; it is read back as untrusted
input (bounded, type-checked, every edge one of its distribution's own lines:
``BaseGraph.from_json``), and a bad, foreign or missing entry is computed again and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Collection
from pathlib import Path

import packaging
from packaging.utils import NormalizedName

from overlock import __version__
from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv
from overlock.limits import read_bounded
from overlock.resolve.provider import BaseGraph

FORMAT = 1
# A few hundred bytes per distribution; a base of 100,000 stays well within.
MAX_ENTRY_BYTES = 256 * 1024 * 1024


def graph_key(base: BaseEnv, replaced: Collection[NormalizedName]) -> str:
    """The digest an entry for ``base`` (with ``replaced`` requested) is filed under."""
    withheld = sorted(d.name for d in base.withheld)
    code = (Path(__file__).parent / "provider.py").read_bytes()
    head = {
        "format": FORMAT,
        "overlock": __version__,
        "packaging": packaging.__version__,
        "code": hashlib.sha256(code).hexdigest(),
        "markers": dict(sorted(base.marker_env("").items())),
        "withheld": withheld,
        "replaced": sorted(set(replaced) & set(withheld)),
    }
    dists = [[d.name, d.version, d.requires] for d in base.distributions]
    text = json.dumps([head, dists], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def base_graph(
    base: BaseEnv, replaced: Collection[NormalizedName], directory: Path | None
) -> BaseGraph:
    """``BaseGraph.of(base, replaced)``, kept in ``directory`` (None: not kept)."""
    if directory is None:
        return BaseGraph.of(base, replaced=replaced)
    key = graph_key(base, replaced)
    entry = directory / f"{_slot(base, replaced)}.json"
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(read_bounded(entry, MAX_ENTRY_BYTES))
        if isinstance(saved, dict) and saved.get("key") == key:
            graph = BaseGraph.from_json(saved.get("graph"), base)
            if graph is not None:
                return graph
    graph = BaseGraph.of(base, replaced=replaced)
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        # Unwritable: computed again next time.
        write_text_atomic(entry, json.dumps({"key": key, "graph": graph.to_json()}))
    return graph


def _slot(base: BaseEnv, replaced: Collection[NormalizedName]) -> str:
    """One entry per base interpreter and hiding, replaced when the base changes (as the
    probe cache's): the directory does not grow with every change to a base."""
    withheld = sorted(d.name for d in base.withheld)
    text = "\0".join([base.python, *withheld, "", *sorted(set(replaced) & set(withheld))])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
