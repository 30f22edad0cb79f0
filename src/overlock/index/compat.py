"""Whether a distribution file can be used on the base, and if not, why, in words.

The index (index/client.py) and test sources judge files the same way, so a release set aside
before the resolver sees it is explained the same everywhere.
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion

from overlock.base.env import BaseEnv


def python_reason(base: BaseEnv, requires_python: str | None) -> str | None:
    """Why the base's Python rules the file out, or None when it does not."""
    if not requires_python:
        return None
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None  # invalid Requires-Python is ignored, as pip does
    if spec.contains(base.python_version, prereleases=True):
        return None
    return f"the base's Python {base.python_version} does not satisfy Requires-Python {spec}"


TAGS_PREFIX = "no wheel matches the base"


def tags_reason(base: BaseEnv) -> str:
    # A bare linux_* platform leads the list but is never published to an index; the best
    # tag a wheel could carry is the first other one.
    shown = [t for t in base.tags if not t.split("-")[-1].startswith("linux_")]
    best = (shown or list(base.tags) or ["none"])[0]
    return f"{TAGS_PREFIX} (its best tag is {best})"


def wheel_fits(base: BaseEnv, filename: str) -> bool:
    try:
        file_tags = parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return not file_tags.isdisjoint(base.parsed_tags)


def unusable_reason(base: BaseEnv, filename: str, requires_python: str | None) -> str | None:
    """Why ``filename`` cannot be installed on ``base``, or None when it can."""
    if filename.endswith(".whl") and not wheel_fits(base, filename):
        return tags_reason(base)
    return python_reason(base, requires_python)
