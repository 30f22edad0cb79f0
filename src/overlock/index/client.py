"""Candidates, hashes and metadata from package indexes: ``dists.types.PackageSource`` for real.

Pages are found and parsed by unearth (PEP 503 HTML, PEP 691 JSON, PEP 658 links, find-links,
file:// indexes), judged for the *base* (its tags and Python version, never the running
interpreter's). Metadata comes from the cache (keyed by the wheel's sha256), else a PEP 658
``.metadata`` file, else range requests on the wheel's zip directory, else a full download.
Nothing is fetched before the resolver asks for a name.

This module ranks releases and picks their files; every request goes through a ``Session``
(index/session.py: retries, deadlines, size caps, errors without secrets), and pages through
its ``PageFetcher`` (index/pages.py: the page cache).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from overlock import untrusted
from overlock.base.env import BaseEnv
from overlock.cache import Cache, TooLarge, copy_hashing
from overlock.dists.metadata import BadWheel, metadata_member, parse_metadata
from overlock.dists.requirements import same_version
from overlock.dists.types import DistFile, DistMetadata, Release, SetAside
from overlock.dists.urls import fragment_hashes, without_fragment
from overlock.errors import (
    BadInputError,
    BuildRequiredError,
    HashMismatchError,
    IndexError_,
    OverlockError,
)
from overlock.index import compat, httpcache, lazywheel, release_cache
from overlock.index.pages import PageFetcher, file_sizes
from overlock.index.pipconfig import IndexConfig
from overlock.index.session import BodyTooLarge, IndexStats, Session
from overlock.limits import (
    MAX_DOWNLOAD_ENV,
    human_size,
    max_download,
)
from overlock.manifest.policy import WHAT_IS_BUILT
from overlock.redact import redact_url, strip_credentials

if TYPE_CHECKING:
    # unearth loads httpx2 and the rest of the HTTP stack: imported where a page is parsed
    # (index/finder.py) or a request made, not for a lock answered from the cache.
    import httpx2
    from unearth import PackageFinder
    from unearth.evaluator import Package
    from unearth.fetchers import PyPIClient
    from unearth.link import Link

logger = logging.getLogger("overlock.index.client")


class _Quiet(logging.Filter):
    """unearth warns about pages it could not read (a 404 for a name the index does not
    have among them) in its own words; overlock says what matters itself, so those records
    are kept for ``-vv`` only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        logger.debug("%s: %s", record.name, record.getMessage())
        return False


for _name in ("unearth", "unearth.collector", "unearth.finder", "unearth.evaluator"):
    logging.getLogger(_name).addFilter(_Quiet())

_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


# Threads that fetch pages and metadata ahead of the resolver (``Index.prefetch``): a few
# requests in flight hide most of a remote index's latency; more only load the index.
PREFETCH_THREADS = 6


@dataclass
class _Source:
    label: str  # credential-free, goes into DistFile.index
    finder: PackageFinder


