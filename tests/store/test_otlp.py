"""OTLP/JSON: the upstream examples, spans from the real SDK, both file shapes, metric naming."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import orjson
import pytest

from obsbench_servers.store.importers.otlp import (
    format_float,
    prometheus_label_name,
    prometheus_metric_name,
    unit_name,
)
from obsbench_servers.store.schema import STALE_NAN_BITS

SPAN_COLS = ("trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, "
             "status_code, status_message, attributes_json, resource_json, events_json, "
             "links_json, scope")


def test_upstream_trace_example(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "otlp" / "trace.json", "otlp-traces"))
    assert q(con, f"SELECT {SPAN_COLS} FROM spans") == [{
        "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b173", "service": "my.service",
        "name": "I'm a server span", "kind": "server",
        "start_ns": 1_544_712_660_000_000_000, "end_ns": 1_544_712_661_000_000_000,
        "status_code": "unset", "status_message": None,
        "attributes_json": {"my.span.attr": "some value"},
        "resource_json": {"service.name": "my.service"},
        "events_json": None, "links_json": None, "scope": "my.library",
    }]
    assert report.skipped == report.warnings == 0


def test_jaeger_memstore_trace_kinds_events_links_and_typed_attributes(fixtures: Path, load,
                                                                       q) -> None:
    con, _ = load((fixtures / "otlp" / "jaeger_memstore_otel_traces_01.json", "otlp-traces"))
    spans = {r["span_id"]: r for r in q(con, f"SELECT {SPAN_COLS} FROM spans")}
    assert {k: (v["kind"], v["scope"]) for k, v in spans.items()} == {
        "0000000000000002": ("server", "testing-library-2"),
        "0000000000000003": ("client", "testing-library-2"),
        "0000000000000004": ("producer", "testing-library-3"),
        "0000000000000005": ("consumer", "testing-library-3"),
    }
    s = spans["0000000000000002"]
    assert s["trace_id"] == "00000000000000010000000000000000"
    assert s["parent_span_id"] == "0000000000000003" and s["status_code"] == "error"
    assert s["attributes_json"] == {"peer.service": "service-y", "peer.ipv4": 23456,
                                    "blob": "AAAwOQ==", "temperature": 72.5}
    assert s["events_json"] == [
        {"time_ns": 1_485_467_191_639_875_000, "name": "testing-event",
         "attributes": {"event-x": "event-y"}},
        {"time_ns": 1_485_467_191_639_875_000, "name": "", "attributes": {"x": "y"}},
    ]
    assert s["links_json"][1] == {"trace_id": "00000000000000ff0000000000000000",
                                  "span_id": "00000000000000ff",
                                  "attributes": {"opentracing.ref_type": "child_of"}}
    assert s["end_ns"] - s["start_ns"] == 5000


def test_wrapped_and_renamed_trace_documents(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "jaeger" / "api_v3_GetTrace.json", "otlp-traces"),
                       (fixtures / "tempo" / "tempopb_trace_v1_batches.json", "otlp-traces"))
    got = q(con, "SELECT trace_id, span_id, name, kind, status_code, service, start_ns "
                 "FROM spans ORDER BY name")
    assert got == [
        {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
         "name": "I'm a server span", "kind": "server", "status_code": "unset",
         "service": "my.service", "start_ns": 1_544_712_660_000_000_000},
        {"trace_id": "00000000000000000000000000000001", "span_id": "0000000000000002",
         "name": "foobar", "kind": "server", "status_code": "error", "service": None,
         "start_ns": 0},
    ]
    assert [i.reason for i in report.files[0].issues] == [
        "no start time: 1 spans had no startTimeUnixNano (0 in proto3 JSON); imported as "
        "starting at the epoch"]


def test_upstream_logs_and_event_examples(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "otlp" / "logs.json", "otlp-logs"),
                       (fixtures / "otlp" / "events.json", "otlp-logs"))
    logs = q(con, "SELECT * EXCLUDE (source) FROM logs ORDER BY message")
    assert logs[0] == {
        "ts_ns": 1_544_712_660_300_000_000, "service": "my.service", "level": "info",
        "message": "Example log record", "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174", "pod": None,
        "labels_json": {"string.attribute": "some string", "boolean.attribute": True,
                        "int.attribute": 10, "double.attribute": 637.704,
                        "array.attribute": ["many", "values"],
                        "map.attribute": {"some.map.key": "some value"}},
    }
    event = logs[1]
    assert json.loads(event["message"]) == {
        "type": 0, "url": "https://www.guidgenerator.com/online-guid-generator.aspx",
        "referrer": "https://wwww.google.com", "title": "Free Online GUID Generator"}
    assert event["level"] == "info"  # severityNumber 9, whatever the text says
    assert event["labels_json"] == {"event.attribute": "some event attribute",
                                    "event.name": "browser.page_view"}
    assert report.skipped == 0


def test_upstream_metrics_example_as_prometheus_series(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "otlp" / "metrics.json", "otlp-metrics"))
    got = {(r["metric"], r["labels_json"].get("le", "")): r["value"] for r in q(
        con, "SELECT s.metric, s.labels_json, x.ts_ms, x.value FROM samples x "
             "JOIN series s USING (series_id)")}
    assert got == {
        ("my_counter_total", ""): 5.0,
        ("my_gauge_ratio", ""): 10.0,
        ("my_histogram_bucket", "1"): 1.0, ("my_histogram_bucket", "+Inf"): 2.0,
        ("my_histogram_sum", ""): 2.0, ("my_histogram_count", ""): 2.0,
        # scale 0: buckets (2,4] and (4,8]; the zero bucket holds one value.
        ("my_exponential_histogram_bucket", "0"): 1.0,
        ("my_exponential_histogram_bucket", "4"): 1.0,
        ("my_exponential_histogram_bucket", "8"): 3.0,
        ("my_exponential_histogram_bucket", "+Inf"): 3.0,
        ("my_exponential_histogram_sum", ""): 10.0,
        ("my_exponential_histogram_count", ""): 3.0,
    }
    labels = q(con, "SELECT labels_json FROM series WHERE metric = 'my_counter_total'")
    assert labels == [{"labels_json": {"job": "my.service", "my_counter_attr": "some value"}}]
    assert {r["ts_ms"] for r in q(con, "SELECT DISTINCT ts_ms FROM samples")} == {
        1_544_712_660_300}
    meta = {r["metric"]: (r["type"], r["help"]) for r in q(con, "SELECT * FROM metric_metadata")}
    assert meta["my_histogram"] == ("histogram", "I am a Histogram")
    assert meta["my_counter_total"] == ("counter", "I am a Counter")
    assert report.files[0].issues[0].reason.startswith("delta temporality: 3 points of 3 metrics")


@pytest.mark.parametrize(("name", "unit", "kind", "expected"), [
    ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
    ("http.server.duration", "ms", "histogram", "http_server_duration_milliseconds"),
    ("requests.count", "1", "counter", "requests_count_total"),
    ("memory.usage", "By", "gauge", "memory_usage_bytes"),
    ("system.cpu.utilization", "1", "gauge", "system_cpu_utilization_ratio"),
    ("system.network.io", "By/s", "counter", "system_network_io_bytes_per_second_total"),
    ("http_requests_total", "{requests}", "counter", "http_requests_total"),
    ("queue.size", "{messages}", "gauge", "queue_size"),
    ("foo__bar..baz", "", "gauge", "foo_bar_baz"),
    ("0.metric", "", "gauge", "_0_metric"),
    ("latency", "seconds", "gauge", "latency_seconds"),
    ("uptime_seconds", "s", "gauge", "uptime_seconds"),
])
def test_metric_names_follow_prometheus_otlp_translation(name: str, unit: str, kind: str,
                                                         expected: str) -> None:
    assert prometheus_metric_name(name, unit, kind) == expected


def test_label_names_units_and_float_labels() -> None:
    assert prometheus_label_name("http.method") == "http_method"
    assert prometheus_label_name("123invalid") == "key_123invalid"
    assert prometheus_label_name("__reserved__") == "__reserved__"
    assert prometheus_label_name("a..b__c") == "a_b_c"
    assert prometheus_label_name("...") is None
    assert unit_name("By/s") == "bytes_per_second" and unit_name("1") == ""
    assert [format_float(x) for x in (1.0, 0.005, 1e-7, 2.5e10, math.inf, 0.0)] == [
        "1", "0.005", "0.0000001", "25000000000", "+Inf", "0"]


def _request(resource_spans: list[dict]) -> dict:
    return {"resourceSpans": resource_spans}


def _span(i: int, **extra: object) -> dict:
    return {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": f"op{i}",
            "startTimeUnixNano": str(1_700_000_000_000_000_000 + i), "kind": 2, **extra}


def test_json_lines_shape_with_a_bad_line(tmp_path: Path, load, q, w) -> None:
    docs = [
        orjson.dumps(_request([{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": f"svc{n}"}}]},
            "scopeSpans": [{"scope": {"name": "lib"}, "spans": [_span(n * 10 + k + 1)
                                                                for k in range(3)]}]}]))
        for n in range(3)
    ]
    docs.insert(2, b'{"resourceSpans": [ oops')
    path = w(tmp_path / "collector.otlp.jsonl", b"\n".join(docs) + b"\n")
    con, report = load((path, "otlp-traces"))
    assert q(con, "SELECT service, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1") == [
        {"service": "svc0", "n": 3}, {"service": "svc1", "n": 3}, {"service": "svc2", "n": 3}]
    issue = report.files[0].issues[0]
    assert (issue.line, issue.severity) == (3, "skipped")
    assert issue.reason.startswith("invalid JSON:")


def test_single_document_in_any_key_order_streams(tmp_path: Path, load, q, w) -> None:
    # Resource and scope after their spans (valid JSON; unusual); unknown fields everywhere.
    doc = {"resourceSpans": [
        {"scopeSpans": [{"spans": [_span(1, futureField={"x": 1}), _span(2)],
                         "scope": {"name": "late-scope"}, "schemaUrl": "x"}],
         "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "late"}}],
                      "droppedAttributesCount": 0},
         "unknownTopLevel": [1, 2, 3]},
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "early"}}]},
         "scopeSpans": [{"scope": {"name": "s2"}, "spans": [_span(3, status={
             "code": "STATUS_CODE_OK"}, kind="SPAN_KIND_CONSUMER")]}]},
    ], "extra": {"ignored": True}}
    path = w(tmp_path / "t.otlp.json", json.dumps(doc, indent=2))
    con, report = load((path, "otlp-traces"))
    assert q(con, "SELECT name, service, scope, kind, status_code FROM spans ORDER BY name") == [
        {"name": "op1", "service": "late", "scope": "late-scope", "kind": "server",
         "status_code": "unset"},
        {"name": "op2", "service": "late", "scope": "late-scope", "kind": "server",
         "status_code": "unset"},
        {"name": "op3", "service": "early", "scope": "s2", "kind": "consumer",
         "status_code": "ok"},
    ]
    assert report.skipped == report.warnings == 0


def test_spans_without_valid_ids_are_skipped_with_reason(tmp_path: Path, load, q, w) -> None:
    doc = _request([{"resource": {}, "scopeSpans": [{"spans": [
        _span(1), {**_span(2), "traceId": "not-an-id!"}, {**_span(3), "spanId": ""}]}]}])
    con, report = load((w(tmp_path / "t.otlp.json", json.dumps(doc, indent=1)), "otlp-traces"))
    assert [r["name"] for r in q(con, "SELECT name FROM spans")] == ["op1"]
    assert [i.reason for i in report.files[0].issues] == [
        "bad id: span #2: not hex or base64: 'not-an-id!'",
        "missing id: span #3 has no valid traceId/spanId",
    ]


def test_truncated_document_keeps_spans_before_the_break(tmp_path: Path, load, q, w) -> None:
    doc = json.dumps(_request([{"resource": {}, "scopeSpans": [{"spans": [
        _span(i) for i in range(1, 200)]}]}]), indent=1)
    path = w(tmp_path / "t.otlp.json", doc[: len(doc) // 2])
    con, report = load((path, "otlp-traces"))
    n = q(con, "SELECT count(*) AS n FROM spans")[0]["n"]
    assert 50 < n < 199 and report.files[0].records["spans"] == n
    err = report.files[0].issues[-1]
    assert err.severity == "error" and err.reason.startswith("stopped reading: invalid JSON")


def test_metric_points_flagged_no_recorded_value_become_stale_markers(tmp_path: Path, load, q,
                                                                      w) -> None:
    doc = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}},
        {"key": "service.namespace", "value": {"stringValue": "shop"}},
        {"key": "service.instance.id", "value": {"stringValue": "pod-1"}}]},
        "scopeMetrics": [{"metrics": [{"name": "queue.depth", "unit": "{items}", "gauge": {
            "dataPoints": [
                {"timeUnixNano": "1700000000000000000", "asInt": "7",
                 "attributes": [{"key": "queue.name", "value": {"stringValue": "a"}},
                                {"key": "queue_name", "value": {"stringValue": "b"}}]},
                {"timeUnixNano": "1700000015000000000", "flags": 1,
                 "attributes": [{"key": "queue.name", "value": {"stringValue": "a"}},
                                {"key": "queue_name", "value": {"stringValue": "b"}}]},
            ]}}]}]}]}
    con, report = load((w(tmp_path / "m.otlp.json", json.dumps(doc)), "otlp-metrics"))
    got = q(con, "SELECT s.metric, s.labels_json, x.value FROM samples x JOIN series s "
                 "USING (series_id) ORDER BY ts_ms")
    # Colliding names join their values with ';' in key order, as Prometheus does.
    assert got[0] == {"metric": "queue_depth", "value": 7.0, "labels_json": {
        "queue_name": "a;b", "job": "shop/api", "instance": "pod-1"}}
    bits = struct.unpack("<Q", struct.pack("<d", got[1]["value"]))[0]
    assert bits == STALE_NAN_BITS
    assert report.files[0].issues[0].reason.startswith("no recorded value: 1 points")


def _sdk_spans() -> list:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout",
                                                        "deployment.environment": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("obsbench.test", "1.2.3")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER,
                                      attributes={"http.status_code": 500}) as root:
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes={
                "db.system": "postgresql", "retries": 3, "ratio": 0.5,
                "tags": ["a", "b"], "ok": False}) as child:
            child.add_event("retry", {"attempt": 2})
        try:
            with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT):
                raise ValueError("card declined")
        except ValueError:
            pass
        root.set_status(Status(StatusCode.ERROR, "payment failed"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_spans_from_the_real_sdk_round_trip(tmp_path: Path, load, q, w) -> None:
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = _sdk_spans()
    text = MessageToJson(encode_spans(spans))  # the SDK's own protobuf, as protobuf JSON
    assert '"SPAN_KIND_CLIENT"' in text and "==" in text  # enum names, base64 ids
    con, report = load((w(tmp_path / "sdk.otlp.json", text), "otlp-traces"))
    got = {r["name"]: r for r in q(con, f"SELECT {SPAN_COLS} FROM spans")}
    assert set(got) == {"POST /checkout", "SELECT orders", "charge card"}
    by_name = {s.name: s for s in spans}
    for name, span in by_name.items():
        ctx = span.get_span_context()
        row = got[name]
        assert row["trace_id"] == f"{ctx.trace_id:032x}"
        assert row["span_id"] == f"{ctx.span_id:016x}"
        assert row["parent_span_id"] == (f"{span.parent.span_id:016x}" if span.parent else None)
        assert (row["start_ns"], row["end_ns"]) == (span.start_time, span.end_time)
        assert row["service"] == "checkout" and row["scope"] == "obsbench.test"
        assert row["resource_json"]["deployment.environment"] == "prod"
    root, child, charge = got["POST /checkout"], got["SELECT orders"], got["charge card"]
    assert (root["kind"], root["status_code"], root["status_message"]) == (
        "server", "error", "payment failed")
    assert root["attributes_json"] == {"http.status_code": 500}
    assert child["attributes_json"] == {"db.system": "postgresql", "retries": 3, "ratio": 0.5,
                                        "tags": ["a", "b"], "ok": False}
    assert child["events_json"][0]["name"] == "retry"
    assert child["events_json"][0]["attributes"] == {"attempt": 2}
    assert (child["kind"], child["status_code"]) == ("client", "unset")
    assert charge["status_code"] == "error" and "card declined" in charge["status_message"]
    assert charge["events_json"][0]["name"] == "exception"
    assert charge["events_json"][0]["attributes"]["exception.type"] == "ValueError"
    assert report.skipped == report.warnings == 0


def test_histogram_from_the_real_sdk(tmp_path: Path, load, q, w) -> None:
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader],
                             resource=Resource.create({"service.name": "api"}))
    meter = provider.get_meter("obsbench.test")
    hist = meter.create_histogram("http.server.request.duration", unit="ms")
    for v in (4, 20, 20, 300, 12_000):  # the SDK's default bounds: 0, 5, 10, 25 ... 10000
        hist.record(v, {"http.route": "/items"})
    meter.create_counter("jobs.done", unit="{job}").add(4, {"queue": "q1"})
    data = reader.get_metrics_data()
    provider.shutdown()
    con, report = load((w(tmp_path / "m.otlp.json", MessageToJson(encode_metrics(data))),
                        "otlp-metrics"))
    got = {(r["metric"], r["labels_json"].get("le", "")): r["value"] for r in q(
        con, "SELECT s.metric, s.labels_json, x.value FROM samples x JOIN series s "
             "USING (series_id)")}
    name = "http_server_request_duration_milliseconds"
    assert got[(f"{name}_bucket", "0")] == 0.0
    assert got[(f"{name}_bucket", "5")] == 1.0
    assert got[(f"{name}_bucket", "25")] == 3.0
    assert got[(f"{name}_bucket", "500")] == 4.0
    assert got[(f"{name}_bucket", "10000")] == 4.0
    assert got[(f"{name}_bucket", "+Inf")] == 5.0
    assert got[(f"{name}_count", "")] == 5.0
    assert got[(f"{name}_sum", "")] == 12_344.0
    assert got[("jobs_done_total", "")] == 4.0
    assert report.skipped == report.warnings == 0
