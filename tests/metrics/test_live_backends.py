"""Every metrics tool through the Prometheus HTTP backend, against a real Prometheus and a real
VictoriaMetrics holding a scenario's metrics (promtool backfill; VictoriaMetrics's
/api/v1/import/prometheus), compared with the same tools on the embedded store.

"Now" is pinned to the bundle's end (``at_ns``), as ``--at`` does: every request carries
explicit times, which old backfilled data needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_shared_dir
from tests.metrics.conftest import call_tools, text

from livestack import (
    VICTORIA,
    LiveServer,
    promtool_backfill,
    require,
    start_prometheus,
    start_victoria_metrics,
)
from obsbench.scenarios import ensure_bundle
from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.context import ServerContext

pytestmark = pytest.mark.live

SCENARIO = "bad-deploy-db-pool"
END_NS = 1773154800 * 10**9  # 2026-03-10T15:00:00Z, the bundle's end
RULES = """groups:
  - name: obsbench-live
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: warning, service: checkout}
        annotations: {summary: "fires on every evaluation"}
      - alert: PendingForAnHour
        expr: vector(1)
        for: 1h
        annotations: {summary: "pending until an hour has passed"}
"""


@dataclass
class Stack:
    bundle: Path
    prometheus: LiveServer
    victoria: LiveServer


def _vm_import(vm: LiveServer, bundle: Path) -> int:
    """OpenMetrics (seconds) -> Prometheus text (milliseconds) into VictoriaMetrics."""
    total = 0
    for om in sorted((bundle / "metrics").glob("*.om")):
        batch: list[str] = []
        for line in om.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            series, value, ts = line.rsplit(" ", 2)
            batch.append(f"{series} {value} {round(float(ts) * 1000)}")
        total += len(batch)
        r = vm.client.post("/api/v1/import/prometheus", content="\n".join(batch) + "\n")
        assert r.status_code == 204, r.text
    vm.client.get("/internal/force_flush")
    return total


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require("promtool")
    require(VICTORIA)
    root = run_shared_dir(tmp_path_factory, "obsbench-bundles")
    bundle = ensure_bundle(SCENARIO, root / f"{SCENARIO}-7", seed=7).out_dir
    work = tmp_path_factory.mktemp("live-metrics")
    tsdb = work / "tsdb"
    tsdb.mkdir()
    for om in sorted((bundle / "metrics").glob("*.om")):
        promtool_backfill(om, tsdb)
    config = "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\n"
    with start_prometheus(tsdb, work / "prom", config=config, rules=RULES) as prom, \
            start_victoria_metrics(work / "vm") as vm:
        samples = _vm_import(vm, bundle)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until VictoriaMetrics serves all of it
            res = vm.get("/api/v1/query", query="sum(count_over_time({__name__=~\".+\"}[5h]))",
                         time=END_NS // 10**9 + 1)["data"]["result"]
            if res and float(res[0]["value"][1]) >= samples:
                break
            time.sleep(0.3)
        yield Stack(bundle, prom, vm)


def _ctx(url: str, kind: str, **options: Any) -> ServerContext:
    be = PrometheusBackend(type=kind, url=url)  # type: ignore[arg-type]
    return ServerContext("metrics", [be], at_ns=END_NS, options=options)


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("query", {"expr": "sum by (service) (rate(http_server_request_duration_seconds_count"
                       "[5m]))"}),
    ("query_range", {"expr": "histogram_quantile(0.95, sum by (le, service) "
                             "(rate(http_server_request_duration_seconds_bucket[5m])))",
                     "start": "now-3h", "step": "1m"}),
    ("list_metrics", {"match": "^hikaricp_"}),
    ("label_values", {"label": "service", "match": "http_requests_total", "start": "now-4h"}),
    ("metric_metadata", {"metric": "http_requests_total"}),
    ("get_service_golden_signals", {"service": "user-api"}),
    ("compare_time_periods", {"service": "user-api", "start": "now-1h", "baseline": "2h"}),
    ("find_anomalies", {"window": "3h", "baseline": "1h"}),
    ("list_firing_alerts", {}),
    ("query", {"expr": "sum(rate(http_requests_total[5m]) by (code)"}),  # bad input
]


def _check_common(results: list[Any], name: str) -> dict[str, Any]:
    out = dict(zip([c[0] for c in CALLS[:-1]], results[:-1], strict=True))
    for tool, r in out.items():
        assert not r.is_error, f"{name} {tool}: {text(r)}"
        assert r.structured_content["backend"].startswith(name)
    assert results[-1].is_error and "invalid PromQL at char" in text(results[-1])
    q = out["query"].structured_content["data"]["prometheus"]
    assert {s["metric"]["service"] for s in q["result"]} == {"frontend", "user-api"}
    rng = out["query_range"].structured_content
    user_api = next(s for s in rng["data"]["prometheus"]["result"]
                    if s["metric"] == {"service": "user-api"})
    assert len(user_api["values"]) == 181
    assert "changes 13:4" in text(out["query_range"])
    assert any(m["name"] == "hikaricp_connections_pending"
               for m in out["list_metrics"].structured_content["data"]["metrics"])
    assert out["label_values"].structured_content["data"]["values"] == ["checkout", "inventory"]
    golden = out["get_service_golden_signals"].structured_content["data"]
    assert golden["conventions"][0] == "opentelemetry"
    p95 = next(s for s in golden["signals"] if s["key"] == "latency_p95")
    assert p95["before"] < 0.2 and p95["now"] > 1.5
    rows = out["compare_time_periods"].structured_content["data"]["rows"]
    assert any(r["signal"] == "latency p95" and r["outside_normal_variation"] for r in rows)
    anomalies = out["find_anomalies"].structured_content["data"]
    onsets = {s["service"]: s["onset"] for s in anomalies["services_by_onset"]}
    assert min(onsets.values()).startswith("2026-03-10T13:4"), onsets  # the deploy: 13:46
    assert onsets["user-api"].startswith("2026-03-10T13:4"), onsets
    return out


def test_every_tool_against_prometheus(stack: Stack) -> None:
    results = call_tools(_ctx(stack.prometheus.url, "prometheus"), CALLS)
    out = _check_common(results, "prometheus")
    assert "GET /api/v1/query_range?query=histogram_quantile" in text(out["query_range"])
    meta = text(out["metric_metadata"])
    # Prometheus serves metadata from its scrape targets; backfilled blocks carry none
    assert "no metadata" in meta and "label handler: /v1/cart" in meta
    alerts = out["list_firing_alerts"].structured_content["data"]["alerts"]
    states = {a["labels"]["alertname"]: a["state"] for a in alerts}
    assert states == {"AlwaysFiring": "firing", "PendingForAnHour": "pending"}


def test_every_tool_against_victoria_metrics(stack: Stack) -> None:
    results = call_tools(_ctx(stack.victoria.url, "victoriametrics"), CALLS)
    out = _check_common(results, "victoriametrics")
    assert "no metadata" in text(out["metric_metadata"])  # VictoriaMetrics keeps none
    assert out["list_firing_alerts"].structured_content["data"]["alerts"] == []


def test_prometheus_backend_agrees_with_the_embedded_store(stack: Stack) -> None:
    expr = ('sum by (service) (rate(http_server_request_duration_seconds_count[5m])) / '
            'on(service) group_left sum by (service) (rate(http_server_request_duration_'
            'seconds_count[5m] offset 1h))')
    calls = [("query_range", {"expr": expr, "start": "now-2h", "step": "2m"}),
             ("get_service_golden_signals", {"service": "checkout"})]
    remote = call_tools(_ctx(stack.prometheus.url, "prometheus"), calls)
    local = call_tools(ServerContext.for_bundle("metrics", stack.bundle), calls)
    a = remote[0].structured_content["data"]["prometheus"]
    b = local[0].structured_content["data"]["prometheus"]
    assert a["resultType"] == b["resultType"] == "matrix"
    assert [s["metric"] for s in a["result"]] == [s["metric"] for s in b["result"]]
    for sa, sb in zip(a["result"], b["result"], strict=True):
        assert [v[0] for v in sa["values"]] == [v[0] for v in sb["values"]]
        assert all(math.isclose(float(x[1]), float(y[1]), rel_tol=1e-9)
                   for x, y in zip(sa["values"], sb["values"], strict=True))
    ga = {s["key"]: s["now"] for s in remote[1].structured_content["data"]["signals"]}
    gb = {s["key"]: s["now"] for s in local[1].structured_content["data"]["signals"]}
    assert set(ga) == set(gb)
    for key, value in ga.items():
        if value is not None:
            assert math.isclose(value, gb[key], rel_tol=1e-9, abs_tol=1e-12), key


@pytest.mark.parametrize("kind", ["prometheus", "victoriametrics"])
def test_the_selection_guard_counts_on_the_real_backend(stack: Stack, kind: str) -> None:
    """The series-count probe runs on the real backend: a selector selecting more than
    ``max_series_selected`` is refused with the backend's own count, before the query is
    sent; a narrower one passes. (The bundle has 24 container CPU series at its end.)"""
    server = stack.prometheus if kind == "prometheus" else stack.victoria
    refused, narrow = call_tools(_ctx(server.url, kind, max_series_selected=20), [
        ("query", {"expr": "sum(rate(container_cpu_usage_seconds_total[5m])) / "
                           "sum(go_goroutines)"}),
        ("query_range", {"expr": 'sum(rate(container_cpu_usage_seconds_total{pod=~"checkout.*"}'
                                 "[5m])) / sum(go_goroutines)", "start": "now-1h"}),
    ])
    assert refused.is_error and refused.structured_content["error"] == "guard"
    assert "matches 24 series" in text(refused)
    assert not narrow.is_error, text(narrow)
    assert narrow.structured_content["data"]["prometheus"]["result"]


def test_cli_json_is_the_data_object_prometheus_itself_returns(stack: Stack) -> None:
    """``metrics query|range --json`` on a profile print Prometheus's own ``data`` object."""
    import json
    import os

    from typer.testing import CliRunner

    from obsbench.cli.main import app

    config = Path(os.environ["OBSBENCH_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[profiles.live.metrics]\ntype = "prometheus"\n'
                      f'url = "{stack.prometheus.url}"\n')
    expr = "sum by (service) (rate(http_server_request_duration_seconds_count[5m]))"
    end = END_NS // 10**9
    runner = CliRunner()
    res = runner.invoke(app, ["metrics", "range", expr, "--profile", "live", "--start",
                              str(end - 3600), "--end", str(end), "--step", "1m", "--json"],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    own = stack.prometheus.get("/api/v1/query_range", query=expr, start=end - 3600, end=end,
                               step=60)["data"]
    assert json.loads(res.stdout) == own and own["result"]
    res = runner.invoke(app, ["metrics", "query", expr, "--profile", "live", "--time",
                              str(end - 600), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    own = stack.prometheus.get("/api/v1/query", query=expr, time=end - 600)["data"]
    assert json.loads(res.stdout) == own and own["result"]


def test_prometheus_2_syntax_reaches_prometheus_2(stack: Stack) -> None:
    """holt_winters is Prometheus 2.x's name (renamed in 3.0, which the PromQL parser
    follows): the query is checked locally and sent as written, and Prometheus 2.42 answers."""
    expr = "holt_winters(sum(go_goroutines)[30m:1m], 0.5, 0.5)"
    (r,) = call_tools(_ctx(stack.prometheus.url, "prometheus"), [("query", {"expr": expr})])
    assert not r.is_error, text(r)
    assert r.structured_content["data"]["prometheus"]["result"]
    assert "query=holt_winters(" in text(r)
