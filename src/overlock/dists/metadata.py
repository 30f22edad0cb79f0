"""METADATA as the resolver reads it: a lenient parser, and a hash of what it means."""

from __future__ import annotations

import email.parser
import hashlib
import json
import re

from packaging.utils import canonicalize_name

from overlock.dists.types import DistMetadata

_FOLD = re.compile(r"\r?\n[ \t]+")


def parse_metadata(data: bytes, name: str = "", version: str = "") -> DistMetadata:
    """The resolver's view of a METADATA file, read leniently.

    Real METADATA can be messy (legacy encodings, folded lines, stray blank fields); a field
    that cannot be read is dropped, not fatal. ``name``/``version`` fill in missing fields.
    """
    text = data.decode("utf-8", errors="replace")
    msg = email.parser.Parser().parsestr(text, headersonly=True)

    def one(key: str) -> str | None:
        value = msg.get(key)
        return _FOLD.sub(" ", str(value)).strip() or None if value is not None else None

    def many(key: str) -> tuple[str, ...]:
        values = (_FOLD.sub(" ", str(v)).strip() for v in msg.get_all(key) or ())
        return tuple(v for v in values if v)

    return DistMetadata(
        name=canonicalize_name(one("Name") or name),
        version=one("Version") or version,
        requires=many("Requires-Dist"),
        requires_python=one("Requires-Python"),
        provides_extra=many("Provides-Extra"),
    )


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
