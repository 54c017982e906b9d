"""For every scenario, get_service_golden_signals and find_anomalies put the root-cause
service's symptom in their output: the signal the offline investigator will rely on.

The truth (service, onset) is read from bundle.toml only to check the answers; the tools
never see it. find_anomalies runs over the bundle after its first hour (the first hour is
the baseline), as an investigator scoping to "the incident window" would.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.metrics.conftest import call_tools, text

from obsbench.scenarios import SCENARIOS
from obsbench_servers.common.context import ServerContext
from obsbench_servers.metrics.conventions import host_matches_service

# scenario -> (golden-signal keys that must move, anomaly signal keys that must rank)
SYMPTOMS: dict[str, tuple[set[str], set[str]]] = {
    "bad-deploy-db-pool": ({"latency_p95", "error_ratio", "db_pool_pending"},
                           {"latency_p95", "error_ratio", "db_pool_pending", "db_pool_usage"}),
    "external-dependency-slowdown": ({"client_latency_p95", "client_error_ratio"},
                                     {"client_latency_p95", "client_error_ratio"}),
    "capacity-rightsizing": (set(), set()),  # a question, not an incident: see resource fit
    "batch-table-lock": ({"job_active", "job_failed"}, {"job_active", "job_failed"}),
    "memory-leak-oom": ({"memory_vs_limit", "restarts", "latency_p95"},
                        {"memory_vs_limit", "restarts", "oom_killed"}),
    "cpu-throttling": ({"cpu_throttled_ratio", "latency_p95"}, {"cpu_throttled_ratio"}),
    "feature-flag-config": ({"error_ratio"}, {"error_ratio"}),
    "cache-eviction-storm": ({"redis_evictions", "redis_hit_ratio"},
                             {"redis_evictions", "redis_hit_ratio"}),
    "certificate-expiry": ({"tls_connection_errors", "traffic"},
                           {"tls_connection_errors", "traffic", "probe_success"}),
    "disk-full": ({"pg_up", "pg_rollbacks", "restarts"},
                  {"pg_up", "volume_used_ratio", "pg_rollbacks", "pg_wal_size"}),
    "traffic-surge-hpa-max": ({"traffic", "eventloop_lag_p99", "hpa_current_vs_max"},
                              {"traffic", "eventloop_lag_p99", "hpa_current_vs_max"}),
    "network-delay": ({"node_tcp_retransmits"}, {"node_tcp_retransmits"}),
}


def test_every_scenario_has_expectations() -> None:
    assert set(SYMPTOMS) == set(SCENARIOS)


def _truth(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = tomllib.loads((path / "bundle.toml").read_text())
    return doc["truth"], doc["window"]


def _hours(window: dict[str, Any]) -> float:
    def parse(v: Any) -> datetime:
        return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))

    return (parse(window["end"]) - parse(window["start"])).total_seconds() / 3600


def _belongs(anomaly: dict[str, Any], service: str) -> bool:
    """An anomaly of the service itself, of a host naming it, or of the node it runs on."""
    if anomaly["service"] == service or host_matches_service(anomaly["service"], service):
        return True
    return (anomaly["service"].startswith("node/") and service in anomaly["via"].split(", ")) \
        or f", {service}" in anomaly["via"] or anomaly["via"].endswith(f" {service}")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_root_cause_symptom_in_golden_signals_and_anomalies(
        name: str, bundle_dir: Callable[..., Path]) -> None:
    path = bundle_dir(name)
    truth, window = _truth(path)
    service = truth["service"]
    golden_keys, anomaly_keys = SYMPTOMS[name]
    hours = _hours(window)
    anomaly_args = ({"window": f"{int(hours) - 1}h", "baseline": "1h"} if hours <= 6
                    else {})  # the 30-day capacity bundle: the last hour vs the two before
    golden, anomalies = call_tools(
        ServerContext.for_bundle("metrics", path),
        [("get_service_golden_signals", {"service": service}),
         ("find_anomalies", {**anomaly_args, "limit": 20})])
    assert not golden.is_error, text(golden)
    assert not anomalies.is_error, text(anomalies)
    g = golden.structured_content["data"]
    a = anomalies.structured_content["data"]
    if name == "capacity-rightsizing":
        # api-gateway requests far more CPU than it uses: both tools show it
        use = next(s for s in g["signals"] if s["key"] == "cpu_usage_vs_request")
        assert use["now"] < 0.5
        fit = next(f for f in a["resource_fit"] if f["service"] == service)
        assert fit["usage_vs_request"] < 0.5
        assert f"resource fit: {service} uses" in text(anomalies)
        assert "over-provisioned" in text(anomalies)
        return
    moved = {s["key"] for s in g["signals"] if s["change_score"] >= 1.0}
    assert moved & golden_keys, (name, sorted(moved))
    shown = text(golden)
    assert any(s["title"] in shown for s in g["signals"] if s["key"] in golden_keys)
    mine = [x for x in a["anomalies"] if _belongs(x, service) and x["signal"] in anomaly_keys
            and x["score"] >= 6]
    assert mine, (name, [(x["service"], x["signal"], x["score"]) for x in a["anomalies"][:10]])
    # the symptom is in the text the model reads, not only in the structured data
    listed = text(anomalies)
    assert any(x["title"] in listed for x in mine)
    onset = datetime.fromisoformat(truth["onset"].replace("Z", "+00:00")
                                   if isinstance(truth["onset"], str) else str(truth["onset"]))
    first = min(datetime.fromisoformat(x["onset"].replace("Z", "+00:00")) for x in mine
                if x["onset"])
    # no later than the onset (plus a rate window's lag); earlier is a precursor of the same
    # cause (disk-full: the volume fills for an hour before postgres panics)
    assert (first - onset).total_seconds() <= 15 * 60, (name, first, onset)
