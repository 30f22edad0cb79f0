"""Do the shadowing packages, and the base packages that use them, still import?

The same runtime verification sync runs before switching (``sync/importcheck.py``), run again on
the overlay as it is now: the base may have changed under it, or it was switched with
``--no-verify-imports``. Metadata checks cannot see a compiled package broken by a shadowed
dependency; only importing it can.
"""

from __future__ import annotations

from pathlib import Path

from overlock.base.env import BaseEnv
from overlock.check.findings import ERROR, Finding, Section
from overlock.errors import OverlockError
from overlock.lock.pylock import Lock
from overlock.prefix.state import GenerationState
from overlock.sync.importcheck import runtime_checks, verify_imports


def check_imports(lock: Lock, base: BaseEnv, prefix: Path, state: GenerationState) -> Section:
    """Import, in the base interpreter with the overlay active, what shadowing could break."""
    files = {pkg.name: pkg.files for pkg in state.packages}
    checks = runtime_checks(lock, base, files)
    if not checks:
        return Section("imports", "the overlay shadows no base package: nothing to import")
    try:
        failures = verify_imports(lock, base, prefix, files, checks=checks)
    except OverlockError as exc:
        finding = Finding(
            "imports",
            ERROR,
            "base",
            "the import check could not run in the base interpreter",
            details=tuple(str(exc.message).splitlines()),
            hint="does `overlock run -- python -c pass` work?",
        )
        return Section("imports", f"{len(checks)} import(s) could not be checked", (finding,))
    findings = []
    for failure in failures:
        blamed = failure.blamed
        hint = (
            f"keep the base's {blamed} (pin it in requires, or cap it), then"
            " `overlock lock` and `overlock sync`"
            if blamed is not None
            else "see the error above; `overlock run -- python -c 'import NAME'` reproduces it"
        )
        findings.append(
            Finding(
                "imports",
                ERROR,
                failure.check.dist,
                failure.describe(lock, base),
                hint=hint,
                data={
                    "module": failure.check.module,
                    "layer": failure.check.layer,
                    "error": failure.error,
                    "blamed": blamed,
                    "suspects": list(failure.check.suspects),
                    "found_by_import_scan": list(failure.check.scanned),
                },
            )
        )
    modules = len({c.module for c in checks})
    dists = len({c.dist for c in checks})
    summary = (
        f"{modules} module(s) of {dists} shadowing package(s) and base dependents import"
        " in the base interpreter"
    )
    return Section("imports", summary, tuple(findings))
