"""One base exception, messages written for users.

Library code raises these; only the CLI turns them into exit codes (see ``cli/main.py``).
Each error carries a one-sentence ``message`` and, where there is one, a ``hint``: what
the user can do next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class OverlockError(Exception):
    """Base of every error overlock reports to a user.

    ``exit_code`` follows the CLI contract: 1 when a request cannot be satisfied or an
    operation failed or was refused, 2 on bad input.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        return data


class BadInputError(OverlockError):
    """The user's input (arguments, files, paths) cannot be used as given."""

    exit_code = 2


class CommandNotFoundError(BadInputError):
    """``overlock run`` of a command that does not exist: the shell's 127."""

    exit_code = 127


class CommandNotExecutableError(BadInputError):
    """``overlock run`` of a file that cannot be executed: the shell's 126."""

    exit_code = 126


class ManifestIssue:
    """One problem found in overlay.toml, with where it is."""

    __slots__ = ("key", "line", "message")

    def __init__(self, key: str, message: str, line: int | None = None) -> None:
        self.key = key
        self.message = message
        self.line = line

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.key}: {self.message}" if self.key else f"{where}{self.message}"

    def __repr__(self) -> str:
        return f"ManifestIssue({self.key!r}, {self.message!r}, line={self.line!r})"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "line": self.line, "message": self.message}


class ManifestError(BadInputError):
    """overlay.toml is missing, unparsable or invalid; lists every problem at once."""

    def __init__(self, path: str, issues: Sequence[ManifestIssue]) -> None:
        self.path = path
        self.issues = list(issues)
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        body = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(
            f"{path} has {count} {noun}:\n{body}",
            hint="fix the entries above; `overlock init` writes a commented example",
        )

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["issues"] = [i.to_json() for i in self.issues]
        return data


class ManifestMissingError(ManifestError):
    """There is no overlay.toml where one was expected."""

    def __init__(self, path: str) -> None:
        BadInputError.__init__(
            self,
            f"there is no overlay manifest at {path}",
            hint="create one with `overlock init`, or name one with -m PATH"
            " (or $OVERLOCK_MANIFEST)",
        )
        self.path = path
        self.issues = [ManifestIssue("", "file not found")]


class BaseProbeError(BadInputError):
    """The base environment could not be found or its interpreter could not be probed."""


class IndexError_(OverlockError):
    """The package index could not be read (network, HTTP status, bad page)."""


class HashMismatchError(OverlockError):
    """A downloaded file does not match the hash the index or lock promised."""


class BuildRequiredError(OverlockError):
    """Something must be built from source, and building it is not allowed (or possible)."""


class BuildError(OverlockError):
    """A PEP 517 build (or getting a source to build) failed; carries the backend's output."""

    def __init__(self, message: str, *, output: str = "", hint: str | None = None) -> None:
        self.output = output
        tail = _tail(output)
        if tail:
            message += "\n  backend output (last lines):\n" + "\n".join(
                f"    {line}" for line in tail
            )
        super().__init__(message, hint=hint)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["output"] = self.output
        return data


def _tail(output: str, lines: int = 30) -> list[str]:
    kept = [line.rstrip() for line in output.strip().splitlines()]
    return kept[-lines:]


class ResolutionError(OverlockError):
    """The overlay request cannot be satisfied on this base; ``conflicts`` explain why."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        conflicts: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.conflicts = list(conflicts)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["conflicts"] = self.conflicts
        return data


class StaleLockError(OverlockError):
    """The lock is missing or no longer matches the manifest or the base."""


class SyncError(OverlockError):
    """Materializing the lock into the prefix failed; the previous overlay is intact."""


class OwnedPrefixError(OverlockError):
    """The prefix belongs to another overlay: another manifest synced it."""

    def __init__(
        self, prefix: str, owner_manifest: str, owner_name: str, manifest: str, name: str
    ) -> None:
        super().__init__(
            f"{prefix} belongs to another overlay: it was synced from {owner_manifest}"
            f" (overlay {owner_name!r}), not from {manifest} (overlay {name!r});"
            " refusing to replace its packages",
            hint=f"give this overlay its own prefix (`prefix` or `name` in {manifest}),"
            " or `overlock sync --take-over` to replace the other overlay's packages with this"
            " one's"
            " (the other manifest's next sync is then refused)",
        )
        self.prefix = prefix
        self.owner_manifest = owner_manifest
