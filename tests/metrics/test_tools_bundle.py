"""Every metrics tool on the embedded store (a scenario bundle), as a model calls it over MCP,
plus the bad inputs a model will send: each one a clear tool error, the server still serving."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.metrics.conftest import STALE_START, call_tools, text
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.common.budget import estimate_tokens
from obsbench_servers.common.context import ServerContext

BUNDLE = "bad-deploy-db-pool"  # user-api deploy at 13:46:18, window 11:00-15:00 UTC
ONSET = "13:4"


@pytest.fixture
def demo(bundle_dir: Callable[..., Path]) -> Path:
    return bundle_dir(BUNDLE)


def ctx(path: Path, **options: Any) -> ServerContext:
    return ServerContext.for_bundle("metrics", path, options=options)


def test_tools_are_listed_with_descriptions_that_teach_when_to_use_them(demo: Path) -> None:
    import anyio
    from mcp import Client

    from obsbench_servers.metrics.server import create_server

    async def go() -> Any:
        async with Client(create_server(ctx(demo))) as c:
            return await c.list_tools()

    tools = {t.name: t for t in anyio.run(go).tools}
    assert set(tools) == {"query", "query_range", "list_metrics", "label_values",
                          "metric_metadata", "get_service_golden_signals",
                          "compare_time_periods", "find_anomalies", "list_firing_alerts"}
    assert "Use at the start of an investigation" in (tools["find_anomalies"].description or "")
    assert tools["query_range"].input_schema["required"] == ["expr"]
    assert all(t.annotations.read_only_hint for t in tools.values())


def test_query_range_summarises_with_change_points_and_keeps_every_point(demo: Path) -> None:
    expr = ('histogram_quantile(0.95, sum by (le, service) '
            '(rate(http_server_request_duration_seconds_bucket[5m])))')
    (r,) = call_tools(ctx(demo), [("query_range", {"expr": expr, "start": "now-4h"})])
    assert not r.is_error, text(r)
    body = text(r)
    sc = r.structured_content
    assert sc["time_range"] == {"start": "2026-03-10T11:00:00Z", "end": "2026-03-10T15:00:00Z"}
    assert sc["query"].startswith("embedded query_range histogram_quantile")
    prom = sc["data"]["prometheus"]
    assert prom["resultType"] == "matrix"
    step = sc["data"]["step_s"]
    assert (4 * 3600) / step + 1 <= 1000  # within the default point budget
    user_api = next(s for s in prom["result"] if s["metric"] == {"service": "user-api"})
    assert len(user_api["values"]) > 900 and all(isinstance(v[1], str)
                                                  for v in user_api["values"])
    line = next(ln for ln in body.splitlines() if 'service="user-api"' in ln)
    assert f"changes {ONSET}" in line and "→2." in line  # ~0.09 s -> ~2.08 s at the onset
    assert estimate_tokens(body) < 1000
    assert "coverage:" in body and "structured content: every point" in body


def test_query_at_an_instant_and_the_store_now(demo: Path) -> None:
    (r,) = call_tools(ctx(demo), [
        ("query", {"expr": "sum by (service) (rate(http_server_request_duration_seconds_count"
                           "[5m]))", "time": "now-3h"})])
    prom = r.structured_content["data"]["prometheus"]
    assert prom["resultType"] == "vector"
    assert {s["value"][0] for s in prom["result"]} == {1773144000}  # 12:00 = end - 3h
    assert r.structured_content["time_range"]["start"] == "2026-03-10T12:00:00Z"


def test_discovery_tools(demo: Path) -> None:
    names, values, meta = call_tools(ctx(demo), [
        ("list_metrics", {"match": "^hikaricp_"}),
        ("label_values", {"label": "service", "match": "http_requests_total"}),
        ("metric_metadata", {"metric": "http_server_requests_seconds_count"}),
    ])
    assert "hikaricp_connections_pending (gauge)" in text(names)
    assert all(m["name"].startswith("hikaricp_") for m in names.structured_content["data"]
               ["metrics"])
    assert values.structured_content["data"]["values"] == ["checkout", "inventory"]
    body = text(meta)
    assert "http_server_requests_seconds: type histogram" in body
    assert "label uri:" in body and "label status:" in body


def test_unknown_names_get_close_suggestions(demo: Path) -> None:
    bad_metric, bad_label, bad_meta, bad_service = call_tools(ctx(demo), [
        ("query", {"expr": "rate(http_server_request_duration_secnds_count[5m])"}),
        ("label_values", {"label": "servce"}),
        ("metric_metadata", {"metric": "hikaricp_conections_pending"}),
        ("get_service_golden_signals", {"service": "user_api"}),
    ])
    assert bad_metric.is_error and bad_metric.structured_content["error"] == "not_found"
    assert "did you mean http_server_request_duration_seconds_count" in text(bad_metric)
    assert bad_label.is_error and "did you mean service" in text(bad_label)
    assert bad_meta.is_error and "hikaricp_connections_pending" in text(bad_meta)
    assert bad_service.is_error and "user-api" in text(bad_service)


def test_bad_input_is_refused_and_the_server_keeps_serving(demo: Path) -> None:
    results = call_tools(ctx(demo), [
        ("query", {"expr": "sum(rate(http_requests_total[5m]) by (code)"}),
        ("query_range", {"expr": "up", "start": "now-10y", "step": "1s"}),
        ("query_range", {"expr": "sum(rate(http_requests_total[5m]))", "start": "now-20d",
                         "step": "1s"}),
        ("query", {"expr": "rate(http_requests_total[400d])"}),
        ("query_range", {"expr": "up", "start": "yesterday-ish"}),
        ("query", {"expr": "limitk(2, http_requests_total)"}),
        ("list_metrics", {"limit": 0}),
        ("query", {"expr": "count(go_goroutines)"}),
    ])
    syntax, ten_years, points, reach, bad_time, unsupported, bad_limit, ok = results
    assert syntax.is_error and "at char 35" in text(syntax) and "^" in text(syntax)
    assert ten_years.is_error and ten_years.structured_content["error"] == "guard"
    assert "31d" in text(ten_years)  # the range guard names the widest allowed range
    assert points.is_error and points.structured_content["error"] == "guard"
    assert "11,000 points" in text(points) and "use step=" in text(points)
    assert reach.is_error and "reaches 400d" in text(reach)
    assert bad_time.is_error and "cannot read time" in text(bad_time)
    assert unsupported.is_error and "limitk() is not supported" in text(unsupported)
    assert bad_limit.is_error and "between 1 and 1000" in text(bad_limit)
    assert not ok.is_error


def test_golden_signals_name_the_convention_and_the_symptom(demo: Path) -> None:
    (r,) = call_tools(ctx(demo), [("get_service_golden_signals", {"service": "user-api"})])
    assert not r.is_error, text(r)
    sc = r.structured_content["data"]
    assert sc["conventions"][0] == "opentelemetry"
    body = text(r)
    assert "via opentelemetry" in body
    p95 = next(s for s in sc["signals"] if s["key"] == "latency_p95")
    assert p95["before"] < 0.2 and p95["now"] > 1.5  # ~0.09 s -> ~2.1 s
    assert "latency p95" in body and "DB connections used / max" in body


def test_golden_signal_overrides_from_the_profile(demo: Path) -> None:
    overrides = {"traffic": 'sum(rate(http_server_request_duration_seconds_count'
                            '{service="{service}",http_route="/v1/session"}[5m]))',
                 "custom_pool": 'max(db_client_connection_pending_requests{service="{service}"})'}
    (r,) = call_tools(ctx(demo, golden_signal_overrides=overrides),
                      [("get_service_golden_signals", {"service": "user-api"})])
    sc = r.structured_content["data"]
    assert set(sc["overrides_used"]) == {"traffic", "custom_pool"}
    traffic = next(s for s in sc["signals"] if s["key"] == "traffic")
    assert traffic["convention"] == "profile override" and "/v1/session" in traffic["promql"]
    assert any(s["key"] == "custom_pool" and s["series"] for s in sc["signals"])
    assert "profile overrides: traffic, custom_pool" in text(r)


def test_compare_time_periods_flags_what_is_outside_normal_variation(demo: Path) -> None:
    expr = ('histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_'
            'bucket{service="user-api"}[5m])))')
    (r,) = call_tools(ctx(demo), [("compare_time_periods", {
        "expr": expr, "start": "2026-03-10T14:00:00Z", "end": "2026-03-10T15:00:00Z",
        "baseline": "2h"})])
    assert not r.is_error, text(r)
    row = r.structured_content["data"]["rows"][0]
    assert row["outside_normal_variation"] is True and row["ratio"] > 10
    assert r.structured_content["data"]["baseline"] == {"start": "2026-03-10T12:00:00Z",
                                                        "end": "2026-03-10T13:00:00Z"}
    (same,) = call_tools(ctx(demo), [("compare_time_periods", {
        "expr": expr, "start": "2026-03-10T12:00:00Z", "end": "2026-03-10T13:00:00Z"})])
    assert same.structured_content["data"]["rows"][0]["outside_normal_variation"] is False


def test_find_anomalies_ranks_with_onsets(demo: Path) -> None:
    (r,) = call_tools(ctx(demo), [("find_anomalies", {"window": "3h", "baseline": "1h"})])
    assert not r.is_error, text(r)
    data = r.structured_content["data"]
    first = data["services_by_onset"][0]
    assert first["service"] in ("user-api", "postgres")  # the pool and its database, 13:49
    assert first["onset"].startswith("2026-03-10T13:4")
    top = data["anomalies"][0]
    assert top["score"] >= data["anomalies"][-1]["score"]
    assert all(a["points"] for a in data["anomalies"][:5])
    assert "earliest onsets: user-api" in text(r) or "earliest onsets: postgres" in text(r)


def test_list_firing_alerts_of_a_bundle(demo: Path) -> None:
    (r,) = call_tools(ctx(demo), [("list_firing_alerts", {"match": "user-api"})])
    names = {a["labels"]["alertname"] for a in r.structured_content["data"]["alerts"]}
    assert names == {"HighErrorRate", "DBConnectionPoolExhausted", "HighLatencyP95"}
    assert "since 2026-03-10T13:56:00.000Z" in text(r)


def test_stale_markers_from_otlp_end_a_series(stale_bundle: Path) -> None:
    t = STALE_START + 10 * 60 + 30  # just after the no-recorded-value point
    gone, back, counted = call_tools(ctx(stale_bundle), [
        ("query", {"expr": "g", "time": str(t)}),
        ("query", {"expr": "g", "time": str(STALE_START + 11 * 60)}),
        ("query", {"expr": "count_over_time(g[3m])", "time": str(t)}),
    ])
    assert not gone.is_error
    assert gone.structured_content["data"]["prometheus"]["result"] == []
    assert back.structured_content["data"]["prometheus"]["result"][0]["value"][1] == "11"
    assert counted.structured_content["data"]["prometheus"]["result"][0]["value"][1] == "2"


def test_a_selector_matching_100k_series_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big"
    (big / "metrics").mkdir(parents=True)
    with (big / "metrics" / "big.om").open("w") as f:
        f.write("# TYPE big_requests counter\n")
        for i in range(100_000):
            f.write(f'big_requests_total{{pod="p{i}"}} {i} 1767225600\n')
        f.write("# EOF\n")
    (big / "bundle.toml").write_text('name = "big"\n[window]\nstart = "2026-01-01T00:00:00Z"\n'
                                     'end = "2026-01-01T00:10:00Z"\n')
    refused, narrow = call_tools(ctx(big), [
        ("query", {"expr": "sum(big_requests_total)"}),
        ("query", {"expr": 'sum(big_requests_total{pod=~"p1.."})', "time": "1767225660"}),
    ])
    assert refused.is_error and refused.structured_content["error"] == "guard"
    assert "matches 100,000 series" in text(refused) and "add label matchers" in text(refused)
    value = float(narrow.structured_content["data"]["prometheus"]["result"][0]["value"][1])
    assert value == sum(range(100, 200))


# --------------------------------------------------------------------------- the CLI


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_query_json_is_the_prometheus_data_object(demo: Path) -> None:
    res = run_cli(["metrics", "query", "sum by (service) (go_goroutines)", "--bundle", str(demo),
                   "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"resultType", "result"} and data["resultType"] == "vector"
    assert {r["metric"]["service"] for r in data["result"]} == {"checkout", "inventory"}
    assert all(isinstance(r["value"][1], str) for r in data["result"])


def test_cli_range_json_and_text(demo: Path) -> None:
    res = run_cli(["metrics", "range", "sum(rate(http_requests_total[5m]))", "--bundle",
                   str(demo), "--since", "30m", "--step", "5m", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["resultType"] == "matrix"
    assert [v[0] for v in data["result"][0]["values"]] == list(
        range(1773154800 - 1800, 1773154800 + 1, 300))
    assert all(math.isfinite(float(v[1])) for v in data["result"][0]["values"])
    res = run_cli(["metrics", "golden-signals", "checkout", "--bundle", str(demo)])
    assert res.exit_code == 0 and "via prometheus-client" in res.stdout


def test_cli_exit_codes(demo: Path) -> None:
    res = run_cli(["metrics", "query", "sum(", "--bundle", str(demo)])
    assert res.exit_code == 1 and "invalid PromQL" in res.stderr
    res = run_cli(["metrics", "compare", "--bundle", str(demo)])
    assert res.exit_code == 2
    res = run_cli(["metrics", "anomalies", "--bundle", str(demo), "--window", "3h",
                   "--baseline", "1h", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["data"]["services_by_onset"]


def test_cli_discovery_and_alert_commands(demo: Path) -> None:
    res = run_cli(["metrics", "list", "^hikaricp_", "--bundle", str(demo), "--json"])
    assert res.exit_code == 0, res.output
    names = [m["name"] for m in json.loads(res.stdout)["data"]["metrics"]]
    assert names and all(n.startswith("hikaricp_") for n in names)
    res = run_cli(["metrics", "labels", "service", "--match", "http_requests_total",
                   "--bundle", str(demo), "--since", "30m", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["data"]["values"] == ["checkout", "inventory"]
    assert out["time_range"] == {"start": "2026-03-10T14:30:00Z", "end": "2026-03-10T15:00:00Z"}
    res = run_cli(["metrics", "metadata", "hikaricp_conections_pending", "--bundle", str(demo)])
    assert res.exit_code == 1 and "hikaricp_connections_pending" in res.stderr
    # at 13:00 (--at) nothing fires yet; at the bundle's end the user-api alerts do
    res = run_cli(["metrics", "alerts", "--match", "user-api", "--bundle", str(demo),
                   "--at", "2026-03-10T13:00:00Z", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["data"]["alerts"] == []
    res = run_cli(["metrics", "alerts", "--match", "user-api", "--bundle", str(demo)])
    assert res.exit_code == 0 and "HighLatencyP95" in res.stdout
