"""Tenant pinning of the alerts server's Prometheus-as-alerts backend, against a real Prometheus.

One Prometheus 2.42 evaluates alerting rules for two tenants (label ``tenant``): for
each tenant one alert that fires at once and one that stays *pending* (``for: 1h``),
plus one alert with no tenant label at all. A profile whose ``[[alerts]]`` backend is
that Prometheus with ``tenant = "a"`` and ``tenant_label = "tenant"`` asks through the
alerts server's tools (as a model would) — ``list_firing_alerts`` with and without
filters that name tenant b, and ``get_incident_timeline`` (whose alert entries come from
the same backend) — and must see only tenant a's alerts, told that the list is
tenant-filtered. The same calls without ``tenant_label`` see every alert, so each
absence below is the filter at work and not missing data.

``/api/v1/alerts`` takes no filter, so the adapter filters client-side; the PagerDuty
incident the timeline hangs on is PagerDuty's own recorded object
(../shared/fixtures/pagerduty, read in place) served by ``httpx.MockTransport``, which
hands every other request to the real Prometheus.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from mcp import Client

from livestack import LiveServer, start_prometheus
from obsbench_servers.alerts.server import create_server
from obsbench_servers.common.backend import Auth, PagerDutyBackend, PrometheusAlertsBackend
from obsbench_servers.common.context import ServerContext

RULES = """groups:
  - name: tenants
    interval: 1s
    rules:
      - alert: TenantAFiring
        expr: vector(1)
        labels: {tenant: a, severity: warning}
        annotations: {summary: "tenant a is firing"}
      - alert: TenantAPending
        expr: vector(1)
        for: 1h
        labels: {tenant: a, severity: info}
      - alert: TenantBSecretFiring
        expr: vector(1)
        labels: {tenant: b, severity: critical}
        annotations: {summary: "b-only secret summary"}
      - alert: TenantBSecretPending
        expr: vector(1)
        for: 1h
        labels: {tenant: b, severity: critical}
      - alert: UntenantedFiring
        expr: vector(1)
        labels: {severity: warning}
"""
ALL = {"TenantAFiring", "TenantAPending", "TenantBSecretFiring", "TenantBSecretPending",
       "UntenantedFiring"}
OURS = {"TenantAFiring", "TenantAPending"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    work = tmp_path_factory.mktemp("tenancy-alerts")
    tsdb = work / "tsdb"
    tsdb.mkdir()
    config = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\n"
    with start_prometheus(tsdb, work / "prom", config=config, rules=RULES) as prom:
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while time.monotonic() < deadline and names != ALL:  # rules evaluate every second
            names = {a["labels"]["alertname"]
                     for a in prom.get("/api/v1/alerts")["data"]["alerts"]}
            time.sleep(0.2)
        assert names == ALL, prom.log_tail()
        yield prom


def _prom(url: str, tenant: str | None) -> PrometheusAlertsBackend:
    if tenant is None:
        return PrometheusAlertsBackend(type="prometheus", url=url, name="shared")
    return PrometheusAlertsBackend(type="prometheus", url=url, name="shared", tenant=tenant,
                                   tenant_label="tenant")


def _pagerduty_then_real(pd_dir: Path, seen: list[httpx.Request],
                         real: httpx.HTTPTransport) -> httpx.MockTransport:
    """PagerDuty's recorded incident for pd.test; every other request to the real server."""
    incident = orjson.loads((pd_dir / "mcp_tests_incident.json").read_bytes())

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.host != "pd.test":
            return real.handle_request(req)
        # List envelopes written from PagerDuty's documented shape (no licensed example).
        if req.url.path == "/incidents":
            return httpx.Response(200, json={"incidents": [incident], "limit": 100,
                                             "offset": 0, "more": False})
        if req.url.path == "/incidents/PINCIDENT123":
            return httpx.Response(200, json={"incident": incident})
        if req.url.path.endswith("/log_entries"):
            return httpx.Response(200, json={"log_entries": [], "limit": 100, "offset": 0,
                                             "more": False})
        if req.url.path.endswith("/notes"):
            return httpx.Response(200, json={"notes": []})
        return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})

    return httpx.MockTransport(handler)


def _calls(backends: list[Any], calls: list[tuple[str, dict[str, Any]]],
           transport: httpx.BaseTransport | None = None) -> list[Any]:
    ctx = ServerContext("alerts", backends, profile="tenant-test",
                        options={"transport": transport} if transport else {})

    async def go() -> list[Any]:
        async with Client(create_server(ctx)) as c:
            return [await c.call_tool(name, args) for name, args in calls]

    try:
        return anyio.run(go)
    finally:
        ctx.close()


def _text(r: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in r.content)


def _names(r: Any) -> set[str]:
    assert not r.is_error, _text(r)
    return {a["labels"]["alertname"] for a in r.structured_content["data"]["alerts"]}


# Filters a model could pass to reach tenant b's alerts, and what tenant a gets instead.
FILTERS: list[tuple[str, str | None, set[str]]] = [
    ("none", None, OURS),
    ("tenant_b", 'tenant="b"', set()),
    ("tenant_regex_any", 'tenant=~".+"', OURS),
    ("tenant_not_a", 'tenant!="a"', set()),
    ("alertname_b", 'alertname="TenantBSecretFiring"', set()),
    ("alertname_regex_any", 'alertname=~".+"', OURS),
    ("severity_critical", 'severity="critical"', set()),
]


