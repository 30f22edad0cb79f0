"""``overlock check``: is this overlay still right?

Six questions, each answered by one function that returns a ``Section`` (its ``Finding``\\ s and
a one-line summary of what was looked at), so each can be tested on its own:

``check_drift``
    The base changed since the lock: which distributions appeared, went or changed version,
    and whether the locked overlay is still consistent with the base as it is now.
``check_stale``
    overlay.toml changed since the lock.
``check_integrity``
    The prefix against the lock and against each package's RECORD: packages missing or extra,
    files edited, corrupted or deleted in place, files no package owns, and a prefix built for
    another base layout.
``check_consistency``
    Every visible distribution's Requires-Dist (overlay copies shadowing base ones), with
    markers evaluated in the base's environment and extras followed, reported like
    ``pip check`` but naming layers; breakage the lock recorded as pre-existing stays a note.
``check_redundant``
    Requested packages that the base now satisfies on its own.
``check_shadows``
    Each shadowing package really is the copy imported: one subprocess of the base
    interpreter with the overlay active reports ``importlib.metadata.version`` and where each
    top-level module is found.

All but the last only read files (the lock, the prefix, the base probe); nothing here talks to
an index or writes anything.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import HeaderParser
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from overlock._bootstrap import boot_dir, render_sitecustomize
from overlock._probe import _top_level_from_record
from overlock.base import BaseEnv, InstalledDist
from overlock.cache import Cache
from overlock.errors import SyncError
from overlock.lockfile import Lock, LockedPackage
from overlock.manifest import Manifest
from overlock.resolve import _marker_true, _req_text
from overlock.sync import GenerationState, current_generation, layout_key, read_state

ERROR = "error"  # the overlay is wrong: something will not work as locked
WARNING = "warning"  # works, but should be acted on (re-lock, re-sync, drop an entry)
INFO = "info"  # worth knowing, not a problem (breakage the base already had)

KINDS = ("drift", "stale", "integrity", "consistency", "redundant", "shadow")

# A sync whose plan is empty changes nothing, so repairs need a fresh generation.
REPAIR_HINT = (
    "`overlock sync` leaves packages it did not change as they are: remove the prefix link"
    " (`rm {prefix}`) and run `overlock sync` to reinstall every package from the lock"
)
RELOCK_HINT = "run `overlock lock`, then `overlock sync`"
_HASH_WORKERS = 4


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing ``overlock check`` found."""

    kind: str  # one of KINDS
    severity: str  # ERROR, WARNING or INFO
    subject: str  # a distribution name, a path, or "base" / "prefix" / "lock"
    message: str  # one sentence, for people
    details: tuple[str, ...] = ()  # one line each: the evidence behind the message
    hint: str | None = None  # what to do about it
    data: Mapping[str, Any] = field(default_factory=dict)  # the same facts, for --json

    @property
    def is_problem(self) -> bool:
        return self.severity != INFO

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "details": list(self.details),
            "hint": self.hint,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class Section:
    """The answer to one of the questions: what was checked, and what was found."""

    kind: str
    summary: str  # what was looked at, one line (shown when nothing is wrong)
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.is_problem for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary}


