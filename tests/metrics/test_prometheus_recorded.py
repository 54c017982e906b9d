"""The Prometheus HTTP backend against recorded upstream payloads (../shared/fixtures/prometheus,
read in place) served by an httpx.MockTransport, through the whole MCP server.

Answers captured from a real Prometheus 2.42.0 (and the upstream API docs) check that
results pass through unchanged and that every failure becomes a tool error that says what
to fix. Two small bodies are written here from the documented shapes and say so: the
``__name__`` label values (the capture has ``job`` values only) and a proxy's HTML page.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from tests.metrics.conftest import call_tools, text

from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.context import ServerContext

CAPTURED = "prometheus/captured_prometheus_2.42.0"
# Written for this test from the documented shape of /api/v1/label/__name__/values.
NAMES = {"status": "success", "data": ["prometheus_http_requests_total", "up"]}
Handler = Callable[[httpx.Request], httpx.Response]
PROBE = "label_replace(count("  # the series-count probe sent before each query


def is_probe(request: httpx.Request) -> bool:
    return request.url.params.get("query", "").startswith(PROBE)


def probe_answer(count: int) -> bytes:
    """The probe's answer, written for these tests from the documented vector shape."""
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"probe": "0"}, "value": [1767225600, str(count)]}]}}).encode()


def load(fixtures: Path, name: str) -> bytes:
    return (fixtures / name).read_bytes()


def routes(fixtures: Path, overrides: dict[str, Any] | None = None,
           seen: list[httpx.Request] | None = None, selected: int | None = None) -> Handler:
    """Answer each API path with a recorded payload (or an override: bytes or a Response).

    ``selected``: answer the series-count probes with this count (else they get the
    path's answer like any query).
    """
    table: dict[str, Any] = {
        "/api/v1/query": load(fixtures, f"{CAPTURED}/query_vector_up.json"),
        "/api/v1/query_range": load(fixtures, f"{CAPTURED}/query_range_matrix_rate.json"),
        "/api/v1/series": load(fixtures, f"{CAPTURED}/series_up.json"),
        "/api/v1/labels": load(fixtures, f"{CAPTURED}/labels.json"),
        "/api/v1/label/job/values": load(fixtures, f"{CAPTURED}/label_job_values.json"),
        "/api/v1/label/__name__/values": json.dumps(NAMES).encode(),
        "/api/v1/metadata": load(fixtures, f"{CAPTURED}/metadata_metric.json"),
        "/api/v1/alerts": load(fixtures, f"{CAPTURED}/alerts.json"),
    }
    table.update(overrides or {})

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if selected is not None and is_probe(request):
            return httpx.Response(200, content=probe_answer(selected),
                                  headers={"Content-Type": "application/json"})
        answer = table.get(request.url.path)
        if answer is None:
            return httpx.Response(404, text=load(fixtures, f"{CAPTURED}/"
                                                 "error_404_unknown_endpoint.txt").decode(),
                                  headers={"Content-Type": "text/plain; charset=utf-8"})
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, content=answer,
                              headers={"Content-Type": "application/json"})

    return handle


def ctx_for(handler: Handler | None, **backend: Any) -> ServerContext:
    cfg = {"type": "prometheus", "url": "http://prometheus.test:9090", **backend}
    secret = cfg.pop("secret_value", None)
    be = PrometheusBackend(**cfg).with_secret(secret)
    opts = {"http_transport": httpx.MockTransport(handler)} if handler else {}
    return ServerContext("metrics", [be], options=opts)


def test_query_recorded_payload_passes_through_unchanged(fixtures: Path) -> None:
    (r,) = call_tools(ctx_for(routes(fixtures)), [("query", {"expr": "up"})])
    assert not r.is_error, text(r)
    recorded = json.loads(load(fixtures, f"{CAPTURED}/query_vector_up.json"))["data"]
    assert r.structured_content["data"]["prometheus"] == recorded
    body = text(r)
    assert "3 series" in body and 'instance="127.0.0.1:19100"' in body
    assert "GET /api/v1/query?query=up&time=" in body  # the request actually made