class Index:
    """A ``PackageSource`` over the indexes and find-links of ``config``, judged for ``base``."""

    def __init__(
        self,
        config: IndexConfig,
        base: BaseEnv,
        cache: Cache | None = None,
        *,
        client: PyPIClient | None = None,
        prefetch_threads: int = PREFETCH_THREADS,
    ) -> None:
        self.config = config
        self.base = base
        self.cache = cache if cache is not None else Cache.default()
        self.session = Session(config, client=client)
        self._releases: dict[NormalizedName, tuple[Release, ...]] = {}
        self._metadata: dict[str, DistMetadata] = {}
        # DistFile.url -> what its page promised of a .metadata file (PEP 658: bool or hashes)
        self._promises: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}  # PEP 700 sizes from JSON pages, by credential-free URL
        self._tag_rank = {tag: i for i, tag in enumerate(base.parsed_tags)}
        self._set_aside: dict[NormalizedName, tuple[SetAside, ...]] = {}
        self._missing: set[NormalizedName] = set()
        self._lock = threading.Lock()
        # Prefetching (``prefetch``): a pool made on first use, and one lock per release list
        # or metadata file, so a thread and the resolver never fetch the same thing twice.
        self.prefetch_threads = prefetch_threads
        self._pool: ThreadPoolExecutor | None = None
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._pages = PageFetcher(self.session, self.cache, self._note_page)
        self._locations: list[tuple[str, bool]] = []  # (url, is an index) per source
        for url in config.sources:
            is_index = not config.no_index and url in config.index_urls
            if not is_index and "://" not in url and not Path(url).exists():
                # pip skips a missing find-links location with a warning too.
                logger.warning("find-links location %s does not exist; ignored", url)
                continue
            self._locations.append((url, is_index))
        self._finders: list[_Source] | None = None  # made on first use (``_sources``)
        self._finders_lock = threading.Lock()
        # Release lists are kept (release_cache.py) only when every source is a page of an
        # index over HTTP(S), whose kept copy says whether it changed.
        self._keeps_releases = bool(self._locations) and all(
            is_index and httpcache.cacheable_url(url) for url, is_index in self._locations
        )
        # Pages are asked for again by the URL kept (credential-free) only for indexes
        # whose URLs carry no credentials.
        self._plain_urls = all(strip_credentials(url) == url for url, _ in self._locations)

    @property
    def _sources(self) -> list[_Source]:
        if self._finders is None:
            with self._finders_lock:
                if self._finders is None:
                    from overlock.index.finder import BaseTarget, make_finder

                    target = BaseTarget(self.base)
                    self._finders = [
                        _Source(
                            strip_credentials(url),
                            make_finder(
                                self._pages,
                                url,
                                is_index=is_index,
                                target=target,
                                trusted_hosts=self.config.trusted_hosts,
                            ),
                        )
                        for url, is_index in self._locations
                    ]
        return self._finders

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.session.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, int]:
        """Counts so far (keys: the fields of ``IndexStats``); a plain dict so it goes to JSON."""
        return self.session.stats

    # -- PackageSource ------------------------------------------------------------------------

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every release of ``name`` installable on the base, newest first (see dists/types.py)."""
        name = canonicalize_name(name)
        found = self._releases.get(name)
        if found is not None:
            return found
        with self._key_lock(("releases", name)):  # a prefetch of it may be under way
            found = self._releases.get(name)
            return found if found is not None else self._judge_releases(name)

    def _judge_releases(self, name: NormalizedName) -> Sequence[Release]:
        """``_find_releases``, or what it gave from the same kept pages (release_cache.py)."""
        if not self._keeps_releases:
            return self._find_releases(name)
        path = release_cache.record_path(self.cache, self.config, self.base, name)
        missing_before = self._pages.missing_pages()
        record = release_cache.read(path, name)
        if record is not None:
            pages, judged = record
            config = self.config
            if not config.refresh and release_cache.kept_and_fresh(
                pages, self.cache, offline=config.offline
            ):
                for _ in pages:  # each answered from the cache, as PageFetcher counts it
                    self.session.count("pages_cached")
                return self._adopt(name, judged)
            if not config.offline and self._plain_urls and self._same_pages(pages):
                return self._adopt(name, judged)
        log = self._pages.start_log()
        try:
            found = self._find_releases(name, missing_before)
        finally:
            self._pages.stop_log()
            self._pages.clear_aside()
        if len(log) == len(self._locations) and None not in log:
            files = [f for r in found for f in (r.wheel, r.sdist) if f is not None]
            judged = release_cache.Judged(
                releases=tuple(found),
                set_aside=self._set_aside.get(name, ()),
                missing=name in self._missing,
                promises={f.url: self._promises.get(f.url) for f in files},
            )
            release_cache.save(path, name, [p for p in log if p is not None], judged)
        return found

    def _adopt(self, name: NormalizedName, judged: release_cache.Judged) -> Sequence[Release]:
        self._set_aside[name] = judged.set_aside
        if judged.missing:
            self._missing.add(name)
        self._promises.update(judged.promises)
        self._releases[name] = judged.releases
        return judged.releases

    def _same_pages(self, pages: Sequence[release_cache.PageRead]) -> bool:
        """Fetch ``pages`` again (revalidated or whole, as the index allows): whether each
        is kept with the body it had, from the same place. What was fetched is handed to
        unearth when it is not: no page is asked for twice."""
        for page in pages:
            resp = self._pages.get(page.url, headers={"Accept": page.accept})
            read = self._pages.last_read()
            self._pages.set_aside(page.url, page.accept, resp, read)
            if resp.status_code != 200 or read != page:
                return False
        self._pages.clear_aside()
        return True

    def _find_releases(
        self, name: NormalizedName, missing_before: int | None = None
    ) -> Sequence[Release]:
        # version -> [(rank, link)]; rank orders yanked last, then tag priority, then source.
        wheels: dict[Version, list[tuple[tuple[int, int, Any, int], Link, str]]] = {}
        sdists: dict[Version, list[tuple[tuple[int, int], Link, str]]] = {}
        unusable: dict[Version, str] = {}
        pages_missing = self._pages.missing_pages() if missing_before is None else missing_before
        for order, source in enumerate(self._sources):
            for package in self._find(source, name):
                version = _version(package)
                if version is None:
                    continue
                link = package.link
                self._check_page_hash(link, source.label)
                yanked = int(link.yank_reason is not None)
                # unearth offers every file (ignore_compatibility): judged here, so what is
                # left out can be explained. Tags first: they cost nothing.
                reason = None
                if link.is_wheel and parse_wheel_filename(link.filename)[3].isdisjoint(
                    self._tag_rank
                ):
                    reason = compat.tags_reason(self.base)
                else:
                    requires_python = link.requires_python
                    if link.is_wheel and link.is_file and not requires_python:
                        # find-links directories have no page to carry Requires-Python; the
                        # wheel itself is at hand, so judge it now rather than offer a wheel
                        # the base cannot use.
                        requires_python = self._local_requires_python(name, link)
                    reason = compat.python_reason(self.base, requires_python)
                if reason is not None:
                    # Requires-Python says more than one platform's wheel among many.
                    if version not in unusable or not reason.startswith(compat.TAGS_PREFIX):
                        unusable[version] = reason
                    continue
                if link.is_wheel:
                    _, _, build, file_tags = parse_wheel_filename(link.filename)
                    rank = min(self._tag_rank.get(t, len(self._tag_rank)) for t in file_tags)
                    # A higher build number wins among equal tags, as in pip.
                    neg_build = tuple(-b if isinstance(b, int) else 0 for b in build)
                    key = (yanked, rank, neg_build, order)
                    wheels.setdefault(version, []).append((key, link, source.label))
                else:
                    sdists.setdefault(version, []).append(((yanked, order), link, source.label))
        out: list[Release] = []
        for version in sorted(set(wheels) | set(sdists), reverse=True):
            wheel = sdist = None
            if version in wheels:
                _, link, label = min(wheels[version], key=lambda item: item[0])
                wheel = self._dist_file(link, label)
            if version in sdists:
                _, link, label = min(sdists[version], key=lambda item: item[0])
                sdist = self._dist_file(link, label)
            out.append(Release(name=name, version=version, wheel=wheel, sdist=sdist))
        self._releases[name] = tuple(out)
        self._set_aside[name] = tuple(
            SetAside(v, why)
            for v, why in sorted(unusable.items(), reverse=True)
            if v not in wheels and v not in sdists
        )
        if not out and not unusable and self._pages.missing_pages() > pages_missing:
            self._missing.add(name)
        logger.debug("%s: %d releases usable on the base", name, len(out))
        return self._releases[name]

    def set_aside(self, name: NormalizedName) -> Sequence[SetAside]:
        """Releases of ``name`` with no file usable on the base, each with the reason."""
        name = canonicalize_name(name)
        self.releases(name)
        return self._set_aside.get(name, ())

    def missing(self, name: NormalizedName) -> bool:
        """Whether every index answered "no such project" (404) for ``name``."""
        name = canonicalize_name(name)
        self.releases(name)
        return name in self._missing

    def sdist_only(self, name: NormalizedName) -> bool:
        """True when ``name`` has releases but none with a wheel for the base."""
        found = self.releases(name)
        return bool(found) and all(r.wheel is None for r in found)

    def metadata(self, release: Release) -> DistMetadata:
        """Core metadata of ``release``'s wheel: cache, PEP 658, range requests, download."""
        wheel = release.wheel
        if wheel is None:
            raise self._build_required(release)
        memo = self._metadata.get(wheel.url)
        if memo is not None:
            return memo
        with self._key_lock(("metadata", wheel.url)):
            memo = self._metadata.get(wheel.url)
            return memo if memo is not None else self._fetch_metadata(release, wheel)

    def _fetch_metadata(self, release: Release, wheel: DistFile) -> DistMetadata:
        data = self._metadata_bytes(release.name, wheel)
        meta = parse_metadata(data, release.name, str(release.version))
        if meta.name != release.name or not same_version(meta.version, str(release.version)):
            # The install would refuse this wheel (sync/install.py); so must the lock.
            raise IndexError_(
                f"{wheel.filename} from {self.session.scrub(wheel.url)} is not a valid wheel: its"
                f" metadata names {meta.name} {meta.version}, not {release.name}"
                f" {release.version} as its file name says",
                hint="the index serves a broken or tampered wheel; require another version",
            )
        self._metadata[wheel.url] = meta
        return meta

    def direct(self, requirement: Requirement) -> Release:
        """The release a direct reference (``name @ URL``) to a wheel points at.

        The index serves wheels only: a source reaches it where overlock may not build it
        (build/sources.py decides), or where only a wheel will do (a build's own requirements).
        """
        if not requirement.url:
            raise BadInputError(f"{requirement} is not a direct reference (`name @ URL`)")
        url = requirement.url
        shown = self.session.scrub(redact_url(url))
        name = canonicalize_name(requirement.name)
        if url.startswith(_VCS_PREFIXES):
            raise BuildRequiredError(
                f"{requirement.name} @ {shown} is a version-control reference; overlock cannot"
                " build it here",
                hint=f"{WHAT_IS_BUILT}; otherwise point at a built wheel (`name @ https://.../x.whl`)",
            )
        parts = urlsplit(url)
        path_part = unquote(parts.path)
        filename = path_part.rstrip("/").rsplit("/", 1)[-1]
        if parts.scheme == "file" and _file_url_path(url).is_dir():
            raise BuildRequiredError(
                f"{requirement.name} @ {shown} is a source directory; overlock cannot build"
                " it here",
                hint=f"{WHAT_IS_BUILT}; otherwise build a wheel and point at it",
            )
        if not filename.endswith(".whl"):
            raise BuildRequiredError(
                f"{requirement.name} @ {shown} is not a wheel; overlock cannot build it here",
                hint=f"{WHAT_IS_BUILT}; otherwise point at a built wheel (`name @ URL/x.whl`)",
            )
        try:
            wheel_name, version, _, file_tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise BadInputError(f"{requirement.name} @ {shown}: {exc}") from None
        if wheel_name != name:
            raise BadInputError(
                f"{requirement.name} @ {shown} points at a wheel of {wheel_name}, not {name}"
            )
        if file_tags.isdisjoint(self._tag_rank):
            raise BadInputError(
                f"{filename} (from `{requirement.name} @ {shown}`) cannot be installed on the base"
                f" (Python {self.base.python_version}, tags {', '.join(self.base.tags[:2])}...)",
                hint="point at a wheel built for the base's Python and platform",
            )
        hashes = fragment_hashes(url, hashlib.algorithms_guaranteed)
        clean = strip_credentials(without_fragment(url))
        dist = DistFile(filename=filename, url=clean, hashes=hashes)
        if "sha256" not in hashes:
            # Locks need a sha256 for every file: fetch it once (the cache keeps it for sync).
            path = self.download(dist)
            hashes["sha256"] = path.parent.name
            dist = DistFile(filename=filename, url=clean, hashes=hashes, size=path.stat().st_size)
        return Release(name=name, version=version, wheel=dist, direct=True)

    def download(self, file: DistFile, *, on_bytes: Callable[[int], object] | None = None) -> Path:
        """The file in the cache, fetched and verified (size and sha256) if not there yet.

        ``on_bytes(n)`` hears of each piece as it arrives (a progress line); a retried
        download takes back what its failed try had counted."""
        expected = file.sha256
        if expected:
            cached = self.cache.wheel(expected, file.filename)
            if cached is not None:
                self.session.count("cache_hits")
                return cached
        local = _local_path(file.url)
        # A download stops at the size the lock records, else at a cap (limits.py).
        limit = file.size if file.size is not None else max_download()
        with self.cache.scratch() as tmp:
            dest = tmp / file.filename
            try:
                if local is not None:
                    self.session.count("downloads")
                    try:
                        digest, size = _copy_hashing(local, dest, limit, on_bytes)
                    except OSError as exc:
                        raise IndexError_(f"cannot read {local}: {exc.strerror or exc}") from None
                elif self.config.offline:
                    raise self.session.offline_error(file.filename)
                else:
                    digest, size = self.session.fetch_to(file.url, dest, limit, on_bytes)
            except BodyTooLarge as exc:
                raise self._download_too_large(file, exc, limit) from None
            self._verify(file, digest, size)
            return self.cache.adopt_wheel(digest, file.filename, dest)

    def complete(self, file: DistFile) -> DistFile:
        """``file`` with the size and sha256 a lock entry needs, asking as little as possible.

        A page that gives the hash but no size (PEP 503 HTML) costs one HEAD request; a file
        with no hash on its page has to be downloaded (into the cache, for sync to reuse).
        """
        if file.sha256 and file.size is not None:
            return file
        sha256, size = file.sha256, file.size
        local = _local_path(file.url)
        if sha256:
            cached = self.cache.wheel(sha256, file.filename)
            if cached is not None:
                size = cached.stat().st_size
            elif local is not None:
                size = local.stat().st_size
            else:
                size = self._head_size(file.url)
        if not sha256 or size is None:
            path = self.download(file)
            sha256, size = path.parent.name, path.stat().st_size
        return replace(file, hashes={**file.hashes, "sha256": sha256}, size=size)

    def _head_size(self, url: str) -> int | None:
        if self.config.offline:
            return None  # the file itself may be in the cache (else download says so)
        try:
            response = self.session.head(url)
        except IndexError_:
            return None
        length = response.headers.get("Content-Length")
        if response.status_code != 200 or not (length and length.isdigit()):
            return None
        return int(length)

    # -- finding ------------------------------------------------------------------------------

    def _find(self, source: _Source, name: str) -> Iterator[Package]:
        try:
            yield from source.finder.find_all_packages(name, allow_yanked=True)
        except ValueError as exc:  # unearth: an unusable find-links location, or a bad URL
            raise IndexError_(self.session.scrub(f"{source.label}: {exc}")) from None
        except (TypeError, KeyError, AttributeError) as exc:
            # unearth trusts a JSON page's types (a number where a URL goes, a list for a
            # table); an index is untrusted input, so such a page is an error of the index.
            raise IndexError_(
                self.session.scrub(
                    f"the index page for {name} at {source.label} is malformed"
                    f" ({type(exc).__name__}: {exc})"
                ),
                hint="the index serves a page that breaks PEP 691; tell its maintainers",
            ) from None

    def _dist_file(self, link: Link, label: str) -> DistFile:
        url = strip_credentials(link.url_without_fragment)
        hashes: dict[str, str] = {}
        if link.hashes:
            hashes.update({k.lower(): v.lower() for k, v in link.hashes.items()})
        elif link.hash_name and link.hash:
            hashes[link.hash_name] = link.hash.lower()
        for algo, value in hashes.items():
            # A page is untrusted: a "hash" that is no hex digest would otherwise reach the
            # cache's keys (and the lock) as if it were one.
            if algo in _HEX_LENGTHS and not _is_hex(value, _HEX_LENGTHS[algo]):
                raise IndexError_(
                    self.session.scrub(
                        f"the index page at {label} gives {link.filename} a {algo} that is not"
                        f" {_HEX_LENGTHS[algo]} hex digits: {value[:80]!r}"
                    ),
                    hint="the index is broken or serves a hostile page; tell its maintainers",
                )
        size = self._sizes.get(url)
        if link.is_file:
            path = link.file_path
            with contextlib.suppress(OSError):
                size = path.stat().st_size
                if "sha256" not in hashes:
                    # Local files often come with no hash (find-links directories); hashing
                    # them here is cheap and remembered, and every locked file needs one.
                    hashes["sha256"] = self.cache.local_hash(path)
        # JSON pages may say ``"yanked": true``; unearth passes that bool through as the reason.
        yank: object = link.yank_reason
        yanked = None if yank is None or yank is False else ("" if yank is True else str(yank))
        self._promises[url] = link.dist_info_metadata
        return DistFile(
            filename=link.filename,
            url=url,
            hashes=hashes,
            size=size,
            requires_python=link.requires_python,
            yanked=yanked,
            has_metadata=bool(link.dist_info_metadata),
            index=label,
        )

    def _check_page_hash(self, link: Link, label: str) -> None:
        """A page's sha256 names a cache entry and goes into the lock: it must be one."""
        given = (link.hashes or {}).get("sha256")
        if given is None and link.hash_name == "sha256":
            given = link.hash
        if given is None:
            return
        try:
            untrusted.sha256(given, f"the sha256 of {link.filename}")
        except untrusted.UntrustedValue as exc:
            raise IndexError_(
                self.session.scrub(f"{label}: {exc}"),
                hint="the index serves a damaged page; retry later, or tell its maintainers",
            ) from None

    def _local_requires_python(self, name: str, link: Link) -> str | None:
        path = link.file_path
        try:
            sha = link.hash if link.hash_name == "sha256" and link.hash else None
            sha = sha or self.cache.local_hash(path)
        except OSError:
            return None
        data = self.cache.get_metadata(sha)
        if data is None:
            try:
                data = _read_local_metadata(path, name, link.filename)
            except IndexError_:
                return None  # unusable wheels are reported if the resolver picks them
            self.session.count("local_reads")
            self.cache.put_metadata(sha, data)
        return parse_metadata(data).requires_python

    def _note_page(self, resp: httpx2.Response) -> None:
        self._sizes.update(file_sizes(resp))

    # -- fetching ahead -----------------------------------------------------------------------

    def prefetch(
        self,
        wanted: Iterable[tuple[NormalizedName, Callable[[Sequence[Release]], Release | None]]],
    ) -> None:
        """Fetch, in threads, the releases of each wanted name and the metadata of the
        release the resolver will likely try first (the second item picks it).

        Only a guess and only ahead of time: the resolver still asks for everything it uses,
        in its own order, and gets what a thread already fetched (the same bytes it would
        have fetched itself), so the lock does not depend on it. What fails here is dropped;
        the resolver's own request fails the same way if it is ever made.
        """
        if self.prefetch_threads <= 0:
            return
        for name, guess in wanted:
            name = canonicalize_name(name)
            if name in self._releases:
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.prefetch_threads, thread_name_prefix="overlock-prefetch"
                )
            self._pool.submit(self._prefetch_one, name, guess)

    def _prefetch_one(
        self, name: NormalizedName, guess: Callable[[Sequence[Release]], Release | None]
    ) -> None:
        try:
            first = guess(self.releases(name))
            if first is not None and first.wheel is not None:
                self.metadata(first)
        except Exception as exc:  # dropped: see prefetch's docstring
            logger.debug("prefetching %s: %s", name, exc)

    def _key_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    # -- metadata -----------------------------------------------------------------------------

    def _metadata_bytes(self, name: str, wheel: DistFile) -> bytes:
        sha = wheel.sha256
        if sha:
            cached = self.cache.get_metadata(sha)
            if cached is not None:
                self.session.count("cache_hits")
                return cached
            cached_wheel = self.cache.wheel(sha, wheel.filename)
            if cached_wheel is not None:
                self.session.count("cache_hits")
                data = _read_local_metadata(cached_wheel, name, wheel.filename)
                self.cache.put_metadata(sha, data)
                return data
        local = _local_path(wheel.url)
        if local is not None:
            self.session.count("local_reads")
            data = _read_local_metadata(local, name, wheel.filename)
        else:
            data = self._remote_metadata(name, wheel)
        if sha:
            self.cache.put_metadata(sha, data)
        return data

    def _remote_metadata(self, name: str, wheel: DistFile) -> bytes:
        if self.config.offline:
            raise self.session.offline_error(f"the metadata of {wheel.filename}")
        if wheel.has_metadata:
            data = self._pep658(wheel)
            if data is not None:
                return data
        try:
            data, _ = lazywheel.read_metadata(self.session.range_fetcher(wheel.url), name)
            return data
        except lazywheel.RangeNotSupported as exc:
            logger.info("%s: no range requests (%s); downloading it whole", wheel.url, exc)
        except BadWheel as exc:
            raise IndexError_(
                f"{wheel.filename} from {wheel.url} is not a usable wheel: {exc}"
            ) from None
        return _read_local_metadata(self.download(wheel), name, wheel.filename)

    def _pep658(self, wheel: DistFile) -> bytes | None:
        url = wheel.url + ".metadata"
        self.session.count("metadata_requests")
        resp = self.session.get(url)
        if resp.status_code in (404, 410):
            logger.info("%s: advertised .metadata is missing; reading the wheel instead", wheel.url)
            return None
        if resp.status_code >= 400:
            raise self.session.status_error(url, resp.status_code)
        data = resp.content
        promised = self._promises.get(wheel.url)
        if isinstance(promised, dict):
            for algo, value in promised.items():
                if algo in hashlib.algorithms_guaranteed:
                    got = hashlib.new(algo, data).hexdigest()
                    if got != str(value).lower():
                        raise HashMismatchError(
                            f"{wheel.filename}.metadata from {wheel.url} has {algo} {got}, but the"
                            f" index promised {value}",
                            hint="the index or a proxy is serving a damaged file; retry later",
                        )
                    break
        return data

    def _download_too_large(self, file: DistFile, exc: BodyTooLarge, limit: int) -> OverlockError:
        shown = self.session.scrub(file.url)
        got = (
            f"the server announced {exc.got} bytes"
            if exc.declared
            else f"the download was stopped after {exc.got} bytes"
        )
        if file.size is not None:
            return HashMismatchError(
                f"{file.filename} from {shown} is larger than the {file.size} bytes"
                f" {file.index or 'the lock'} promised: {got}",
                hint="the file changed on the index or was damaged on the way (a proxy?);"
                " nothing was kept",
            )
        return IndexError_(
            f"{file.filename} from {shown} is larger than {human_size(limit)}, the most"
            f" overlock downloads for a file of unknown size: {got}",
            hint=f"set {MAX_DOWNLOAD_ENV} (for example 16G) to allow larger files",
        )

    def _verify(self, file: DistFile, digest: str, size: int) -> None:
        expected = file.sha256
        if expected and digest != expected.lower():
            raise HashMismatchError(
                f"{file.filename} from {self.session.scrub(file.url)} has sha256 {digest}, but"
                f" {file.index or 'the lock'} promised {expected}",
                hint="the file changed on the index or was damaged on the way (a proxy?);"
                " nothing was kept: retry, and tell the index's maintainers if it persists",
            )
        if file.size is not None and size != file.size:
            raise HashMismatchError(
                f"{file.filename} from {self.session.scrub(file.url)} is {size} bytes, but"
                f" {file.index or 'the lock'} promised {file.size}",
                hint="the download was damaged or cut short; nothing was kept — retry",
            )

    def _build_required(self, release: Release) -> BuildRequiredError:
        what = f"{release.name} {release.version}"
        if release.sdist is not None:
            return BuildRequiredError(
                f"{what} has only a source distribution ({release.sdist.filename}) for this base;"
                " overlock cannot build it here",
                hint=f"{WHAT_IS_BUILT}; otherwise require a version of {release.name} that has a"
                f" wheel for Python {self.base.py_short} on this platform",
            )
        return BuildRequiredError(f"{what} has no wheel usable on this base", hint=WHAT_IS_BUILT)


