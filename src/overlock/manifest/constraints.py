"""pip's constraints (``constraint`` in pip's configuration, ``PIP_CONSTRAINT``).

Facilities cap versions machine-wide with a constraint file; ``pip install`` honours it, so an
overlay must too, or the same request gives another answer than pip's. As in pip, a constraint
restricts the versions of a project *if* it is installed; it never adds one. Here it applies
to releases from the index: the base's own copies are not installed by overlock.

Only requirement lines are understood (``name`` + specifiers + marker); pip options (``-r``,
``-c``, ``--index-url``...), extras and URLs are refused with the file and line, rather than
silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from overlock.errors import BadInputError
from overlock.limits import read_text_bounded

_HINT = (
    "the file is named by PIP_CONSTRAINT or `constraint` in pip's configuration; list only"
    " requirements such as `urllib3<2.5` in it"
)


@dataclass(frozen=True)
class Constraint:
    requirement: Requirement
    origin: str  # "FILE:LINE", for messages

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    def admits(self, version: Version) -> bool:
        return self.requirement.specifier.contains(version, prereleases=True)

    def __str__(self) -> str:
        return f"{self.requirement} ({self.origin})"


def load_constraints(paths: Iterable[str]) -> tuple[Constraint, ...]:
    out: list[Constraint] = []
    for path in paths:
        try:
            text = read_text_bounded(Path(path))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise BadInputError(
                f"cannot read pip's constraint file {path}: {reason}", hint=_HINT
            ) from None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{number}"
            if line.startswith("-"):
                raise BadInputError(
                    f"{where}: pip option {line.split()[0]} in a constraint file is not"
                    " supported by overlock",
                    hint=_HINT,
                )
            try:
                requirement = Requirement(line)
            except InvalidRequirement as exc:
                raise BadInputError(f"{where}: not a requirement: {exc}", hint=_HINT) from None
            if requirement.url or requirement.extras:
                raise BadInputError(
                    f"{where}: a constraint may not have extras or a URL ({line})", hint=_HINT
                )
            out.append(Constraint(requirement, where))
    return tuple(out)
