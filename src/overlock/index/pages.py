"""Index pages as unearth reads them: fetched through the ``Session``, kept in overlock's
cache as the index's ``Cache-Control`` allows (index/httpcache.py), and answered from it while
fresh (always under ``--offline``, never under ``--refresh``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from overlock.cache import Cache
from overlock.index import httpcache
from overlock.index.release_cache import PageRead
from overlock.index.session import Session
from overlock.limits import MAX_PAGE_BYTES
from overlock.redact import redact_url, strip_credentials

if TYPE_CHECKING:
    import httpx2  # loaded by unearth, which reads every page through this fetcher

logger = logging.getLogger("overlock.index.pages")


class PageFetcher:
    """What unearth fetches pages through: counts them, turns failures into IndexError_.

    unearth logs and skips a page that answers 5xx, which would make a broken index look
    like one without the package; a lock must fail loudly instead. 404 stays "not here".
    Pages are read within ``Session.retrying`` (one retry layer, a deadline, a size cap).
    ``on_page`` hears of every page that was read (fetched or kept), for what unearth drops.
    """

    def __init__(
        self, session: Session, cache: Cache, on_page: Callable[[httpx2.Response], object]
    ) -> None:
        self.session = session
        self.cache = cache
        self._on_page = on_page
        # Pages that answered 404/410, per thread: pages may be fetched ahead in threads
        # while the resolver's thread counts the misses of its own (``missing_pages``).
        self._local = threading.local()

    def start_log(self) -> list[PageRead | None]:
        """Note, in this thread, each page read from now on: how it is kept in the cache,
        or None when it is not (release_cache.py judges only from kept pages)."""
        log: list[PageRead | None] = []
        self._local.log = log
        return log

    def stop_log(self) -> None:
        self._local.log = None

    def _note(self, entry: httpcache.Entry | None) -> None:
        read = None if entry is None else PageRead.of(entry)
        self._local.noted = read  # what set_aside hands on with the response
        log = getattr(self._local, "log", None)
        if log is not None:
            log.append(read)

    def _note_again(self, read: PageRead | None) -> None:
        log = getattr(self._local, "log", None)
        if log is not None:
            log.append(read)

    def last_read(self) -> PageRead | None:
        """How the page this thread read last is kept (None: it is not)."""
        return getattr(self._local, "noted", None)

    def missing_pages(self) -> int:
        """How many pages answered "not here" (404/410) in this thread so far."""
        return int(getattr(self._local, "missing", 0))

    def set_aside(
        self, url: str, accept: str, resp: httpx2.Response, read: PageRead | None
    ) -> None:
        """Answer this thread's next GET of ``url`` with ``accept`` with ``resp`` (fetched
        already, to compare it with a kept release list; ``read``: how it is kept), not
        with another request."""
        stash = getattr(self._local, "stash", None)
        if stash is None:
            stash = self._local.stash = {}
        stash[(url, accept)] = (resp, read)

    def clear_aside(self) -> None:
        self._local.stash = None

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx2.Response:
        stash: dict[tuple[str, str], tuple[httpx2.Response, PageRead | None]] | None
        stash = getattr(self._local, "stash", None)
        if stash:
            found = stash.pop((url, (headers or {}).get("Accept", "")), None)
            if found is not None:
                answer: httpx2.Response = found[0]
                self._note_again(found[1])
                return answer
        session = self.session
        config = session.config
        kept = self._kept(url, headers)
        if kept is not None and (config.offline or (not config.refresh and kept.fresh())):
            session.count("pages_cached")
            self._note(kept)
            resp = _response(kept)
            self._on_page(resp)
            return resp
        if config.offline and httpcache.cacheable_url(url):
            raise session.offline_error(f"the index page {redact_url(url)}")
        sent = {**(headers or {}), **(kept.validators() if kept is not None else {})}
        session.count("pages")
        resp = session.get(url, headers=sent, limit=MAX_PAGE_BYTES)
        stored = None
        if resp.status_code == 304 and kept is not None:
            session.count("pages_revalidated")
            kept = kept.revalidated(resp.headers)
            if httpcache.storable(200, resp.headers, kept.body, session.secrets):
                self.cache.put_page(kept.key, kept.to_bytes())
                stored = kept
            else:  # "still the same, and now do not keep it"
                self.cache.drop_page(kept.key)
            resp = _response(kept)
        elif httpcache.cacheable_url(url):
            stored = self._keep(url, headers, resp)
        self._note(stored if resp.status_code == 200 else None)
        if resp.status_code >= 400 and resp.status_code not in (404, 410):
            raise session.status_error(url, resp.status_code)
        if resp.status_code in (404, 410):
            self._local.missing = self.missing_pages() + 1
        if resp.status_code < 300:
            self._on_page(resp)
        return resp

    def head(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx2.Response:
        if self.session.config.offline:
            raise self.session.offline_error(redact_url(url))
        return self.session.head(url, headers=headers)

    def get_stream(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> AbstractContextManager[httpx2.Response]:
        return self.session.client.stream("GET", url, headers=headers)

    def iter_secure_origins(self) -> Iterable[tuple[str, str, str]]:
        # What PyPIClient answers when given the trusted hosts (``make_client`` does not).
        from unearth.fetchers import DEFAULT_SECURE_ORIGINS
        from unearth.utils import parse_netloc

        trusted = [parse_netloc(host) for host in self.session.config.trusted_hosts]
        return [
            *DEFAULT_SECURE_ORIGINS,
            *(("*", host, "*" if port is None else str(port)) for host, port in trusted),
        ]

    def _kept(self, url: str, headers: Mapping[str, str] | None) -> httpcache.Entry | None:
        if not httpcache.cacheable_url(url):
            return None
        accept = (headers or {}).get("Accept", "")
        data = self.cache.get_page(httpcache.entry_key(url, accept), httpcache.MAX_ENTRY_BYTES)
        if data is None:
            return None
        entry = httpcache.Entry.from_bytes(data, url=url, accept=accept)
        if entry is None:
            logger.debug(
                "ignoring a damaged cache entry for %s", self.session.scrub(redact_url(url))
            )
        return entry

    def _keep(
        self, url: str, headers: Mapping[str, str] | None, resp: httpx2.Response
    ) -> httpcache.Entry | None:
        accept = (headers or {}).get("Accept", "")
        if not httpcache.storable(
            resp.status_code, resp.headers, resp.content, self.session.secrets
        ):
            # The index said not to keep it (or it holds a secret): nor the older copy.
            self.cache.drop_page(httpcache.entry_key(url, accept))
            return None
        entry = httpcache.entry_from_response(
            url, accept, str(resp.url), resp.headers, resp.content
        )
        self.cache.put_page(entry.key, entry.to_bytes())
        return entry


def file_sizes(resp: httpx2.Response) -> Iterator[tuple[str, int]]:
    """PEP 700 ``size`` of each file on a JSON page (unearth drops them), by credential-free URL."""
    if not resp.headers.get("Content-Type", "").startswith("application/vnd.pypi.simple.v1+json"):
        return
    try:
        files = json.loads(resp.content).get("files", [])
    except (ValueError, AttributeError):
        return
    base_url = str(resp.url)
    for entry in files if isinstance(files, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("size"), int) and entry.get("url"):
            try:
                url = urljoin(base_url, str(entry["url"])).split("#", 1)[0]
            except ValueError:
                continue  # unearth reports the page
            yield strip_credentials(url), entry["size"]


def _response(entry: httpcache.Entry) -> httpx2.Response:
    """A kept page as unearth reads a fetched one (its URL is the base of its links)."""
    import httpx2

    headers = {"Content-Type": entry.headers.get("content-type", "text/html")}
    request = httpx2.Request("GET", entry.final_url)
    return httpx2.Response(200, headers=headers, content=entry.body, request=request)
