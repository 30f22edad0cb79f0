"""Has anything changed since the lock: the base (drift), or overlay.toml (a stale lock)?"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from overlock.base.env import BaseEnv
from overlock.check.consistency import combined, preexisting, unmet, within_base
from overlock.check.dists import Dist
from overlock.check.findings import ERROR, RELOCK_HINT, WARNING, Finding, Section
from overlock.lock.pylock import Lock
from overlock.manifest.model import Manifest
from overlock.prefix.layers import layer_drift


def _pins(lines: Iterable[str]) -> dict[NormalizedName, str]:
    out: dict[NormalizedName, str] = {}
    for line in lines:
        name, sep, version = line.partition("==")
        if sep:
            out[canonicalize_name(name)] = version
    return out


def check_drift(
    lock: Lock,
    base: BaseEnv,
    overlay: Sequence[Dist],
    *,
    roots: Sequence[Requirement] = (),
    unknown: Sequence[str] = (),
) -> Section:
    """Has the base changed since the lock, and does the locked overlay still fit it?"""
    now = base.fingerprint()
    layered = layer_drift(lock.layers, base)
    if lock.base_fingerprint == now and not layered:
        return Section(
            "drift", f"the base is as it was when locked ({len(base.distributions)} distributions)"
        )
    data: dict[str, Any] = {
        "details_available": lock.base_distributions is not None,
        "python": None,
        "tags_changed": False,
        "changed": None,  # these three stay None when the lock predates drift details
        "appeared": None,
        "went": None,
    }
    changes: list[str] = []
    hint = RELOCK_HINT
    if lock.base_python_version and lock.base_python_version != base.python_version:
        changes.append(f"python {lock.base_python_version} -> {base.python_version}")
        data["python"] = [lock.base_python_version, base.python_version]
    if tuple(lock.base_module_path) != base.module_path:
        # Said first: a module loaded (or not) in this shell explains the rest of the drift.
        loaded = [p for p in base.module_path if p not in lock.base_module_path]
        unloaded = [p for p in lock.base_module_path if p not in base.module_path]
        changes.append(
            "module path (PYTHONPATH) changed"
            + "".join(f", +{p}" for p in loaded)
            + "".join(f", -{p}" for p in unloaded)
        )
        data["module_path"] = {"locked": list(lock.base_module_path), "now": list(base.module_path)}
        hint = (
            "load the same modules as when the lock was made (PYTHONPATH then: "
            + (os.pathsep.join(lock.base_module_path) or "unset")
            + "), or re-lock with `overlock lock` in this environment"
        )
    if lock.base_tags and tuple(lock.base_tags) != tuple(base.tags[: len(lock.base_tags)]):
        changes.append("supported wheel tags changed")
        data["tags_changed"] = True
    if lock.base_distributions is not None:
        before = _pins(lock.base_distributions)
        after = {d.name: d.version for d in base.installed}  # hidden or not (base/hiding.py)
        changed = [(n, before[n], after[n]) for n in sorted(before.keys() & after.keys())]
        changed = [c for c in changed if c[1] != c[2]]
        appeared = [(n, after[n]) for n in sorted(after.keys() - before.keys())]
        went = [(n, before[n]) for n in sorted(before.keys() - after.keys())]
        changes += [f"{n} {old} -> {new}" for n, old, new in changed]
        changes += [f"{n} {v} appeared" for n, v in appeared]
        changes += [f"{n} {v} went away" for n, v in went]
        data["changed"] = [{"name": n, "old": o, "new": v} for n, o, v in changed]
        data["appeared"] = [{"name": n, "version": v} for n, v in appeared]
        data["went"] = [{"name": n, "version": v} for n, v in went]
    if lock.base_distributions is None:
        head = (
            "the base changed since the lock was made; this lock predates drift details"
            " (re-lock to record them)"
        )
    elif changes:
        shown = ", ".join(changes[:3]) + (
            f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        )
        head = f"the base changed since the lock was made: {shown}"
    else:
        head = "the base changed since the lock was made (its fingerprint differs)"
    if layered:
        # Said instead of "the base": the user should know which layer to ask about.
        head = "; ".join(layered)
        data["layers"] = layered

    broken = [
        u
        for u in unmet(combined(base, overlay), base, roots)
        if not preexisting(u, lock) and not within_base(u)
    ]
    data["lock_consistent"] = not broken
    data["broken"] = [str(u) for u in broken]
    data["unknown"] = list(unknown)
    # The head already lists up to three changes; the details list them all when it does not.
    details = list(changes) if len(changes) > 3 or lock.base_distributions is None else []
    if unknown:
        details.append(
            "requirements of " + ", ".join(unknown) + " are unknown (not in the prefix or cache)"
        )
    if broken:
        details.append("the lock is no longer consistent with the base:")
        details += [f"  {u}" for u in broken]
        return Section(
            "drift",
            head,
            (Finding("drift", ERROR, "base", head, tuple(details), hint, data),),
        )
    details.append("the lock is still consistent with it: re-lock recommended but not required")
    return Section(
        "drift",
        head,
        (Finding("drift", WARNING, "base", head, tuple(details), hint, data),),
    )


def check_stale(manifest: Manifest, lock: Lock) -> Section:
    if lock.manifest_hash == manifest.content_hash():
        return Section("stale", f"the lock matches {manifest.path.name}")
    message = f"{manifest.path.name} changed since the lock was written"
    return Section(
        "stale",
        message,
        (Finding("stale", WARNING, "lock", message, hint=RELOCK_HINT),),
    )
