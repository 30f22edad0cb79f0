"""Index pages kept on disk for as long as the index allows (HTTP caching, RFC 9111, for one user).

As uv does (``uv-client/src/httpcache``), a page is reused without a request while it is
*fresh* (its ``Cache-Control: max-age``, else ``Expires`` minus ``Date``; PyPI says 600 s);
once stale it is revalidated with ``If-None-Match``/``If-Modified-Since``, and a 304 makes the
kept copy fresh again. ``no-store`` pages are never kept, ``no-cache`` ones are always
revalidated. There is no heuristic freshness: an index that sends no freshness information is
asked every time (a conditional request, when it sent a validator). pip revalidates index
pages on every run (it asks with ``max-age=0``); ``--refresh`` does that here.

An entry is one file: a JSON line (what the decision needs, the page's sha256 and size) and
the body. Entries are read back as untrusted input: bounded in size, every field type-checked,
the body checked against its sha256 and the entry against the URL and ``Accept`` it answers,
and a bad entry is ignored (then replaced). A page from the cache is then parsed and judged
exactly as one from the network. Nothing credential-bearing is written: the key and the URLs
are stored without userinfo (``redact.strip_credentials``), request headers are not stored,
and a page whose body or headers contain one of the index's secrets is not kept at all.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from overlock.limits import MAX_PAGE_BYTES
from overlock.redact import strip_credentials

FORMAT = 1
MAX_HEADER_BYTES = 64 * 1024  # the JSON line: a few short fields
MAX_ENTRY_BYTES = MAX_PAGE_BYTES + MAX_HEADER_BYTES + 1
# Vary on these is served by the key (Accept) or moot (bodies are kept decoded).
_VARY_OK = frozenset({"accept", "accept-encoding"})
_KEPT = ("content-type", "etag", "last-modified", "cache-control", "expires", "date", "age")


def cacheable_url(url: str) -> bool:
    """Only pages fetched over the network are kept; a file:// index is read directly."""
    return url.lower().startswith(("http://", "https://"))


def entry_key(url: str, accept: str) -> str:
    """The name an entry is filed under: the credential-free URL and the ``Accept`` sent."""
    text = f"{FORMAT}\0{strip_credentials(url)}\0{accept}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def directives(value: str) -> dict[str, str]:
    """``Cache-Control`` as {directive: argument} (lower-case names, quotes removed)."""
    out: dict[str, str] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = arg.strip().strip('"')
    return out


