"""The prefix against the lock and against each package's RECORD."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from overlock.base.env import BaseEnv
from overlock.check.dists import PrefixDist, locked_sha256, site_dirs
from overlock.check.findings import ERROR, WARNING, Finding, Section
from overlock.dists.requirements import same_version
from overlock.lock.pylock import Lock, LockedPackage
from overlock.prefix.bootstrap import boot_dir, layout_key, render_sitecustomize
from overlock.prefix.state import GenerationState

# A sync whose plan is empty changes nothing, so repairs need a fresh generation.
REPAIR_HINT = (
    "`overlock sync` leaves packages it did not change as they are: remove the prefix link"
    " (`rm {prefix}`) and run `overlock sync` to reinstall every package from the lock"
)
_HASH_WORKERS = 4


def _record_digest(path: str, algorithm: str) -> str | None:
    try:
        h = hashlib.new(algorithm)
    except ValueError:
        return None
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")


def _verify_file(full: str, hash_field: str, size_field: str) -> str | None:
    """None when ``full`` matches its RECORD row; else "missing", "modified" or "unreadable"."""
    try:
        st = os.stat(full)  # noqa: PTH116 - strings: thousands of files, no Path per file
    except OSError:
        return "missing"
    if not hash_field:
        return None  # RECORD itself, and generated files listed without a hash
    if size_field.isdigit() and int(size_field) != st.st_size:
        return "modified"
    algorithm, _, expected = hash_field.partition("=")
    try:
        actual = _record_digest(full, algorithm)
    except OSError:
        return "unreadable"
    if actual is None:
        return None  # an algorithm this Python lacks: cannot judge
    return None if actual == expected else "modified"


def _verify_files(jobs: Sequence[tuple[str, str, str]]) -> list[str | None]:
    return [_verify_file(full, hash_field, size_field) for full, hash_field, size_field in jobs]


def _rel(path: Path | str, prefix: Path) -> str:
    return Path(os.path.relpath(path, prefix)).as_posix()


def check_integrity(
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    state: GenerationState,
    found: Sequence[PrefixDist],
) -> Section:
    """Does the prefix hold exactly the lock, with every file as installed?"""
    prefix = Path(os.path.abspath(prefix))  # noqa: PTH100 - the stable link, unresolved
    repair = REPAIR_HINT.format(prefix=prefix)
    findings: list[Finding] = []
    layout = layout_key(base, prefix)
    moved = sorted(k for k, v in layout.items() if state.layout.get(k) != v)
    if moved:
        message = "the prefix was built for another base layout (" + ", ".join(moved) + ")"
        findings.append(
            Finding("integrity", ERROR, "prefix", message, hint="run `overlock sync` to rebuild it")
        )
    findings += _package_findings(lock, state, found, prefix, repair)
    file_findings, owned = _file_findings(found, prefix, repair)
    findings += file_findings

    # Files no package owns (a `pip install --prefix` into the overlay, a stray copy).
    stray = sorted(_rel(p, prefix) for p in _unowned(base, prefix, owned))
    if stray:
        findings.append(
            Finding(
                "integrity",
                WARNING,
                "prefix",
                f"{len(stray)} file(s) in the prefix belong to no installed package",
                details=tuple(stray),
                hint="remove them, or add what they belong to in overlay.toml",
                data={"problem": "unowned", "files": stray},
            )
        )
    # The activation bootstrap is in no RECORD: compare it with what sync writes (which
    # differs anyway when the layout moved, reported above).
    boot = boot_dir(prefix) / "sitecustomize.py"
    try:
        current: str | None = boot.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if not moved and current != render_sitecustomize(base, prefix):
        what = "is missing" if current is None else "differs from what `overlock sync` wrote"
        findings.append(
            Finding(
                "integrity",
                ERROR,
                _rel(boot, prefix),
                f"the activation bootstrap {_rel(boot, prefix)} {what}",
                hint=repair,
                data={"problem": "bootstrap"},
            )
        )
    files = f"{len(owned)} file(s)"
    if findings:
        return Section("integrity", f"{len(found)} package(s), {files} checked", tuple(findings))
    return Section("integrity", f"{len(found)} package(s) as locked, {files} match their RECORD")


def _other_file(installed_sha256: str, pkg: LockedPackage) -> bool:
    locked = locked_sha256(pkg)
    return locked is not None and installed_sha256 != locked


def _package_findings(
    lock: Lock, state: GenerationState, found: Sequence[PrefixDist], prefix: Path, repair: str
) -> list[Finding]:
    """The prefix's dist-infos against the lock: missing, extra, other version or file."""
    by_name: dict[NormalizedName, list[PrefixDist]] = {}
    for d in found:
        by_name.setdefault(d.name, []).append(d)
    installed = state.by_name
    out: list[Finding] = []

    def hint(name: NormalizedName) -> str:
        # The state and the lock differ: the lock changed since the sync, and a sync helps.
        # They agree: the prefix was changed behind overlock's back, and only a repair does.
        synced = installed.get(name)
        locked = lock.by_name.get(name)
        if (synced is None) != (locked is None) or (
            synced is not None and locked is not None and _other_file(synced.sha256, locked)
        ):
            return "run `overlock sync`"
        return repair

    def add(severity: str, name: str, message: str, problem: str, **kw: Any) -> None:
        data = {"problem": problem, **kw.pop("data", {})}
        out.append(Finding("integrity", severity, name, message, data=data, **kw))

    for pkg in lock.packages:
        have = by_name.get(pkg.name, [])
        if not have:
            message = f"{pkg.name} {pkg.version} is locked but not installed in the prefix"
            data = {"locked": pkg.version}
            add(ERROR, pkg.name, message, "missing", hint=hint(pkg.name), data=data)
        elif not any(same_version(d.version, pkg.version) for d in have):
            message = f"the prefix holds {pkg.name} {have[0].version}, the lock {pkg.version}"
            data = {"installed": have[0].version, "locked": pkg.version}
            add(ERROR, pkg.name, message, "version", hint=hint(pkg.name), data=data)
        elif pkg.name in installed and _other_file(installed[pkg.name].sha256, pkg):
            message = f"{pkg.name} {pkg.version} was installed from another file than the lock's"
            details = (
                f"installed sha256 {installed[pkg.name].sha256}",
                f"locked sha256 {locked_sha256(pkg)}",
            )
            add(WARNING, pkg.name, message, "file", details=details, hint=hint(pkg.name))
        if len(have) > 1:
            versions = ", ".join(d.version for d in have)
            message = f"the prefix holds {len(have)} copies of {pkg.name}: {versions}"
            add(ERROR, pkg.name, message, "duplicate", hint=repair)
    for name, dists in sorted(by_name.items()):
        if name not in lock.by_name:
            message = f"{name} {dists[0].version} is in the prefix but not in the lock"
            paths = tuple(_rel(d.path, prefix) for d in dists)
            why = hint(name)
            if name not in installed:  # not overlock's: maybe it belongs in overlay.toml
                why = "add it to overlay.toml if the overlay should hold it; otherwise " + why
            data = {"installed": dists[0].version}
            add(ERROR, name, message, "extra", details=paths, hint=why, data=data)
    return out


