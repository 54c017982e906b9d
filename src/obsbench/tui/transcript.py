"""What was said and shown in a session, and its export (markdown and JSON).

Kept apart from the widgets so that export never depends on what is on screen,
and so that it is tested without a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from obsbench.evidence import Evidence, flag_unresolved

EntryKind = Literal["question", "answer", "tool", "notice", "command"]


@dataclass
class Entry:
    kind: EntryKind
    text: str
    evidence_id: str | None = None


@dataclass
class Transcript:
    """The chat in order; answers are kept as the markdown the investigator wrote."""

    title: str = "obsbench session"
    profile: str = ""
    agent: str = ""
    entries: list[Entry] = field(default_factory=list)

    def add(self, kind: EntryKind, text: str, evidence_id: str | None = None) -> Entry:
        entry = Entry(kind, text, evidence_id)
        self.entries.append(entry)
        return entry

    def to_markdown(self, evidence: Iterable[Evidence], store: Any = None) -> str:
        """The session as a document: questions, answers (citations checked), evidence."""
        lines = [f"# {self.title}", ""]
        if self.profile or self.agent:
            lines += [f"profile: {self.profile} · agent: {self.agent}", ""]
        for e in self.entries:
            if e.kind == "question":
                lines += [f"## Q: {e.text}", ""]
            elif e.kind == "command":
                lines += [f"`:{e.text.removeprefix(':')}`", ""]
            elif e.kind == "answer":
                text = flag_unresolved(e.text, store) if store is not None else e.text
                lines += [text.rstrip(), ""]
            elif e.kind == "tool":
                lines += [f"- {e.text}"]
            else:
                lines += [f"> {e.text}", ""]
        items = list(evidence)
        if items:
            lines += ["", "## Evidence", ""]
        for ev in items:
            lines += [f"### {ev.id} {ev.server}.{ev.tool}", ""]
            lines += [f"- arguments: `{json.dumps(ev.arguments, sort_keys=True)}`"]
            if ev.query:
                lines += [f"- query: `{ev.query}`"]
            if ev.time_range:
                lines += [f"- time range: {ev.time_range.get('start')} .. "
                          f"{ev.time_range.get('end')}"]
            if ev.coverage_line:
                lines += [f"- coverage: {ev.coverage_line}"]
            lines += ["", "```", ev.text.rstrip(), "```", ""]
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self, evidence: Iterable[Evidence]) -> dict[str, Any]:
        """Everything, payloads included: what a script or a later post-mortem reads."""
        return {"title": self.title, "profile": self.profile, "agent": self.agent,
                "entries": [asdict(e) for e in self.entries],
                "evidence": [ev.to_dict() for ev in evidence]}

    def export(self, path: Path, evidence: list[Evidence], store: Any = None) -> Path:
        """Write markdown (``.md``) or JSON (anything else) to ``path``; returns the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            path.write_text(self.to_markdown(evidence, store), encoding="utf-8")
        else:
            path.write_text(json.dumps(self.to_json(evidence), indent=2, default=str) + "\n",
                            encoding="utf-8")
        return path
