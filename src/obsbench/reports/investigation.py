"""The investigation report: the result of one investigation, with its evidence, as markdown + JSON.

It is the shareable record of ``investigate``: the question and window, ranked root
causes with kind, confidence, summary and the evidence each rests on, contributing
factors, what was ruled out (and by what), actions, what was not checked, and an index
of every tool call (tool, time range, query actually run, coverage). Every citation is
checked against the investigation's evidence; one that resolves to nothing is flagged
where it appears and listed, never shown as fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench.agent.model import Finding, InvestigationResult
from obsbench.evidence import EvidenceStore, cited_ids, flag_unresolved
from obsbench.reports.common import (
    Cited,
    cite,
    cited,
    evidence_index_markdown,
    evidence_row,
    split_ids,
)


@dataclass
class RankedCause:
    """A root cause as reported: rank, service, kind, confidence, summary, checked citations."""

    rank: int
    service: str
    kind: str
    confidence: float
    summary: str
    evidence: list[str]
    unresolved: list[str]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class InvestigationReport:
    """Everything the markdown and the JSON show, built once from a result and its evidence."""

    question: str
    window: dict[str, str]
    agent: str
    answer: str
    root_causes: list[RankedCause]
    contributing: list[Cited]
    ruled_out: list[Cited]
    actions: list[Cited]
    not_checked: list[str]
    evidence: list[dict[str, Any]]
    unresolved_citations: list[str]
    stats: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "investigation",
            "question": self.question,
            "window": self.window,
            "agent": self.agent,
            "answer": self.answer,
            "root_causes": [rc.to_dict() for rc in self.root_causes],
            "contributing": [c.to_dict() for c in self.contributing],
            "ruled_out": [c.to_dict() for c in self.ruled_out],
            "actions": [c.to_dict() for c in self.actions],
            "not_checked": self.not_checked,
            "evidence": self.evidence,
            "unresolved_citations": self.unresolved_citations,
            "stats": self.stats,
        }

    def to_markdown(self) -> str:
        w = self.window
        out = [f"# Investigation: {self.question}", "",
               f"Window: {w.get('start', '?')} .. {w.get('end', '?')} · investigator: "
               f"{self.agent} · {self.stats['tool_calls']} tool calls, "
               f"{len(self.evidence)} evidence items", ""]
        if self.unresolved_citations:
            out += [f"> **Unresolved citations:** {', '.join(self.unresolved_citations)} do not "
                    "resolve to evidence of this investigation; the claims citing them are "
                    "not supported.", ""]
        out += ["## Answer", "", self.answer.strip() or "_No answer._", ""]
        out += ["## Root causes (ranked)", ""]
        if not self.root_causes:
            out.append("_No root cause was named._")
        for rc in self.root_causes:
            out.append(f"{rc.rank}. **{rc.service}** — {rc.kind}, confidence "
                       f"{rc.confidence:.2f}: {rc.summary} {cite(rc.evidence, rc.unresolved)}"
                       .rstrip())
            out += [f"   - {r}" for r in rc.reasons]
        for title, items in (("Contributing factors", self.contributing),
                             ("Ruled out", self.ruled_out), ("Recommended actions", self.actions)):
            out += ["", f"## {title}", ""]
            out += [f"- {c.markdown()}" for c in items] or ["_None._"]
        out += ["", "## Not checked", ""]
        out += [f"- {x}" for x in self.not_checked] or ["_Nothing listed._"]
        out += ["", "## Evidence", "", *evidence_index_markdown(self.evidence)]
        return "\n".join(out).rstrip() + "\n"


def _findings(items: list[Finding], store: EvidenceStore) -> list[Cited]:
    return [cited(f.summary + (f" ({f.service})" if f.service else ""), f.evidence, store)
            for f in items]


def build_investigation_report(result: InvestigationResult, store: EvidenceStore
                               ) -> InvestigationReport:
    """Check every citation of ``result`` against ``store`` and assemble the report."""
    causes: list[RankedCause] = []
    for i, rc in enumerate(result.root_causes, 1):
        ok, bad = split_ids(rc.evidence, store)
        causes.append(RankedCause(i, rc.service, rc.kind, rc.confidence, rc.summary, ok, bad,
                                  list(rc.reasons)))
    contributing = _findings(result.contributing, store)
    ruled_out = _findings(result.ruled_out, store)
    actions = _findings(result.actions, store)
    unresolved: dict[str, None] = dict.fromkeys(result.unresolved_citations)
    for ev_id in cited_ids(result.answer):
        if ev_id not in store:
            unresolved.setdefault(ev_id, None)
    groups: list[list[str]] = [rc.unresolved for rc in causes]
    groups += [c.unresolved for c in (*contributing, *ruled_out, *actions)]
    for group in groups:
        for ev_id in group:
            unresolved.setdefault(ev_id, None)
    u = result.usage
    stats = {"tool_calls": result.tool_calls, "elapsed_s": round(result.elapsed_s, 3),
             "stop_reason": result.stop_reason, "input_tokens": u.input_tokens,
             "output_tokens": u.output_tokens, "cost_usd": round(u.cost_usd, 6)}
    agent = f"{result.agent}:{result.model}" if result.model else result.agent
    return InvestigationReport(
        question=result.question, window=dict(result.window), agent=agent,
        answer=flag_unresolved(result.answer, store), root_causes=causes,
        contributing=contributing, ruled_out=ruled_out, actions=actions,
        not_checked=list(result.not_checked), evidence=[evidence_row(e) for e in store],
        unresolved_citations=list(unresolved), stats=stats)
