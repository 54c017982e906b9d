"""Formats told apart by content, whatever the file is called."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from obsbench_servers.store.importers.sniff import openmetrics_time_unit, sniff_format

UPSTREAM = {
    "otlp/trace.json": "otlp-traces",
    "otlp/jaeger_memstore_otel_traces_01.json": "otlp-traces",
    "otlp/logs.json": "otlp-logs",
    "otlp/events.json": "otlp-logs",
    "otlp/metrics.json": "otlp-metrics",
    "jaeger/api_v3_GetTrace.json": "otlp-traces",
    "tempo/tempopb_trace_v1_batches.json": "otlp-traces",
    "jaeger/v1_structured_response_transform_out.json": "jaeger",
    "jaeger/v1_structured_response_multi_span_jaegerui.json": "jaeger",
    "jaeger/v1_ui_trace_object_rich.json": "jaeger",
    "jaeger/v1_ui_trace_object_two_services_jaegerui.json": "jaeger",
    "alertmanager/captured_alertmanager_0.25.0/get_alerts.json": "alertmanager",
    "alertmanager/captured_alertmanager_0.25.0/get_alerts_groups.json": "alertmanager",
    "prometheus/captured_prometheus_2.42.0/alerts.json": "alertmanager",
    "prometheus/openapi_alerts_activeAlerts.json": "alertmanager",
    "pagerduty/mcp_tests_incident.json": "pagerduty",
    "pagerduty/mcp_tests_log_entry.json": "pagerduty",
    "kubernetes/k9s_captured_objects/rs.json": "kubernetes",
    "kubernetes/api_roundtrip_schema_complete/events.k8s.io.v1.Event.json": "kubernetes",
    "kubernetes/website_cc_by_4.0/metrics_k8s_io_v1beta1_podmetrics_single.json": "kubernetes",
    # Not telemetry a bundle holds: responses of other endpoints.
    "alertmanager/captured_alertmanager_0.25.0/get_silences.json": None,
    "alertmanager/captured_alertmanager_0.25.0/get_status.json": None,
    "jaeger/v1_dependencies_data_array_jaegerui.json": None,
    "prometheus/captured_prometheus_2.42.0/query_range_matrix_up.json": None,
    "loki/loki_query_range_streams_multi_stream.json": None,
    "opensearch/docs_search_logs_regexp_hits.json": None,
    "pagerduty/mcp_tests_alert.json": None,
    "pagerduty/mcp_tests_past_incidents.json": None,
}


@pytest.mark.parametrize(("rel", "fmt"), sorted(UPSTREAM.items()), ids=sorted(UPSTREAM))
def test_upstream_payloads(fixtures: Path, tmp_path: Path, rel: str, fmt: str | None) -> None:
    src = fixtures / rel
    assert sniff_format(src) == fmt
    # The name says nothing; gzip changes nothing.
    blind = tmp_path / "export.dat.gz"
    blind.write_bytes(gzip.compress(src.read_bytes()))
    assert sniff_format(blind) == fmt


def test_text_formats(tmp_path: Path, w) -> None:
    om = w(tmp_path / "a", "# HELP up Up.\n# TYPE up gauge\nup{job=\"x\"} 1 1700000000\n# EOF\n")
    prom = w(tmp_path / "b", "up 1 1700000000123\nup 0 1700000015123\n")
    jsonl = w(tmp_path / "c", '{"time":"2026-03-10T14:05:00Z","msg":"a"}\n{"time":"x","msg":"b"}\n')
    otlp_lines = w(tmp_path / "d", '{"resourceLogs":[]}\n{"resourceLogs":[]}\n')
    runbook = w(tmp_path / "e.md", "# Database down\n\nSteps.\n")
    front = w(tmp_path / "f", "---\nalerts: [X]\n---\n# X\n")
    prose = w(tmp_path / "g", "hello world\nthis is not telemetry\n")
    assert [sniff_format(p) for p in (om, prom, jsonl, otlp_lines, runbook, front, prose)] == [
        "openmetrics", "openmetrics", "jsonl-logs", "otlp-logs", "runbook", "runbook", None]
    assert openmetrics_time_unit(om) == "seconds"
    assert openmetrics_time_unit(prom) == "milliseconds"
    assert sniff_format(w(tmp_path / "empty", "")) is None


def test_large_file_is_sniffed_from_its_head(tmp_path: Path, fixtures: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.write(b'{"apiVersion": "v1", "items": [')
        one = (fixtures / "kubernetes/k9s_captured_objects/po.json").read_bytes()
        for i in range(400):
            f.write((b"," if i else b"") + one)
        f.write(b'], "kind": "List"}')
    assert big.stat().st_size > 1_000_000
    assert sniff_format(big) == "kubernetes"
