"""Broken span data in a bundle: every tool answers, and says what it repaired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from traces_builders import BIG_START_NS, TRACE, span, write_bundle

from obsbench_servers.common.timeutil import ns_to_rfc3339


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spans = [
        span(1, None, "gateway", "GET /", 0, 100),
        span(2, 1, "gateway", "GET", 1, 99, kind="client"),
        span(3, 2, "api", "GET /items", 2, 98),
        span(3, 2, "api", "GET /items", 2, 98),  # an exporter retry: a duplicate
        span(4, 3, "api", "SELECT", 50, 20, kind="client",  # ends before it starts
             attrs={"db.system": "postgresql"}),
        span(5, 77, "worker", "orphan", 10, 30, error="lost parent"),  # parent never sent
        span(6, 8, "loop", "a", 5, 15),  # 6 -> 8 -> 7 -> 6: a cycle
        span(7, 6, "loop", "b", 6, 14),
        span(8, 7, "loop", "c", 7, 13),
    ]
    for s in spans:
        s.start_ns += BIG_START_NS
        s.end_ns += BIG_START_NS
    return write_bundle(tmp_path_factory.mktemp("broken"), spans, name="broken")


def test_details_repair_and_report_every_problem(broken: Path, session_for: Any) -> None:
    s = session_for(broken)
    text, sc = s.ok("get_trace_details", {"trace_id": TRACE})
    repairs = sc["data"]["repairs"]
    assert (repairs["duplicates"], repairs["missing_parents"], repairs["cycles_broken"],
            repairs["negative_durations"]) == (1, 1, 1, 1)
    assert repairs["missing_parent_ids"] == ["000000000000004d"]
    assert sc["data"]["span_count"] == 8 and len(sc["data"]["spans"]) == 8
    assert sc["data"]["root"]["name"] == "GET /"  # the real root stays the main root
    assert sc["data"]["critical_path"]["total_ns"] == 100_000_000
    warnings = " ".join(sc["warnings"])
    for words in ("duplicate span", "not in the trace", "cycle(s) in parent links",
                  "ended before they started"):
        assert words in warnings
    assert "ORIGIN x1 worker orphan: lost parent" in text
    select = next(sp for sp in sc["data"]["spans"] if sp["name"] == "SELECT")
    assert select["duration_ns"] == 0


def test_search_tools_answer_over_broken_data(broken: Path, session_for: Any) -> None:
    s = session_for(broken)
    window = {"start": ns_to_rfc3339(BIG_START_NS - 60 * 10**9),
              "end": ns_to_rfc3339(BIG_START_NS + 60 * 10**9)}
    _, slow = s.ok("find_slow_traces", {"service": "api", "latency_threshold": "0ms",
                                        **window})
    assert [t["trace_id"] for t in slow["data"]["traces"]] == [TRACE]
    assert slow["data"]["traces"][0]["span_count"] == 8  # duplicates are counted once
    _, errors = s.ok("find_error_traces", window)
    assert errors["data"]["origins"][0]["where"] == "worker orphan"
    _, deps = s.ok("get_service_dependencies", window)
    assert {(e["caller"], e["callee"]) for e in deps["data"]["edges"]} == {
        ("gateway", "api"), ("api", "postgresql")}
    _, bd = s.ok("get_latency_breakdown", {"service": "api", **window})
    assert bd["data"]["requests"] == 1
