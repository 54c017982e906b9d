"""Capacity recommendation (the brief's scenario 3) from real get_resource_utilization output."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from obsbench.evidence import EvidenceStore
from obsbench.hub import Hub
from obsbench.reports import build_capacity_report
from obsbench.scenarios import GenerationResult
from obsbench.scope import resolve_scope


@pytest.fixture(scope="module")
def capacity_store(bundle: Callable[..., GenerationResult],
                   tmp_path_factory: pytest.TempPathFactory) -> EvidenceStore:
    gen = bundle("capacity-rightsizing")
    base = tmp_path_factory.getbasetemp()
    mp = pytest.MonkeyPatch()
    mp.setenv("OBSBENCH_CACHE_DIR", str((base.parent if os.environ.get("PYTEST_XDIST_WORKER")
                                         else base) / "obsbench-store-cache"))

    async def go() -> EvidenceStore:
        async with Hub(resolve_scope(bundle=Path(gen.out_dir)), servers=("infra",)) as hub:
            await hub.call("infra_get_resource_utilization",
                           {"service": "api-gateway", "window": "30d"})
            await hub.call("infra_get_resource_utilization", {"service": "no-such-service"})
            await hub.call("infra_get_resource_utilization",
                           {"service": "api-gateway", "window": "30d"})
            return hub.evidence

    try:
        return anyio.run(go)
    finally:
        mp.undo()


def test_api_gateway_rightsizing_in_the_brief_format(capacity_store: EvidenceStore) -> None:
    report = build_capacity_report(capacity_store)
    # The failed call adds nothing; the same call made twice is one section (the first).
    assert [e.is_error for e in capacity_store] == [False, True, False]
    assert len(report.containers) == 1
    c = report.containers[0]
    assert c.workload == "Deployment edge/api-gateway" and c.evidence == "E1"
    cpu = next(r for r in c.resources if r.resource == "cpu")
    assert (cpu.request, cpu.limit) == ("2000m", "4000m")
    # Scenario truth: P95 800m over 30 days -> about 1000m (P95 x 1.25), limit kept.
    assert cpu.usage["p95"] == "800m"
    assert cpu.request_action == "decrease" and cpu.limit_action == "keep"
    assert cpu.recommended_request is not None
    assert 950 <= int(cpu.recommended_request.rstrip("m")) <= 1050
    assert cpu.recommended_limit == "4000m"
    assert c.headroom == 0.25 and c.safe
    assert c.throttled_ratio == 0.0 and not c.oom_killed_pods
    md = report.to_markdown()
    assert "| cpu | 2000m | 4000m |" in md and "| 800m |" in md
    assert "**Headroom rule:** request = P95 usage + 25% headroom" in md
    for check in ("enough history? ok", "cpu limit never reached? ok", "not throttled? ok",
                  "no OOM kills? ok"):
        assert check in md
    assert "30d (2026-02-14T12:00:00Z .. 2026-03-16T12:00:00Z) [E1]" in md
    assert report.to_dict()["containers"][0]["resources"][0]["usage"]["p95"] == "800m"


def test_no_utilization_evidence_says_what_to_do() -> None:
    report = build_capacity_report(EvidenceStore())
    assert report.containers == []
    assert "infra_get_resource_utilization" in report.to_markdown()
