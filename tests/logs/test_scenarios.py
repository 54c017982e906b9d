"""On the simulator's scenarios: the cause's log pattern is among the top 3 NEW patterns
of get_error_patterns for the incident window (onset - 5 min .. end) vs the window before.

Log-visible causes (docs/scenarios.md and the bundles' logs). Not log-visible, so not
listed: capacity-rightsizing (a sizing question, no incident) and cpu-throttling (CFS
throttling shows in cAdvisor metrics and the ReplicaSet's limits; its logs only carry
latency symptoms).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.logs.conftest import call, text

from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.timeutil import ns_to_rfc3339, parse_rfc3339_ns
from obsbench_servers.store.bundle import Manifest

CAUSE_PATTERNS = {
    "bad-deploy-db-pool": "QueuePool limit",
    "external-dependency-slowdown": "PSP call POST",
    "batch-table-lock": "canceling statement due to statement timeout",
    "memory-leak-oom": "sku cache above soft limit",
    "feature-flag-config": "NullPointerException",
    "cache-eviction-storm": "keys evicted in the last second",
    "certificate-expiry": "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "disk-full": "No space left on device",
    "traffic-surge-hpa-max": "event loop lag high",
    "network-delay": "slow upstream call",
}


@pytest.mark.parametrize("scenario", sorted(CAUSE_PATTERNS))
def test_cause_pattern_is_in_the_top_three_new(
        scenario: str, bundle_dir: Callable[..., Path]) -> None:
    path = bundle_dir(scenario)
    manifest = Manifest.load(path)
    assert manifest.window is not None and manifest.truth is not None
    onset = parse_rfc3339_ns(manifest.truth.onset)
    start = ns_to_rfc3339(onset - 5 * 60 * 10**9)
    res = call(ServerContext.for_bundle("logs", path), "get_error_patterns",
               {"start": start, "end": manifest.window.end})
    assert not res.is_error, text(res)
    data = res.structured_content["data"]
    by_id = {p["id"]: p for p in data["patterns"]}
    top = [by_id[i] for i in data["new"][:3]]
    needle = CAUSE_PATTERNS[scenario]
    assert any(needle in p["template"] or needle in p["example"] for p in top), (
        scenario, [p["template"][:120] for p in top])
    # the headline says how many lines became how many patterns, and what is new
    head = text(res).split("\n")[0]
    assert "patterns" in head and "new" in head
