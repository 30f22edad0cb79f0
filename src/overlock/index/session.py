"""One index configuration's HTTP: the client, made on first use; the only retry layer;
bodies read within a size cap and a deadline; failures turned into ``IndexError_`` in words
that carry no secret; counts of what was asked.

Everything the index client fetches goes through a ``Session``: pages (index/pages.py),
PEP 658 metadata, range requests on wheels and downloads.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from overlock.errors import IndexError_
from overlock.index import lazywheel
from overlock.index.pipconfig import IndexConfig
from overlock.limits import DEADLINE_FACTOR, MAX_PAGE_BYTES, MIN_RATE, Deadline, human_size
from overlock.redact import redact_url, scrub, secrets_in

if TYPE_CHECKING:
    # The HTTP stack (httpx2, unearth's client, TLS) loads with the first request: a lock
    # answered from the page cache makes none (index/pages.py).
    import httpx2
    from unearth.fetchers import PyPIClient

logger = logging.getLogger("overlock.index.session")

# Describe the body as it arrived; a Response rebuilt from the decoded bytes must not.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_T = TypeVar("_T")


@dataclass(frozen=True)
class IndexStats:
    """What an ``Index`` asked of the network (and of its cache) so far."""

    pages: int = 0  # index / find-links pages fetched (file:// ones included)
    pages_cached: int = 0  # pages answered from the cache without a request
    pages_revalidated: int = 0  # of ``pages``: conditional requests answered 304
    metadata_requests: int = 0  # PEP 658 ``.metadata`` files fetched
    range_requests: int = 0  # HTTP range requests on wheels
    downloads: int = 0  # whole files downloaded (or copied from a local index)
    cache_hits: int = 0  # metadata or files served from the cache
    local_reads: int = 0  # METADATA read straight from a local wheel

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ServerError(Exception):
    """An answer of HTTP 5xx: retried like a dropped connection."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class BodyTooLarge(Exception):
    """A body went past the size it may have; never retried (the server means it)."""

    def __init__(self, limit: int, got: int, declared: bool) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.got = got
        self.declared = declared  # said so in Content-Length, nothing was read


def _retried() -> tuple[type[Exception], ...]:
    """What ``Session.retrying`` tries again: dropped connections, timeouts, 5xx, a stall."""
    import httpx2

    from overlock.index.deadline import DeadlinePassed

    return (httpx2.TransportError, ServerError, DeadlinePassed)


