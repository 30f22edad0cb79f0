"""METADATA as overlock reads it: one lenient parser, one way to find it in a wheel, and a hash
of what it means to a resolver.

Every stage reads METADATA through here: the index (PEP 658 files, lazy wheels), builds, the
installer's name/version check, ``check`` and ``why`` on a prefix, lower layers.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name

from overlock.dists.types import DistMetadata

_FOLD = re.compile(r"\r?\n[ \t]+")
_MEMBER = re.compile(r"[^/]+\.dist-info/METADATA")


class BadWheel(Exception):
    """The file is not a wheel with exactly one recognisable METADATA."""


def parse_metadata(data: bytes | str, name: str = "", version: str = "") -> DistMetadata:
    """The resolver's view of a METADATA file, read leniently.

    Real METADATA can be messy (legacy encodings, folded lines, stray blank fields, a field
    given twice); packaging's ``parse_email`` sets aside what it cannot read, and so does this:
    a field that cannot be read is dropped, not fatal. ``name``/``version`` fill in missing
    fields.
    """
    raw, _unparsed = parse_email(data)

    def one(value: object) -> str | None:
        return _FOLD.sub(" ", value).strip() or None if isinstance(value, str) else None

    def many(values: object) -> tuple[str, ...]:
        if not isinstance(values, list):
            return ()
        return tuple(v for v in (_FOLD.sub(" ", str(x)).strip() for x in values) if v)

    return DistMetadata(
        name=canonicalize_name(one(raw.get("name")) or name),
        version=one(raw.get("version")) or version,
        requires=many(raw.get("requires_dist")),
        requires_python=one(raw.get("requires_python")),
        provides_extra=many(raw.get("provides_extra")),
    )


def metadata_member(names: Iterable[str], project: str | None = None) -> str:
    """The ``<name>-<version>.dist-info/METADATA`` member of a wheel (for ``project``, when a
    wheel holds several ``.dist-info`` directories)."""
    candidates = [n for n in names if _MEMBER.fullmatch(n)]
    if len(candidates) > 1 and project is not None:
        want = canonicalize_name(project)
        candidates = [
            n
            for n in candidates
            if canonicalize_name(n.split("-", 1)[0].removesuffix(".dist-info")) == want
        ]
    if len(candidates) != 1:
        raise BadWheel(f"expected one .dist-info/METADATA, found {len(candidates)}")
    return candidates[0]


def read_wheel_metadata(wheel: Path, project: str | None = None) -> bytes:
    """The METADATA of a wheel file; BadWheel, OSError or zipfile.BadZipFile when unreadable."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(metadata_member(zf.namelist(), project))


def metadata_hash(metadata: bytes) -> str:
    """``sha256:<hex>`` of what a resolver reads in METADATA: name, version, requirements."""
    meta = parse_metadata(metadata)
    meaning = {
        "name": meta.name,
        "version": meta.version,
        "requires-dist": sorted(meta.requires),
        "requires-python": meta.requires_python,
        "provides-extra": sorted(canonicalize_name(e) for e in meta.provides_extra),
    }
    blob = json.dumps(meaning, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()
