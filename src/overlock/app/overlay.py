"""From overlay.toml to the things every command needs: the base, the index, the lock path."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from overlock import redact
from overlock.base.env import BaseEnv, load_snapshot
from overlock.base.hiding import hide
from overlock.base.probe_cache import probe_cached
from overlock.cache import Cache
from overlock.index.pipconfig import IndexConfig
from overlock.locations import manifest_path
from overlock.lock.pylock import Lock, lock_path_for, read_lock
from overlock.manifest.load import load_manifest
from overlock.manifest.model import Manifest
from overlock.prefix.layers import stacked_base
from overlock.prefix.state import Owner

if TYPE_CHECKING:
    from overlock.index.client import Index


@dataclass(frozen=True)
class IndexOptions:
    """pip's index options given on the command line, for one run."""

    index_url: str | None = None  # replaces the primary index
    extra_index_urls: tuple[str, ...] = ()  # added after the configured ones
    find_links: tuple[str, ...] = ()  # added after the configured ones
    no_index: bool = False
    # How the index may be used this run; not "where from", so not counted by __bool__ (a
    # lock that is current stays current under --offline or --refresh).
    offline: bool = False
    refresh: bool = False
    # --proxy: how requests travel, not where packages come from (so not in __bool__).
    proxy: str | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        """Whether the options change where packages come from."""
        return bool(self.index_url or self.extra_index_urls or self.find_links or self.no_index)

    def applied_to(self, config: IndexConfig) -> IndexConfig:
        config = replace(
            config, offline=config.offline or self.offline, refresh=config.refresh or self.refresh
        )
        if self.proxy:
            config = replace(config, proxy=self.proxy)
        if not self:
            return config
        primary = self.index_url or config.index_urls[0]
        return replace(
            config,
            index_urls=(primary, *config.index_urls[1:], *self.extra_index_urls),
            find_links=(*config.find_links, *self.find_links),
            no_index=self.no_index or config.no_index,
            origin=f"{config.origin}, with command-line options",
        )


def seen_base(manifest: Manifest, environment: Callable[[Manifest], BaseEnv]) -> BaseEnv:
    """The base as ``manifest``'s overlay sees it: ``environment`` (of the bottom overlay of
    the stack) with every lower overlay on it, and what ``hide`` names withheld."""
    if manifest.base_overlay is not None:
        return hide(stacked_base(manifest, environment), manifest.hide)
    return hide(environment(manifest), manifest.hide)


def default_manifest_path() -> Path:
    return Path(manifest_path(os.environ))


@dataclass
class Overlay:
    """One overlay: its manifest and, on demand, its base, index and lock."""

    manifest: Manifest
    # --index-url/--extra-index-url/--find-links/--no-index of this run (cli/common.py), on top
    # of overlay.toml's [index] or pip's configuration, as pip's own options are.
    index_options: IndexOptions | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Overlay:
        manifest = load_manifest((path or default_manifest_path()).absolute())
        redact.remember(manifest.credential_urls)
        return cls(manifest)

    def with_index_options(self, options: IndexOptions) -> Overlay:
        """This overlay with other index options (and nothing computed from the old ones)."""
        return Overlay(self.manifest, options)

    @cached_property
    def base(self) -> BaseEnv:
        """What this overlay sits on: the environment, lower overlays, minus ``hide``."""
        return seen_base(self.manifest, self.environment)

    def environment(self, manifest: Manifest) -> BaseEnv:
        """The environment ``manifest`` names (not through any lower overlay)."""
        if manifest.base_snapshot is not None:
            return load_snapshot(manifest.base_snapshot)
        assert manifest.base is not None
        return probe_cached(manifest.base, self.cache.root)

    @property
    def lock_path(self) -> Path:
        return lock_path_for(self.manifest.path)

    def read_lock(self) -> Lock | None:
        if not self.lock_path.exists():
            return None
        return read_lock(self.lock_path)

    @property
    def prefix(self) -> Path:
        return self.manifest.prefix(self.base.prefix)

    @property
    def owner(self) -> Owner:
        """This overlay, as the state of a prefix it syncs records it."""
        return Owner(str(self.manifest.path), self.manifest.overlay_name(self.base.prefix))

    @cached_property
    def index_config(self) -> IndexConfig:
        # The base's own pip.conf (pip's "site" file, BASE/pip.conf) is pip's configuration
        # for installing into the base: the natural place for a facility's mirror.
        config = IndexConfig.from_pip_config(site_prefix=self.base.prefix)
        settings = self.manifest.index
        if settings is not None:
            config = IndexConfig.from_manifest(settings.urls, settings.find_links, config)
        if self.index_options is not None:
            config = self.index_options.applied_to(config)
        redact.remember(config.sources)
        # A direct reference's credentials reach its host the way an index's do.
        return replace(config, auth_urls=self.manifest.credential_urls)

    @cached_property
    def cache(self) -> Cache:
        return Cache.default()

    def index(self, base: BaseEnv | None = None) -> Index:
        """The index as configured, judged for ``base`` (default: the manifest's base)."""
        # Imported here: the HTTP stack is only needed by commands that talk to an index.
        from overlock.index.client import Index

        return Index(self.index_config, base or self.base, self.cache)
