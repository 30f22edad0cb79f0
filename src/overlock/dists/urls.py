"""What a distribution URL says besides where it is: its fragment (``#sha256=``,
``#subdirectory=``), read with unearth's ``Link`` as pip reads it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from packaging.direct_url import ArchiveInfo, DirectUrl, DirInfo, VcsInfo

# unearth's Link is imported where it is used: importing any part of unearth loads all of it
# (its finder, httpx2, ssl: ~45 ms), which commands that only read a lock never need.


def fragment_hashes(url: str, algorithms: Collection[str]) -> dict[str, str]:
    """``{algorithm: hex}`` from a ``#sha256=...`` fragment (one hash, as pip reads it), when
    it names one of ``algorithms``."""
    from unearth.link import Link

    found = Link(url).hash_option or {}
    return {name: values[0].lower() for name, values in found.items() if name in algorithms}


def fragment_subdirectory(url: str) -> str | None:
    """``#subdirectory=dir`` of the URL, or None."""
    from unearth.link import Link

    return Link(url).subdirectory or None


def without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


# -- PEP 610 direct_url.json, through packaging's model ---------------------------------------


def archive_direct_url(url: str, sha256: str) -> dict[str, Any]:
    """``direct_url.json`` of a wheel or sdist installed from ``url``."""
    data = dict(DirectUrl(url=url, archive_info=ArchiveInfo(hashes={"sha256": sha256})).to_dict())
    data["archive_info"] = dict(data["archive_info"])
    # PEP 610: producers "SHOULD continue to emit the hash key" they emitted before, for
    # readers older than ``hashes`` (pip before 22.2 among them); packaging writes only hashes.
    data["archive_info"]["hash"] = f"sha256={sha256}"
    return data


def directory_direct_url(url: str, *, editable: bool) -> dict[str, Any]:
    return dict(DirectUrl(url=url, dir_info=DirInfo(editable=editable or None)).to_dict())


def vcs_direct_url(
    url: str, commit_id: str, *, requested_revision: str | None, subdirectory: str | None
) -> dict[str, Any]:
    info = VcsInfo(vcs="git", commit_id=commit_id, requested_revision=requested_revision)
    return dict(DirectUrl(url=url, vcs_info=info, subdirectory=subdirectory).to_dict())