def test_query_range_recorded_payload_summarised_and_complete(fixtures: Path) -> None:
    (r,) = call_tools(ctx_for(routes(fixtures)), [(
        "query_range", {"expr": 'rate(prometheus_http_requests_total[20s])',
                        "start": "2026-11-24T04:40:00Z", "end": "2026-11-24T04:45:00Z"})])
    assert not r.is_error, text(r)
    recorded = json.loads(load(fixtures, f"{CAPTURED}/query_range_matrix_rate.json"))["data"]
    sc = r.structured_content
    assert sc["data"]["prometheus"] == recorded
    assert len(sc["data"]["summaries"]) == len(recorded["result"])
    assert "handler=\"/metrics\"" in text(r) and "mean" in text(r)


@pytest.mark.parametrize(("name", "expect"), [("query_scalar.json", "scalar 2"),
                                              ("query_string.json", "string 'hello'")])
def test_scalar_and_string_recorded_payloads(fixtures: Path, name: str, expect: str) -> None:
    handler = routes(fixtures, {"/api/v1/query": load(fixtures, f"{CAPTURED}/{name}")})
    (r,) = call_tools(ctx_for(handler), [("query", {"expr": "scalar(sum(up))"})])
    assert not r.is_error and text(r).startswith(expect)


@pytest.mark.parametrize(("name", "status", "kind", "needle"), [
    ("error_400_bad_data_parse_error.json", 400, "bad_input", "1:17: parse error"),
    ("error_422_execution_many_to_many.json", 422, "bad_input", "many-to-many"),
    ("error_400_bad_data_invalid_time.json", 400, "bad_input", "invalid parameter"),
])
def test_recorded_payload_query_errors_become_bad_input(
        fixtures: Path, name: str, status: int, kind: str, needle: str) -> None:
    body = load(fixtures, f"{CAPTURED}/{name}")
    handler = routes(fixtures, {"/api/v1/query": httpx.Response(
        status, content=body, headers={"Content-Type": "application/json"})})
    r, ok = call_tools(ctx_for(handler), [("query", {"expr": "sum(up)"}),
                                          ("list_metrics", {})])
    assert r.is_error and r.structured_content["error"] == kind
    assert needle in text(r) and "hint:" in text(r)
    assert not ok.is_error  # the server keeps serving


def test_recorded_payload_timeout_503_and_unknown_endpoint_404(fixtures: Path) -> None:
    timeout = load(fixtures, "prometheus/upstream_test_error_timeout_503.json")
    handler = routes(fixtures, {
        "/api/v1/query": httpx.Response(503, content=timeout,
                                        headers={"Content-Type": "application/json"}),
        "/api/v1/alerts": None,  # -> the recorded text/plain 404
    })
    r, alerts = call_tools(ctx_for(handler), [("query", {"expr": "up"}),
                                              ("list_firing_alerts", {})])
    assert r.is_error and "gave up on the query (timeout)" in text(r)
    assert "narrow the time range" in text(r)
    assert alerts.is_error and "404" in text(alerts) and "/prometheus" in text(alerts)


def test_html_garbage_and_401_answers_are_clear_errors(fixtures: Path) -> None:
    # A proxy's login page (written for this test), random bytes, and a 401.
    html = b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>"
    calls = [("query", {"expr": "up"})] * 3 + [("query", {"expr": "up"})]
    answers = iter([
        httpx.Response(200, content=html, headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=b"\x00\x01\xfe garbage", headers={}),
        httpx.Response(401, content=b"Unauthorized", headers={"Content-Type": "text/plain"}),
        httpx.Response(200, content=load(fixtures, f"{CAPTURED}/query_vector_up.json"),
                       headers={"Content-Type": "application/json"}),
    ])
    handler = routes(fixtures, {"/api/v1/query": lambda _req: next(answers)}, selected=3)
    page, garbage, denied, ok = call_tools(ctx_for(handler), calls)
    assert page.is_error and "HTML page" in text(page) and "login page" in text(page)
    assert garbage.is_error and "not the Prometheus API's JSON" in text(garbage)
    assert denied.is_error and "401" in text(denied) and "credentials" in text(denied)
    assert not ok.is_error


