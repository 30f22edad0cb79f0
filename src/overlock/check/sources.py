"""Git references in the lock whose branch or tag has moved since the lock was made."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from overlock.build.git import VcsUpdate, vcs_updates
from overlock.check.findings import INFO, WARNING, Finding, Section
from overlock.lock.pylock import Lock


def check_sources(
    lock: Lock,
    updates: Callable[[Lock, Sequence[str]], Sequence[VcsUpdate]] = vcs_updates,
    *,
    credentials: Sequence[str] = (),
) -> Section:
    """Ask each git remote (``git ls-remote`` only) whether a newer commit is available.

    Nothing is fetched, built or changed: the lock stays pinned until ``overlock lock``. A
    remote that cannot be reached is worth knowing but is not a problem of the overlay.
    """
    refs = [p for p in lock.packages if p.vcs is not None]
    if not refs:
        return Section("sources", "the lock pins no git reference")
    findings: list[Finding] = []
    for update in updates(lock, credentials):
        if update.error is not None:
            findings.append(
                Finding("sources", INFO, update.name, str(update), data=update.to_json())
            )
        elif update.available:
            findings.append(
                Finding(
                    "sources",
                    WARNING,
                    update.name,
                    str(update),
                    hint="run `overlock lock` to move to it (and `overlock sync`),"
                    " or pin `rev` to a commit in overlay.toml to stay",
                    data=update.to_json(),
                )
            )
    moved = sum(1 for f in findings if f.severity == WARNING)
    summary = f"{len(refs) - moved} of {len(refs)} git reference(s) at the newest commit"
    return Section("sources", summary, tuple(findings))
