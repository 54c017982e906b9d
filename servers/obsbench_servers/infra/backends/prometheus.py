"""Container usage history from a Prometheus-compatible API (cAdvisor and kube-state-metrics).

Used by the infra server when the profile also has a metrics backend (Prometheus,
Thanos, Mimir, VictoriaMetrics): ``GET /api/v1/query_range`` of the raw series at a
step of at least 60 s and at most ~10,000 points per series (Prometheus refuses
11,000), so 30 days come back at 5-minute resolution. Counters are returned as
sampled; the analysis computes rates, as it does for a bundle's samples.
"""

from __future__ import annotations

import math

import httpx

from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.errors import BackendError, GuardError
from obsbench_servers.common.http import build_client
from obsbench_servers.common.jsonapi import call_json
from obsbench_servers.infra.metrics_source import Series, selector
from obsbench_servers.metrics.tenancy import TenantScope

MAX_POINTS = 10_000
MIN_STEP_S = 60


def step_for(start_ns: int, end_ns: int) -> int:
    """Seconds between points: >= 60 s, a whole minute, <= MAX_POINTS points per series."""
    span_s = max(1, (end_ns - start_ns) // 1_000_000_000)
    return max(MIN_STEP_S, math.ceil(span_s / MAX_POINTS / 60) * 60)


class PrometheusMetrics:
    def __init__(self, config: PrometheusBackend,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.label = config.name or config.type
        self._transport = transport
        # A profile pinned to a tenant on a shared Prometheus reads only that tenant's
        # usage, whatever labels the tool asks for (the metrics server's same rewrite).
        self._tenant = TenantScope.from_config(config.tenant_label, config.tenant)

    def series(self, metric: str, equals: dict[str, str], regex: dict[str, str],
               start_ns: int, end_ns: int) -> Series:
        if end_ns - start_ns > self.config.limits.max_range_ns:
            raise GuardError(
                f"the window is longer than this backend's limits.max_range "
                f"({self.config.limits.max_range})",
                "ask for a shorter window, or raise limits.max_range for this backend")
        query = selector(metric, equals, regex)
        if self._tenant is not None:
            query = self._tenant.query(query)
        params = {"query": query, "start": f"{start_ns / 1e9:.3f}", "end": f"{end_ns / 1e9:.3f}",
                  "step": f"{step_for(start_ns, end_ns)}s"}
        with build_client(self.config, transport=self._transport) as client:
            body = call_json(client, self.config, "GET", "/api/v1/query_range", params=params,
                             what=f"Prometheus {self.label}").data
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else str(body)[:200]
            raise BackendError(f"Prometheus {self.label} refused {query}: {detail}")
        result = (body.get("data") or {}).get("result") or []
        out: Series = []
        for item in result[: self.config.limits.max_series]:
            labels = {k: str(v) for k, v in (item.get("metric") or {}).items() if k != "__name__"}
            points = []
            for ts, value in item.get("values") or ():
                try:
                    points.append((int(float(ts) * 1000), float(value)))
                except (TypeError, ValueError):
                    continue
            out.append((labels, points))
        return out
