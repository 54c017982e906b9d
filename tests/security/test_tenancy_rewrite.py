"""The tenant rewrite itself (``metrics/tenancy.py``), without a backend.

Printing is checked by round trip through the real parser (the printed query parses
back to the same tree), pinning by walking the printed query's tree: every selector
carries exactly one matcher on the tenant label, the tenant's. The adapter's
metadata and alert filters run on recorded Prometheus 2.42 payloads through
``httpx.MockTransport``; the label-values answers they are paired with are built
here in the documented ``{"status": "success", "data": [...]}`` shape.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.errors import BadInputError, ConfigError
from obsbench_servers.metrics.backends.prometheus import PrometheusHTTP
from obsbench_servers.metrics.promql.ast import Call, Matcher, Node, Paren, walk
from obsbench_servers.metrics.promql.parse import parse
from obsbench_servers.metrics.tenancy import TenantScope, render

CORPUS = [
    'sum by (tenant) (rate(foo{tenant="b",x=~"y"}[5m] offset 1m)) or '
    'label_replace(bar, "a", "b", "c", "d") or max_over_time(foo[5m:1m] @ 100)',
    '{__name__=~".+", tenant!="a"}', 'foo{tenant="b" or job="x"}', 'absent(nope{tenant="b"})',
    'count by (tenant) ({tenant=~".+"})', "foo @ start()", 'foo{a="\\"x\\n\\t"}',
    "rate(foo[5m] @ end() offset -1m)", "topk(3, foo) > bool 2",
    "foo * on(x) group_left(y) bar", "1 + 2", "vector(1)", "-foo", "(foo)", '"str"',
    "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))", "foo offset 1h30m",
    "sum without (a) (foo)", "quantile_over_time(0.5, foo[1h:])", "-2 ^ 2", "2 ^ 3 ^ 2",
    "1 - -1", "a / on() b", "a and ignoring(x) b", "a unless b", 'count_values("v", foo)',
    "holt_winters(foo[10m], 0.5, 0.5)", "rate(foo[5m])[30m:1m] offset 5m", "sum by () (foo)",
    "NaN", "-Inf", "0x10", "time()", "a == bool on(x) group_right(y, z) b",
    "foo @ 1700000000.123", "avg(foo) without (a)", "(a + b)[5m:]", 'foo{x="ü☃"}',
    "-a ^ 2", "(-a) ^ 2", "scalar(foo) * 2", "sort_desc(sum(rate({__name__=\"x\"}[1m])))",
]


def _strip(node: Node) -> Node:
    """The tree without parentheses (the printer adds some where they change nothing)."""
    if isinstance(node, Paren):
        return _strip(node.expr)
    if isinstance(node, Call):
        return replace(node, args=tuple(_strip(a) for a in node.args))
    fields = getattr(node, "__dataclass_fields__", {})
    changes = {k: _strip(v) for k in fields if isinstance(v := getattr(node, k), Node)}
    return replace(node, **changes) if changes else node


@pytest.mark.parametrize("query", CORPUS)
def test_render_round_trips_through_the_parser(query: str) -> None:
    tree = parse(query)
    assert _strip(parse(render(tree))) == _strip(tree)


@pytest.mark.parametrize("query", CORPUS)
def test_every_selector_carries_exactly_the_tenant_pin(query: str) -> None:
    scope = TenantScope("tenant", "a")
    pinned = parse(scope.query(query))
    before = walk(parse(query)).selectors
    after = walk(pinned).selectors
    assert len(after) == len(before)
    for vs in after:
        for ms in vs.matcher_sets:
            assert [m for m in ms if m.name == "tenant"] == [Matcher("tenant", "=", "a")]
    # everything else in the query is kept
    for b, a in zip(before, after, strict=True):
        kept = [[m for m in ms if m.name != "tenant"] for ms in b.matcher_sets]
        assert kept == [[m for m in ms if m.name != "tenant"] for ms in a.matcher_sets]
        assert (b.name, b.offset_ms, b.at) == (a.name, a.offset_ms, a.at)


@pytest.mark.parametrize("value", ['a"}) or {__name__=~".+"} or vector(1', "a\\", "a\nb",
                                   "ü", "a`b"])
def test_tenant_values_cannot_break_out_of_the_selector(value: str) -> None:
    """A tenant value (or any label value) is escaped: it stays one matcher value."""
    pinned = parse(TenantScope("tenant", value).query('x or {job="y"}'))
    selectors = walk(pinned).selectors
    assert len(selectors) == 2
    assert all(vs.matchers[-1] == Matcher("tenant", "=", value) for vs in selectors)


def test_a_query_that_does_not_parse_is_refused_not_sent_unscoped() -> None:
    with pytest.raises(BadInputError, match="invalid PromQL"):
        TenantScope("tenant", "a").query('sum(rate(x{tenant="b"}[5m])')


def test_discovery_matches_default_to_the_tenants_series() -> None:
    scope = TenantScope("team", "a")
    assert scope.matches(None) == ['{team="a"}']
    assert scope.matches(['up{team=~".*"}', "x"]) == ['up{team="a"}', 'x{team="a"}']


@pytest.mark.parametrize(("label", "tenant", "message"), [
    ("tenant", None, "needs the tenant"),
    ("ten-ant", "a", "not a Prometheus label name"),
    ("__name__", "a", "cannot be __name__"),
])
def test_bad_tenant_settings_are_config_errors(label: str, tenant: str | None,
                                               message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TenantScope.from_config(label, tenant)
    assert TenantScope.from_config(None, "a") is None  # a header-only tenant: no pinning


def _adapter(fixtures: Path, tenant_label: str, tenant: str,
             names: list[str]) -> tuple[PrometheusHTTP, list[httpx.Request]]:
    captured = fixtures / "prometheus" / "captured_prometheus_2.42.0"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/api/v1/metadata":
            return httpx.Response(200, content=(captured / "metadata_limit5.json").read_bytes(),
                                  headers={"content-type": "application/json"})
        if path == "/api/v1/alerts":
            return httpx.Response(200, content=(captured / "alerts.json").read_bytes(),
                                  headers={"content-type": "application/json"})
        if path == "/api/v1/label/__name__/values":
            body: dict[str, Any] = {"status": "success", "data": names}
            return httpx.Response(200, content=orjson.dumps(body),
                                  headers={"content-type": "application/json"})
        return httpx.Response(404)

    be = PrometheusBackend(type="prometheus", url="http://prom:9090", tenant=tenant,
                           tenant_label=tenant_label)
    return PrometheusHTTP(be, transport=httpx.MockTransport(handler)), seen


def test_recorded_payload_metadata_is_cut_to_the_tenants_families(fixtures: Path) -> None:
    adapter, seen = _adapter(fixtures, "tenant", "a", [
        "go_memstats_last_gc_time_seconds", "prometheus_sd_failed_configs"])
    try:
        meta = adapter.metadata()
    finally:
        adapter.close()
    assert sorted(meta) == ["go_memstats_last_gc_time_seconds", "prometheus_sd_failed_configs"]
    [names_req] = [r for r in seen if r.url.path.endswith("/values")]
    assert names_req.url.params.get_list("match[]") == ['{tenant="a"}']


def test_recorded_payload_alerts_are_the_tenants_own(fixtures: Path) -> None:
    """Alerts are kept when their labels name the tenant (here ``job`` plays the tenant)."""
    adapter, _ = _adapter(fixtures, "job", "node", [])
    try:
        alerts = adapter.alerts(0)
    finally:
        adapter.close()
    assert [a["labels"]["alertname"] for a in alerts] == ["TargetDown"]
    assert {a["labels"]["job"] for a in alerts} == {"node"}
