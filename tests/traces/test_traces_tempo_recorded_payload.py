"""The Tempo adapter over a mock transport: TraceQL and tag search, trace by id, tag values.

Tempo's licence keeps its test payloads out of reach (AGPL), and ``../shared/fixtures/tempo``
holds one Apache-2.0 trace (``pkg/tempopb/trace.json``: upper-case hex ids, numeric enums,
Tempo v1 ``{"batches": ...}``), used here in place. The search, v2 trace-by-id, tag-value
and buildinfo answers are fixtures WRITTEN FROM THE DOCUMENTED SHAPES
(``tests/traces/data``, see its README): base64 ids and enum names, as Tempo's jsonpb
output has them, hex ids in search results, int64 as strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from obsbench_servers.common.backend import TempoBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.traces.backend import TraceQuery
from obsbench_servers.traces.backends.tempo import TempoTraces, build_traceql

DATA = Path(__file__).parent / "data"
URL = "http://tempo.test:3200"
SLOW = "2f3e0cbbbd3b4c1f9d2f7a4e5b6c7d8e"
WINDOW = {"start": "2026-03-12T10:00:00Z", "end": "2026-03-12T11:00:00Z"}


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class FakeTempo:
    def __init__(self, fixtures: Path, *, version: str | None = "2.6.1") -> None:
        self.fixtures = fixtures
        self.version = version
        self.requests: list[httpx.Request] = []
        # a test's own answer for some requests (None: the recorded routes below)
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        path = request.url.path
        modern = self.version is None or not self.version.startswith("1.")
        if path == "/api/status/buildinfo":
            if self.version is None:
                return httpx.Response(404, text="404 page not found\n")
            return httpx.Response(200, json={**_load("tempo_buildinfo.json"),
                                             "version": self.version})
        if path == "/api/search":
            if "q" in request.url.params:
                if "GET /v1/cart" in request.url.params["q"]:  # a query Tempo refuses
                    return httpx.Response(400, text="invalid TraceQL query: parse error at "
                                                    "line 1, col 10: syntax error")
                return httpx.Response(200, json=_load("tempo_search_traceql.json"))
            return httpx.Response(200, json=_load("tempo_search_tags.json"))
        if path == "/api/v2/search/tag/resource.service.name/values" and modern:
            return httpx.Response(200, json=_load("tempo_v2_tag_values_services.json"))
        if path == "/api/v2/search/tag/name/values" and modern:
            return httpx.Response(200, json=_load("tempo_v2_tag_values_names.json"))
        if path == "/api/search/tag/service.name/values":
            return httpx.Response(200, json={"tagValues": ["my.service"]})
        if path == "/api/search/tag/name/values":  # v1 tag API: plain strings
            return httpx.Response(200, json={"tagValues": ["I'm a server span"]})
        if path == f"/api/v2/traces/{SLOW}" and modern:
            return httpx.Response(200, json=_load("tempo_v2_trace.json"))
        if path == "/api/traces/5b8efff798038103d269b633813fc60c":
            return httpx.Response(200, content=(
                self.fixtures / "tempo" / "tempopb_trace_v1_batches.json").read_bytes())
        return httpx.Response(404, text="trace not found\n" if "/traces/" in path
                              else "404 page not found\n")


@pytest.fixture
def tempo(fixtures: Path, session_for: Any) -> Iterator[Callable[..., tuple[Any, FakeTempo]]]:
    def make(version: str | None = "2.6.1", tenant: str | None = "team-a"
             ) -> tuple[Any, FakeTempo]:
        fake = FakeTempo(fixtures, version=version)
        backend = TempoBackend(type="tempo", url=URL, tenant=tenant)
        adapter = TempoTraces(backend, transport=httpx.MockTransport(fake.handler))
        return session_for(ServerContext("traces", [backend]), adapter), fake

    yield make


def test_traceql_is_built_from_the_arguments() -> None:
    q = TraceQuery(0, 1, "check\"out", "POST /v1/checkout", 1_500_000_000)
    assert build_traceql(q) == ('{ resource.service.name = "check\\"out" && (kind = server || '
                                'kind = consumer) && name = "POST /v1/checkout" && '
                                'duration >= 1500ms }')
    assert build_traceql(TraceQuery(0, 1, "payment", errors_only=True)) == \
        '{ resource.service.name = "payment" && status = error }'
    assert build_traceql(TraceQuery(0, 1, None, min_duration_ns=250_000)) == \
        "{ traceDuration >= 250us }"


def test_recorded_payload_search_with_traceql_and_the_tenant(tempo: Any) -> None:
    s, fake = tempo()
    text, sc = s.ok("find_slow_traces", {"service": "checkout", "latency_threshold": "500ms",
                                         **WINDOW})
    searches = [r for r in fake.requests if r.url.path == "/api/search"]
    q = searches[-1].url.params
    assert q["q"] == ('{ resource.service.name = "checkout" && (kind = server || '
                      'kind = consumer) && duration >= 500ms }')
    assert (q["start"], q["end"], q["spss"]) == ("1773309600", "1773313200", "5")
    assert all(r.headers["X-Scope-OrgID"] == "team-a" for r in fake.requests)
    hits = sc["data"]["traces"]
    assert [h["trace_id"] for h in hits] == [SLOW, "7a1b2c3d4e5f60718293a4b5c6d7e8f9"]
    assert hits[0]["matched"] == {"span_id": "a1a1a1a1a1a1a1a1", "name": "POST /v1/checkout",
                                  "duration_ns": 5_230_000_000, "error": True}
    assert (hits[0]["span_count"], hits[0]["error_count"]) == (5, 4)
    assert hits[0]["root_service"] == "checkout"
    # two hits, fewer than the sample size: the distribution is of every matching request
    assert sc["data"]["latency"]["exact"] and sc["data"]["latency"]["count"] == 2
    assert sc["data"]["latency"]["max_ns"] == 5_230_000_000
    assert sc["backend"] == "tempo http://tempo.test:3200 tenant team-a"
    assert "GET /api/search?" in sc["query"] and "5.23s" in text


def test_recorded_payload_v2_trace_by_id_base64_ids_and_enum_names(tempo: Any) -> None:
    s, fake = tempo()
    text, sc = s.ok("get_trace_details", {"trace_id": SLOW})
    assert fake.requests[-1].url.path == f"/api/v2/traces/{SLOW}"
    data = sc["data"]
    by_id = {sp["span_id"]: sp for sp in data["spans"]}
    assert set(by_id) == {"a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2", "c3c3c3c3c3c3c3c3",
                          "d4d4d4d4d4d4d4d4", "e5e5e5e5e5e5e5e5"}
    psp = by_id["d4d4d4d4d4d4d4d4"]
    assert (psp["kind"], psp["status"], psp["service"]) == ("client", "error", "payment")
    assert psp["attributes"]["http.response.status_code"] == 503
    assert by_id["c3c3c3c3c3c3c3c3"]["parent_span_id"] == "b2b2b2b2b2b2b2b2"
    origin = next(g for g in data["errors"] if g["origin_count"])
    assert (origin["service"], origin["peer"]) == ("payment", "payment-gateway")
    assert origin["message"].startswith("HttpServerErrorException: 503 Service Unavailable")
    top = data["critical_path"]["by_operation"][0]
    assert (top["service"], top["operation"]) == ("payment-gateway", "POST")
    assert "ORIGIN x1 payment POST [-> payment-gateway]" in text


def test_recorded_payload_error_traces_fetch_each_trace_for_its_origin(tempo: Any) -> None:
    s, fake = tempo()
    _, sc = s.ok("find_error_traces", {"service": "payment", **WINDOW})
    q = next(r for r in fake.requests if r.url.path == "/api/search").url.params["q"]
    assert q == '{ resource.service.name = "payment" && status = error }'
    fetched = {r.url.path for r in fake.requests if "/traces/" in r.url.path}
    assert f"/api/v2/traces/{SLOW}" in fetched
    (origin,) = sc["data"]["origins"]
    assert origin["where"] == "payment POST -> payment-gateway"
    assert any("could not be fetched" in n for n in sc["coverage"]["notes"])  # the 2nd trace


def test_recorded_payload_upstream_v1_trace_on_an_old_tempo(tempo: Any) -> None:
    s, fake = tempo(version="1.5.0")
    _, sc = s.ok("get_trace_details", {"trace_id": "5B8EFFF798038103D269B633813FC60C"})
    assert fake.requests[-1].url.path == "/api/traces/5b8efff798038103d269b633813fc60c"
    (span,) = sc["data"]["spans"]
    assert (span["service"], span["name"], span["kind"]) == ("my.service", "I'm a server span",
                                                             "server")
    assert span["duration_ns"] == 1_000_000_000
    assert sc["data"]["repairs"]["missing_parents"] == 1  # its parent is not in the file
    # tag search, not TraceQL, on Tempo before 2.0; tag values from the v1 API
    _, found = s.ok("find_slow_traces", {"service": "my.service", "latency_threshold": "1s",
                                         **WINDOW})
    search = [r for r in fake.requests if r.url.path == "/api/search"][-1].url.params
    assert "q" not in search and search["tags"] == "service.name=my.service"
    assert search["minDuration"] == "1000ms"
    assert any("tag search" in n for n in found["coverage"]["notes"])
    # the tags parameter is logfmt: a span name with spaces is quoted, or Tempo splits it
    s.ok("find_slow_traces", {"service": "my.service", "operation": "I'm a server span",
                              **WINDOW})
    search = [r for r in fake.requests if r.url.path == "/api/search"][-1].url.params
    assert search["tags"] == 'service.name=my.service name="I\'m a server span"'


def test_tag_discovery_names_services_and_operations(tempo: Any) -> None:
    s, fake = tempo()
    _, sc = s.ok("list_trace_services")
    assert sc["data"]["services"] == ["api-gateway", "checkout", "payment"]
    _, ops = s.ok("list_trace_services", {"service": "checkout"})
    assert ops["data"]["operations"] == ["GET /v1/cart", "POST /v1/checkout"]
    names = next(r for r in fake.requests if r.url.path == "/api/v2/search/tag/name/values")
    assert names.url.params["q"] == '{ resource.service.name = "checkout" }'
    text, _ = s.error("find_slow_traces", {"service": "chekout"})
    assert "did you mean 'checkout'" in text


def test_missing_trace_and_bad_traceql_are_clear_errors(tempo: Any) -> None:
    s, _ = tempo(version=None)  # no buildinfo: a current Tempo is assumed
    text, sc = s.error("get_trace_details", {"trace_id": "ab" * 16})
    assert sc["error"] == "not_found" and "trace not found" in text
    text, sc = s.error("find_slow_traces", {"service": "checkout", "operation": "&&&"})
    assert sc["error"] == "not_found"  # the operation is checked against tag values first
    text, sc = s.error("find_slow_traces", {"service": "checkout", "operation": "GET /v1/cart",
                                            "latency_threshold": "1s", **WINDOW})
    assert sc["error"] == "backend"
    assert "answered 400 Bad Request: invalid TraceQL query: parse error" in text


@pytest.mark.parametrize(("status", "body", "ctype", "says"), [
    # a multi-tenant Tempo without X-Scope-OrgID answers 401 "no org id" in plain text
    (401, "no org id\n", "text/plain", "credentials were refused"),
    (403, "Forbidden", "text/plain", "not allowed"),
    (500, "rpc error: code = Unavailable desc = ingester unavailable\n", "text/plain",
     "ingester unavailable"),
    (200, "<!DOCTYPE html><html><head><title>Grafana</title></head></html>", "text/html",
     "HTML page"),
    (200, '{"trace": {"resourceSpans": [', "application/json", "not JSON"),
])
def test_backend_failures_are_clear_tool_errors(tempo: Any, status: int, body: str,
                                                 ctype: str, says: str) -> None:
    """Error bodies written from Tempo's documented behaviour (plain-text errors)."""
    s, fake = tempo(tenant=None)

    def failing(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.startswith("/api/v2/traces/"):
            return httpx.Response(status, content=body.encode(), headers={"content-type": ctype})
        return None

    fake.override = failing
    bad, good = s.calls(("get_trace_details", {"trace_id": SLOW}), ("list_trace_services", {}))
    text = bad.content[0].text
    assert bad.is_error and says in text, text
    assert bad.structured_content["error"] == "backend"
    assert "X-Scope-OrgID" not in fake.requests[-1].headers  # no tenant configured
    assert not good.is_error  # the server keeps serving


def test_429_is_retried_after_retry_after(tempo: Any) -> None:
    s, fake = tempo()
    seen = {"n": 0}

    def limited(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == f"/api/v2/traces/{SLOW}":
            seen["n"] += 1
            if seen["n"] == 1:
                return httpx.Response(429, text="rate limited\n", headers={"Retry-After": "0"})
        return None

    fake.override = limited
    _, sc = s.ok("get_trace_details", {"trace_id": SLOW})
    assert sc["data"]["span_count"] == 5 and seen["n"] == 2
