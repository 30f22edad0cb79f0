"""Overlay projects for tests: an overlay.toml written in code, and the CLI run in-process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bases import Base
from harness.index import PackageIndex
from overlock.lock.pylock import Lock


def write_manifest(
    project: Path,
    base: Base | None,
    requires: list[str],
    *,
    index: PackageIndex | str | None = None,
    shadow: str | None = None,
    snapshot: Path | None = None,
    prefix: str = "overlay/{name}",
) -> Path:
    """Write ``project/overlay.toml`` (replacing it) and return its path."""
    project.mkdir(parents=True, exist_ok=True)
    lines = ["[overlay]"]
    if snapshot is not None:
        lines.append(f'base-snapshot = "{snapshot}"')
    else:
        assert base is not None
        lines.append(f'base = "{base.prefix}"')
    lines.append(f'prefix = "{prefix}"')
    lines.append("requires = [" + ", ".join(json.dumps(r) for r in requires) + "]")
    if index is not None:
        url = index if isinstance(index, str) else index.url
        lines += ["", "[index]", f'urls = ["{url}"]']
    if shadow is not None:
        lines += ["", "[resolve]", f'shadow = "{shadow}"']
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
