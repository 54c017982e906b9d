"""Jaeger v1 JSON: the envelope, bare traces, references, typed tags, status and kind."""

from __future__ import annotations

import json
from pathlib import Path

COLS = ("trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, status_code, "
        "attributes_json, resource_json, events_json, links_json, scope")


def test_rich_trace_object_references_tags_and_logs(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "jaeger" / "v1_ui_trace_object_rich.json", "jaeger"))
    spans = q(con, f"SELECT {COLS} FROM spans ORDER BY span_id, name")
    assert [(s["span_id"], s["parent_span_id"], s["service"]) for s in spans] == [
        ("0000000000000002", None, "service-x"),
        ("0000000000000002", None, "service-x"),
        ("0000000000000003", "0000000000000002", "service-y"),
        ("0000000000000004", "0000000000000002", "service-y"),
        ("0000000000000005", "0000000000000004", "service-y"),
    ]
    assert {s["trace_id"] for s in spans} == {"00000000000000000000000000000001"}
    some_op = next(s for s in spans
                   if s["name"] == "some-operation" and s["parent_span_id"] is None)
    # error=true sets the status and leaves the attributes; the int64 beyond 2**53 stays exact.
    assert some_op["status_code"] == "error"
    assert some_op["attributes_json"] == {
        "peer.service": "service-y", "peer.ipv4": 23456, "temperature": 72.5,
        "javascript_limit": 9223372036854775222, "blob": "AAAwOQ=="}
    first = next(s for s in spans if s["name"] == "test-general-conversion")
    assert first["events_json"] == [
        {"time_ns": 1_485_467_191_639_875_000, "name": "some-event", "attributes": {}},
        {"time_ns": 1_485_467_191_639_875_000, "name": "", "attributes": {"x": "y"}},
    ]
    assert (first["start_ns"], first["end_ns"]) == (1_485_467_191_639_875_000,
                                                    1_485_467_191_639_880_000)
    ref_test = next(s for s in spans if s["name"] == "reference-test")
    # The CHILD_OF into another trace and the FOLLOWS_FROM are links, not the parent.
    assert ref_test["links_json"] == [
        {"trace_id": "000000000000000000000000000000ff", "span_id": "00000000000000ff",
         "ref_type": "child_of"},
        {"trace_id": "00000000000000000000000000000001", "span_id": "0000000000000002",
         "ref_type": "follows_from"},
    ]
    assert report.skipped == report.warnings == 0


def test_envelope_with_span_kind_and_scope_tags(fixtures: Path, load, q) -> None:
    con, _ = load((fixtures / "jaeger" / "v1_structured_response_transform_out.json", "jaeger"),
                  (fixtures / "jaeger" / "v1_ui_trace_object_two_services_jaegerui.json",
                   "jaeger"))
    dup = q(con, f"SELECT {COLS} FROM spans WHERE span_id = 'e127af99e3b3e074'")
    assert len(dup) == 2  # the upstream response really holds the span twice; kept as given
    s = dup[0]
    assert (s["trace_id"], s["parent_span_id"], s["kind"], s["scope"], s["service"]) == (
        "83a9efd15c1c98a977e0711cc93ee28b", "909541b92cf05311", "server", "telemetrygen",
        "telemetrygen")
    assert s["attributes_json"] == {"net.peer.ip": "1.2.3.4",
                                    "peer.service": "telemetrygen-client"}
    assert s["end_ns"] - s["start_ns"] == 123_000
    # Jaeger drops leading zeros: 31 and 15 hex digits are padded back.
    short = q(con, "SELECT trace_id, span_id, parent_span_id, service, kind FROM spans "
                   "WHERE name = 'HikariProxyPreparedStatement.executeQuery' ORDER BY span_id")
    assert short[0] == {"trace_id": "0df84e36b9e2ee3815d07f0867a5be1f",
                        "span_id": "0a68c6983a6d81a2", "parent_span_id": "6f9bbe751e5fd944",
                        "service": "customers-service", "kind": "unspecified"}
    services = q(con, "SELECT service, count(*) AS n FROM spans WHERE trace_id LIKE '0df8%' "
                      "GROUP BY 1 ORDER BY 1")
    assert [r["service"] for r in services] == ["api-gateway", "customers-service"]
    assert sum(r["n"] for r in services) == 12


