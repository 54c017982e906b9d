"""Big traces: 10,000 spans within the token budget, and a million spans sampled (and said so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from traces_builders import BIG_ERRORS, BIG_START_NS, TRACE, big_trace, span, write_bundle

from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.budget import estimate_tokens
from obsbench_servers.common.context import ServerContext
from obsbench_servers.store import TelemetryStore
from obsbench_servers.traces.views import DETAILS_TOKENS

FOOTER_ALLOWANCE = 250  # headline + range/coverage/query/backend lines around the body


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("big"), big_trace())


def test_ten_thousand_spans_fit_the_budget_naming_the_path_and_every_error(
        big_bundle: Path, session_for: Any) -> None:
    s = session_for(big_bundle)
    r = s.call("get_trace_details", {"trace_id": TRACE})
    text = r.content[0].text
    sc = r.structured_content
    assert not r.is_error, text
    data = sc["data"]
    assert data["span_count"] == len(data["spans"]) == 10_000  # the full tree for panels
    assert estimate_tokens(text) <= DETAILS_TOKENS + FOOTER_ALLOWANCE
    body = text.split("\n", 1)[1].split("\n[range:")[0]
    assert estimate_tokens(body) <= DETAILS_TOKENS
    # every error, with where it happened and what it said
    for (service, op), message in BIG_ERRORS.items():
        assert f"{service} {op}" in text and message in text, (service, op)
    assert "ORIGIN x1 svc19 step 19: context deadline exceeded" in text
    # the critical path: its nesting, and every operation holding at least 1% of it
    dur = data["duration_ns"]
    lines = text.splitlines()
    path_line = next(ln for ln in lines if ln.startswith("path (nesting): "))
    assert path_line.startswith("path (nesting): gateway GET /big > svc0 step 0 > svc1 step 1")
    assert all(f"svc{i} step {i}" in path_line for i in range(20))
    cp_section = "\n".join(lines[1:lines.index(path_line)])
    big_ops = [o for o in data["critical_path"]["by_operation"] if o["ns"] >= 0.01 * dur]
    assert len(big_ops) >= 5
    for o in big_ops:
        assert f"{o['service']} {o['operation']}" in cp_section, o
    assert "x500 postgres SELECT items" in cp_section
    # the repeats collapse and the budget says what the tree view left out
    assert "x500 api SELECT items [client -> postgres]" in text
    assert "more lines not shown" in text
    cov = sc["coverage"]
    assert cov["total"] == 10_000 and cov["shown"] < 10_000 and not cov["complete"]
    assert any("tree view" in n for n in cov["notes"])


def test_a_trace_over_the_span_limit_is_sampled_keeping_ancestors(
        big_bundle: Path, session_for: Any) -> None:
    from obsbench_servers.common.backend import Limits

    ctx = ServerContext("traces", [LocalBackend(type="local", bundle=big_bundle,
                                                limits=Limits(max_spans_per_trace=1000))])
    s = session_for(ctx)
    _, sc = s.ok("get_trace_details", {"trace_id": TRACE})
    data = sc["data"]
    assert (data["span_count"], data["total_spans"], data["sampled"]) == (1000, 10_000, True)
    assert data["repairs"]["missing_parents"] == 0  # longest-first kept every ancestor
    assert "the trace has 10,000 spans, more than the 1,000 allowed" in sc["coverage"]["notes"][0]
    assert sc["summary"].startswith(f"trace {TRACE}: gateway GET /big") and "(of 10,000)" in \
        sc["summary"]
    # max_spans asks for fewer still, never more than the limit
    _, small = s.ok("get_trace_details", {"trace_id": TRACE, "max_spans": 50})
    assert small["data"]["span_count"] == 50
    _, capped = s.ok("get_trace_details", {"trace_id": TRACE, "max_spans": 5000})
    assert capped["data"]["span_count"] == 1000
    # the 9.5 ms queries of the N+1 are not among the 1,000 longest: asking for one says why
    text, err = s.error("get_span_details", {"trace_id": TRACE, "spans": ["api SELECT items"]})
    assert err["error"] == "not_found"
    assert "this trace has 10,000 spans and only the 1,000 longest were loaded" in text


def test_a_trace_of_a_million_spans_is_sampled_and_says_so(
        tmp_path: Path, session_for: Any) -> None:
    """The store holds 1,000,001 spans of one trace (added to an imported bundle's database,
    which is what the backend reads); the default limit (50,000) applies."""
    root = [span(1, None, "gateway", "POST /import", 0, 5_000)]
    root[0].start_ns += BIG_START_NS
    root[0].end_ns += BIG_START_NS
    bundle = write_bundle(tmp_path / "huge", root)
    store = TelemetryStore.open(bundle)
    db_path = store.db_path
    store.close()
    con = duckdb.connect(str(db_path))
    con.execute(
        "INSERT INTO spans SELECT ?, printf('%016x', i + 2), '0000000000000001', "
        "'worker' || (i % 7), 'chunk', 'internal', ? + i * 1000, ? + i * 1000 + 500000 + "
        "(i % 1000) * 1000, CASE WHEN i % 250000 = 3 THEN 'error' ELSE 'unset' END, "
        "CASE WHEN i % 250000 = 3 THEN 'disk quota exceeded' END, NULL, NULL, NULL, NULL, NULL "
        "FROM range(1000000) t(i)", [TRACE, root[0].start_ns, root[0].start_ns])
    con.execute("CHECKPOINT")
    con.close()
    s = session_for(bundle)
    _, sc = s.ok("get_trace_details", {"trace_id": TRACE})
    data = sc["data"]
    assert data["total_spans"] == 1_000_001 and data["span_count"] == 50_000 and data["sampled"]
    assert data["total_error_spans"] == 4
    notes = " ".join(sc["coverage"]["notes"])
    assert "the trace has 1,000,001 spans, more than the 50,000 allowed" in notes
    assert sc["coverage"]["total"] == 1_000_001
    assert "(of 1,000,001)" in sc["summary"] and "(of 4 in the whole trace)" in sc["summary"]


def test_span_details_on_the_big_trace_stay_within_the_budget(
        big_bundle: Path, session_for: Any) -> None:
    s = session_for(big_bundle)
    specs = ["api SELECT items", "api GET", "svc19 step 19", "gateway GET /big", "svc3 leaf work",
             "svc7 leaf work", "cache GET", "svc0 task 0", "svc5 task 7", "svc12 step 12"]
    text, sc = s.ok("get_span_details", {"trace_id": TRACE, "spans": specs})
    assert estimate_tokens(text) <= 2_000 + FOOTER_ALLOWANCE
    req = {r["spec"]: r["matched"] for r in sc["data"]["requested"]}
    assert req["api SELECT items"] == 500 and req["svc19 step 19"] == 1
    step = next(r for r in sc["data"]["spans"] if r["name"] == "step 19")
    assert step["error"] == BIG_ERRORS[("svc19", "step 19")] and step["on_critical_path"]
    assert step["children"] and step["parent"]["name"] == "step 18"
    assert "'api SELECT items' matched 500 spans: the slowest 3 shown" in sc["coverage"]["notes"]
