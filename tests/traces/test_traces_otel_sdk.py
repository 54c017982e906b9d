"""Spans from the real opentelemetry-sdk, exported as OTLP/JSON, read back through the server.

A small instrumented program: a shop API handles ``GET /checkout`` — a nested
database call, three concurrent stock look-ups served by another service (one
fails deep inside with an exception), a call to an external payment API, and
a message consumed asynchronously by a third service after the response. The
SDK's own OTLP encoder writes the bundle; the assertions compare what the
tools say with what the program did.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from traces_builders import MS

from obsbench_servers.common.timeutil import ns_to_rfc3339

STOCK_SLEEPS = {"SKU-1": 0.010, "SKU-2": 0.035, "SKU-3": 0.020}


def _run_program() -> list[Any]:
    from opentelemetry import context, trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    exporter = InMemorySpanExporter()

    def tracer(service: str) -> Any:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider.get_tracer("obsbench.sdk-test")

    shop, inventory, notifier = tracer("shop-api"), tracer("inventory-svc"), tracer("notifier")

    def stock(sku: str, parent_ctx: Any) -> None:
        token = context.attach(parent_ctx)
        try:
            with shop.start_as_current_span("GET stock", kind=SpanKind.CLIENT, attributes={
                    "server.address": "inventory-svc.shop.svc.cluster.local"}) as client, \
                    inventory.start_as_current_span(f"GET /stock/{sku}",
                                                    kind=SpanKind.SERVER) as server, \
                    inventory.start_as_current_span("reserve") as reserve:
                time.sleep(STOCK_SLEEPS[sku])
                if sku == "SKU-3":
                    exc = ValueError("out of stock")
                    reserve.record_exception(exc)
                    reserve.set_status(Status(StatusCode.ERROR, "out of stock"))
                    server.set_status(Status(StatusCode.ERROR, "HTTP 409"))
                    client.set_status(Status(StatusCode.ERROR, "HTTP 409"))
        finally:
            context.detach(token)

    with shop.start_as_current_span("GET /checkout", kind=SpanKind.SERVER):
        with shop.start_as_current_span("load cart"), shop.start_as_current_span(
                "SELECT cart", kind=SpanKind.CLIENT, attributes={
                    "db.system": "postgresql", "server.address": "postgres.data.svc"}):
            time.sleep(0.005)
        here = context.get_current()
        threads = [threading.Thread(target=stock, args=(sku, here)) for sku in STOCK_SLEEPS]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with shop.start_as_current_span("charge card", kind=SpanKind.CLIENT,
                                        attributes={"peer.service": "payment-gateway"}):
            time.sleep(0.025)
        with shop.start_as_current_span("publish order", kind=SpanKind.PRODUCER) as producer:
            producer_ctx = trace.set_span_in_context(producer)
    # consumed after the response, in another service
    time.sleep(0.005)
    with notifier.start_as_current_span("process order", kind=SpanKind.CONSUMER,
                                        context=producer_ctx,
                                        links=[Link(producer.get_span_context())]):
        time.sleep(0.010)
    return list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = _run_program()
    out = tmp_path_factory.mktemp("sdk-bundle")
    (out / "traces").mkdir()
    (out / "traces" / "sdk.otlp.json").write_text(MessageToJson(encode_spans(spans)))
    start = min(s.start_time for s in spans) // 10**9 - 60
    end = max(s.end_time for s in spans) // 10**9 + 60
    (out / "bundle.toml").write_text(
        f'name = "sdk"\n[window]\nstart = "{ns_to_rfc3339(start * 10**9)}"\n'
        f'end = "{ns_to_rfc3339(end * 10**9)}"\n')
    return out, spans


@pytest.fixture
def s(program: tuple[Path, list[Any]], session_for: Any) -> Any:
    return session_for(program[0])


def _named(spans: list[Any], name: str) -> Any:
    return next(sp for sp in spans if sp.name == name)


def test_the_request_is_found_with_its_real_duration(s: Any, program: Any) -> None:
    spans = program[1]
    root = _named(spans, "GET /checkout")
    _, sc = s.ok("find_slow_traces", {"service": "shop-api", "latency_threshold": "0ms"})
    (hit,) = sc["data"]["traces"]
    assert hit["trace_id"] == f"{root.context.trace_id:032x}"
    assert hit["matched"]["duration_ns"] == root.end_time - root.start_time
    assert hit["span_count"] == len(spans) and hit["error_count"] == 3
    assert sc["data"]["latency"]["count"] == 1
    assert set(hit["services"]) == {"shop-api", "inventory-svc", "notifier"}


def test_the_error_is_traced_to_where_it_was_raised(s: Any) -> None:
    text, sc = s.ok("find_error_traces", {"service": "shop-api"})
    (origin,) = sc["data"]["origins"]
    assert (origin["service"], origin["operation"]) == ("inventory-svc", "reserve")
    assert origin["message"] == "ValueError: out of stock"
    assert "inventory-svc reserve: ValueError: out of stock" in text


def test_details_critical_path_concurrency_async_and_errors(s: Any, program: Any) -> None:
    spans = program[1]
    root = _named(spans, "GET /checkout")
    text, sc = s.ok("get_trace_details", {"trace_id": f"{root.context.trace_id:032x}"})
    data = sc["data"]
    assert data["span_count"] == len(spans) and data["duration_ns"] == \
        root.end_time - root.start_time
    by_id = {sp["span_id"]: sp for sp in data["spans"]}
    on_path = {sp["name"] for sp in data["spans"] if sp.get("on_critical_path")}
    slowest = max(STOCK_SLEEPS, key=lambda k: STOCK_SLEEPS[k])
    # of three concurrent look-ups only the slowest set the duration
    assert {n for n in on_path if n.startswith("GET /stock/")} == {f"GET /stock/{slowest}"}
    assert {"GET /checkout", "SELECT cart", "charge card", "reserve"} <= on_path
    assert "process order" not in on_path  # consumed after the response: not waited for
    consumer = next(sp for sp in data["spans"] if sp["name"] == "process order")
    assert consumer.get("async") and by_id[consumer["parent_span_id"]]["name"] == "publish order"
    cp = {(x["service"], x["operation"]): x["ns"] for x in data["critical_path"]["by_operation"]}
    assert cp[("payment-gateway", "charge card")] >= 25 * MS
    assert cp[("inventory-svc", "reserve")] >= STOCK_SLEEPS[slowest] * 1e9
    assert data["critical_path"]["total_ns"] == data["duration_ns"]
    (err,) = [g for g in data["errors"] if g["origin_count"]]
    assert (err["service"], err["operation"], err["message"]) == (
        "inventory-svc", "reserve", "ValueError: out of stock")
    assert sum(g["count"] for g in data["errors"]) == 3
    assert "x3 shop-api GET stock [client -> inventory-svc]" in text
    assert "ORIGIN x1 inventory-svc reserve: ValueError: out of stock" in text


def test_the_call_graph_of_the_program(s: Any) -> None:
    _, sc = s.ok("get_service_dependencies", {})
    edges = {(e["caller"], e["callee"]): e for e in sc["data"]["edges"]}
    assert set(edges) == {("shop-api", "inventory-svc"), ("shop-api", "postgres"),
                          ("shop-api", "payment-gateway"), ("shop-api", "notifier")}
    stock = edges[("shop-api", "inventory-svc")]
    assert (stock["calls"], stock["errors"]) == (3, 1)
    assert edges[("shop-api", "notifier")]["asynchronous"]


def test_span_details_show_what_the_program_recorded(s: Any, program: Any) -> None:
    """The last step of the ladder: the spans that matter, in full, as the SDK wrote them."""
    spans = program[1]
    root = _named(spans, "GET /checkout")
    reserve = next(sp for sp in spans if sp.name == "reserve"
                   and sp.status.status_code.name == "ERROR")
    consumer = _named(spans, "process order")
    tid = f"{root.context.trace_id:032x}"
    text, sc = s.ok("get_span_details", {"trace_id": tid, "spans": [
        "inventory-svc reserve", f"{consumer.context.span_id:016x}"[:10],
        "x3 shop-api GET stock [client -> inventory-svc]"]})
    req = {r["spec"]: r for r in sc["data"]["requested"]}
    # a label matching three concurrent reserves: the slowest three, the failing one among them
    assert req["inventory-svc reserve"]["matched"] == 3
    by_id = {r["span_id"]: r for r in sc["data"]["spans"]}
    rec = by_id[f"{reserve.context.span_id:016x}"]
    assert rec["parent"]["name"] == "GET /stock/SKU-3" and rec["error"] == \
        "ValueError: out of stock"
    (event,) = rec["events"]
    assert event["name"] == "exception" and event["time_ns"] == reserve.events[0].timestamp
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.stacktrace"] == \
        reserve.events[0].attributes["exception.stacktrace"]  # kept whole in the data
    assert rec["resource"]["service.name"] == "inventory-svc"
    assert rec["duration_ns"] == reserve.end_time - reserve.start_time
    assert rec["on_critical_path"] is False  # SKU-3 ran alongside the slower SKU-2
    slowest = max(STOCK_SLEEPS, key=lambda k: STOCK_SLEEPS[k])
    slow_reserve = next(r for r in sc["data"]["spans"] if r["name"] == "reserve"
                        and r["parent"]["name"] == f"GET /stock/{slowest}")
    assert slow_reserve["on_critical_path"] and slow_reserve["critical_ns"] > 0
    # a span id prefix; the consumer runs after the response: asynchronous, with its link
    cons = by_id[f"{consumer.context.span_id:016x}"]
    assert cons["async"] and cons["parent"]["name"] == "publish order"
    assert [link["span_id"] for link in cons["links"]] == [
        f"{consumer.links[0].context.span_id:016x}"]
    # the client fan: each call names its peer and who its time belongs to
    assert req["x3 shop-api GET stock [client -> inventory-svc]"]["matched"] == 3
    text_lines = text.splitlines()
    assert f"span {f'{reserve.context.span_id:016x}'}: inventory-svc reserve [internal]" in text
    assert any(ln.startswith("  event +") and "exception: exception.type=ValueError" in ln
               for ln in text_lines)
    assert "asynchronous (nobody waited on it)" in text
    assert "shop-api GET stock [client -> inventory-svc]" in text
    assert "resource: as for span" in text  # one pod's resource written once
    cov = sc["coverage"]
    assert cov["total"] == len(sc["data"]["spans"]) == 7  # 3 reserves + consumer + 3 calls
