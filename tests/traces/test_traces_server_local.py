"""The traces tools over a bundle, through MCP: results, metadata, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import Client

ONSET = "2026-03-10T13:46:18Z"  # bad-deploy-db-pool, seed 7
AFTER = "2026-03-10T14:46:18Z"
TOOLS = {"find_slow_traces", "find_error_traces", "get_trace_details", "compare_trace_spans",
         "get_service_dependencies", "get_latency_breakdown", "list_trace_services",
         "get_span_details"}


@pytest.fixture
def s(session: Callable[..., Any]) -> Any:
    return session("bad-deploy-db-pool")


def test_tools_are_listed_read_only_with_teaching_descriptions(s: Any) -> None:
    async def go() -> Any:
        async with Client(s.server) as c:
            return (await c.list_tools()).tools

    tools = {t.name: t for t in anyio.run(go)}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.annotations.read_only_hint is True and t.annotations.destructive_hint is False
        assert len(t.description) > 150, t.name  # says when to use it, not just what it is
    assert "N+1" in tools["get_trace_details"].description
    # progressive disclosure: each step's description names the next one
    assert "get_trace_details" in tools["find_slow_traces"].description
    assert "get_trace_details" in tools["find_error_traces"].description
    assert "get_latency_breakdown" in tools["get_service_dependencies"].description
    assert "get_span_details" in tools["get_trace_details"].description
    assert "after get_trace_details" in tools["get_span_details"].description
    assert tools["get_trace_details"].input_schema["required"] == ["trace_id"]


def test_slow_traces_come_with_the_window_distribution(s: Any) -> None:
    text, sc = s.ok("find_slow_traces", {"service": "user-api", "start": ONSET, "end": AFTER,
                                         "limit": 5})
    data = sc["data"]
    # an independent count of user-api's server spans in the window, straight from the store
    (count,) = s.ctx.store().query(
        "SELECT count(DISTINCT (trace_id, span_id)) FROM spans WHERE service = 'user-api' AND "
        "kind = 'server' AND start_ns >= epoch_ns(?::TIMESTAMPTZ) AND "
        "start_ns < epoch_ns(?::TIMESTAMPTZ)", [ONSET, AFTER])[0]
    assert data["latency"]["count"] == count and data["latency"]["exact"]
    p95 = data["latency"]["p95_ns"]
    assert data["threshold_ns"] == p95 and data["threshold"].startswith("p95")
    durations = [t["matched"]["duration_ns"] for t in data["traces"]]
    assert len(durations) == 5 and durations == sorted(durations, reverse=True)
    assert all(d >= p95 for d in durations)
    (slow_traces,) = s.ctx.store().query(
        "SELECT count(DISTINCT trace_id) FROM spans WHERE service = 'user-api' AND kind = "
        "'server' AND end_ns - start_ns >= ? AND start_ns >= epoch_ns(?::TIMESTAMPTZ) AND "
        "start_ns < epoch_ns(?::TIMESTAMPTZ)", [p95, ONSET, AFTER])[0]
    assert data["total"] == slow_traces >= 5
    assert sc["time_range"] == {"start": ONSET, "end": AFTER}
    assert sc["coverage"]["shown"] == 5 and sc["coverage"]["total"] == data["total"]
    assert "service = 'user-api'" in sc["query"] and "duration >=" in sc["query"]
    assert "latency of user-api (all requests): n=" in text and "p99" in text


def test_thresholds_as_durations_and_bare_milliseconds(s: Any) -> None:
    _, a = s.ok("find_slow_traces", {"service": "user-api", "latency_threshold": "1.5s",
                                     "start": ONSET, "end": AFTER})
    _, b = s.ok("find_slow_traces", {"service": "user-api", "latency_threshold": "1500",
                                     "start": ONSET, "end": AFTER})
    assert a["data"]["threshold_ns"] == b["data"]["threshold_ns"] == 1_500_000_000
    assert a["data"]["total"] == b["data"]["total"] > 0
    assert all(t["matched"]["duration_ns"] >= 1_500_000_000 for t in a["data"]["traces"])
    text, _ = s.error("find_slow_traces", {"service": "user-api", "latency_threshold": "slow"})
    assert "neither a duration nor a percentile" in text and "p95" in text


def test_error_traces_name_where_errors_originate(s: Any) -> None:
    text, sc = s.ok("find_error_traces", {"service": "frontend", "start": ONSET, "end": AFTER})
    origins = sc["data"]["origins"]
    assert origins[0]["service"] == "user-api"
    assert "QueuePool limit" in origins[0]["message"]
    assert sum(o["traces"] for o in origins) >= sc["data"]["analysed_traces"]
    starts = [t["start_ns"] for t in sc["data"]["traces"]]
    assert starts == sorted(starts, reverse=True)  # most recent first
    assert all(t["error_count"] > 0 for t in sc["data"]["traces"])
    assert "errors originate in" in text and "sqlalchemy.exc.TimeoutError" in text


def test_trace_details_shows_the_n_plus_one_on_the_critical_path(s: Any) -> None:
    _, slow = s.ok("find_slow_traces", {"service": "user-api", "start": ONSET, "end": AFTER,
                                        "limit": 1})
    tid = slow["data"]["traces"][0]["trace_id"]
    text, sc = s.ok("get_trace_details", {"trace_id": tid})
    data = sc["data"]
    (distinct,) = s.ctx.store().query(
        "SELECT count(DISTINCT span_id) FROM spans WHERE trace_id = ?", [tid])[0]
    assert data["span_count"] == len(data["spans"]) == distinct
    assert {sp["span_id"] for sp in data["spans"]} == {r[0] for r in s.ctx.store().query(
        "SELECT span_id FROM spans WHERE trace_id = ?", [tid])}
    assert data["critical_path"]["total_ns"] == data["duration_ns"]
    depth = {}
    for sp in data["spans"]:  # parents first, each with its depth and its pod's resource
        parent = sp["parent_span_id"]
        depth[sp["span_id"]] = 0 if parent is None else depth[parent] + 1
        assert sp["depth"] == depth[sp["span_id"]]
        assert data["resources"][sp["resource"]]["service.name"] == sp["service"]
    top = data["critical_path"]["by_operation"][0]
    assert top["service"] == "user-api"
    fan = [r for r in data["repeats"] if r["operation"] == "SELECT user_preferences"]
    assert fan and fan[0]["count"] >= 10 and fan[0]["peer"] == "postgres"
    assert f"x{fan[0]['count']} user-api SELECT user_preferences [client -> postgres]" in text
    assert "critical path" in text and "self-time by service: user-api" in text
    assert sc["kind"] == "trace" and sc["query"] == f"spans WHERE trace_id = '{tid}'"
    # a unique prefix works too (what a UI shows), and resolves to the same trace
    _, again = s.ok("get_trace_details", {"trace_id": tid[:10]})
    assert again["data"]["trace_id"] == tid


def test_compare_shows_where_a_slow_request_spent_its_extra_time(s: Any) -> None:
    _, slow = s.ok("find_slow_traces", {"service": "user-api", "operation": "GET /v1/users/{id}",
                                        "start": ONSET, "end": AFTER, "limit": 1})
    _, fast = s.ok("find_slow_traces", {"service": "user-api", "operation": "GET /v1/users/{id}",
                                        "latency_threshold": "0ms", "start": "2026-03-10T12:00:00Z",
                                        "end": "2026-03-10T13:00:00Z", "limit": 100})
    quick = min(fast["data"]["traces"], key=lambda t: t["matched"]["duration_ns"])
    text, sc = s.ok("compare_trace_spans", {"trace_id_1": quick["trace_id"],
                                            "trace_id_2": slow["data"]["traces"][0]["trace_id"]})
    data = sc["data"]
    assert data["delta_ns"] > 500_000_000
    assert data["services"][0]["service"] == "user-api" and data["services"][0]["delta_ns"] > 0
    fan = next(p for p in data["paths"] if p["path"][-1].startswith(
        "user-api SELECT user_preferences"))
    assert fan["a"]["count"] <= 1 < fan["b"]["count"]
    assert "where time moved" in text


def test_dependencies_from_the_store_match_an_independent_count(s: Any) -> None:
    _, sc = s.ok("get_service_dependencies", {"start": ONSET, "end": AFTER})
    edges = {(e["caller"], e["callee"]): e for e in sc["data"]["edges"]}
    # payment's calls to the PSP: its client spans with peer.service, counted directly
    (psp,) = s.ctx.store().query(
        "SELECT count(DISTINCT span_id) FROM spans WHERE service = 'payment' AND kind = "
        "'client' AND json_extract_string(attributes_json, '$.\"peer.service\"') = "
        "'payment-gateway' AND trace_id IN (SELECT trace_id FROM spans WHERE parent_span_id "
        "IS NULL AND start_ns >= epoch_ns(?::TIMESTAMPTZ) AND start_ns < "
        "epoch_ns(?::TIMESTAMPTZ))", [ONSET, AFTER])[0]
    assert edges[("payment", "payment-gateway")]["calls"] == psp
    assert edges[("orders", "notification")]["asynchronous"]
    assert edges[("frontend", "user-api")]["errors"] > 0
    _, focus = s.ok("get_service_dependencies", {"service": "postgres", "start": ONSET,
                                                 "end": AFTER})
    assert {e["callee"] for e in focus["data"]["edges"]} == {"postgres"}
    assert {e["caller"] for e in focus["data"]["edges"]} >= {"user-api", "orders", "payment"}


def test_list_services_and_operations(s: Any) -> None:
    _, sc = s.ok("list_trace_services")
    assert "user-api" in sc["data"]["services"]
    assert set(sc["data"]["peers"]) == {"payment-gateway", "postgres", "redis", "order-events"}
    _, ops = s.ok("list_trace_services", {"service": "user-api"})
    assert "GET /v1/users/{id}" in ops["data"]["operations"]


@pytest.mark.parametrize(("tool", "args", "kind", "says"), [
    ("get_trace_details", {"trace_id": "0af7651916cd43dd8448eb211c80319c"}, "not_found",
     "not in this bundle"),
    ("get_trace_details", {"trace_id": "not-a-trace!"}, "bad_input", "is not a trace id"),
    ("get_trace_details", {"trace_id": "ab" * 20}, "bad_input", "up to 32 hex digits"),
    ("get_trace_details", {"trace_id": "0" * 32}, "bad_input", "all zeros"),
    ("get_trace_details", {"trace_id": "0af7651916cd43dd8448eb211c80319c", "max_spans": 0},
     "bad_input", "max_spans must be at least 1"),
    ("compare_trace_spans", {"trace_id_1": "ab" * 16, "trace_id_2": "AB" * 16}, "bad_input",
     "same trace"),
    ("get_span_details", {"trace_id": "0af7651916cd43dd8448eb211c80319c", "spans": ["x"]},
     "not_found", "not in this bundle"),
    ("find_slow_traces", {"service": "user-apl"}, "not_found", "did you mean 'user-api'"),
    ("find_slow_traces", {"service": "user-api", "operation": "GET /v1/user/{id}"},
     "not_found", "did you mean 'GET /v1/users/{id}'"),
    ("find_slow_traces", {"operation": "GET /"}, "bad_input", "operation needs a service"),
    ("find_slow_traces", {"service": "postgres"}, "bad_input", "emits no spans of its own"),
    ("find_error_traces", {"start": "yesterday-ish"}, "bad_input", "cannot read time"),
    ("find_error_traces", {"start": "now", "end": "now"}, "bad_input", "empty"),
    ("find_error_traces", {"start": "now-1h", "end": "now-2h"}, "bad_input", "before it starts"),
    ("find_error_traces", {"limit": 1000}, "bad_input", "between 1 and 100"),
    ("get_service_dependencies", {"start": "now-60d"}, "guard", "limits.max_range"),
    ("get_latency_breakdown", {"service": ""}, "bad_input", "service is required"),
])
def test_bad_input_is_a_clear_error_and_the_server_keeps_serving(
        s: Any, tool: str, args: dict[str, Any], kind: str, says: str) -> None:
    bad, good = s.calls((tool, args), ("list_trace_services", {}))
    text = bad.content[0].text
    assert bad.is_error and bad.structured_content["error"] == kind, text
    assert says in text and "hint:" in text
    assert not good.is_error


def test_span_details_bad_specs_are_clear_errors(s: Any) -> None:
    _, slow = s.ok("find_slow_traces", {"service": "user-api", "start": ONSET, "end": AFTER,
                                        "limit": 1})
    tid = slow["data"]["traces"][0]["trace_id"]
    text, sc = s.error("get_span_details", {"trace_id": tid, "spans": ["user-api SELECT prefs"]})
    assert sc["error"] == "not_found" and "did you mean" in text \
        and "'user-api SELECT user_preferences'" in text
    text, sc = s.error("get_span_details", {"trace_id": tid, "spans": []})
    assert sc["error"] == "bad_input" and "no spans asked for" in text
    text, sc = s.error("get_span_details", {"trace_id": tid, "spans": ["user-api GET"] * 11})
    assert sc["error"] == "bad_input" and "at most 10" in text
    _, ok = s.ok("get_span_details", {"trace_id": tid, "spans": ["USER-API select users"]})
    (rec,) = ok["data"]["spans"]  # labels match regardless of case
    assert (rec["service"], rec["name"], rec["time_belongs_to"][0]) == (
        "user-api", "SELECT users", "postgres")
    assert "db.statement" in rec["attributes"]


def test_a_window_outside_the_bundle_says_so(s: Any) -> None:
    _text, sc = s.ok("find_error_traces", {"start": "2025-01-01T00:00:00Z",
                                          "end": "2025-01-01T01:00:00Z"})
    assert sc["data"]["total"] == 0
    assert any("outside the bundle's window" in w for w in sc["warnings"])
    _, bd = s.ok("get_latency_breakdown", {"service": "user-api", "start": "2025-01-01T00:00:00Z",
                                           "end": "2025-01-01T01:00:00Z"})
    assert bd["data"]["requests"] == 0


def test_every_adapter_implements_the_protocol_and_others_are_refused(s: Any) -> None:
    from obsbench_servers.common.backend import JaegerBackend, PrometheusBackend, TempoBackend
    from obsbench_servers.common.context import ServerContext
    from obsbench_servers.common.errors import ConfigError
    from obsbench_servers.traces.backend import TracesBackend
    from obsbench_servers.traces.server import make_backend

    local = make_backend(s.ctx)
    jaeger = make_backend(ServerContext("traces", [JaegerBackend(type="jaeger",
                                                                 url="http://j:16686")]))
    tempo = make_backend(ServerContext("traces", [TempoBackend(type="tempo", url="http://t")]))
    assert [b.name for b in (local, jaeger, tempo)] == ["local", "jaeger", "tempo"]
    assert all(isinstance(b, TracesBackend) for b in (local, jaeger, tempo))
    with pytest.raises(ConfigError, match="not a traces backend"):
        make_backend(ServerContext("traces", [PrometheusBackend(type="prometheus",
                                                                url="http://p:9090")]))
    jaeger.close()
    tempo.close()
