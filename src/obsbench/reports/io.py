"""Reading a saved investigation back: ``obsbench investigate --json`` output -> result + evidence.

So that a post-mortem can be written from an investigation run earlier (or on another
machine) without calling any backend again: the JSON carries every evidence item with
its payload, which is all the reports read.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from obsbench.agent.model import Finding, InvestigationResult, RootCause, Usage
from obsbench.evidence import Evidence, EvidenceStore
from obsbench_servers.common.errors import BadInputError

_EVIDENCE_FIELDS = {f.name for f in dataclasses.fields(Evidence)}
_RESULT_FIELDS = {f.name for f in dataclasses.fields(InvestigationResult)}
_USAGE_FIELDS = {f.name for f in dataclasses.fields(Usage)}


def _findings(items: Any) -> list[Finding]:
    return [Finding(str(f.get("summary") or ""), [str(i) for i in f.get("evidence") or []],
                    f.get("service")) for f in items or [] if isinstance(f, dict)]


def load_investigation(doc: Any) -> tuple[InvestigationResult, EvidenceStore]:
    """Rebuild an ``InvestigationResult`` and its ``EvidenceStore`` from the JSON contract."""
    if not isinstance(doc, dict) or "question" not in doc or "root_causes" not in doc:
        raise BadInputError("this is not the JSON of an investigation",
                            "give the output of `obsbench investigate --json`")
    store = EvidenceStore()
    for item in doc.get("evidence") or []:
        if not isinstance(item, dict) or not str(item.get("id", "")).startswith("E"):
            raise BadInputError(f"evidence item without an id: {str(item)[:80]}",
                                "the evidence list must hold items as investigate --json "
                                "prints them")
        ev = Evidence(**{k: v for k, v in item.items() if k in _EVIDENCE_FIELDS})
        store.add(ev)
    causes = [RootCause(str(rc.get("service") or "?"), str(rc.get("kind") or "unknown"),
                        float(rc.get("confidence") or 0.0), str(rc.get("summary") or ""),
                        [str(i) for i in rc.get("evidence") or []],
                        [str(r) for r in rc.get("reasons") or []])
              for rc in doc.get("root_causes") or [] if isinstance(rc, dict)]
    usage = Usage(**{k: v for k, v in (doc.get("usage") or {}).items() if k in _USAGE_FIELDS})
    rest = {k: doc[k] for k in ("model", "not_checked", "unresolved_citations", "tool_calls",
                                "elapsed_s", "stop_reason") if k in doc and k in _RESULT_FIELDS}
    result = InvestigationResult(
        question=str(doc["question"]), window=dict(doc.get("window") or {}),
        root_causes=causes, answer=str(doc.get("answer") or ""),
        agent=str(doc.get("agent") or "unknown"),
        contributing=_findings(doc.get("contributing")), ruled_out=_findings(doc.get("ruled_out")),
        actions=_findings(doc.get("actions")), usage=usage, **rest)
    return result, store
