"""Tenant isolation against a real Prometheus holding the series of two tenants.

One Prometheus (promtool backfill) holds tenant ``a`` and tenant ``b`` under the label
``tenant``; two rules fire one alert per tenant. A profile with ``tenant = "a"`` and
``tenant_label = "tenant"`` asks, through the metrics server's tools (as a model
would), for tenant b's data in every way PromQL allows: it gets nothing of b's and
still reads its own. A profile without ``tenant_label`` sees both tenants, so each
refusal below is the rewrite at work and not missing data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.metrics.conftest import call_tools, text

from livestack import LiveServer, promtool_backfill, require, start_prometheus
from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import ConfigError
from obsbench_servers.metrics.backends.prometheus import PrometheusHTTP

pytestmark = pytest.mark.live

END_S = 1773154800  # 2026-03-10T15:00:00Z, a 2 h block boundary
END_NS = END_S * 10**9
RULES = """groups:
  - name: tenants
    interval: 1s
    rules:
      - alert: TenantAFiring
        expr: vector(1)
        labels: {tenant: a, severity: warning}
      - alert: TenantBSecretFiring
        expr: vector(1)
        labels: {tenant: b, severity: critical}
"""
# (metric, labels, increase per minute; 0 = a gauge at 42)
SERIES: list[tuple[str, str, int]] = [
    ("http_requests_total", 'tenant="a",service="checkout"', 1),
    ("http_requests_total", 'tenant="b",service="payments"', 7),
    ("a_only_queue_depth", 'tenant="a",service="checkout"', 0),
    ("b_secret_total", 'tenant="b",service="payments"', 3),
    ("shared_untenanted_total", 'service="infra"', 5),
]


@dataclass
class Tenants:
    prometheus: LiveServer


def _openmetrics() -> str:
    lines: list[str] = []
    for metric, labels, step in SERIES:
        kind = "gauge" if step == 0 else "counter"
        family = metric.removesuffix("_total")
        lines.append(f"# TYPE {family} {kind}")
        for i in range(120):  # two hours, one sample a minute, ending at END_S
            ts = END_S - (119 - i) * 60
            value = 42 if step == 0 else i * step
            lines.append(f"{metric}{{{labels}}} {value} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    require("promtool")
    work = tmp_path_factory.mktemp("tenancy")
    om = work / "tenants.om"
    om.write_text(_openmetrics())
    tsdb = work / "tsdb"
    tsdb.mkdir()
    promtool_backfill(om, tsdb)
    config = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\n"
    with start_prometheus(tsdb, work / "prom", config=config, rules=RULES) as prom:
        yield Tenants(prom)


def _backend(url: str, tenant: str | None = "a") -> PrometheusBackend:
    if tenant is None:
        return PrometheusBackend(type="prometheus", url=url)
    return PrometheusBackend(type="prometheus", url=url, tenant=tenant, tenant_label="tenant")


def _ctx(url: str, tenant: str | None = "a") -> ServerContext:
    return ServerContext("metrics", [_backend(url, tenant)], at_ns=END_NS)


def _series(result: Any) -> list[dict[str, str]]:
    assert not result.is_error, text(result)
    return [s["metric"] for s in result.structured_content["data"]["prometheus"]["result"]]


def _values(result: Any) -> list[float]:
    assert not result.is_error, text(result)
    return [float(s["value"][1])
            for s in result.structured_content["data"]["prometheus"]["result"]]


# Queries a model could write to reach tenant b, and what tenant a must get instead.
ESCAPES: list[tuple[str, str]] = [
    ("equality", 'http_requests_total{tenant="b"}'),
    ("regex_any", '{tenant=~".+"}'),
    ("not_equal", 'http_requests_total{tenant!="a"}'),
    ("name_regex", '{__name__=~".+"}'),
    ("or", 'a_only_queue_depth or b_secret_total'),
    ("or_by_label", 'http_requests_total{tenant="a"} or http_requests_total{tenant="b"}'),
    ("label_replace", 'label_replace(http_requests_total{tenant="b"}, "tenant", "a", "", "")'),
    ("subquery", 'max_over_time(http_requests_total{tenant="b"}[30m:1m])'),
    ("rate_range", 'rate(b_secret_total{tenant=~"b|a"}[10m])'),
    ("count_by_tenant", 'count by (tenant) ({__name__=~".+"})'),
    ("unless", 'http_requests_total unless on(service) a_only_queue_depth'),
    ("offset", 'http_requests_total{tenant="b"} offset 30m'),
]


def test_tenancy_live_control_profile_without_tenant_label_sees_both(tenants: Tenants) -> None:
    """The data is there: an unrestricted profile reads tenant b (so refusals mean isolation)."""
    url = tenants.prometheus.url
    calls = [("query", {"expr": q}) for _, q in ESCAPES[:4]]
    calls.append(("label_values", {"label": "tenant"}))
    out = call_tools(_ctx(url, tenant=None), calls)
    for r in out[:4]:
        assert any(s.get("tenant") == "b" for s in _series(r)), text(r)
    assert out[-1].structured_content["data"]["values"] == ["a", "b"]


@pytest.mark.parametrize(("name", "expr"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_tenancy_live_query_cannot_reach_tenant_b(tenants: Tenants, name: str,
                                                  expr: str) -> None:
    [instant, ranged] = call_tools(_ctx(tenants.prometheus.url), [
        ("query", {"expr": expr}),
        ("query_range", {"expr": expr, "start": "now-1h", "step": "5m"})])
    for r in (instant, ranged):
        if r.is_error:  # a name only tenant b has is unknown to tenant a
            assert "error (not_found): unknown metric" in text(r), text(r)
            assert "payments" not in text(r)
            continue
        series = _series(r)
        assert not any(s.get("service") == "payments" for s in series), (name, text(r))
        assert all(s.get("tenant", "a") == "a" for s in series), (name, series)
        # the query actually sent carries the pin, not the model's matcher
        assert 'tenant%3D%22a%22' in text(r) or 'tenant="a"' in text(r), text(r)


def test_tenancy_live_tenant_reads_its_own_series(tenants: Tenants) -> None:
    out = call_tools(_ctx(tenants.prometheus.url), [
        ("query", {"expr": "sum by (tenant, service) (http_requests_total)"}),
        ("query", {"expr": '{tenant=~".+"}'}),
        ("query", {"expr": 'label_replace(http_requests_total{tenant="b"}, "tenant", "a", '
                           '"", "")'}),
        ("query", {"expr": 'count by (tenant) ({__name__=~".+"})'}),
        ("query", {"expr": "max_over_time(http_requests_total[30m:1m])"})])
    assert _series(out[0]) == [{"tenant": "a", "service": "checkout"}]
    assert _values(out[0]) == [119.0]  # tenant a's counter: 1 per minute, not b's 7
    assert {s["__name__"] for s in _series(out[1])} == {"http_requests_total",
                                                        "a_only_queue_depth"}
    assert [s["service"] for s in _series(out[2])] == ["checkout"]
    assert _series(out[3]) == [{"tenant": "a"}] and _values(out[3]) == [2.0]
    assert _values(out[4]) == [119.0]


def test_tenancy_live_absent_does_not_reveal_tenant_b(tenants: Tenants) -> None:
    """``absent(b_secret_total)`` says "absent" to tenant a (b has it: the control says so)."""
    [pinned] = call_tools(_ctx(tenants.prometheus.url),
                          [("query", {"expr": "absent(b_secret_total)"})])
    [open_] = call_tools(_ctx(tenants.prometheus.url, tenant=None),
                         [("query", {"expr": "absent(b_secret_total)"})])
    assert _values(pinned) == [1.0] and _series(pinned) == [{"tenant": "a"}]
    assert _values(open_) == []


def test_tenancy_live_label_discovery_is_restricted(tenants: Tenants) -> None:
    out = call_tools(_ctx(tenants.prometheus.url), [
        ("label_values", {"label": "tenant", "start": "now-2h"}),
        ("label_values", {"label": "service", "start": "now-2h"}),
        ("label_values", {"label": "service", "match": 'b_secret_total{tenant="b"}',
                          "start": "now-2h"}),
        ("list_metrics", {}),
        ("list_metrics", {"match": "secret"}),
        ("metric_metadata", {"metric": "b_secret_total"}),
        ("metric_metadata", {"metric": "http_requests_total"}),
    ])
    assert out[0].structured_content["data"]["values"] == ["a"]
    assert out[1].structured_content["data"]["values"] == ["checkout"]
    assert out[2].is_error and "no series has a label 'service'" in text(out[2])
    names = {m["name"] for m in out[3].structured_content["data"]["metrics"]}
    assert names == {"http_requests_total", "a_only_queue_depth"}
    assert out[4].structured_content["data"]["total"] == 0
    assert out[5].is_error and "unknown metric 'b_secret_total'" in text(out[5])
    meta = text(out[6])
    assert "1 series" in meta and "checkout" in meta and "payments" not in meta


def test_tenancy_live_backend_discovery_endpoints(tenants: Tenants) -> None:
    """The adapter's own discovery calls: labels, series and the selection-guard probe."""
    start, end = END_NS - 7200 * 10**9, END_NS
    pinned = PrometheusHTTP(_backend(tenants.prometheus.url))
    open_ = PrometheusHTTP(_backend(tenants.prometheus.url, tenant=None))
    try:
        assert pinned.series(['b_secret_total{tenant="b"}'], start, end) == []
        assert {s["tenant"] for s in pinned.series(['{tenant="b"}'], start, end)} == {"a"}
        assert {s["tenant"] for s in pinned.series(['{__name__=~".+"}'], start, end)} == {"a"}
        assert pinned.count_series(['{service="payments"}'], start, end) == 0
        assert open_.count_series(['{service="payments"}'], start, end) == 2
        assert pinned.count_series(['{tenant=~".+"}', "b_secret_total"], start, end) == 2
        assert open_.count_series(['{tenant=~".+"}'], start, end) == 4
        assert "tenant" in pinned.label_names(None, start, end)
        assert pinned.label_values("__name__", ['{service="payments"}'], start, end) == []
        assert pinned.label_values("service", ['{tenant="b"}'], start, end) == ["checkout"]
        assert pinned.label_values("__name__", None, start, end) == [
            "a_only_queue_depth", "http_requests_total"]
        assert "shared_untenanted_total" in open_.label_values("__name__", None, start, end)
    finally:
        pinned.close()
        open_.close()


def test_tenancy_live_alerts_are_the_tenants_own(tenants: Tenants) -> None:
    import time

    deadline = time.monotonic() + 30
    names: set[str] = set()
    while time.monotonic() < deadline and len(names) < 2:  # rules evaluate every second
        alerts = tenants.prometheus.get("/api/v1/alerts")["data"]["alerts"]
        names = {a["labels"]["alertname"] for a in alerts}
        time.sleep(0.2)
    assert names == {"TenantAFiring", "TenantBSecretFiring"}
    [r] = call_tools(_ctx(tenants.prometheus.url), [("list_firing_alerts", {})])
    assert not r.is_error, text(r)
    got = {a["labels"]["alertname"] for a in r.structured_content["data"]["alerts"]}
    assert got == {"TenantAFiring"}


def test_tenancy_live_tenant_label_without_tenant_is_refused(tenants: Tenants) -> None:
    be = PrometheusBackend(type="prometheus", url=tenants.prometheus.url, tenant_label="tenant")
    with pytest.raises(ConfigError, match="needs the tenant"):
        PrometheusHTTP(be)