def _seconds(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return int(text.strip())


def _http_date(text: str | None) -> float | None:
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class Entry:
    """A kept page: what it answers, what it was, and when it was received."""

    url: str  # the request URL, without credentials
    accept: str  # the Accept header the request sent
    final_url: str  # where redirects ended (the base for relative links), without credentials
    headers: Mapping[str, str]  # the response headers in _KEPT, lower-case names
    stored: float  # when the response arrived (time.time())
    body: bytes

    @property
    def key(self) -> str:
        return entry_key(self.url, self.accept)

    def lifetime(self) -> float:
        """How long the page is fresh after it left the index (0: revalidate every time)."""
        cc = directives(self.headers.get("cache-control", ""))
        if "no-cache" in cc:
            return 0.0
        max_age = _seconds(cc.get("max-age"))
        if max_age is not None:
            return float(max_age)
        expires = _http_date(self.headers.get("expires"))
        date = _http_date(self.headers.get("date"))
        if expires is not None and date is not None:
            return max(0.0, expires - date)
        return 0.0

    def age(self, now: float) -> float:
        """RFC 9111 §4.2.3, with the arrival time standing in for the request time."""
        date = _http_date(self.headers.get("date"))
        apparent = max(0.0, self.stored - date) if date is not None else 0.0
        said = _seconds(self.headers.get("age")) or 0
        return max(apparent, float(said)) + max(0.0, now - self.stored)

    def fresh(self, now: float | None = None) -> bool:
        return self.age(time.time() if now is None else now) < self.lifetime()

    def validators(self) -> dict[str, str]:
        """Headers that make the next request conditional (weak ETags count for a page)."""
        out = {}
        if self.headers.get("etag"):
            out["If-None-Match"] = self.headers["etag"]
        if self.headers.get("last-modified"):
            out["If-Modified-Since"] = self.headers["last-modified"]
        return out

    def revalidated(self, headers: Mapping[str, str], now: float | None = None) -> Entry:
        """This entry after a 304: the body stays, freshness comes from the new answer."""
        updated = dict(self.headers)
        updated.update(kept_headers(headers, names=_KEPT[1:]))  # a 304 has no content type
        if "age" not in {k.lower() for k in headers}:
            updated.pop("age", None)
        return replace(self, headers=updated, stored=time.time() if now is None else now)

    # -- on disk ------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        head = {
            "format": FORMAT,
            "url": self.url,
            "accept": self.accept,
            "final_url": self.final_url,
            "headers": dict(sorted(self.headers.items())),
            "stored": self.stored,
            "size": len(self.body),
            "sha256": hashlib.sha256(self.body).hexdigest(),
        }
        return json.dumps(head, ensure_ascii=True).encode("ascii") + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes, *, url: str, accept: str) -> Entry | None:
        """The entry in ``data`` if it is well formed and answers ``url`` with ``accept``;
        else None (a damaged or foreign entry is a miss, never an error or a page)."""
        line, newline, body = data.partition(b"\n")
        if not newline or len(line) > MAX_HEADER_BYTES:
            return None
        try:
            head: Any = json.loads(line)
        except ValueError:
            return None
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            return None
        text = {k: head.get(k) for k in ("url", "accept", "final_url", "sha256")}
        headers = head.get("headers")
        stored, size = head.get("stored"), head.get("size")
        if (
            not all(isinstance(v, str) for v in text.values())
            or not isinstance(headers, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
            or set(headers) - set(_KEPT)
            or not isinstance(stored, (int, float))
            or isinstance(stored, bool)
            or not isinstance(size, int)
        ):
            return None
        if text["url"] != strip_credentials(url) or text["accept"] != accept:
            return None  # a hash collision, or an entry copied to another name
        if size != len(body) or hashlib.sha256(body).hexdigest() != text["sha256"]:
            return None  # cut short or altered
        final_url = str(text["final_url"])
        if not cacheable_url(final_url) or strip_credentials(final_url) != final_url:
            return None
        return cls(
            url=str(text["url"]),
            accept=accept,
            final_url=final_url,
            headers=dict(headers),
            stored=float(stored),
            body=body,
        )


def kept_headers(headers: Mapping[str, str], names: Iterable[str] = _KEPT) -> dict[str, str]:
    wanted = set(names)
    return {k.lower(): v for k, v in headers.items() if k.lower() in wanted}


def storable(
    status: int, headers: Mapping[str, str], body: bytes, secrets: Iterable[str] = ()
) -> bool:
    """Whether a response may be kept: a 200 without ``no-store`` (nor ``Vary`` on what the
    key does not hold), and holding no credential of the index."""
    lower = {k.lower(): v for k, v in headers.items()}
    if status != 200 or "no-store" in directives(lower.get("cache-control", "")):
        return False
    vary = {v.strip().lower() for v in lower.get("vary", "").split(",") if v.strip()}
    if vary - _VARY_OK:
        return False
    for secret in secrets:
        raw = secret.encode("utf-8", "surrogateescape")
        if raw in body or any(secret in v for v in lower.values()):
            return False
    return True


def entry_from_response(
    url: str, accept: str, final_url: str, headers: Mapping[str, str], body: bytes
) -> Entry:
    return Entry(
        url=strip_credentials(url),
        accept=accept,
        final_url=strip_credentials(final_url),
        headers=kept_headers(headers),
        stored=time.time(),
        body=body,
    )


__all__ = [
    "MAX_ENTRY_BYTES",
    "Entry",
    "cacheable_url",
    "entry_from_response",
    "entry_key",
    "storable",
]
