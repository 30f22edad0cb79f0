"""overlay.toml as values: its schema and the ``Manifest`` a valid file becomes.

Format 1::

    [overlay]
    base = "/opt/conda/envs/analysis"      # or: base-snapshot = "base.json" (exactly one)
    prefix = "/some/path/overlays/{name}"  # relative to overlay.toml; only {name} is substituted
    name = "analysis-hotfix"               # optional; default: the base's directory name
    requires = [
        "seaborn==0.13.2",                 # PEP 508; direct references allowed
        { name = "ophyd", path = "../src/ophyd", editable = true },   # a local tree
        { name = "bluesky", git = "https://github.com/bluesky/bluesky", rev = "v1.13.0" },
    ]
    hide = ["python-ldap"]                 # base distributions made invisible (base/hiding.py)
    # format = 1                           # optional; see below

    [index]                                # optional; absent: the user's pip configuration
    urls = ["https://index.example.org/simple"]
    find-links = []

    [resolve]                              # optional
    shadow = "auto"                        # or "explicit"
    allow-build = false                    # true: build dependencies published only as sdists
    prereleases = "pep440"                 # or one of policy.PRERELEASE_MODES
    only-binary = []                       # names (or ":all:") never built from an sdist
    no-binary = []                         # names (or ":all:") built from their sdist
    upstream-metadata = "warn"             # or "enforce", "off": caps the index's metadata of a
                                           # Debian/conda base package declares, its copy not

Table entries of ``requires`` name sources that are built (PEP 517, by the base's
interpreter): ``path`` (relative to overlay.toml; ``editable = true`` for PEP 660) or ``git``
(a URL, or a local repository path; ``rev`` a branch, tag or commit; ``subdirectory``).

Reading and validating it is ``load.py`` (with ``positions.py`` for line numbers); the
template ``overlock init`` writes is ``template.py``; editing ``requires`` is ``edit.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from overlock import locations
from overlock.redact import has_credentials, strip_text

MANIFEST_FILENAME = locations.MANIFEST_FILENAME
FORMAT_VERSION = 1
SHADOW_POLICIES = ("auto", "explicit")
NAME_PLACEHOLDER = "name"  # the only placeholder allowed in ``prefix``
URL_SCHEMES = ("http", "https", "file")

# Table -> keys it may hold, in the order they are documented.
SCHEMA: Mapping[str, tuple[str, ...]] = {
    "overlay": ("base", "base-snapshot", "prefix", "name", "requires", "hide", "format"),
    "index": ("urls", "find-links"),
    "resolve": (
        "shadow",
        "allow-build",
        "prereleases",
        "only-binary",
        "no-binary",
        "upstream-metadata",
        "keep",
    ),
}
# [resolve] upstream-metadata: what to do with requirements that the index's metadata of a base
# distribution declares and the base's copy (installed by Debian, conda) does not.
UPSTREAM_POLICIES = ("warn", "enforce", "off")
# Keys of a table entry in ``requires`` (a source to build), in the order they are written.
SOURCE_KEYS = ("name", "path", "editable", "git", "rev", "subdirectory")
GIT_URL_SCHEMES = ("https", "http", "ssh", "git", "file")

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class IndexSettings:
    """The ``[index]`` table. Its absence means: follow the user's pip configuration."""

    urls: tuple[str, ...] = ()  # the first is the primary index
    find_links: tuple[str, ...] = ()  # relative paths already made absolute


