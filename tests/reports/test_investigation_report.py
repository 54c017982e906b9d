"""The investigation report: ranked causes, findings, evidence index, checked citations."""

from __future__ import annotations

import copy
from typing import Any

from obsbench.reports import build_investigation_report


def test_report_lists_every_part_with_evidence_index(btl: dict[str, Any]) -> None:
    store = btl["store"]
    rep = build_investigation_report(btl["result"], store)
    data = rep.to_dict()
    assert data["question"] == btl["result"].question and data["window"] == btl["result"].window
    rc = data["root_causes"][0]
    assert (rc["rank"], rc["service"], rc["kind"]) == (1, "nightly-reconcile", "database")
    assert rc["evidence"] and rc["unresolved"] == []
    assert data["ruled_out"][0]["text"].startswith("orders 5.4.2")
    assert data["not_checked"] == ["traces"]
    assert [r["id"] for r in data["evidence"]] == [e.id for e in store]
    for row, ev in zip(data["evidence"], store, strict=True):
        assert row["tool"] == f"{ev.server}_{ev.tool}"
        assert row["time_range"] == ev.time_range and row["query"] == ev.query
        assert row["coverage"] == ev.coverage_line
    md = rep.to_markdown()
    for head in ("## Answer", "## Root causes (ranked)", "## Contributing factors",
                 "## Ruled out", "## Recommended actions", "## Not checked", "## Evidence"):
        assert head in md
    assert "1. **nightly-reconcile** — database, confidence 0.80" in md
    assert "| id | tool | time range | query | coverage | result |" in md
    assert "no such evidence" not in md


def test_unresolved_citation_in_answer_is_marked_in_place(btl: dict[str, Any]) -> None:
    result = copy.deepcopy(btl["result"])
    result.answer = "It was the disk [E404] and the lock [E1]."
    rep = build_investigation_report(result, btl["store"])
    assert rep.answer == "It was the disk [E404: no such evidence] and the lock [E1]."
    assert rep.unresolved_citations == ["E404"]
    assert "**Unresolved citations:** E404" in rep.to_markdown()
