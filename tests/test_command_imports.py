"""Every command imports only what it uses: ``python -X importtime -m overlock CMD`` on a
synced overlay, in a real process, lists no module of a stage the command does not reach."""

from __future__ import annotations

import pytest

from harness.imports import imported
from test_check import Project, hotfix

__all__ = ["hotfix"]  # the fixture, used by name

# unearth loads all of itself (its finder, httpx2, ssl) with any of its modules: only
# commands that talk to an index, or build, may import it.
_INDEX = {"unearth", "httpx2", "ssl"}
# The sync engine, the installer and the resolver: only sync, lock and what reports a plan.
_SYNC = {"overlock.app.sync", "overlock.sync.engine", "installer"}
_RESOLVE = {"resolvelib", "overlock.resolve.resolver", "overlock.app.lock"}
# Whether a lock is current needs no resolver, whether asked (--check) or not (a lock of an
# unchanged overlay.toml keeps the lock without resolving).
_RESOLVER = {"resolvelib", "overlock.resolve.resolver"}

NOT_IMPORTED = {
    ("check",): _INDEX | _RESOLVE | {"overlock.app.sync"},
    ("show",): _INDEX | {"overlock.app.sync", "overlock.sync.engine"},
    ("lock", "--check"): _INDEX | _SYNC | _RESOLVER,
    ("lock",): _INDEX | _SYNC | _RESOLVER,
    ("why", "alpha"): _INDEX | _SYNC | _RESOLVE,
    ("export",): _INDEX | _SYNC | _RESOLVE,
    ("activate",): _INDEX | _SYNC | _RESOLVE,
    ("run", "--", "python", "-c", "pass"): _INDEX | _SYNC | _RESOLVE,
}


@pytest.mark.parametrize("command", sorted(NOT_IMPORTED), ids=" ".join)
def test_a_command_does_not_import_stages_it_does_not_use(
    hotfix: Project, command: tuple[str, ...]
) -> None:
    argv = [command[0], "-m", str(hotfix.manifest), *command[1:]]
    code, names = imported(argv)

    assert code == 0, argv
    assert "overlock.cli.main" in names  # measured the command, not a short cut
    assert names.isdisjoint(NOT_IMPORTED[command]), sorted(names & NOT_IMPORTED[command])
