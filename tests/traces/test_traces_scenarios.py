"""On every scenario, what the traces can say about the root cause — and what they cannot.

The question each test asks is the one the offline investigator asks, with no
hint beyond the onset it found in the metrics: "the entry service got slower
(or failed) from the onset on: where?" — ``get_latency_breakdown`` on
api-gateway from the onset against the hour before, the critical paths of the
slowest requests, and where errors originate. The expected service is the
bundle's ``[truth]``; nothing is hard-coded but which tool shows it.

Scenarios whose cause is not visible in spans are tested for what the spans
*do* show, so that the investigator can rely on that too:

- batch-table-lock: the lock holder (the nightly-reconcile CronJob) emits no
  spans; the traces show orders' writes waiting in postgres.
- certificate-expiry: TLS handshakes fail before any span starts; the traces
  show the entry traffic collapsing.
- capacity-rightsizing: a sizing question, not an outage; nothing grows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from obsbench.scenarios import GenerationResult
from obsbench_servers.common.timeutil import ns_to_rfc3339, parse_rfc3339_ns

HOUR = 3600 * 10**9

# scenario -> which evidence names the truth: breakdown growth, critical path of the slowest
# requests, error origins
VISIBLE: dict[str, set[str]] = {
    "bad-deploy-db-pool": {"breakdown", "critical_path"},
    "external-dependency-slowdown": {"breakdown", "critical_path"},
    "cpu-throttling": {"breakdown", "critical_path"},
    "traffic-surge-hpa-max": {"breakdown", "critical_path"},
    "network-delay": {"breakdown", "critical_path"},
    "disk-full": {"breakdown", "critical_path", "errors"},
    "memory-leak-oom": {"breakdown", "errors"},
    "feature-flag-config": {"breakdown", "errors"},
    "cache-eviction-storm": {"breakdown"},
}


def _window(result: GenerationResult) -> tuple[str, str]:
    onset = parse_rfc3339_ns(result.truth["onset"])
    end = min(onset + HOUR, parse_rfc3339_ns(result.window["end"]))
    return ns_to_rfc3339(onset), ns_to_rfc3339(end)


def _growth(data: dict[str, Any]) -> list[tuple[str, int]]:
    return [(s["service"], s["delta_ns_per_request"]) for s in data["services"]]


@pytest.mark.parametrize("name", sorted(VISIBLE))
def test_the_traces_name_the_root_cause_service(name: str, bundle: Callable[..., Any],
                                                 session: Callable[..., Any]) -> None:
    result = bundle(name)
    truth = result.truth["service"]
    start, end = _window(result)
    s = session(name)
    how = VISIBLE[name]

    text, bd = s.ok("get_latency_breakdown", {"service": "api-gateway", "start": start,
                                              "end": end})
    growth = _growth(bd["data"])
    if "breakdown" in how:
        assert bd["data"]["top_service"] == truth, growth[:4]
        assert growth[0][0] == truth and growth[0][1] > 0
        runner_up = max(g for svc, g in growth[1:])
        assert growth[0][1] >= 2 * runner_up, growth[:4]  # a clear winner, not noise
        assert f"most growth in {truth}" in text

    if "critical_path" in how:
        _, slow = s.ok("find_slow_traces", {"service": "api-gateway", "start": start,
                                            "end": end, "limit": 5})
        assert len(slow["data"]["traces"]) == 5
        on_path: dict[str, int] = {}
        for hit in slow["data"]["traces"]:
            _, det = s.ok("get_trace_details", {"trace_id": hit["trace_id"]})
            for item in det["data"]["critical_path"]["by_operation"]:
                on_path[item["service"]] = on_path.get(item["service"], 0) + item["ns"]
        assert max(on_path, key=lambda k: on_path[k]) == truth, on_path

    if "errors" in how:
        _, err = s.ok("find_error_traces", {"service": "api-gateway", "start": start,
                                            "end": end})
        top = err["data"]["origins"][0]
        assert truth in (top["service"], top["peer"]), err["data"]["origins"][:3]


def test_batch_lock_shows_writes_waiting_in_postgres_not_the_lock_holder(
        bundle: Callable[..., Any], session: Callable[..., Any]) -> None:
    result = bundle("batch-table-lock")
    start, end = _window(result)
    s = session("batch-table-lock")
    _, services = s.ok("list_trace_services")
    assert result.truth["service"] not in services["data"]["services"]  # no spans of its own
    _, bd = s.ok("get_latency_breakdown", {"service": "api-gateway", "start": start,
                                           "end": end})
    assert bd["data"]["top_service"] == "postgres"
    grown = [r for r in bd["data"]["rows"] if r["service"] == "postgres"
             and r["self_ns_per_request"] - r["baseline_self_ns_per_request"] > 50_000_000]
    assert {r["operation"] for r in grown} >= {"INSERT orders", "UPDATE orders"}
    assert {r["caller"] for r in grown} == {"orders"}
    _, err = s.ok("find_error_traces", {"service": "orders", "start": start, "end": end})
    top = err["data"]["origins"][0]
    assert (top["service"], top["peer"]) == ("orders", "postgres")
    assert top["operation"] in ("INSERT orders", "UPDATE orders")


def test_certificate_expiry_shows_as_collapsed_traffic(bundle: Callable[..., Any],
                                                       session: Callable[..., Any]) -> None:
    start, end = _window(bundle("certificate-expiry"))
    _, bd = session("certificate-expiry").ok(
        "get_latency_breakdown", {"service": "api-gateway", "start": start, "end": end})
    assert bd["data"]["requests"] < 0.2 * bd["data"]["baseline_requests"]


def test_capacity_question_has_no_latency_incident(session: Callable[..., Any]) -> None:
    _, bd = session("capacity-rightsizing").ok("get_latency_breakdown",
                                               {"service": "api-gateway"})
    data = bd["data"]
    assert data["requests"] > 100 and data["baseline_requests"] > 100
    total_growth = sum(max(0, s["delta_ns_per_request"]) for s in data["services"])
    assert total_growth < 0.1 * data["mean_latency_ns"]
