"""What a value read from a shared file may be: a lock, a snapshot, an index page, a wheel.

``pylock.overlay.toml`` is committed and shared, snapshots travel between machines, index
pages and wheels come from the network: any of them may be hostile. Each checker here takes
the value and the key it was read from and returns the value, or raises ``UntrustedValue``
whose message names the key; the reader of each file turns that into its own error naming
the file. A value that passes is safe to put on a command line after ``--``, into a path
under a scratch directory, or on a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name, is_normalized_name
from packaging.version import InvalidVersion, Version

from overlock.redact import redact_text

_HEX40_64 = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# pip's git schemes (``git+https://`` ...) without their ``git+``: nothing that lets git
# run a program (``ext::``) or read a local bundle by an option-looking name.
GIT_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})
FILE_SCHEMES = frozenset({"https", "http", "file"})


def _shown(value: str) -> str:
    """A bad value as a message quotes it: escaped, credentials masked."""
    return redact_text(repr(value))


class UntrustedValue(ValueError):
    """A value that is not what its key may hold; the message names the key."""


def text(value: Any, key: str) -> str:
    """A string with no control characters (they could end a line of a shell script, or
    move a terminal's cursor)."""
    if not isinstance(value, str):
        raise UntrustedValue(f"{key} must be a string, not {type(value).__name__}")
    found = _CONTROL.search(value)
    if found:
        raise UntrustedValue(f"{key} holds the control character {found.group()!r}")
    return value


def optional_text(value: Any, key: str) -> str | None:
    return None if value is None else text(value, key)


def texts(value: Any, key: str) -> tuple[str, ...]:
    """A list of strings (absent: empty)."""
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise UntrustedValue(f"{key} must be a list of strings, not {type(value).__name__}")
    return tuple(text(v, f"{key}[{i}]") for i, v in enumerate(value))


def option_safe(value: Any, key: str) -> str:
    """Text that cannot be read as a command-line option."""
    checked = text(value, key)
    if checked.startswith("-"):
        raise UntrustedValue(f"{key} starts with '-' ({_shown(checked)})")
    return checked


def name(value: Any, key: str) -> NormalizedName:
    checked = text(value, key)
    if not is_normalized_name(canonicalize_name(checked)) or not checked:
        raise UntrustedValue(f"{key} is not a project name: {_shown(checked)}")
    return canonicalize_name(checked)


def version(value: Any, key: str) -> str:
    checked = text(value, key)
    try:
        Version(checked)
    except InvalidVersion:
        raise UntrustedValue(f"{key} is not a version: {_shown(checked)}") from None
    return checked


def sha256(value: Any, key: str) -> str:
    checked = text(value, key)
    if not _SHA256.fullmatch(checked.lower()):
        raise UntrustedValue(f"{key} is not a sha256 (64 hexadecimal digits): {_shown(checked)}")
    return checked.lower()


def commit_id(value: Any, key: str) -> str:
    checked = text(value, key)
    if not _HEX40_64.fullmatch(checked.lower()):
        raise UntrustedValue(
            f"{key} is not a full git commit id (40 or 64 hexadecimal digits): {_shown(checked)}"
        )
    return checked.lower()


def url(value: Any, key: str, schemes: frozenset[str]) -> str:
    """A URL of one of ``schemes`` with a host (or a ``file:`` path)."""
    checked = option_safe(value, key)
    if any(c.isspace() for c in checked):
        raise UntrustedValue(f"{key} holds white space: {_shown(checked)}")
    try:
        parts = urlsplit(checked)
        parts.port  # noqa: B018 - raises ValueError on a bad port or an unclosed [IPv6
    except ValueError as exc:
        raise UntrustedValue(f"{key} is not a valid URL ({exc}): {_shown(checked)}") from None
    if parts.scheme.lower() not in schemes:
        allowed = ", ".join(f"{s}://" for s in sorted(schemes))
        raise UntrustedValue(f"{key} must be a URL ({allowed}), not {_shown(checked)}")
    if parts.scheme.lower() != "file" and not parts.hostname:
        raise UntrustedValue(f"{key} has no host: {_shown(checked)}")
    return checked


def git_url(value: Any, key: str) -> str:
    """A repository URL git may be given: https, http, ssh, git or file."""
    return url(value, key, GIT_SCHEMES)


def file_url(value: Any, key: str) -> str:
    """Where a locked file is downloaded from: https, http or file."""
    return url(value, key, FILE_SCHEMES)


def git_revision(value: Any, key: str) -> str:
    """A branch, tag or commit name: no option, no white space, no revision syntax that
    reaches outside the name (``..``, ``@{``), as ``git check-ref-format`` would have it."""
    checked = option_safe(value, key)
    if not checked or any(c.isspace() for c in checked) or ".." in checked or "@{" in checked:
        raise UntrustedValue(f"{key} is not a branch, tag or commit name: {_shown(checked)}")
    return checked


def relative_path(value: Any, key: str) -> str:
    """A relative path that stays below where it is joined (a ``subdirectory``)."""
    checked = text(value, key)
    path = PurePosixPath(checked)
    if not checked or path.is_absolute() or ".." in path.parts or "\\" in checked:
        raise UntrustedValue(f"{key} must be a relative path inside the source: {_shown(checked)}")
    return checked


__all__ = [
    "FILE_SCHEMES",
    "GIT_SCHEMES",
    "UntrustedValue",
    "commit_id",
    "file_url",
    "git_revision",
    "git_url",
    "name",
    "option_safe",
    "optional_text",
    "relative_path",
    "sha256",
    "text",
    "texts",
    "version",
]
