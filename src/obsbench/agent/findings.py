"""How the model hands in its conclusion: the ``submit_findings`` pseudo-tool.

The model ends an investigation by calling ``submit_findings`` with the fields of
``InvestigationResult`` (answer, root_causes, contributing, ruled_out, actions,
not_checked). The loop validates them here: a malformed submission or a citation
to evidence that does not exist goes back to the model as a tool error it can fix;
whatever still does not resolve is flagged in the answer (``[E99: no such
evidence]``), listed in ``unresolved_citations`` and dropped from evidence lists,
never shown as fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from obsbench.agent.model import Finding, RootCause
from obsbench.agent.prompts import EVIDENCE_TOOL, ROOT_CAUSE_KINDS, SUBMIT_TOOL
from obsbench.evidence import EvidenceStore, cited_ids, flag_unresolved
from obsbench.hub import ToolSpec

_ID_PATTERN = r"^E\d+$"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RootCauseIn(_Lenient):
    service: str = Field(min_length=1)
    kind: str
    confidence: float = Field(ge=0.0, le=1.0)
    summary: str = Field(min_length=1)
    evidence: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        kind = value.strip().lower()
        if kind not in ROOT_CAUSE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ROOT_CAUSE_KINDS)} (got {value!r})")
        return kind


class FindingIn(_Lenient):
    summary: str = Field(min_length=1)
    evidence: list[str] = Field(default_factory=list)
    service: str | None = None


class FindingsIn(_Lenient):
    answer: str = Field(min_length=1)
    root_causes: list[RootCauseIn] = Field(default_factory=list)
    contributing: list[FindingIn] = Field(default_factory=list)
    ruled_out: list[FindingIn] = Field(default_factory=list)
    actions: list[FindingIn] = Field(default_factory=list)
    not_checked: list[str] = Field(default_factory=list)


def _finding_schema(what: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": what,
        "items": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "evidence": {"type": "array", "items": {"type": "string", "pattern": _ID_PATTERN}},
                "service": {"type": "string"},
            },
            "required": ["summary", "evidence"],
        },
    }


SUBMIT_SPEC = ToolSpec(
    name=SUBMIT_TOOL,
    server="agent",
    tool=SUBMIT_TOOL,
    description=(
        "Hand in your conclusion; call once, at the end. `answer` is short markdown citing "
        "evidence for every claim ([E3]); `root_causes` ranked most likely first, each with "
        "the evidence ids that support it. Cite only evidence ids returned in this "
        "investigation: unknown ids are rejected."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "answer": {"type": "string", "description": "Markdown answer with [E#] citations."},
            "root_causes": {
                "type": "array",
                "description": "Ranked root-cause hypotheses, most likely first.",
                "items": {
                    "type": "object",
                    "properties": {
                        "service": {"type": "string", "description": "Root-cause service."},
                        "kind": {"type": "string", "enum": list(ROOT_CAUSE_KINDS)},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "summary": {"type": "string"},
                        "evidence": {"type": "array",
                                     "items": {"type": "string", "pattern": _ID_PATTERN}},
                        "reasons": {"type": "array", "items": {"type": "string"},
                                    "description": "Why this confidence."},
                    },
                    "required": ["service", "kind", "confidence", "summary", "evidence"],
                },
            },
            "contributing": _finding_schema("Contributing factors."),
            "ruled_out": _finding_schema("Hypotheses ruled out, with the evidence against."),
            "actions": _finding_schema("Recommended next actions."),
            "not_checked": {"type": "array", "items": {"type": "string"},
                            "description": "What was not checked."},
        },
        "required": ["answer", "root_causes"],
    },
)

EVIDENCE_SPEC = ToolSpec(
    name=EVIDENCE_TOOL,
    server="agent",
    tool=EVIDENCE_TOOL,
    description=(
        "Read an earlier evidence item again by id (E7): use it when an older result was "
        "replaced by a summary to save space. Costs no backend query."
    ),
    input_schema={
        "type": "object",
        "properties": {"id": {"type": "string", "pattern": _ID_PATTERN,
                              "description": "Evidence id, e.g. E7."}},
        "required": ["id"],
    },
)


@dataclass
class Submission:
    """A validated submission and what did not resolve."""

    findings: FindingsIn
    unresolved: list[str] = field(default_factory=list)
    missing_support: list[str] = field(default_factory=list)  # root causes with no evidence

    @property
    def clean(self) -> bool:
        return not self.unresolved and not self.missing_support


def parse_submission(arguments: dict[str, Any], store: EvidenceStore) -> Submission:
    """Validate a ``submit_findings`` call; raises ``ValueError`` with what to fix."""
    try:
        findings = FindingsIn.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
            for err in exc.errors()[:8])
        raise ValueError(f"submit_findings arguments are invalid: {problems}") from None
    ids: dict[str, None] = dict.fromkeys(cited_ids(findings.answer))
    groups: list[list[str]] = [rc.evidence for rc in findings.root_causes]
    groups += [f.evidence for f in (*findings.contributing, *findings.ruled_out,
                                    *findings.actions)]
    for group in groups:
        for ev in group:
            ids.setdefault(ev.strip().upper(), None)
    unresolved = [i for i in ids if i not in store]
    missing = [rc.service for rc in findings.root_causes
               if not any(e in store for e in rc.evidence)]
    return Submission(findings, unresolved, missing)


def rejection_message(sub: Submission, store: EvidenceStore) -> str:
    """What the model must fix before its findings are accepted as they are."""
    known = ", ".join(e.id for e in store) or "none yet"
    parts = []
    if sub.unresolved:
        parts.append(f"these citations do not exist in this investigation: "
                     f"{', '.join(sub.unresolved)}")
    if sub.missing_support:
        parts.append(f"root causes without any existing evidence: "
                     f"{', '.join(sub.missing_support)}")
    return ("Findings not accepted yet: " + "; ".join(parts) + f". Evidence ids available: "
            f"{known}. Cite only those (or remove the unsupported claim) and call "
            "submit_findings again.")


def _resolved(ids: list[str], store: EvidenceStore) -> list[str]:
    out: dict[str, None] = {}
    for i in ids:
        key = i.strip().upper()
        if key in store:
            out.setdefault(key, None)
    return list(out)


def to_result_parts(sub: Submission, store: EvidenceStore) -> dict[str, Any]:
    """The InvestigationResult fields of an accepted submission, citations checked."""
    f = sub.findings

    def finding(x: FindingIn) -> Finding:
        return Finding(summary=flag_unresolved(x.summary, store),
                       evidence=_resolved(x.evidence, store), service=x.service)

    root_causes = []
    for rc in f.root_causes:
        bad = [e for e in rc.evidence if e.strip().upper() not in store]
        reasons = list(rc.reasons)
        if bad:
            reasons.append(f"cited {', '.join(bad)}, which do not exist (flagged, not used)")
        root_causes.append(RootCause(
            service=rc.service, kind=rc.kind, confidence=round(rc.confidence, 3),
            summary=flag_unresolved(rc.summary, store), evidence=_resolved(rc.evidence, store),
            reasons=reasons))
    return {
        "answer": flag_unresolved(f.answer, store),
        "root_causes": root_causes,
        "contributing": [finding(x) for x in f.contributing],
        "ruled_out": [finding(x) for x in f.ruled_out],
        "actions": [finding(x) for x in f.actions],
        "not_checked": list(f.not_checked),
        "unresolved_citations": list(sub.unresolved),
    }
