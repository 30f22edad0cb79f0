"""What ``overlock check`` reports: findings, grouped into one section per question."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR = "error"  # the overlay is wrong: something will not work as locked
WARNING = "warning"  # works, but should be acted on (re-lock, re-sync, drop an entry)
INFO = "info"  # worth knowing, not a problem (breakage the base already had)

KINDS = (
    "drift",
    "stale",
    "integrity",
    "consistency",
    "upstream",
    "redundant",
    "shadow",
    "imports",
    "sources",
)

RELOCK_HINT = "run `overlock lock`, then `overlock sync`"


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
