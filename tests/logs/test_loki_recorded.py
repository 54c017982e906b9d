"""The Loki adapter against recorded payloads (../shared/fixtures/loki, Apache-2.0 parts of
Loki and mcp-grafana) served through httpx.MockTransport, plus fixtures written here from
the documented shapes where upstream has none (tests/logs/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.logs.conftest import call, text

from obsbench_servers.common.backend import LokiBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.http import RequestFailedError
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.logs.backend import LogFilter
from obsbench_servers.logs.backends.loki import LokiLogs

DATA = Path(__file__).parent / "data"
RNG = TimeRange(1_767_607_200 * 10**9, 1_767_610_800 * 10**9)


def _loki(handler: Any, **kw: Any) -> LokiLogs:
    cfg = LokiBackend(type="loki", url="http://loki.test:3100", tenant="team-a", **kw)
    return LokiLogs(cfg, transport=httpx.MockTransport(handler))


def _json(path: Path, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=path.read_bytes(),
                          headers={"Content-Type": "application/json"})


def test_recorded_payload_streams_search_with_safe_selector_and_tenant(fixtures: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path == "/loki/api/v1/query":  # written fixture: documented vector shape
            return _json(DATA / "loki_count_vector.json")
        return _json(fixtures / "loki" / "loki_query_range_streams_multi_stream.json")

    be = _loki(handler)
    res = be.search(LogFilter(service='we"ird\\svc', levels=("error",), contains="a.b(c)",
                              regex="time(out|d out)"), RNG, limit=2, direction="backward")
    rng_req = next(r for r in seen if r.url.path.endswith("query_range"))
    q = rng_req.url.params["query"]
    assert q.startswith('{service_name="we\\"ird\\\\svc"}')  # value escaped, not injected
    assert '|~ "(?i)a\\\\.b\\\\(c\\\\)"' in q  # literal text regex-escaped
    assert '|~ "time(out|d out)"' in q
    assert '| detected_level=~"(?i)(error)"' in q
    assert rng_req.url.params["limit"] == "3"  # limit + 1: truncation is always detected
    assert rng_req.url.params["direction"] == "backward"
    assert rng_req.headers["X-Scope-OrgID"] == "team-a"
    count_req = next(r for r in seen if r.url.path.endswith("/query"))
    assert count_req.url.params["query"] == f"sum(count_over_time({q} [3600s]))"
    assert res.total == 1234 and res.total_exact
    # three lines came back for limit 2: two returned, the third only counted
    assert [r.message for r in res.records] == ["super line", "super line with labels"]
    assert res.records[1].labels == {"test": "test", "foo": "a", "bar": "b"}
    assert res.records[0].ts_ns == 123456789012346


def test_recorded_payload_categorized_labels_give_level_and_trace(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/loki/api/v1/query":
            return _json(DATA / "loki_count_vector.json")
        return _json(fixtures / "loki" / "mcp_grafana_loki_streams_categorize_labels.json")

    res = _loki(handler).search(LogFilter(), RNG, limit=10, direction="forward")
    by_msg = {r.message: r for r in res.records}
    err = by_msg['level=error msg="timeout"']
    assert err.level == "error" and err.trace_id == "def456"
    assert by_msg['level=info msg="request handled"'].trace_id == "abc123"
    assert [r.ts_ns for r in res.records] == sorted(r.ts_ns for r in res.records)


def test_recorded_payload_labels_values_and_series(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/series"):
            assert req.url.params["match[]"] == '{app="x"}'
            return _json(fixtures / "loki" / "loki_series.json")
        return _json(fixtures / "loki" / "loki_labels.json")

    be = _loki(handler)
    assert be.labels() == ["label1", "test", "value"]
    assert be.services() == ["label1", "test", "value"]
    assert be.series('{app="x"}', RNG) == [{"a": "1", "b": "2"}, {"c": "3", "d": "4"}]


def test_volume_from_a_matrix_written_from_the_documented_shape() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.params["step"] == "60s"
        assert req.url.params["query"].startswith(
            "sum by (service_name, detected_level) (count_over_time(")
        return _json(DATA / "loki_volume_matrix.json")

    vol = _loki(handler).volume(LogFilter(), RNG, step_ns=60 * 10**9)
    assert vol.series[("checkout", "error")][:3] == [3, 0, 12]
    assert vol.series[("checkout", "info")][:3] == [40, 41, 39]


def test_loki_plain_text_400_becomes_bad_input() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="parse error at line 1, col 14: syntax error: "
                              "unexpected IDENTIFIER", headers={"Content-Type": "text/plain"})

    with pytest.raises(BadInputError, match="Loki refused the query: parse error"):
        _loki(handler).search(LogFilter(query='{app="x"} |= bad'), RNG, limit=5,
                              direction="backward")


def test_429_with_retry_after_is_reported_not_retried() -> None:
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, text="too many outstanding requests",
                              headers={"Retry-After": "7"})

    with pytest.raises(RequestFailedError, match="Retry-After: 7") as info:
        _loki(handler).search(LogFilter(), RNG, limit=5, direction="backward")
    assert info.value.reason == "rate_limited"
    assert len(calls) == 1


def test_timeout_is_retried_once_then_a_clear_error() -> None:
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=req)

    with pytest.raises(RequestFailedError, match="did not answer in time"):
        _loki(handler).search(LogFilter(), RNG, limit=5, direction="backward")
    assert len(calls) == 2


def test_html_answer_is_a_clear_error_through_the_tool(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html><body>Sign in</body></html>",
                              headers={"Content-Type": "text/html"})

    cfg = LokiBackend(type="loki", url="http://loki.test:3100")
    ctx = ServerContext("logs", [cfg], options={"transport": httpx.MockTransport(handler)})
    res = call(ctx, "search_logs", {"query": '{app="x"}', "start": "2026-01-05T10:00:00Z",
                                    "end": "2026-01-05T11:00:00Z"})
    assert res.is_error
    assert "not JSON" in text(res) and "hint:" in text(res)


def test_search_through_the_tool_says_total_and_query(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/label/service_name/values"):
            return httpx.Response(200, json={"status": "success", "data": ["checkout"]})
        if req.url.path == "/loki/api/v1/query":
            return _json(DATA / "loki_count_vector.json")
        return _json(fixtures / "loki" / "loki_query_range_streams_with_stats.json")

    cfg = LokiBackend(type="loki", url="http://loki.test:3100")
    ctx = ServerContext("logs", [cfg], options={"transport": httpx.MockTransport(handler)})
    res = call(ctx, "search_logs", {"service": "checkout", "limit": 1,
                                    "start": "2026-01-05T10:00:00Z",
                                    "end": "2026-01-05T11:00:00Z"})
    assert not res.is_error, text(res)
    assert "1,234 lines matched" in text(res)
    assert res.structured_content["data"]["returned"] == 1
    assert res.structured_content["query"].startswith('loki query_range {service_name="checkout"}')
    bad = call(ctx, "search_logs", {"service": "chekout"})
    assert bad.is_error and "did you mean 'checkout'" in text(bad)
    json.dumps(res.structured_content)  # JSON-able for --json and panels


def test_recorded_payload_profile_labels_drive_the_selector_and_service_lookup(
        fixtures: Path) -> None:
    """A pre-3.0 Loki names services by ``app`` and levels by ``level``: the profile says so
    and the tool's selector, level filter and close-name lookup all follow."""
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path.endswith("/label/app/values"):
            return httpx.Response(200, json={"status": "success", "data": ["checkout"]})
        if req.url.path.endswith("/values"):
            return httpx.Response(200, json={"status": "success", "data": []})
        if req.url.path == "/loki/api/v1/query":
            return _json(DATA / "loki_count_vector.json")
        return _json(fixtures / "loki" / "loki_query_range_streams_with_stats.json")

    cfg = LokiBackend(type="loki", url="http://loki.test:3100", service_label="app",
                      level_label="level")
    ctx = ServerContext("logs", [cfg], options={"transport": httpx.MockTransport(handler)})
    res = call(ctx, "search_logs", {"service": "checkout", "level": "error", "limit": 1,
                                    "start": "2026-01-05T10:00:00Z",
                                    "end": "2026-01-05T11:00:00Z"})
    assert not res.is_error, text(res)
    q = next(r for r in seen if r.url.path.endswith("query_range")).url.params["query"]
    assert q.startswith('{app="checkout"}') and '| level=~"(?i)(error)"' in q
    bad = call(ctx, "search_logs", {"service": "chekout"})
    assert bad.is_error and "did you mean 'checkout'" in text(bad)


def test_loki_label_keys_are_validated_as_label_names() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="service_label"):
        LokiBackend(type="loki", url="http://loki.test:3100", service_label='app"} or {x="')
