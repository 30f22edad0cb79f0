"""PEP 508 requirements as overlock reads them from metadata: their text, their markers, and
when two versions are the same.

Shared by the resolver and ``overlock check``, so both judge a Requires-Dist line the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version


def requirement_text(r: Requirement) -> str:
    """``name[extras]specifier`` (or ``name[extras] @ url``): the requirement without its marker."""
    text = r.name
    if r.extras:
        text += "[" + ",".join(sorted(r.extras)) + "]"
    if r.url:
        return f"{text} @ {r.url}"
    return text + str(r.specifier)


def same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions (1.0 == 1.0.0), else as text."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def marker_true(marker: Marker, env: Mapping[str, str]) -> bool:
    """``marker`` evaluated in ``env`` (a target's marker environment, never the running one)."""
    try:
        return marker.evaluate(dict(env))
    except Exception:  # an undefined marker variable in old metadata: treat as not applying
        return False


__all__ = ["marker_true", "requirement_text", "same_version"]