def test_embedded_process_and_otel_status_tags(tmp_path: Path, load, q, w) -> None:
    trace = {"traceID": "abc", "spans": [
        {"traceID": "abc", "spanID": "1", "operationName": "root", "references": [],
         "startTime": 10, "duration": 5, "process": {"serviceName": "front", "tags": [
             {"key": "host.name", "type": "string", "value": "h1"}]},
         "tags": [{"key": "otel.status_code", "type": "string", "value": "OK"},
                  {"key": "span.kind", "type": "string", "value": "producer"},
                  {"key": "count", "type": "int64", "value": "12"}]},
        {"traceID": "abc", "spanID": "2", "operationName": "child", "processID": "p9",
         "references": [{"refType": "FOLLOWS_FROM", "traceID": "abc", "spanID": "1"}],
         "startTime": 11, "duration": 1,
         "tags": [{"key": "otel.status_code", "type": "string", "value": "ERROR"},
                  {"key": "otel.status_description", "type": "string", "value": "boom"}]},
        {"spanID": "", "operationName": "broken"},
    ], "processes": {"p9": {"serviceName": "back"}}}
    path = w(tmp_path / "t.jaeger.json", json.dumps({"data": [trace], "errors": [
        {"code": 404, "msg": "trace not found"}]}))
    con, report = load((path, "jaeger"))
    got = q(con, "SELECT span_id, parent_span_id, service, kind, status_code, status_message, "
                 "attributes_json, resource_json FROM spans ORDER BY span_id")
    assert got == [
        {"span_id": "0000000000000001", "parent_span_id": None, "service": "front",
         "kind": "producer", "status_code": "ok", "status_message": None,
         "attributes_json": {"count": 12},
         "resource_json": {"service.name": "front", "host.name": "h1"}},
        {"span_id": "0000000000000002", "parent_span_id": "0000000000000001", "service": "back",
         "kind": "unspecified", "status_code": "error", "status_message": "boom",
         "attributes_json": None, "resource_json": {"service.name": "back"}},
    ]
    assert [i.reason for i in report.files[0].issues] == [
        "bad span: trace #1 span 3 (): no traceID or spanID",
        "Jaeger reported an error: trace not found",
    ]


def test_not_a_jaeger_document(tmp_path: Path, load, w) -> None:
    _, report = load((w(tmp_path / "x.jaeger.json", '{"services": ["a"]}'), "jaeger"))
    assert report.files[0].issues[0].reason == (
        'not a Jaeger response: expected {"data": [trace, ...]} or a trace with "spans"; '
        "top-level keys are services")


def test_ui_fixture_with_embedded_reference_spans(fixtures: Path, load, q) -> None:
    con, report = load((fixtures / "jaeger" / "v1_structured_response_multi_span_jaegerui.json",
                        "jaeger"))
    got = q(con, "SELECT span_id, parent_span_id, name, kind, scope, service FROM spans")
    assert {r["span_id"]: (r["name"], r["scope"]) for r in got} == {
        "eff3153be6b1fb93": ("main", "widgets"), "49b8e9efa1e8a3b1": ("info", "widgets"),
        "26f5ef9dbb885479": ("ohboy.do", "ohboy"), "e76628f4e6dde174": ("ohboy.do", "ohboy")}
    assert {(r["kind"], r["service"]) for r in got} == {("internal", "example-trace")}
    parents = {r["span_id"]: r["parent_span_id"] for r in got}
    assert parents == {"eff3153be6b1fb93": None, "49b8e9efa1e8a3b1": "eff3153be6b1fb93",
                       "26f5ef9dbb885479": "49b8e9efa1e8a3b1",
                       "e76628f4e6dde174": "49b8e9efa1e8a3b1"}
    resource = q(con, "SELECT DISTINCT resource_json FROM spans")[0]["resource_json"]
    assert resource == {"service.name": "example-trace", "telemetry.sdk.language": "nodejs",
                        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.22.0"}
    assert report.skipped == report.warnings == 0


def test_the_otlp_side_of_jaeger_fixtures(fixtures: Path, load, q) -> None:
    con, _ = load((fixtures / "jaeger" / "v1_transform_request_otlp_in.json", "otlp-traces"),
                  (fixtures / "jaeger" / "api_v3_FindTraces.json", "otlp-traces"))
    got = q(con, "SELECT trace_id, span_id, parent_span_id, name, kind, status_code, scope "
                 "FROM spans ORDER BY name")
    # The same span Jaeger's transform turns into the v1 JSON asserted above.
    assert got[0] == {"trace_id": "00000000000000000000000000000001",
                      "span_id": "0000000000000002", "parent_span_id": None, "name": "foobar",
                      "kind": "server", "status_code": "error", "scope": None}
    assert got[1] == got[2] == {
        "trace_id": "83a9efd15c1c98a977e0711cc93ee28b", "span_id": "e127af99e3b3e074",
        "parent_span_id": "909541b92cf05311", "name": "okey-dokey-0", "kind": "server",
        "status_code": "unset", "scope": "telemetrygen"}
