"""A project's releases as ``Index`` judged them from its pages, kept so that a page read
again with the same body is not parsed again: a lock whose pages are all fresh in the cache
answers without loading unearth and the HTTP stack (about a third of such a lock's imports),
and one whose pages come back whole and unchanged (an index or proxy that sends no
validators) skips unearth's parse of them (most of such a lock's CPU time on PyPI).

A record is filed under the project's name, the index configuration, the base's tags,
Python and markers, and the code that judges pages; it names each page it was judged from
(URL, ``Accept``, where redirects ended, the body's sha256). It is used when every one of
those pages is still in the page cache with that same body and is fresh (any age under
``--offline``, never under ``--refresh``), or when each was fetched again (``Index``) and is
that same body from the same place: the releases parsing them again would give. Records
are read back as untrusted input (bounded, every field type-checked, hashes checked as hex),
and a bad one is ignored, then replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from overlock import __version__, untrusted
from overlock.atomic import write_text_atomic
from overlock.base.env import BaseEnv
from overlock.cache import Cache
from overlock.dists.types import DistFile, Release, SetAside
from overlock.index import httpcache
from overlock.index.pipconfig import IndexConfig
from overlock.limits import read_bounded

FORMAT = 2
MAX_RECORD_BYTES = 64 * 1024 * 1024
_CODE = ("index/client.py", "index/compat.py", "index/release_cache.py", "dists/types.py")


@dataclass(frozen=True)
class PageRead:
    """A page a release list was judged from, as the page cache files it."""

    url: str  # without credentials, as httpcache keeps it
    accept: str
    final_url: str  # where redirects ended: the base of the page's relative links
    sha256: str  # of the body

    @classmethod
    def of(cls, entry: httpcache.Entry) -> PageRead:
        sha = hashlib.sha256(entry.body).hexdigest()
        return cls(entry.url, entry.accept, entry.final_url, sha)

    def is_of(self, entry: httpcache.Entry) -> bool:
        """Whether ``entry`` is this page, as it was read (the same body from the same place)."""
        return self == PageRead.of(entry)


@dataclass(frozen=True)
class Judged:
    """What ``Index`` keeps for one project: its releases and what it set aside."""

    releases: tuple[Release, ...]
    set_aside: tuple[SetAside, ...]
    missing: bool
    promises: Mapping[str, Any]  # wheel URL -> what its page promised of .metadata (PEP 658)


def record_path(cache: Cache, config: IndexConfig, base: BaseEnv, name: NormalizedName) -> Path:
    code = hashlib.sha256()
    package = Path(__file__).parent.parent
    for part in _CODE:
        code.update((package / part).read_bytes())
    key = {
        "format": FORMAT,
        "overlock": __version__,
        "code": code.hexdigest(),
        "name": name,
        "sources": list(config.sources),
        "index_urls": list(config.index_urls),
        "no_index": config.no_index,
        "trusted_hosts": list(config.trusted_hosts),
        "tags": list(base.tags),
        "python": base.python_version,
        "markers": dict(sorted(base.markers.items())),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8", "surrogatepass"))
    text = digest.hexdigest()
    return cache.root / "releases" / text[:2] / f"{text}.json"


def read(path: Path, name: NormalizedName) -> tuple[list[PageRead], Judged] | None:
    """The record of ``name`` at ``path``: the pages it was judged from, and the judgement."""
    try:
        data = json.loads(read_bounded(path, MAX_RECORD_BYTES))
        if data.get("name") != name:
            return None
        pages = [_page(p) for p in data["pages"]]
        judged = _judged(data, name)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, untrusted.UntrustedValue):
        return None
    return (pages, judged) if pages else None


def kept_and_fresh(pages: Sequence[PageRead], cache: Cache, *, offline: bool) -> bool:
    """Whether each of ``pages`` is in the page cache with the same body, and fresh (any
    age ``offline``): whether ``PageFetcher`` would answer each from the cache."""
    for page in pages:
        raw = cache.get_page(httpcache.entry_key(page.url, page.accept), httpcache.MAX_ENTRY_BYTES)
        entry = (
            httpcache.Entry.from_bytes(raw, url=page.url, accept=page.accept)
            if raw is not None
            else None
        )
        if entry is None or not page.is_of(entry):
            return False
        if not (offline or entry.fresh()):
            return False
    return True


def save(path: Path, name: NormalizedName, pages: Sequence[PageRead], judged: Judged) -> None:
    """Keep ``judged`` for the pages it came from (unless the same record is there)."""
    record = {
        "format": FORMAT,
        "name": name,
        "pages": [[p.url, p.accept, p.final_url, p.sha256] for p in pages],
        "releases": [
            {"version": str(r.version), "wheel": _file_json(r.wheel), "sdist": _file_json(r.sdist)}
            for r in judged.releases
        ],
        "set_aside": [[str(s.version), s.reason] for s in judged.set_aside],
        "missing": judged.missing,
        "promises": dict(judged.promises),
    }
    text = json.dumps(record, sort_keys=True)
    with contextlib.suppress(OSError):
        if path.exists() and read_bounded(path, MAX_RECORD_BYTES) == text.encode():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)  # a cache that cannot be written only costs a parse


def _file_json(f: DistFile | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "filename": f.filename,
        "url": f.url,
        "hashes": dict(f.hashes),
        "size": f.size,
        "requires_python": f.requires_python,
        "yanked": f.yanked,
        "has_metadata": f.has_metadata,
        "index": f.index,
    }


def _page(item: Any) -> PageRead:
    url, accept, final_url, sha = item
    if not all(isinstance(v, str) for v in (url, accept, final_url)):
        raise TypeError("a page record holds strings")
    return PageRead(url, accept, final_url, untrusted.sha256(sha, "a page's sha256"))


def _text(value: Any, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _file(item: Any) -> DistFile | None:
    if item is None:
        return None
    hashes = item["hashes"]
    if not isinstance(hashes, dict):
        raise TypeError("hashes")
    checked = {}
    for algo, value in hashes.items():
        _text(algo)
        _text(value)
        checked[algo] = untrusted.sha256(value, "a sha256") if algo == "sha256" else value
    size = item["size"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise TypeError("size")
    if not isinstance(item["has_metadata"], bool):
        raise TypeError("has_metadata")
    return DistFile(
        filename=_text(item["filename"]),
        url=_text(item["url"]),
        hashes=checked,
        size=size,
        requires_python=_text(item["requires_python"], optional=True),
        yanked=_text(item["yanked"], optional=True),
        has_metadata=item["has_metadata"],
        index=_text(item["index"], optional=True),
    )


def _version(text: Any) -> Version:
    try:
        return Version(_text(text))
    except InvalidVersion as exc:
        raise ValueError(str(exc)) from None


def _judged(data: Any, name: NormalizedName) -> Judged:
    if data.get("format") != FORMAT:
        raise ValueError("another format")
    releases = []
    for item in data["releases"]:
        version = _version(item["version"])
        releases.append(Release(name, version, _file(item["wheel"]), _file(item["sdist"])))
    set_aside = tuple(SetAside(_version(v), _text(reason)) for v, reason in data["set_aside"])
    missing = data["missing"]
    promises = data["promises"]
    if not isinstance(missing, bool) or not isinstance(promises, dict):
        raise TypeError("missing, promises")
    for url, promise in promises.items():
        _text(url)
        if not (promise is None or isinstance(promise, (bool, dict))):
            raise TypeError("a promise")
    return Judged(tuple(releases), set_aside, missing, promises)