def test_429_is_retried_once_honouring_retry_after(fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    answers = iter([
        httpx.Response(429, text="slow down", headers={"Retry-After": "0"}),
        httpx.Response(200, content=load(fixtures, f"{CAPTURED}/query_vector_up.json"),
                       headers={"Content-Type": "application/json"}),
    ])
    handler = routes(fixtures, {"/api/v1/query": lambda _req: next(answers)}, seen, selected=3)
    (r,) = call_tools(ctx_for(handler), [("query", {"expr": "up"})])
    assert not r.is_error
    assert sum(1 for q in seen if q.url.path == "/api/v1/query" and not is_probe(q)) == 2


def test_bad_data_is_not_retried(fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    body = load(fixtures, f"{CAPTURED}/error_400_bad_data_parse_error.json")
    handler = routes(fixtures, {"/api/v1/query": httpx.Response(
        400, content=body, headers={"Content-Type": "application/json"})}, seen, selected=3)
    call_tools(ctx_for(handler), [("query", {"expr": "up"})])
    assert sum(1 for q in seen if q.url.path == "/api/v1/query" and not is_probe(q)) == 1


@pytest.mark.parametrize(("backend", "header", "value"), [
    ({"type": "mimir", "tenant": "team-a"}, "X-Scope-OrgID", "team-a"),
    ({"type": "thanos", "tenant": "team-b"}, "THANOS-TENANT", "team-b"),
    ({"auth": {"kind": "bearer", "secret": "env:PROM_TOKEN"}, "secret_value": "tok"},
     "Authorization", "Bearer tok"),
    ({"auth": {"kind": "basic", "username": "u", "secret": "env:P"}, "secret_value": "p"},
     "Authorization", "Basic dTpw"),
    ({"auth": {"kind": "header", "header": "X-Api-Token", "secret": "env:T"},
      "secret_value": "s3"}, "X-Api-Token", "s3"),
])
def test_tenant_and_auth_headers_on_every_request(
        fixtures: Path, backend: dict[str, Any], header: str, value: str) -> None:
    seen: list[httpx.Request] = []
    (r,) = call_tools(ctx_for(routes(fixtures, seen=seen), **backend),
                      [("query", {"expr": "up"})])
    assert not r.is_error
    assert seen and all(q.headers.get(header) == value for q in seen)


def test_long_queries_are_sent_as_a_form_body(fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    expr = "up + " + " + ".join(["up"] * 400)
    (r,) = call_tools(ctx_for(routes(fixtures, seen=seen)), [("query", {"expr": expr})])
    assert not r.is_error, text(r)
    posts = [q for q in seen if q.url.path == "/api/v1/query" and q.method == "POST"]
    assert len(posts) == 1
    assert parse_qs(posts[0].content.decode())["query"] == [expr]


def test_discovery_and_alerts_recorded_payloads(fixtures: Path) -> None:
    labels, meta, alerts = call_tools(ctx_for(routes(fixtures)), [
        ("label_values", {"label": "job"}),
        ("metric_metadata", {"metric": "prometheus_http_requests_total"}),
        ("list_firing_alerts", {}),
    ])
    assert labels.structured_content["data"]["values"] == ["alertmanager", "node", "prometheus"]
    assert "type counter" in text(meta) and "Counter of HTTP requests" in text(meta)
    recorded = json.loads(load(fixtures, f"{CAPTURED}/alerts.json"))["data"]["alerts"]
    assert len(alerts.structured_content["data"]["alerts"]) == len(recorded)
    assert "firing AlwaysFiring since" in text(alerts)


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    th.join(2)
    for c in conns:
        c.close()
    sock.close()


def test_a_backend_that_hangs_times_out_and_the_server_keeps_serving(
        hanging_server: str) -> None:
    ctx = ctx_for(None, url=hanging_server, timeouts={"connect": 1, "read": 1, "total": 1.5})
    slow, again = call_tools(ctx, [("query", {"expr": "up"}),
                                   ("query", {"expr": "rate(foo[5m"})])
    assert slow.is_error and "did not answer in time" in text(slow)
    assert again.is_error and "invalid PromQL" in text(again)  # still answering


def test_a_selector_matching_100k_series_is_refused_before_the_query_is_sent(
        fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    handler = routes(fixtures, seen=seen, selected=100_000)
    refused, compared, labels = call_tools(ctx_for(handler), [
        ("query_range", {"expr": 'sum by (job) (rate(http_requests_total{job=~".+"}[5m])) '
                                 "/ on(job) group_left up", "start": "now-1h"}),
        ("compare_time_periods", {"expr": "sum(up)", "baseline": "1d"}),
        ("label_values", {"label": "job"}),
    ])
    assert compared.is_error and "matches 100,000 series" in text(compared)
    assert refused.is_error and refused.structured_content["error"] == "guard"
    body = text(refused)
    assert "matches 100,000 series" in body and "add label matchers" in body
    assert 'http_requests_total{job=~".+"}' in body and "up{}" in body  # both selectors named
    queries = [q for q in seen if q.url.path.startswith("/api/v1/query")]
    assert len(queries) == 2 and all(map(is_probe, queries))  # no query itself was sent
    probe = queries[0].url.params["query"]
    assert probe.count(PROBE) == 2 and " or " in probe
    assert not labels.is_error  # the server keeps serving


def test_a_selection_within_the_limit_is_sent(fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    handler = routes(fixtures, seen=seen, selected=20_000)
    (r,) = call_tools(ctx_for(handler), [("query", {"expr": "up"})])
    assert not r.is_error, text(r)
    sent = [q.url.params["query"] for q in seen if q.url.path == "/api/v1/query"]
    assert sent == ['label_replace(count(up{}), "probe", "0", "", "")', "up"]


def test_instant_results_beyond_max_series_are_capped_and_say_so(fixtures: Path) -> None:
    (r,) = call_tools(ctx_for(routes(fixtures, selected=3), limits={"max_series": 2}),
                      [("query", {"expr": "up"})])
    assert not r.is_error, text(r)
    sc = r.structured_content
    assert len(sc["data"]["prometheus"]["result"]) == 2
    assert sc["coverage"]["total"] == 3 and not sc["coverage"]["complete"]
    assert "3 series" in text(r) and "capped at 2 of 3 series" in text(r)


def test_profile_golden_signal_overrides_are_the_queries_sent(fixtures: Path) -> None:
    """``golden_signals`` on a Prometheus backend in the profile: the template, with the
    service filled in, is the query sent for that signal, and the output says so."""
    seen: list[httpx.Request] = []
    template = 'sum(rate(prometheus_http_requests_total{job="{service}"}[20s]))'
    (r,) = call_tools(ctx_for(routes(fixtures, seen=seen), golden_signals={"traffic": template}),
                      [("get_service_golden_signals", {"service": "prometheus"})])
    assert not r.is_error, text(r)
    sent = [q.url.params.get("query") for q in seen if q.url.path == "/api/v1/query_range"]
    assert 'sum(rate(prometheus_http_requests_total{job="prometheus"}[20s]))' in sent
    data = r.structured_content["data"]
    assert data["overrides_used"] == ["traffic"]
    traffic = next(s for s in data["signals"] if s["key"] == "traffic")
    assert traffic["convention"] == "profile override"
    assert "profile overrides: traffic" in text(r)
