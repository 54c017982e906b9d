"""Small pieces every report shares: checked citations, the evidence index, durations.

Reports never show a citation to nothing as fact: ``cite`` renders ``[E3, E7]`` for
ids that exist in the investigation's store and ``[E99: no such evidence]`` for ids
that do not, and ``Cited`` keeps the two apart in the JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from obsbench.evidence import Evidence, EvidenceStore
from obsbench_servers.common.timeutil import format_duration_ns


@dataclass
class Cited:
    """A line of a report and the evidence it rests on (``unresolved``: ids that do not exist)."""

    text: str
    evidence: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        return f"{self.text} {cite(self.evidence, self.unresolved)}".rstrip()


def split_ids(ids: Iterable[str], store: EvidenceStore) -> tuple[list[str], list[str]]:
    """(ids that resolve, ids that do not), each in order, without duplicates."""
    ok: dict[str, None] = {}
    bad: dict[str, None] = {}
    for raw in ids:
        ev_id = raw.strip().upper()
        (ok if ev_id in store else bad).setdefault(ev_id, None)
    return list(ok), list(bad)


def cited(text: str, ids: Iterable[str], store: EvidenceStore) -> Cited:
    ok, bad = split_ids(ids, store)
    return Cited(text, ok, bad)


def cite(ids: Iterable[str], unresolved: Iterable[str] = ()) -> str:
    """``[E3, E7]``; unresolved ids are marked in place, never passed off as evidence."""
    parts = list(ids) + [f"{i}: no such evidence" for i in unresolved]
    return f"[{', '.join(parts)}]" if parts else ""


def duration(ns: int | None) -> str:
    return format_duration_ns(ns) if ns is not None else "unknown"


def md_cell(text: Any) -> str:
    """Text safe inside a markdown table cell (one line, no bare pipes)."""
    return str(text if text is not None else "").replace("\n", " ").replace("|", "\\|")


def evidence_row(ev: Evidence) -> dict[str, Any]:
    """One evidence index entry: what was called, over which range, with which query."""
    return {
        "id": ev.id,
        "tool": f"{ev.server}_{ev.tool}",
        "arguments": ev.arguments,
        "summary": ev.summary,
        "time_range": ev.time_range,
        "query": ev.query,
        "coverage": ev.coverage_line,
        "backend": ev.backend,
        "is_error": ev.is_error,
    }


def evidence_index_markdown(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["_No evidence was collected._"]
    lines = ["| id | tool | time range | query | coverage | result |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        tr = r.get("time_range") or {}
        span = f"{tr.get('start', '?')} .. {tr.get('end', '?')}" if tr else ""
        query = r.get("query") or ""
        if len(query) > 120:
            query = query[:117] + "..."
        result = ("ERROR: " if r.get("is_error") else "") + (r.get("summary") or "")
        lines.append(f"| {r['id']} | {md_cell(r['tool'])} | {md_cell(span)} | "
                     f"{md_cell(f'`{query}`' if query else '')} | {md_cell(r.get('coverage'))} | "
                     f"{md_cell(result)} |")
    return lines
