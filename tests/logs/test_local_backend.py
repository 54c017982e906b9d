"""The logs server on the embedded store: search (structured and LogQL), totals vs shown,
honest empty answers, bad input, patterns, volume, correlation and stack traces."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.logs.conftest import call, text

from obsbench_servers.common.context import ServerContext

WINDOW = {"start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z"}


def test_structured_search_reports_total_vs_shown(mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "search_logs", {"service": "api", "level": "info", "limit": 5,
                                           **WINDOW})
    assert not res.is_error, text(res)
    data = res.structured_content["data"]
    assert data["total"] == 240 and data["total_exact"] is True
    assert data["returned"] == 5
    # backward: newest first
    ts = [ln["ts_ns"] for ln in data["lines"]]
    assert ts == sorted(ts, reverse=True)
    assert "240 lines matched" in text(res)
    cov = res.structured_content["coverage"]
    assert cov["shown"] == 5 and cov["total"] == 240 and not cov["complete"]
    assert res.structured_content["time_range"] == {"start": "2026-01-05T10:00:00Z",
                                                    "end": "2026-01-05T11:00:00Z"}
    assert res.structured_content["query"]


def test_forward_direction_and_contains_is_case_insensitive(
        mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "search_logs", {"contains": "CONNECTION POOL", "limit": 3,
                                           "direction": "forward", **WINDOW})
    data = res.structured_content["data"]
    assert data["total"] == 60
    ts = [ln["ts_ns"] for ln in data["lines"]]
    assert ts == sorted(ts)
    assert all("connection pool" in ln["message"] for ln in data["lines"])


@pytest.mark.parametrize(("query", "total"), [
    ('{service="api"}', 240 + 12),
    ('{service!="api"}', 180 + 60 * 5 + 3),
    ('{service=~"ap.*", level="warn"}', 12),
    ('{service!~"api|x"} |= "failed"', 60),
    ('{service="worker"} != "job done" |~ "pool (exhausted|empty)"', 60),
    ('{service="worker"} !~ "^job"', 60 * 5 + 3),
    ('{service="api"} | json | status >= 500', 12),
    # info lines are not JSON: their stored labels still filter (as in Loki)
    ('{service="api"} | json | route = "/v1/items" | status != "503"', 240),
    ('{service="worker"} | logfmt | status="ok" | duration_ms < 10', 36),
    ('{service="api", status=~"2.."}', 240),
])
def test_logql_subset_matchers_filters_and_parsers(
        mini_ctx: Callable[..., ServerContext], query: str, total: int) -> None:
    res = call(mini_ctx(), "search_logs", {"query": query, "limit": 2, **WINDOW})
    assert not res.is_error, text(res)
    assert res.structured_content["data"]["total"] == total, query
    assert query in res.structured_content["query"]


@pytest.mark.parametrize(("args", "needle"), [
    ({"query": '{service="api"'}, "invalid LogQL"),
    ({"query": 'rate({service="api"}[5m])'}, "metric LogQL"),
    ({"query": '{service="api"} | line_format "{{.x}}"'}, "not supported"),
    ({"query": '{service=~"(?<=a)b"}'}, "lookbehind"),
    ({"regex": "a("}, "invalid regex"),
    ({"level": "loud"}, "unknown level"),
    ({"service": "wroker"}, "did you mean 'worker'"),
    ({"start": "yesterday-ish"}, "cannot read time"),
    ({"limit": 0}, "limit must be at least 1"),
    ({"limit": 10**6}, "max_log_lines"),
    ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-05T11:00:00Z"}, "wider than"),
])
def test_bad_input_is_a_clear_tool_error(
        mini_ctx: Callable[..., ServerContext], args: dict[str, object], needle: str) -> None:
    res = call(mini_ctx(), "search_logs", args)
    assert res.is_error
    body = text(res)
    assert needle in body and "hint:" in body


def test_catastrophic_regex_runs_in_linear_time(mini_ctx: Callable[..., ServerContext]) -> None:
    """(x+x+)+y against the 1 MB line of x's: exponential for a backtracking engine."""
    res = call(mini_ctx(), "search_logs", {"regex": "(x+x+)+y", **WINDOW})
    assert not res.is_error
    assert res.structured_content["data"]["total"] == 0
    res = call(mini_ctx(), "search_logs", {"query": '{service="worker"} |~ "(x+x+)+y"',
                                           **WINDOW})
    assert res.structured_content["data"]["total"] == 0


