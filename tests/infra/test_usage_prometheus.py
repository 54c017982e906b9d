"""Usage history from a Prometheus API: real Prometheus agrees with the bundle's own samples.

The live test backfills the cpu-throttling scenario's cAdvisor and kube-state-metrics
files with the real promtool, starts real Prometheus on them, and asks the infra
server for checkout's utilisation twice: from the bundle's samples and from
Prometheus (``options["metrics"]``). Both must agree. The recorded test checks the
query the adapter sends and that Prometheus's own error bodies (live captures in
../shared/fixtures/prometheus) become clear tool errors.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from livestack import PROMETHEUS, PROMTOOL, promtool_backfill, require, start_prometheus
from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.infra.backends.prometheus import step_for
from obsbench_servers.infra.server import create_server


def _usage(ctx: ServerContext, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(create_server(ctx)) as c:
            return await c.call_tool("get_resource_utilization", args)

    try:
        return anyio.run(go)
    finally:
        ctx.close()


def test_step_keeps_prometheus_under_its_point_limit() -> None:
    day = 86400 * 10**9
    assert step_for(0, 4 * 3600 * 10**9) == 60
    assert step_for(0, 30 * day) == 300  # 8,640 points: 5-minute resolution over 30 days
    assert (30 * day // 10**9) / step_for(0, 30 * day) <= 10_000
    assert step_for(0, 90 * day) % 60 == 0


def test_recorded_payload_query_and_errors(bundle_dir: Callable[..., Path],
                                           fixtures: Path) -> None:
    out = bundle_dir("cpu-throttling")
    captured = fixtures / "prometheus" / "captured_prometheus_2.42.0"
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        body = (captured / "error_400_bad_data_parse_error.json").read_bytes()
        return httpx.Response(400, content=body, headers={"Content-Type": "application/json"})

    prom = PrometheusBackend(type="prometheus", url="http://prom.test:9090", name="prom")
    ctx = ServerContext.for_bundle("infra", out, options={
        "metrics": prom, "metrics_transport": httpx.MockTransport(handler)})
    r = _usage(ctx, {"service": "checkout", "window": "30d"})
    assert r.is_error
    text = "\n".join(getattr(c, "text", "") for c in r.content)
    assert "400" in text and "unclosed left parenthesis" in text
    q = seen[0].url.params
    assert q["query"] == ('container_cpu_usage_seconds_total{container="checkout",'
                          'namespace="shop",pod=~"checkout-[a-z0-9]+-[a-z0-9]{5}"}')
    assert q["step"] == "300s"
    assert float(q["end"]) - float(q["start"]) == 30 * 86400


@pytest.mark.live
def test_prometheus_and_the_bundle_agree(bundle_dir: Callable[..., Path],
                                         tmp_path: Path) -> None:
    require(PROMETHEUS)
    require(PROMTOOL)
    out = bundle_dir("cpu-throttling")
    onset = tomllib.loads((out / "bundle.toml").read_text())["truth"]["onset"]
    tsdb = tmp_path / "tsdb"
    for name in ("kubelet.om", "kube-state-metrics.om"):
        promtool_backfill(out / "metrics" / name, tsdb)
    args = {"service": "checkout", "start": onset}
    local = _usage(ServerContext.for_bundle("infra", out), args)
    with start_prometheus(tsdb, tmp_path / "prom") as prom:
        backend = PrometheusBackend(type="prometheus", url=prom.url, name="live-prom")
        remote = _usage(ServerContext.for_bundle("infra", out, options={"metrics": backend}),
                        args)
    assert not remote.is_error, remote.content
    assert remote.structured_content["data"]["usage_source"] == "live-prom"
    (a,) = local.structured_content["data"]["containers"]
    (b,) = remote.structured_content["data"]["containers"]
    ua, ub = a["usage"], b["usage"]
    for key in ("p50", "p95", "p99", "max"):
        assert ub["cpu_cores"][key] == pytest.approx(ua["cpu_cores"][key], rel=0.02), key
        assert ub["memory_bytes"][key] == pytest.approx(ua["memory_bytes"][key], rel=0.02), key
    assert ub["throttled_ratio"] == pytest.approx(ua["throttled_ratio"], rel=0.02)
    assert ub["throttled_ratio"] > 0.25  # the scenario's fault, seen through real Prometheus
    assert b["recommendation"]["cpu"]["limit_action"] == "raise"
    assert a["recommendation"]["summary"] == b["recommendation"]["summary"]


def test_usage_queries_of_a_tenant_profile_are_pinned_to_the_tenant() -> None:
    """A profile pinned to tenant a never asks a shared Prometheus for tenant b's usage."""
    from obsbench_servers.infra.backends.prometheus import PrometheusMetrics
    from obsbench_servers.metrics.promql.parse import parse

    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.params["query"])
        return httpx.Response(200, json={"status": "success",
                                         "data": {"resultType": "matrix", "result": []}})

    prom = PrometheusBackend(type="prometheus", url="http://prom.test:9090", name="shared",
                             tenant_label="tenant", tenant="a")
    metrics = PrometheusMetrics(prom, transport=httpx.MockTransport(handler))
    metrics.series("container_cpu_usage_seconds_total", {"tenant": "b", "pod": "x"},
                   {"container": ".+"}, 0, 3600 * 10**9)
    query = seen[0]
    assert 'tenant="a"' in query and '"b"' not in query
    assert 'pod="x"' in query and "container=~" in query
    parse(query)  # still valid PromQL
    plain = PrometheusMetrics(PrometheusBackend(type="prometheus", url="http://prom.test:9090"),
                              transport=httpx.MockTransport(handler))
    plain.series("container_cpu_usage_seconds_total", {"pod": "x"}, {}, 0, 3600 * 10**9)
    assert "tenant" not in seen[1]