@dataclass(frozen=True)
class Report:
    sections: tuple[Section, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for s in self.sections for f in s.findings)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_problem)

    @property
    def ok(self) -> bool:
        return not self.problems

    def section(self, kind: str) -> Section:
        return next(s for s in self.sections if s.kind == kind)

    def to_json(self) -> dict[str, Any]:
        counts = {ERROR: 0, WARNING: 0, INFO: 0}
        for f in self.findings:
            counts[f.severity] += 1
        return {
            "ok": self.ok,
            "counts": counts,
            "checks": {s.kind: s.to_json() for s in self.sections},
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class Dist:
    """A distribution as the combined environment shows it: from the base or the overlay."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...]
    requires_python: str | None
    layer: str  # "base" or "overlay"
    installed: InstalledDist | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of_base(cls, d: InstalledDist) -> Dist:
        return cls(d.name, d.version, d.requires, d.requires_python, "base", d)

    @cached_property
    def parsed_requires(self) -> tuple[Requirement, ...]:
        if self.installed is not None:
            return self.installed.parsed_requires  # parsed once per base, not per check
        out = []
        for text in self.requires:
            try:
                out.append(Requirement(text))
            except InvalidRequirement:
                continue  # legacy metadata; the resolver skips such lines too
        return tuple(out)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.layer})"


@dataclass(frozen=True)
class PrefixDist:
    """A ``*.dist-info`` directory found in the prefix's site directories."""

    name: NormalizedName
    version: str
    path: Path  # the dist-info directory
    requires: tuple[str, ...] = ()
    requires_python: str | None = None

    @property
    def site(self) -> Path:
        return self.path.parent

    def as_dist(self) -> Dist:
        return Dist(self.name, self.version, self.requires, self.requires_python, "overlay")

    def record(self) -> list[tuple[str, str, str]]:
        """RECORD rows (path, hash, size); empty when RECORD is missing or unreadable."""
        try:
            with open(self.path / "RECORD", newline="", encoding="utf-8") as fh:
                rows = [[*r, "", ""] for r in csv.reader(fh) if r and r[0]]
            return [(r[0], r[1], r[2]) for r in rows]
        except (OSError, UnicodeDecodeError, csv.Error):
            return []

    def top_level(self) -> list[str]:
        """Importable top-level names: top_level.txt, else derived from RECORD."""
        try:
            text = (self.path / "top_level.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        names = sorted({line.strip().split("/")[0] for line in text.splitlines() if line.strip()})
        if names:
            return names
        try:
            record = (self.path / "RECORD").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return []
        return _top_level_from_record(record)


@dataclass(frozen=True)
class Unmet:
    """A requirement of a visible distribution that the combined environment does not meet."""

    dependent: Dist
    requirement: str  # "name[extras]specifier", or "Python <specifier>"
    found: Dist | None = None  # what is visible under that name, if anything
    extra: str = ""  # the extra of ``dependent`` it belongs to, "" when unconditional
    python: str | None = None  # set when the unmet requirement is Requires-Python

    @property
    def key(self) -> str:
        """The prefix the lock's ``preexisting-breakage`` entries start with."""
        return f"{self.dependent.name} {self.dependent.version} requires {self.requirement}"

    def __str__(self) -> str:
        who = self.dependent.label + (f" [{self.extra}]" if self.extra else "")
        if self.python is not None:
            return f"{who} requires Python {self.requirement}, but the base has {self.python}"
        if self.found is None:
            return f"{who} requires {self.requirement}, which is not installed"
        return f"{who} requires {self.requirement}, but {self.found.label} is installed"


# -- reading the prefix ------------------------------------------------------------------


def _parse_headers(text: str) -> Any:
    """The header fields of a METADATA text (not the long description after them)."""
    end = text.find("\n\n")
    return HeaderParser().parsestr(text if end < 0 else text[: end + 1])


def _headers(path: Path) -> Any:
    try:
        return _parse_headers(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def _site_dirs(base: BaseEnv, prefix: Path) -> list[Path]:
    return list(dict.fromkeys(prefix / base.scheme[k] for k in ("purelib", "platlib")))


def scan_prefix(base: BaseEnv, prefix: Path) -> tuple[PrefixDist, ...]:
    """Every ``*.dist-info`` in the prefix's site directories, sorted by name."""
    found: list[PrefixDist] = []
    for site in _site_dirs(base, prefix):
        if not site.is_dir():
            continue
        for entry in sorted(site.glob("*.dist-info")):
            stem_name, _, stem_version = entry.name[: -len(".dist-info")].partition("-")
            msg = _headers(entry / "METADATA")
            name = stem_name
            version = stem_version
            requires: tuple[str, ...] = ()
            requires_python = None
            if msg is not None:
                name = str(msg.get("Name") or stem_name)
                version = str(msg.get("Version") or stem_version)
                requires = tuple(str(v).strip() for v in msg.get_all("Requires-Dist") or ())
                rp = msg.get("Requires-Python")
                requires_python = str(rp).strip() if rp else None
            found.append(
                PrefixDist(canonicalize_name(name), version, entry, requires, requires_python)
            )
    return tuple(sorted(found, key=lambda d: (d.name, d.version)))


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


# -- requirements of the combined environment --------------------------------------------


def combined(base: BaseEnv, overlay: Iterable[Dist]) -> dict[NormalizedName, Dist]:
    """name -> the distribution Python sees: the overlay's copy where there is one."""
    visible = {d.name: Dist.of_base(d) for d in base.distributions}
    for d in overlay:
        visible[d.name] = d
    return visible


def unmet(
    visible: Mapping[NormalizedName, Dist],
    base: BaseEnv,
    roots: Sequence[Requirement] = (),
) -> list[Unmet]:
    """Every requirement of ``visible`` that it does not meet, like ``pip check``.

    Markers are evaluated in the base's environment. A requirement under an extra applies
    only when something visible (or a root: overlay.toml's ``requires``) asks for that extra.
    Requires-Python is checked for overlay distributions only: the base's are the base's.
    """
    envs = _Envs(base)
    wanted = deque((name, "") for name in sorted(visible))
    for r in roots:
        if r.marker is None or _marker_true(r.marker, envs[""]):
            wanted += [(canonicalize_name(r.name), canonicalize_name(e)) for e in sorted(r.extras)]
    seen: set[tuple[NormalizedName, str]] = set()
    out: list[Unmet] = []
    while wanted:
        name, extra = wanted.popleft()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = visible.get(name)
        if dist is None:
            continue
        if not extra and dist.layer == "overlay" and not base.accepts_python(dist.requires_python):
            out.append(Unmet(dist, str(dist.requires_python), python=base.python_version))
        for r in dist.parsed_requires:
            if not _applies(r, extra, envs):
                continue
            target = canonicalize_name(r.name)
            wanted += [(target, canonicalize_name(e)) for e in sorted(r.extras)]
            if target == name:
                continue
            found = visible.get(target)
            if found is None or not _satisfies(r, found):
                out.append(Unmet(dist, _req_text(r), found, extra))
    return sorted(out, key=lambda u: (u.dependent.name, u.extra, u.requirement))


class _Envs(dict[str, dict[str, str]]):
    """Marker environments of the base, one per extra, made on first use."""

    def __init__(self, base: BaseEnv) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, extra: str) -> dict[str, str]:
        self[extra] = env = self.base.marker_env(extra)
        return env


def _applies(r: Requirement, extra: str, envs: _Envs) -> bool:
    if r.marker is None:
        return not extra  # unconditional requirements belong to the plain distribution
    plain = _marker_true(r.marker, envs[""])
    if not extra:
        return plain
    return not plain and _marker_true(r.marker, envs[extra])


def _satisfies(r: Requirement, found: Dist) -> bool:
    if r.url or not r.specifier:
        return True
    try:
        return r.specifier.contains(Version(found.version), prereleases=True)
    except InvalidVersion:
        return False


def _preexisting(u: Unmet, lock: Lock) -> bool:
    return any(p.startswith(u.key + ",") for p in lock.preexisting)


def _within_base(u: Unmet) -> bool:
    return u.dependent.layer == "base" and (u.found is None or u.found.layer == "base")


# -- drift -------------------------------------------------------------------------------


def _pins(lines: Iterable[str]) -> dict[NormalizedName, str]:
    out: dict[NormalizedName, str] = {}
    for line in lines:
        name, sep, version = line.partition("==")
        if sep:
            out[canonicalize_name(name)] = version
    return out


def locked_overlay(
    lock: Lock, found: Sequence[PrefixDist], cache: Cache | None
) -> tuple[list[Dist], list[str]]:
    """The lock's packages as distributions, with their metadata from the prefix or the cache.

    Returns them and the names whose metadata was in neither (their requirements are unknown).
    """
    in_prefix = {(d.name, d.version): d for d in found}
    out: list[Dist] = []
    unknown: list[str] = []
    for pkg in lock.packages:
        have = next(
            (
                d
                for (n, v), d in in_prefix.items()
                if n == pkg.name and _same_version(v, pkg.version)
            ),
            None,
        )
        if have is not None:
            out.append(have.as_dist())
            continue
        sha = _locked_sha256(pkg)
        data = cache.get_metadata(sha) if cache is not None and sha else None
        if data is None:
            unknown.append(pkg.name)
            out.append(Dist(pkg.name, pkg.version, (), pkg.requires_python, "overlay"))
            continue
        msg = _parse_headers(data.decode("utf-8", errors="replace"))
        requires = tuple(str(v).strip() for v in msg.get_all("Requires-Dist") or ())
        rp = msg.get("Requires-Python")
        out.append(
            Dist(pkg.name, pkg.version, requires, str(rp).strip() if rp else None, "overlay")
        )
    return out, unknown


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
    if lock.base_fingerprint == now:
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
    if lock.base_python_version and lock.base_python_version != base.python_version:
        changes.append(f"python {lock.base_python_version} -> {base.python_version}")
        data["python"] = [lock.base_python_version, base.python_version]
    if lock.base_tags and tuple(lock.base_tags) != tuple(base.tags[: len(lock.base_tags)]):
        changes.append("supported wheel tags changed")
        data["tags_changed"] = True
    if lock.base_distributions is not None:
        before = _pins(lock.base_distributions)
        after = {d.name: d.version for d in base.distributions}
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

    broken = [
        u
        for u in unmet(combined(base, overlay), base, roots)
        if not _preexisting(u, lock) and not _within_base(u)
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
            (Finding("drift", ERROR, "base", head, tuple(details), RELOCK_HINT, data),),
        )
    details.append("the lock is still consistent with it: re-lock recommended but not required")
    return Section(
        "drift",
        head,
        (Finding("drift", WARNING, "base", head, tuple(details), RELOCK_HINT, data),),
    )


# -- stale lock --------------------------------------------------------------------------


def check_stale(manifest: Manifest, lock: Lock) -> Section:
    if lock.manifest_hash == manifest.content_hash():
        return Section("stale", f"the lock matches {manifest.path.name}")
    message = f"{manifest.path.name} changed since the lock was written"
    return Section(
        "stale",
        message,
        (Finding("stale", WARNING, "lock", message, hint=RELOCK_HINT),),
    )


# -- integrity ---------------------------------------------------------------------------


def _record_digest(path: Path, algorithm: str) -> str | None:
    try:
        h = hashlib.new(algorithm)
    except ValueError:
        return None
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")


def _verify_file(full: Path, hash_field: str, size_field: str) -> str | None:
    """None when ``full`` matches its RECORD row; else "missing", "modified" or "unreadable"."""
    try:
        st = full.stat()
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


def _rel(path: Path, prefix: Path) -> str:
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


def _locked_sha256(pkg: LockedPackage) -> str | None:
    """The sha256 of the wheel the lock names; None for sources that sync builds."""
    found = pkg.wheel or pkg.archive
    return found.sha256 if found is not None else None


def _other_file(installed_sha256: str, pkg: LockedPackage) -> bool:
    locked = _locked_sha256(pkg)
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
        elif not any(_same_version(d.version, pkg.version) for d in have):
            message = f"the prefix holds {pkg.name} {have[0].version}, the lock {pkg.version}"
            data = {"installed": have[0].version, "locked": pkg.version}
            add(ERROR, pkg.name, message, "version", hint=hint(pkg.name), data=data)
        elif pkg.name in installed and _other_file(installed[pkg.name].sha256, pkg):
            message = f"{pkg.name} {pkg.version} was installed from another file than the lock's"
            details = (
                f"installed sha256 {installed[pkg.name].sha256}",
                f"locked sha256 {_locked_sha256(pkg)}",
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
) -> tuple[list[Finding], set[Path]]:
    """Every RECORD row of every dist-info checked, hashed in a few threads.

    Returns the findings and the files the RECORDs list (owned by a package).
    """
    jobs: list[tuple[PrefixDist, Path, str, str]] = []
    out: list[Finding] = []
    for d in found:
        rows = d.record()
        if not rows:
            message = f"{d.name} {d.version} has no readable RECORD; its files cannot be verified"
            data = {"problem": "record"}
            out.append(Finding("integrity", ERROR, d.name, message, hint=repair, data=data))
        for path, hash_field, size_field in rows:
            full = Path(os.path.normpath(d.site / path))
            if full.is_relative_to(prefix):  # installer writes nowhere else
                jobs.append((d, full, hash_field, size_field))
    with ThreadPoolExecutor(max_workers=_HASH_WORKERS) as pool:
        verdicts = list(pool.map(lambda j: _verify_file(j[1], j[2], j[3]), jobs))
    bad: dict[PrefixDist, dict[str, list[str]]] = {}
    for (d, full, _h, _s), verdict in zip(jobs, verdicts, strict=True):
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
    return out, {full for _d, full, _h, _s in jobs}


def _unowned(base: BaseEnv, prefix: Path, owned: set[Path]) -> Iterator[Path]:
    roots = [*_site_dirs(base, prefix), prefix / base.scheme["scripts"]]
    for root in dict.fromkeys(roots):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            # Byte-code is generated (and revalidated against its source by Python).
            dirnames[:] = [n for n in dirnames if n != "__pycache__"]
            here = Path(dirpath)
            if here.name.endswith(".dist-info"):
                continue
            for name in filenames:
                full = here / name
                if full not in owned and not name.endswith(".pyc"):
                    yield full


# -- consistency -------------------------------------------------------------------------


def check_consistency(
    lock: Lock,
    base: BaseEnv,
    overlay: Sequence[Dist],
    *,
    roots: Sequence[Requirement] = (),
) -> Section:
    """Is every Requires-Dist of the environment as Python sees it satisfied?"""
    visible = combined(base, overlay)
    findings: list[Finding] = []
    for u in unmet(visible, base, roots):
        data = {"requirement": u.requirement, "dependent": u.dependent.label, "extra": u.extra}
        if _preexisting(u, lock):
            findings.append(
                Finding(
                    "consistency",
                    INFO,
                    u.dependent.name,
                    f"{u} (already so in the base when the overlay was locked)",
                    data={**data, "cause": "preexisting"},
                )
            )
        elif _within_base(u):
            findings.append(
                Finding(
                    "consistency",
                    WARNING,
                    u.dependent.name,
                    f"{u} (within the base itself, not caused by the overlay)",
                    hint="the base was changed; tell whoever maintains it",
                    data={**data, "cause": "base"},
                )
            )
        else:
            findings.append(
                Finding(
                    "consistency",
                    ERROR,
                    u.dependent.name,
                    str(u),
                    hint=RELOCK_HINT,
                    data={**data, "cause": "overlay"},
                )
            )
    n_overlay = sum(1 for d in visible.values() if d.layer == "overlay")
    summary = (
        f"the requirements of {len(visible)} visible distribution(s)"
        f" ({n_overlay} from the overlay) are met"
    )
    if findings:
        summary += f", apart from {len(findings)} the base already had"
    if any(f.is_problem for f in findings):
        summary = f"{len(visible)} visible distribution(s) checked"
    return Section("consistency", summary, tuple(findings))


# -- redundant hot-fixes -----------------------------------------------------------------


def check_redundant(
    manifest: Manifest, lock: Lock, base: BaseEnv, overlay: Sequence[Dist]
) -> Section:
    """Requested packages whose overlay.toml entry the base's own copy now satisfies."""
    env = base.marker_env("")
    roots = list(manifest.requires)
    visible = combined(base, overlay)
    before = {u.key for u in unmet(visible, base, roots)}
    findings: list[Finding] = []
    asked = 0
    for pkg in lock.packages:
        if not pkg.requested:
            continue
        asked += 1
        reqs = [
            (r, text)
            for r, text in zip(manifest.requires, manifest.requires_text, strict=False)
            if canonicalize_name(r.name) == pkg.name
            and (r.marker is None or _marker_true(r.marker, env))
        ]
        have = base.by_name.get(pkg.name)
        if not reqs or have is None or have.parsed_version is None:
            continue
        if any(
            r.url or not r.specifier.contains(have.parsed_version, prereleases=True)
            for r, _ in reqs
        ):
            continue
        trial = dict(visible)
        trial[pkg.name] = Dist.of_base(have)
        new = [
            u
            for u in unmet(trial, base, roots)
            if u.key not in before and not _preexisting(u, lock)
        ]
        if new:
            continue
        texts = ", ".join(f"`{t}`" for _, t in reqs)
        findings.append(
            Finding(
                "redundant",
                WARNING,
                pkg.name,
                f"the base now provides {pkg.name} {have.version}, which satisfies {texts};"
                " the overlay entry can go",
                details=(f"the overlay holds {pkg.name} {pkg.version}",),
                hint=f"remove {texts} from overlay.toml, then run `overlock lock` and"
                " `overlock sync`",
                data={"base_version": have.version, "overlay_version": pkg.version},
            )
        )
    summary = f"{asked - len(findings)} of {asked} requested package(s) still need the overlay"
    return Section("redundant", summary, tuple(findings))


# -- shadow effectiveness ----------------------------------------------------------------

_BEGIN = "--overlock-check-begin--"
_END = "--overlock-check-end--"

# Runs in the base interpreter with the overlay active. find_spec locates a top-level module
# without executing it, so nothing of the packages themselves runs.
_SHADOW_SCRIPT = """\
import json, sys
import importlib.util
try:
    import importlib.metadata as md
except ImportError:
    md = None
out = {}
for name, modules in json.loads(sys.argv[1]):
    entry = {"version": None, "modules": {}}
    try:
        entry["version"] = md.version(name) if md else None
    except Exception:
        pass
    for mod in modules:
        try:
            spec = importlib.util.find_spec(mod)
        except Exception as exc:
            entry["modules"][mod] = {"error": "%s: %s" % (type(exc).__name__, exc)}
            continue
        if spec is None:
            entry["modules"][mod] = None
            continue
        origin = spec.origin if spec.has_location else None
        entry["modules"][mod] = {
            "origin": origin,
            "locations": list(spec.submodule_search_locations or []),
        }
    out[name] = entry
sys.stdout.write("%s\\n%s\\n%s\\n" % (BEGIN, json.dumps(out), END))
""".replace("BEGIN", repr(_BEGIN)).replace("END", repr(_END))

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def check_shadows(
    base: BaseEnv,
    prefix: Path,
    found: Sequence[PrefixDist],
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner = subprocess.run,
    timeout: float = 120.0,
) -> Section:
    """Is each overlay copy of a base package the one that gets imported?"""
    from overlock.activate import overlay_environ

    hidden = {d.name for d in base.hidden}
    shadowing = [d for d in found if d.name in base.by_name or d.name in hidden]
    if not shadowing:
        return Section("shadow", "the overlay shadows no base package")
    wanted = [(d.name, d.top_level()) for d in shadowing]
    env = overlay_environ(base, prefix, os.environ if environ is None else environ)
    with tempfile.TemporaryDirectory(prefix="overlock-check-") as cwd:
        try:
            proc = runner(
                [base.python, "-c", _SHADOW_SCRIPT, json.dumps(wanted)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _shadow_failed(len(shadowing), f"{type(exc).__name__}: {exc}")
    stdout = proc.stdout or ""
    start, end = stdout.rfind(_BEGIN), stdout.rfind(_END)
    try:
        report = json.loads(stdout[start + len(_BEGIN) : end]) if 0 <= start < end else None
    except json.JSONDecodeError:
        report = None
    if proc.returncode != 0 or not isinstance(report, dict):
        tail = "\n".join((proc.stderr or stdout).strip().splitlines()[-5:])
        return _shadow_failed(len(shadowing), f"exit status {proc.returncode}: {tail}")

    roots = sorted({os.path.realpath(prefix), str(Path(os.path.abspath(prefix)))})  # noqa: PTH100
    findings: list[Finding] = []
    for d in shadowing:
        entry = report.get(d.name) or {}
        problems: list[str] = []
        seen_version = entry.get("version")
        if seen_version is None:
            problems.append(f"importlib.metadata finds no {d.name}")
        elif not _same_version(str(seen_version), d.version):
            problems.append(
                f"importlib.metadata reports {d.name} {seen_version}, the overlay holds {d.version}"
            )
        for mod, where in sorted((entry.get("modules") or {}).items()):
            if where is None:
                problems.append(f"`import {mod}` finds nothing")
            elif "error" in where:
                problems.append(f"`import {mod}` fails to resolve: {where['error']}")
            else:
                places = [where["origin"]] if where.get("origin") else list(where["locations"])
                if not any(_inside(p, roots) for p in places):
                    problems.append(
                        f"`import {mod}` loads {', '.join(places) or 'a namespace outside it'},"
                        " not the overlay's copy"
                    )
        if problems:
            findings.append(
                Finding(
                    "shadow",
                    ERROR,
                    d.name,
                    f"{d.name} {d.version} in the overlay is not what Python imports:"
                    f" {problems[0]}",
                    details=tuple(problems),
                    hint="is PYTHONPATH or a .pth file putting another copy first?"
                    " `overlock run -- python -c 'import sys; print(sys.path)'` shows the order",
                    data={"problems": problems},
                )
            )
    summary = f"{len(shadowing)} shadowing package(s) are imported from the overlay"
    return Section("shadow", summary, tuple(findings))


def _shadow_failed(count: int, why: str) -> Section:
    message = "the base interpreter with the overlay active failed to report what it imports"
    return Section(
        "shadow",
        f"{count} shadowing package(s) could not be checked",
        (
            Finding(
                "shadow",
                ERROR,
                "base",
                message,
                details=tuple(why.splitlines()),
                hint="does `overlock run -- python -c pass` work?",
            ),
        ),
    )


# -- everything --------------------------------------------------------------------------


def check_overlay(
    manifest: Manifest,
    lock: Lock,
    base: BaseEnv,
    prefix: Path,
    *,
    cache: Cache | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner = subprocess.run,
) -> Report:
    """Run every check on the overlay at ``prefix``; ``base`` is the base as it is now."""
    prefix = Path(os.path.abspath(prefix))  # noqa: PTH100 - the stable link, unresolved
    state = read_state(prefix)
    if state is None:
        if current_generation(prefix) is None and os.path.lexists(prefix):
            raise SyncError(
                f"{prefix} was not made by `overlock sync`, so there is nothing to check",
                hint="point `prefix` in overlay.toml at the overlay, or run `overlock sync`",
            )
        raise SyncError(
            f"the overlay at {prefix} has not been synced",
            hint="run `overlock sync` to install the lock there, then check again",
        )
    found = scan_prefix(base, prefix)
    overlay = [d.as_dist() for d in found]
    roots = list(manifest.requires)
    as_locked, unknown = locked_overlay(lock, found, cache)
    return Report(
        (
            check_drift(lock, base, as_locked, roots=roots, unknown=unknown),
            check_stale(manifest, lock),
            check_integrity(lock, base, prefix, state, found),
            check_consistency(lock, base, overlay, roots=roots),
            check_redundant(manifest, lock, base, overlay),
            check_shadows(base, prefix, found, environ=environ, runner=runner),
        )
    )


__all__ = [
    "ERROR",
    "INFO",
    "KINDS",
    "WARNING",
    "Dist",
    "Finding",
    "PrefixDist",
    "Report",
    "Section",
    "Unmet",
    "check_consistency",
    "check_drift",
    "check_integrity",
    "check_overlay",
    "check_redundant",
    "check_shadows",
    "check_stale",
    "combined",
    "locked_overlay",
    "scan_prefix",
    "unmet",
]