class Session:
    """The HTTP side of one ``IndexConfig``: shared by the threads that fetch ahead."""

    def __init__(self, config: IndexConfig, *, client: PyPIClient | None = None) -> None:
        self.config = config
        self._owns_client = client is None
        self._client = client  # made on first use when None (see ``client``)
        self.secrets = secrets_in([*config.sources, *config.auth_urls])
        self._counts = dict.fromkeys(IndexStats().as_dict(), 0)
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

    @property
    def client(self) -> PyPIClient:
        """The HTTP client, made on first use: a lock answered from the cache needs none, and
        making one (TLS context, transports) is a good part of such a lock's time."""
        if self._client is None:
            from overlock.index.http import make_client

            with self._lock:
                if self._client is None:
                    self._client = make_client(self.config)
        return self._client

    @property
    def stats(self) -> dict[str, int]:
        """Counts so far (keys: the fields of ``IndexStats``); a plain dict so it goes to JSON."""
        with self._lock:
            return dict(self._counts)

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def scrub(self, text: str) -> str:
        """``text`` without the credentials of this configuration's URLs."""
        return scrub(text, self.secrets)

    def retrying(self, url: str, op: Callable[[Deadline], _T]) -> _T:
        """``op`` tried ``retries + 1`` times in all, as pip counts: the only retry layer.

        Dropped connections, timeouts, HTTP 5xx and a passed deadline are retried, each try
        with a deadline of its own (``limits.Deadline``) that bounds it from the connect on
        (``index/deadline.py``); anything else is raised at once.
        """
        import httpx2

        from overlock.index import deadline as request_deadline

        retried = _retried()
        attempts = max(0, self.config.retries) + 1
        backoff = float(getattr(self.client, "backoff", 0.25))
        attempt = 0
        while True:
            attempt += 1
            deadline = Deadline(DEADLINE_FACTOR * self.config.timeout)
            try:
                with request_deadline.scope(deadline):
                    return op(deadline)
            except retried as exc:
                if attempt >= attempts:
                    raise self.failure(url, exc) from None
                logger.info("retrying %s after %s", self.scrub(redact_url(url)), exc)
            except httpx2.HTTPError as exc:  # not the network's fault: retrying cannot help
                raise self.network_error(url, exc) from None
            time.sleep(backoff * 2 ** (attempt - 1))

    def read_body(
        self,
        resp: httpx2.Response,
        deadline: Deadline,
        limit: int,
        write: Callable[[bytes], object],
        *,
        raw: bool,
    ) -> int:
        """Pass ``resp``'s body to ``write`` as it arrives, within ``limit`` and ``deadline``."""
        from overlock.index.deadline import DeadlinePassed

        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(limit, int(declared), declared=True)
        size = 0
        # No chunk size: each piece as the network delivers it, so the deadline is checked
        # even when a server sends a byte at a time.
        for chunk in resp.iter_raw() if raw else resp.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit, size, declared=False)
            write(chunk)
            deadline.credit(len(chunk))
            if deadline.expired:
                raise DeadlinePassed(
                    f"still sending after {deadline.grace:g} s plus 1 s per"
                    f" {human_size(int(MIN_RATE))} received"
                )
        return size

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, limit: int = MAX_PAGE_BYTES
    ) -> httpx2.Response:
        """GET ``url`` whole into memory, retried, within ``limit`` bytes and a deadline."""

        import httpx2

        def once(deadline: Deadline) -> httpx2.Response:
            with self.client.stream("GET", url, headers=headers) as resp:
                if resp.status_code >= 500:
                    raise ServerError(resp.status_code)
                chunks: list[bytes] = []
                self.read_body(resp, deadline, limit, chunks.append, raw=False)
                kept = [
                    (k, v) for k, v in resp.headers.multi_items() if k.lower() not in _BODY_HEADERS
                ]
                return httpx2.Response(
                    resp.status_code, headers=kept, content=b"".join(chunks), request=resp.request
                )

        try:
            return self.retrying(url, once)
        except BodyTooLarge as exc:
            raise self.too_large(url, exc) from None

    def head(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx2.Response:
        def once(_deadline: Deadline) -> httpx2.Response:
            resp = self.client.head(url, headers=headers)
            if resp.status_code >= 500:
                raise ServerError(resp.status_code)
            return resp

        return self.retrying(url, once)

    def fetch_to(
        self, url: str, dest: Path, limit: int, on_bytes: Callable[[int], object] | None = None
    ) -> tuple[str, int]:
        counted = [0]  # bytes this try reported to on_bytes, taken back if it fails

        def attempt(deadline: Deadline) -> tuple[str, int]:
            self.count("downloads")
            h = hashlib.sha256()
            with (
                self.client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp,
                open(dest, "wb") as fh,
            ):
                if resp.status_code >= 500:
                    raise ServerError(resp.status_code)
                if resp.status_code >= 400:
                    raise self.status_error(url, resp.status_code)

                def write(chunk: bytes) -> None:
                    h.update(chunk)
                    fh.write(chunk)
                    if on_bytes is not None:
                        counted[0] += len(chunk)
                        on_bytes(len(chunk))

                size = self.read_body(resp, deadline, limit, write, raw=True)
            return h.hexdigest(), size

        def once(deadline: Deadline) -> tuple[str, int]:
            try:
                return attempt(deadline)
            except BaseException:
                if on_bytes is not None and counted[0]:
                    on_bytes(-counted[0])
                counted[0] = 0
                raise

        return self.retrying(url, once)

    def range_fetcher(self, url: str) -> lazywheel.RangeFetch:
        def fetch(range_value: str) -> lazywheel.RangeResponse:
            self.count("range_requests")
            headers = {"Range": range_value, "Accept-Encoding": "identity"}

            def once(deadline: Deadline) -> lazywheel.RangeResponse:
                with self.client.stream("GET", url, headers=headers) as resp:
                    if resp.status_code == 206:
                        chunks: list[bytes] = []
                        self.read_body(resp, deadline, MAX_PAGE_BYTES, chunks.append, raw=True)
                        return lazywheel.RangeResponse(
                            206, resp.headers.get("Content-Range"), b"".join(chunks)
                        )
                    if resp.status_code >= 500:
                        raise ServerError(resp.status_code)
                    if resp.status_code >= 400 and resp.status_code != 416:
                        raise self.status_error(url, resp.status_code)
                    # A 200 is the whole file: leave it unread, the caller downloads it
                    # properly (hashed, into the cache) instead.
                    return lazywheel.RangeResponse(resp.status_code, None, b"")

            try:
                return self.retrying(url, once)
            except BodyTooLarge as exc:
                raise self.too_large(url, exc) from None

        return fetch

    def failure(self, url: str, exc: Exception) -> IndexError_:
        from overlock.index.deadline import DeadlinePassed

        if isinstance(exc, ServerError):
            return self.status_error(url, exc.status)
        if isinstance(exc, DeadlinePassed):
            return IndexError_(
                self.scrub(f"{redact_url(url)} was too slow: {exc}"),
                hint="the index or a proxy is stalling; retry later, or raise pip's `timeout`"
                f" (now {self.config.timeout:g} s; each request may take {DEADLINE_FACTOR:g}"
                " times that)",
            )
        return self.network_error(url, exc)

    def too_large(self, url: str, exc: BodyTooLarge) -> IndexError_:
        return IndexError_(
            self.scrub(
                f"{redact_url(url)} sent more than {human_size(exc.limit)}, the most overlock reads"
                " from an index page or metadata file; stopped there"
            ),
            hint="the index or a proxy is misbehaving; check the index URL",
        )

    def offline_error(self, what: str) -> IndexError_:
        return IndexError_(
            self.scrub(f"--offline, and {what} is not in overlock's cache"),
            hint="run once without --offline (with network access) to fill the cache",
        )

    def network_error(self, url: str, exc: Exception) -> IndexError_:
        return IndexError_(
            self.scrub(f"cannot reach {redact_url(url)}: {type(exc).__name__}: {exc}"),
            hint="check the network, proxy and index settings"
            f" ({self.scrub(self.config.describe())})",
        )

    def status_error(self, url: str, status: int) -> IndexError_:
        hint = "the index failed; retry later"
        if status in (401, 403):
            hint = "check the credentials for this index (in its URL, ~/.netrc or keyring)"
        if status == 407:
            hint = "the proxy wants other credentials: check the user and password in pip's"
            hint += " `proxy` setting, $PIP_PROXY or --proxy"
        return IndexError_(self.scrub(f"{redact_url(url)} answered HTTP {status}"), hint=hint)