@pytest.mark.live
@pytest.mark.parametrize(("case", "flt", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
def test_tenancy_alerts_live_list_firing_alerts_is_the_tenants_own(
        prometheus: LiveServer, case: str, flt: str | None, expected: set[str]) -> None:
    args = {} if flt is None else {"filter": flt}
    pinned, open_ = (_calls([_prom(prometheus.url, t)], [("list_firing_alerts", args)])[0]
                     for t in ("a", None))
    assert _names(pinned) == expected
    # The query line echoes the caller's own filter; nothing else may name tenant b's alerts.
    text = (_text(pinned).replace(flt or "\0", "")
            + orjson.dumps(pinned.structured_content["data"]).decode())
    assert "TenantBSecret" not in text and "b-only secret" not in text
    assert "Untenanted" not in text
    warnings = pinned.structured_content["warnings"]
    assert any("filtered to tenant='a'" in w and "client-side" in w for w in warnings), warnings
    # Unrestricted, the same filter reaches tenant b: the check above can fail.
    unrestricted = _names(open_)
    assert unrestricted >= expected
    if case in ("tenant_b", "alertname_b", "severity_critical", "none"):
        assert unrestricted & {"TenantBSecretFiring", "TenantBSecretPending"} or case == "none"
    if case == "none":
        assert unrestricted == ALL
    assert not any("filtered to" in w for w in open_.structured_content["warnings"])


@pytest.mark.live
def test_tenancy_alerts_live_counts_and_pending_are_the_tenants_own(
        prometheus: LiveServer) -> None:
    [r] = _calls([_prom(prometheus.url, "a")], [("list_firing_alerts", {})])
    counts = r.structured_content["data"]["counts"]
    assert counts["firing"] == 1 and counts["pending"] == 1
    assert counts["by_severity"] == {"warning": 1}  # tenant b's criticals are not counted
    assert "1 alerts firing" in r.structured_content["summary"]
    [u] = _calls([_prom(prometheus.url, None)], [("list_firing_alerts", {})])
    assert u.structured_content["data"]["counts"]["firing"] == 3


@pytest.mark.live
def test_tenancy_alerts_live_incident_timeline_shows_only_the_tenants_alerts(
        prometheus: LiveServer, fixtures: Path) -> None:
    pd = PagerDutyBackend(type="pagerduty", name="pd", url="https://pd.test",
                          auth=Auth(kind="api_key", secret="env:PD")).with_secret("pd-token")
    seen: list[httpx.Request] = []
    args = {"incident_id": "PINCIDENT123"}
    with httpx.HTTPTransport() as real:
        transport = _pagerduty_then_real(fixtures / "pagerduty", seen, real)
        [pinned] = _calls([pd, _prom(prometheus.url, "a")], [("get_incident_timeline", args)],
                          transport)
        [open_] = _calls([pd, _prom(prometheus.url, None)], [("get_incident_timeline", args)],
                         transport)
    assert any(q.url.path == "/api/v1/alerts" and q.url.port == prometheus.port for q in seen)
    for r in (pinned, open_):
        assert not r.is_error, _text(r)
    pinned_all = _text(pinned) + orjson.dumps(pinned.structured_content).decode()
    open_all = _text(open_) + orjson.dumps(open_.structured_content).decode()
    assert "TenantAFiring" in pinned_all
    assert "TenantBSecret" not in pinned_all and "Untenanted" not in pinned_all
    assert "TenantBSecretFiring" in open_all and "UntenantedFiring" in open_all
    assert any("filtered to tenant='a'" in w for w in pinned.structured_content["warnings"])


def test_tenant_label_without_tenant_is_a_config_error_before_any_request() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"status": "success", "data": {"alerts": []}})

    cases: list[tuple[str, str | None, str]] = [
        ("tenant", None, "needs the tenant"),
        ("ten-ant", "a", "not a Prometheus label name"),
        ("__name__", "a", "cannot be __name__"),
    ]
    for label, tenant, words in cases:
        be = PrometheusAlertsBackend(type="prometheus", url="http://prom.test:9090",
                                     tenant_label=label, tenant=tenant)
        [r, again] = _calls([be], [("list_firing_alerts", {}), ("list_firing_alerts", {})],
                            httpx.MockTransport(handler))
        assert r.is_error and words in _text(r), _text(r)
        assert "failed unexpectedly" not in _text(r)
        assert again.is_error  # the server still answers
    assert seen == []


def test_recorded_shape_tenant_filter_keeps_only_labelled_alerts() -> None:
    """Prometheus 2.42's /api/v1/alerts shape (captured_prometheus_2.42.0/alerts.json) with
    tenant labels added here; malformed entries are skipped, not fatal."""
    body = {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "Mine", "tenant": "a"}, "annotations": {},
         "state": "firing", "activeAt": "2026-03-10T14:00:00Z", "value": "1e+00"},
        {"labels": {"alertname": "Theirs", "tenant": "b"}, "annotations": {},
         "state": "firing", "activeAt": "2026-03-10T14:00:00Z", "value": "1e+00"},
        {"labels": {"alertname": "Nobodys"}, "state": "firing"},
        {"labels": ["not", "a", "dict"], "state": "firing"},
        {"labels": {"alertname": "MineOddAnnotations", "tenant": "a"},
         "annotations": ["x"], "state": "pending"},
        "garbage",
    ]}}
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json=body))
    [r] = _calls([_prom("http://prom.test:9090", "a")], [("list_firing_alerts", {})],
                 transport)
    assert _names(r) == {"Mine", "MineOddAnnotations"}
    [u] = _calls([_prom("http://prom.test:9090", None)], [("list_firing_alerts", {})],
                 transport)
    assert _names(u) == {"Mine", "Theirs", "Nobodys", "MineOddAnnotations"}
