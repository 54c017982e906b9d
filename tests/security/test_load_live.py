"""Load: 200 concurrent tool calls through the hub against a live Prometheus limited to 20/s.

The limit is the backend's ``limits.requests_per_second``, enforced by the shared
gate of ``common/resilience.py``. Prometheus's own request counter
(``prometheus_http_requests_total``) is read before and after: the number of
requests it saw over the wall time of the run stays within the rate plus the
initial burst, every call completes or fails with a clear error, and the audit
trail holds exactly one record per call, chained.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from livestack import require, start_prometheus
from obsbench.config import Profile
from obsbench.hub import Hub
from obsbench.scope import Scope
from obsbench_servers.common.audit import AuditTrail
from obsbench_servers.common.backend import Limits, PrometheusBackend

pytestmark = pytest.mark.live
RATE = 20.0
CALLS = 200


def _requests_seen(metrics_text: str) -> float:
    """Requests Prometheus served on its query API endpoints, from its own counter."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and re.search(
                r'handler="/api/v1/(query|query_range|series|labels|label/:name/values|'
                r'metadata|status/buildinfo)"', line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_200_concurrent_calls_hold_the_rate_limit_and_audit_each(tmp_path: Path) -> None:
    require("prometheus")
    with start_prometheus(tmp_path / "tsdb", tmp_path / "prom") as prom:
        backend = PrometheusBackend(type="prometheus", url=prom.url,
                                    limits=Limits(requests_per_second=RATE, concurrency=8))
        scope = Scope("load", Profile(metrics=backend))
        trail = AuditTrail(tmp_path / "audit.jsonl")
        before = _requests_seen(prom.client.get("/metrics").text)

        async def run() -> list[object]:
            async with Hub(scope, servers=("metrics",), audit=trail,
                           call_timeout_s=120) as hub:
                calls = [("metrics_query", {"expr": f"vector({i})"}) for i in range(CALLS)]
                return list(await hub.call_many(calls))

        started = time.monotonic()
        records = asyncio.run(run())
        elapsed = time.monotonic() - started
        seen = _requests_seen(prom.client.get("/metrics").text) - before

    print(f"load: {CALLS} calls in {elapsed:.1f}s, backend saw {seen:.0f} requests "
          f"({seen / elapsed:.1f}/s, limit {RATE:g}/s)")
    assert len(records) == CALLS
    outcomes = [r.outcome for r in records]  # type: ignore[attr-defined]
    ok = outcomes.count("ok")
    for r in records:
        if r.outcome != "ok":  # type: ignore[attr-defined]
            # a refused call says why and what to do, in words
            assert "rate" in r.evidence.text or "budget" in r.evidence.text, r.evidence.text  # type: ignore[attr-defined]
    assert ok >= CALLS // 2
    assert seen >= ok  # each successful call reached the backend
    burst = RATE  # the bucket starts full
    assert seen <= burst + RATE * elapsed + 1, (seen, elapsed)
    assert seen / elapsed <= RATE * 1.6, (seen, elapsed)
    audit = list(trail.records())
    assert len(audit) == CALLS and trail.verify().ok
    assert {a["evidence_id"] for a in audit} == {r.evidence.id for r in records}  # type: ignore[attr-defined]