# -- module helpers ---------------------------------------------------------------------------


_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


def _version(package: Package) -> Version | None:
    try:
        return Version(package.version) if package.version else None
    except InvalidVersion:
        return None


def _local_path(url: str) -> Path | None:
    if not url.startswith("file:"):
        return None
    return _file_url_path(url)


def _file_url_path(url: str) -> Path:
    from unearth.utils import url_to_path

    return url_to_path(url.split("#", 1)[0])


def _copy_hashing(
    src: Path, dest: Path, limit: int, on_bytes: Callable[[int], object] | None = None
) -> tuple[str, int]:
    # O_NONBLOCK: a FIFO named like a wheel is refused at once, not waited on.
    fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as fin, open(dest, "wb") as fout:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(src))
        os.set_blocking(fd, True)
        try:
            return copy_hashing(fin, fout, limit=limit, on_bytes=on_bytes)
        except TooLarge as exc:
            raise BodyTooLarge(limit, exc.got, declared=False) from None


def _read_local_metadata(path: Path, name: str, filename: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.read(metadata_member(zf.namelist(), name))
    except (OSError, zipfile.BadZipFile, BadWheel, KeyError) as exc:
        raise IndexError_(f"{filename} is not a usable wheel: {exc}") from None


__all__ = [
    "Index",
    "IndexStats",
]