def test_huge_and_binary_lines_are_returned_clipped_not_crashing(
        mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "search_logs", {"service": "worker", "level": "warn", **WINDOW})
    assert not res.is_error
    lines = res.structured_content["data"]["lines"]
    huge = next(ln for ln in lines if ln["message"].startswith("huge"))
    assert huge["message_chars"] == len("huge ") + (1 << 20)
    assert len(huge["message"]) == 20_000
    assert any("\x1b[31m" in ln["message"] for ln in lines)
    # the text for the LLM stays small: the line is clipped there with a marker
    assert len(text(res)) < 20_000 and "chars]" in text(res)
    pats = call(mini_ctx(), "get_error_patterns", {"baseline": "none", **WINDOW})
    assert not pats.is_error


def test_empty_window_says_so_and_suggests_why(mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "search_logs", {"start": "2025-01-01T00:00:00Z",
                                           "end": "2025-01-01T01:00:00Z"})
    assert not res.is_error
    body = text(res)
    assert "no log lines matched" in body
    assert "outside the data, which covers 2026-01-05T10:00:00Z" in body
    res = call(mini_ctx(), "search_logs", {"service": "api", "level": "fatal", **WINDOW})
    assert "no lines at level fatal" in text(res)
    assert res.structured_content["data"]["total"] == 0


def test_error_patterns_new_vs_baseline_with_traces_reassembled(
        mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "get_error_patterns", {"start": "2026-01-05T10:30:00Z",
                                                  "end": "2026-01-05T11:00:00Z"})
    assert not res.is_error, text(res)
    data = res.structured_content["data"]
    first = data["patterns"][0]
    assert first["status"] == "new" and first["count"] == 60
    assert "connection pool exhausted" in first["template"]
    assert "pool.PoolExhausted" in first["template"]  # the traceback's exception joined
    assert first["trace_ids"] and first["first_seen"] == "2026-01-05T10:30:07Z"
    assert data["new"][0] == first["id"]
    # 60 heads + 240 continuation lines became 60 events
    assert data["events"] < data["mined_lines"]
    assert "new" in text(res).split("\n")[0]
    slow = next(p for p in data["patterns"] if '"slow"' in p["example"])
    assert slow["status"] == "steady" and slow["baseline_count"] == 6


def test_error_patterns_baseline_forms(mini_ctx: Callable[..., ServerContext]) -> None:
    ok = call(mini_ctx(), "get_error_patterns", {
        "start": "2026-01-05T10:30:00Z", "end": "2026-01-05T11:00:00Z",
        "baseline": "2026-01-05T10:00:00Z..2026-01-05T10:10:00Z"})
    assert ok.structured_content["data"]["baseline"]["range"].startswith("2026-01-05T10:00")
    none = call(mini_ctx(), "get_error_patterns", {"baseline": "none", **WINDOW})
    assert none.structured_content["data"]["baseline"] is None
    bad = call(mini_ctx(), "get_error_patterns", {"baseline": "last tuesday"})
    assert bad.is_error and "previous" in text(bad)


def test_volume_anomalies_find_the_silent_service_and_the_new_errors(
        mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "get_log_volume_anomalies", {
        "start": "2026-01-05T10:30:00Z", "end": "2026-01-05T11:00:00Z", "step": "2m"})
    assert not res.is_error, text(res)
    kinds = {(a["service"], a["kind"]) for a in res.structured_content["data"]["anomalies"]}
    assert ("api", "silent") in kinds
    assert ("worker", "appeared") in kinds
    silent = next(a for a in res.structured_content["data"]["anomalies"] if a["kind"] == "silent")
    assert silent["at"] == "2026-01-05T10:40:00Z"


def test_correlate_groups_by_service_and_pattern(mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "correlate_logs_with_time", {"timestamp": "2026-01-05T10:30:00Z",
                                                        "delta_minutes": 1})
    assert not res.is_error
    services = {s["service"]: s for s in res.structured_content["data"]["services"]}
    assert services["worker"]["after"] > 0 and services["worker"]["before"] > 0
    assert services["worker"]["levels"]["error"] == 2  # 10:30:07 and 10:30:37
    assert res.structured_content["time_range"] == {"start": "2026-01-05T10:29:00Z",
                                                    "end": "2026-01-05T10:31:00Z"}
    bad = call(mini_ctx(), "correlate_logs_with_time", {"timestamp": "2026-01-05T10:30:00Z",
                                                        "delta_minutes": -1})
    assert bad.is_error


def test_stack_traces_grouped(mini_ctx: Callable[..., ServerContext]) -> None:
    res = call(mini_ctx(), "extract_stack_traces", WINDOW)
    assert not res.is_error
    groups = res.structured_content["data"]["groups"]
    assert groups[0]["exception"] == "pool.PoolExhausted" and groups[0]["count"] == 60
    assert groups[0]["language"] == "python"
    assert groups[0]["top_frames"] == ["run (/app/jobs.py:12)"]
