"""What the resolver may choose: the pre-release mode and the binary policy.

``[resolve] prereleases`` (or ``--prerelease``) is one of ``PRERELEASE_MODES``:

* ``pep440`` (default) - PEP 440 as pip applies it: a pre-release is a candidate when any
  requirement on the package names one (a dependency's too), or when no final release fits.
* ``if-necessary-or-explicit`` - uv's documented default: a pre-release only when the user's
  own requirement (overlay.toml) names one, or when every release of the package is one.
* ``allow`` - pre-releases are ordinary versions.
* ``explicit`` - only for packages whose overlay.toml requirement names a pre-release.
* ``if-necessary`` - only for packages that have nothing but pre-releases.
* ``disallow`` - never.

``only-binary`` / ``no-binary`` (project names, or ``:all:``): a name listed in
``only-binary`` is never built, even with ``allow-build = true``; a name listed in
``no-binary`` is installed from its sdist, which needs ``allow-build = true`` (building is
opted into once, not per option). A name listed explicitly beats ``:all:`` in the other list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from overlock.manifest.constraints import Constraint

PRERELEASE_MODES = (
    "pep440",
    "if-necessary-or-explicit",
    "allow",
    "explicit",
    "if-necessary",
    "disallow",
)
ALL = ":all:"


# The policy in the words of overlay.toml and the CLI, for every hint about something not built.
WHAT_IS_BUILT = (
    "overlock builds only sources named in overlay.toml, sdist-only dependencies with"
    " `allow-build = true` in [resolve], and nothing with --no-build"
)


def binary_names(names: Iterable[str]) -> frozenset[str]:
    """Canonical project names, ``:all:`` kept as it is."""
    return frozenset(n if n == ALL else canonicalize_name(n) for n in names)


@dataclass(frozen=True)
class ResolvePolicy:
    prereleases: str = "pep440"
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    allow_build: bool = False  # releases published only as an sdist may be built
    constraints: tuple[Constraint, ...] = ()  # pip's constraint files (manifest/constraints.py)

    def wheels_only(self, name: NormalizedName) -> bool:
        """Whether ``name`` must come as a wheel (never built)."""
        if name in self.only_binary:
            return True
        return ALL in self.only_binary and name not in self.no_binary

    def sdist_only(self, name: NormalizedName) -> bool:
        """Whether ``name`` must be built from its sdist (its wheels are ignored)."""
        if name in self.no_binary:
            return True
        return ALL in self.no_binary and name not in self.only_binary

    def binary_setting(self, name: NormalizedName) -> str:
        """The setting that made ``name`` wheel- or sdist-only, for messages."""
        if self.wheels_only(name):
            which = name if name in self.only_binary else ALL
            return f'only-binary = ["{which}"]'
        which = name if name in self.no_binary else ALL
        return f'no-binary = ["{which}"]'
