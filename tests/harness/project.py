"""Overlay projects for tests: an overlay.toml written in code, and the CLI run in-process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bases import Base
from harness.index import PackageIndex
from overlock.lock.pylock import Lock


def write_manifest(
    project: Path,
    base: Base | str | None,
    requires: Sequence[str],
    *,
    index: PackageIndex | str | None = None,
    shadow: str | None = None,
    snapshot: Path | None = None,
    prefix: str = "overlay/{name}",
    name: str | None = None,
    entries: Sequence[str] = (),
    resolve: Sequence[str] = (),
) -> Path:
    """Write ``project/overlay.toml`` (replacing it) and return its path: the one manifest
    writer of the tests.

    ``base``: a test base, or the text of ``base`` (an interpreter, or a lower overlay's
    overlay.toml); ``requires``: requirement strings; ``entries``: more ``requires`` items as
    TOML text (tables such as ``{ name = "x", path = "../x" }``); ``resolve``: lines of the
    ``[resolve]`` table.
    """
    project.mkdir(parents=True, exist_ok=True)
    lines = ["[overlay]"]
    if snapshot is not None:
        lines.append(f'base-snapshot = "{snapshot}"')
    else:
        assert base is not None
        lines.append("base = " + json.dumps(base if isinstance(base, str) else str(base.prefix)))
    lines.append(f'prefix = "{prefix}"')
    if name is not None:
        lines.append(f"name = {json.dumps(name)}")
    items = [json.dumps(r) for r in requires] + list(entries)
    if entries:
        lines.append("requires = [\n" + "".join(f"  {item},\n" for item in items) + "]")
    else:
        lines.append("requires = [" + ", ".join(items) + "]")
    if index is not None:
        url = index if isinstance(index, str) else index.url
        lines += ["", "[index]", f'urls = ["{url}"]']
    resolve_lines = ([f'shadow = "{shadow}"'] if shadow is not None else []) + list(resolve)
    if resolve_lines:
        lines += ["", "[resolve]", *resolve_lines]
    path = project / "overlay.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def picks(lock: Lock) -> dict[str, str]:
    """name -> version of every package in the lock."""
    return {p.name: p.version for p in lock.packages}


@dataclass
class Run:
    """One in-process run of the overlock CLI."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)