@dataclass(frozen=True)
class SourceEntry:
    """A table entry of ``requires``: a local tree or a git repository, built for the base."""

    name: NormalizedName
    url: str  # the PEP 508 URL it stands for (``file:///abs``, ``git+URL@rev``)
    path: str | None = None  # as written (relative to overlay.toml, or absolute)
    editable: bool = False
    git: str | None = None  # as written
    rev: str | None = None
    subdirectory: str | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path  # absolute path of overlay.toml
    base: str | None  # environment prefix or python executable; relative ones made absolute
    base_snapshot: Path | None  # exactly one of base / base_snapshot is set
    prefix_template: str  # as written; may contain "{name}"
    name: str | None
    requires: tuple[Requirement, ...]
    requires_text: tuple[str, ...]  # each entry as written, same order as ``requires``
    index: IndexSettings | None
    shadow: str  # one of SHADOW_POLICIES
    # Path values exactly as written, so content_hash() survives moving the checkout.
    # None when the Manifest was built in code; then the absolute values stand in.
    base_text: str | None = None
    base_snapshot_text: str | None = None
    find_links_text: tuple[str, ...] | None = None
    sources: tuple[SourceEntry, ...] = ()  # the table entries of ``requires``
    allow_build: bool = False  # [resolve] allow-build
    prereleases: str = "pep440"  # [resolve] prereleases, one of policy.PRERELEASE_MODES
    only_binary: tuple[str, ...] = ()  # [resolve] only-binary, canonical names or ":all:"
    no_binary: tuple[str, ...] = ()  # [resolve] no-binary
    upstream_metadata: str = "warn"  # [resolve] upstream-metadata, one of UPSTREAM_POLICIES
    keep: tuple[NormalizedName, ...] = ()  # [resolve] keep: lower-layer packages never shadowed
    # [overlay] hide: distributions below this overlay made invisible, for the resolver and at
    # run time (base/hiding.py); naming one in ``requires`` too replaces it from the index.
    hide: tuple[NormalizedName, ...] = ()

    @property
    def base_overlay(self) -> Path | None:
        """The lower overlay's overlay.toml when ``base`` names one, else None."""
        if self.base is None or not self.base.endswith(MANIFEST_FILENAME):
            return None
        return Path(self.base)

    def source_for(self, url: str) -> SourceEntry | None:
        """The table entry a requirement URL came from, if it came from one."""
        return next((s for s in self.sources if s.url == url), None)

    @property
    def credential_urls(self) -> tuple[str, ...]:
        """The URLs of this manifest that carry credentials: used to reach their hosts,
        never written anywhere else (see redact.py)."""
        urls = [r.url for r in self.requires if r.url]
        if self.index is not None:
            urls += [*self.index.urls, *self.index.find_links]
        return tuple(u for u in urls if has_credentials(u))

    @property
    def requirement_names(self) -> tuple[NormalizedName, ...]:
        """Canonical names of the projects in ``requires``, first appearance first."""
        return tuple(dict.fromkeys(canonicalize_name(r.name) for r in self.requires))

    def overlay_name(self, base_prefix: str) -> str:
        """``name`` if set, else the base environment's directory name."""
        if self.name is not None:
            return self.name
        # A base at the filesystem root has no directory name; any stable word will do.
        return PurePath(base_prefix).name or "overlay"

    def prefix(self, base_prefix: str) -> Path:
        """Where the overlay lives: ``prefix_template`` with ``{name}`` filled in, absolute."""
        text = self.prefix_template.format(**{NAME_PLACEHOLDER: self.overlay_name(base_prefix)})
        return absolute_path(text, self.path.parent)

    def content_hash(self) -> str:
        """``sha256:<hex>`` of what the manifest means, not how it is formatted.

        Comments, whitespace, key order and quoting style do not change it; any value
        does. Paths enter as written so that moving the checkout does not stale the lock.
        """
        base_snapshot = self.base_snapshot_text
        if base_snapshot is None and self.base_snapshot is not None:
            base_snapshot = str(self.base_snapshot)
        index: dict[str, list[str]] | None = None
        if self.index is not None:
            find_links = self.find_links_text
            # Credentials are not what the manifest means: changing a password must not
            # stale the lock, and the lock's hash must not be a hash of a password.
            index = {
                "urls": [strip_text(u) for u in self.index.urls],
                "find-links": [
                    strip_text(f)
                    for f in (find_links if find_links is not None else self.index.find_links)
                ],
            }
        meaning = {
            "format": FORMAT_VERSION,
            "overlay": {
                "base": self.base_text if self.base_text is not None else self.base,
                "base-snapshot": base_snapshot,
                "prefix": self.prefix_template,
                "name": self.name,
                "requires": [strip_text(t) for t in self.requires_text],
            },
            "index": index,
            "resolve": {"shadow": self.shadow},
        }
        if self.allow_build:  # only when set, so older locks stay current
            meaning["resolve"] = {"shadow": self.shadow, "allow-build": True}
        policy = _policy_meaning(self)
        if policy:
            resolve_meaning: dict[str, Any] = {"shadow": self.shadow, **policy}
            if self.allow_build:
                resolve_meaning["allow-build"] = True
            meaning["resolve"] = resolve_meaning
        if self.upstream_metadata != "warn":  # likewise: only a non-default value counts
            upstream_meaning: dict[str, Any] = {"shadow": self.shadow, **policy}
            if self.allow_build:
                upstream_meaning["allow-build"] = True
            upstream_meaning["upstream-metadata"] = self.upstream_metadata
            meaning["resolve"] = upstream_meaning
        if self.keep:  # likewise
            meaning["keep"] = sorted(self.keep)
        if self.hide:  # likewise
            meaning["hide"] = sorted(self.hide)
        blob = json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _policy_meaning(manifest: Manifest) -> dict[str, Any]:
    """The [resolve] policy keys for content_hash: only those set, so older locks stay current."""
    out: dict[str, Any] = {}
    if manifest.prereleases != "pep440":
        out["prereleases"] = manifest.prereleases
    if manifest.only_binary:
        out["only-binary"] = list(manifest.only_binary)
    if manifest.no_binary:
        out["no-binary"] = list(manifest.no_binary)
    return out


def absolute_path(text: str, root: Path) -> Path:
    # Not resolve(): a base reached through a symlink should stay named the way the user wrote it.
    path = Path(text).expanduser()
    return path if path.is_absolute() else root / path


def is_project_name(text: str) -> bool:
    """A valid project name (PEP 508), by packaging's own rule."""
    try:
        canonicalize_name(text, validate=True)
    except InvalidName:
        return False
    return True