def _file_findings(
    found: Sequence[PrefixDist], prefix: Path, repair: str
) -> tuple[list[Finding], set[str]]:
    """Every RECORD row of every dist-info checked, hashed in a few threads.

    Returns the findings and the files the RECORDs list (owned by a package). Paths are
    strings and the files go to the threads in batches: a 30-package scientific overlay has
    ~6,000 files, and a ``Path`` and a future per file cost more than hashing most of them.
    """
    top = str(prefix).rstrip(os.sep) + os.sep
    owners: list[PrefixDist] = []
    jobs: list[tuple[str, str, str]] = []
    out: list[Finding] = []
    for d in found:
        rows = d.record()
        if not rows:
            message = f"{d.name} {d.version} has no readable RECORD; its files cannot be verified"
            data = {"problem": "record"}
            out.append(Finding("integrity", ERROR, d.name, message, hint=repair, data=data))
        site = str(d.site)
        for path, hash_field, size_field in rows:
            full = os.path.normpath(os.path.join(site, path))  # noqa: PTH118
            if full.startswith(top):  # installer writes nowhere else
                owners.append(d)
                jobs.append((full, hash_field, size_field))
    size = max(64, len(jobs) // (_HASH_WORKERS * 4) + 1)
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    with ThreadPoolExecutor(max_workers=_HASH_WORKERS) as pool:
        verdicts = [v for batch in pool.map(_verify_files, batches) for v in batch]
    bad: dict[PrefixDist, dict[str, list[str]]] = {}
    for d, (full, _h, _s), verdict in zip(owners, jobs, verdicts, strict=True):
        if verdict is not None:
            bad.setdefault(d, {}).setdefault(verdict, []).append(_rel(full, prefix))
    words = {
        "modified": "no longer match their RECORD hash",
        "missing": "are missing",
        "unreadable": "cannot be read",
    }
    for d, problems in bad.items():
        parts = [f"{len(problems[k])} file(s) {w}" for k, w in words.items() if k in problems]
        details = tuple(f"{k}: {path}" for k in words for path in problems.get(k, ()))
        out.append(
            Finding(
                "integrity",
                ERROR,
                d.name,
                f"{d.name} {d.version}: " + " and ".join(parts),
                details=details,
                hint=repair,
                data={"problem": "files", **{k: problems.get(k, []) for k in words}},
            )
        )
    return out, {full for full, _h, _s in jobs}


def _unowned(base: BaseEnv, prefix: Path, owned: set[str]) -> Iterator[str]:
    roots = [*site_dirs(base, prefix), prefix / base.scheme["scripts"]]
    for root in dict.fromkeys(roots):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            # Byte-code is generated (and revalidated against its source by Python).
            dirnames[:] = [n for n in dirnames if n != "__pycache__"]
            if dirpath.endswith(".dist-info"):
                continue
            for name in filenames:
                full = os.path.join(dirpath, name)  # noqa: PTH118
                if full not in owned and not name.endswith(".pyc"):
                    yield full
