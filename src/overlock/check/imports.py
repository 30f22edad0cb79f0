"""Do the shadowing packages, and the base packages that use them, still import?

The same runtime verification sync runs before switching (``sync/importcheck.py``), run again on
the overlay as it is now: the base may have changed under it, or it was switched with
``--no-verify-imports``. Metadata checks cannot see a compiled package broken by a shadowed
dependency; only importing it can. The verdict is kept per generation and base (``verdicts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from overlock.base.env import BaseEnv
from overlock.check.findings import ERROR, Finding, Section
from overlock.check.verdicts import load_verdict, store_verdict, verdict_key
from overlock.errors import OverlockError
from overlock.lock.pylock import Lock
from overlock.prefix.state import GenerationState
from overlock.sync.importcheck import ModuleToCheck, runtime_checks, verify_imports


@dataclass(frozen=True)
class ImportsVerdict:
    section: Section
    reused: bool  # a verdict kept for this generation and base
    key: str | None  # where a new settled verdict may be kept; None: not to be kept

    def keep(self, cache_root: Path) -> None:
        if self.key is not None and not self.reused:
            store_verdict(cache_root, self.key, self.section)


def check_imports(
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    state: GenerationState,
    *,
    cache_root: Path | None = None,
) -> Section:
    """Import, in the base interpreter with the overlay active, what shadowing could break.

    With ``cache_root``, a verdict kept for this generation and base is reused, and a new
    one kept. Only for a prefix whose files are known to match their RECORDs: a file edited
    in place does not change the key (``check_overlay`` checks integrity first).
    """
    verdict = imports_verdict(lock, base, prefix, state, cache_root=cache_root)
    if cache_root is not None:
        verdict.keep(cache_root)
    return verdict.section


def imports_verdict(
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    state: GenerationState,
    *,
    cache_root: Path | None = None,
    reuse: bool = True,
) -> ImportsVerdict:
    """The ``imports`` section: a kept verdict when ``reuse`` allows and one exists, else
    new (kept only by :meth:`ImportsVerdict.keep`, once the caller knows the files are intact).
    """
    files = {pkg.name: pkg.files for pkg in state.packages}
    checks = runtime_checks(lock, base, files)
    if not checks:
        section = Section("imports", "the overlay shadows no base package: nothing to import")
        return ImportsVerdict(section, reused=False, key=None)
    key = verdict_key(base, prefix, checks) if cache_root is not None else None
    if cache_root is not None and key is not None and reuse:
        kept = load_verdict(cache_root, key)
        if kept is not None:
            return ImportsVerdict(kept, reused=True, key=key)
    section, settled = _run_imports(lock, base, prefix, files, checks)
    return ImportsVerdict(section, reused=False, key=key if settled else None)


def _run_imports(
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    files: Mapping[NormalizedName, Sequence[str]],
    checks: Sequence[ModuleToCheck],
) -> tuple[Section, bool]:
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
        section = Section("imports", f"{len(checks)} import(s) could not be checked", (finding,))
        return section, False
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
    return Section("imports", summary, tuple(findings)), all(f.settled for f in failures)
