"""What an import did: records per file, and every skipped record with file:line and why.

A bad record never aborts an import, so the report is the only place a user
learns what was left behind. Issues are kept in full up to a cap per file and
counted beyond it, so a file of a million bad lines cannot exhaust memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["skipped", "warning", "error"]

# Issues kept verbatim per file; beyond this only the per-reason counts grow.
MAX_ISSUES_PER_FILE = 50


@dataclass(slots=True)
class ImportIssue:
    """One problem: ``line`` is 1-based (0 when it concerns the whole file)."""

    path: str
    line: int
    severity: Severity
    reason: str

    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": self.severity,
            "reason": self.reason,
        }


@dataclass(slots=True)
class FileReport:
    """Counts for one imported file."""

    path: str
    format: str
    bytes: int = 0
    records: Counter[str] = field(default_factory=Counter)  # table -> rows written
    skipped: int = 0
    warnings: int = 0
    seconds: float = 0.0
    issues: list[ImportIssue] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # reason class -> count

    def add_issue(self, line: int, severity: Severity, reason: str) -> None:
        if severity == "skipped":
            self.skipped += 1
        elif severity == "warning":
            self.warnings += 1
        self.reasons[_reason_class(reason)] += 1
        if len(self.issues) < MAX_ISSUES_PER_FILE:
            self.issues.append(ImportIssue(self.path, line, severity, reason))

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "bytes": self.bytes,
            "records": dict(sorted(self.records.items())),
            "skipped": self.skipped,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 4),
            "issues": [i.to_dict() for i in self.issues],
            "issues_not_shown": max(0, sum(self.reasons.values()) - len(self.issues)),
            "reasons": dict(self.reasons.most_common()),
        }


def _reason_class(reason: str) -> str:
    """The reason up to its first colon: groups 'bad value: "x"' with 'bad value: "y"'."""
    return reason.split(":", 1)[0].strip()


@dataclass(slots=True)
class ImportReport:
    """The summary of importing a bundle (or a set of files)."""

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def warnings(self) -> int:
        return sum(f.warnings for f in self.files)

    def records(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.records)
        return total

    def issues(self) -> list[ImportIssue]:
        return [i for f in self.files for i in f.issues]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "records": dict(sorted(self.records().items())),
            "skipped": self.skipped,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 4),
            "cached": self.cached,
        }

    def summary_lines(self) -> list[str]:
        """Human summary: totals, then each file with skips, then the first issues."""
        rec = self.records()
        parts = ", ".join(f"{n:,} {table}" for table, n in sorted(rec.items()) if n)
        lines = [
            f"imported {len(self.files)} files in {self.seconds:.2f}s"
            + (" (from cache)" if self.cached else "")
            + f": {parts or 'nothing'}; {self.skipped:,} skipped, {self.warnings:,} warnings"
        ]
        for f in self.files:
            if f.skipped or f.warnings:
                why = "; ".join(f"{n} x {r}" for r, n in f.reasons.most_common(3))
                lines.append(
                    f"  {f.path} ({f.format}): {f.skipped:,} skipped, "
                    f"{f.warnings:,} warnings — {why}"
                )
                for issue in f.issues[:5]:
                    lines.append(f"    {issue.location()}: {issue.severity}: {issue.reason}")
        return lines
