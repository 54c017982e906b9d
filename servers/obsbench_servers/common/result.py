"""What every tool returns: compact text for the LLM and full structured data for panels.

A ``ToolOutput`` becomes one MCP ``CallToolResult``: the text content carries a
headline, the budgeted body and a footer with the resolved time range, the
backend query and the coverage (what was truncated, sampled or aggregated);
``structured_content`` carries the same metadata and the full payload. The hub
turns both into an evidence item without parsing the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.types import CallToolResult, TextContent

from obsbench_servers.common.errors import ObsbenchError
from obsbench_servers.common.timeutil import TimeRange

EvidenceKind = Literal[
    "series", "logs", "patterns", "spans", "trace", "alerts", "changes", "table", "text"
]


@dataclass
class Coverage:
    """How much of the result the text shows: ``shown`` of ``total`` ``unit``, and notes."""

    shown: int
    total: int | None = None
    unit: str = "items"
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return (self.total is None or self.shown >= self.total) and not self.notes

    def line(self) -> str:
        if self.total is None:
            head = f"{self.shown:,} {self.unit}"
        elif self.shown >= self.total:
            head = f"all {self.total:,} {self.unit}"
        else:
            head = f"{self.shown:,} of {self.total:,} {self.unit} shown"
        return "; ".join([head, *self.notes])

    def to_dict(self) -> dict[str, Any]:
        return {"shown": self.shown, "total": self.total, "unit": self.unit, "notes": self.notes,
                "complete": self.complete}


@dataclass
class ToolOutput:
    """A tool's answer, before it is rendered into the MCP result."""

    kind: EvidenceKind
    summary: str
    text: str
    data: dict[str, Any]
    query: str | None = None
    time_range: TimeRange | None = None
    coverage: Coverage | None = None
    backend: str = ""
    warnings: list[str] = field(default_factory=list)

    def render_text(self) -> str:
        parts = [self.summary]
        if self.text:
            parts.append(self.text)
        foot = []
        if self.time_range is not None:
            r = self.time_range.to_dict()
            foot.append(f"range: {r['start']} .. {r['end']}")
        if self.coverage is not None:
            foot.append(f"coverage: {self.coverage.line()}")
        if self.query:
            foot.append(f"query: {self.query}")
        if self.backend:
            foot.append(f"backend: {self.backend}")
        foot.extend(f"warning: {w}" for w in self.warnings)
        if foot:
            parts.append("\n".join(f"[{f}]" for f in foot))
        return "\n".join(parts)

    def structured(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "query": self.query,
            "time_range": self.time_range.to_dict() if self.time_range else None,
            "coverage": self.coverage.to_dict() if self.coverage else None,
            "backend": self.backend,
            "warnings": self.warnings,
            "data": self.data,
        }

    def to_call_result(self) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text=self.render_text())],
            structured_content=self.structured(),
        )


def error_result(error: ObsbenchError) -> CallToolResult:
    """An error the model and the person can act on: what was wrong, what to try."""
    text = f"error ({error.kind}): {error.message}"
    if error.hint:
        text += f"\nhint: {error.hint}"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"kind": "error", **error.to_dict()},
        is_error=True,
    )
