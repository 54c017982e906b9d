"""Every HTTP backend adapter against every fault: each becomes a clear tool error.

Faults are served by ``httpx.MockTransport`` (the recorded-payload style of the
servers' own tests): refused connection, read timeout, 503, 429 with
Retry-After, malformed JSON, truncated JSON, a 200 MB body (streamed lazily and
capped at ``limits.max_response_bytes``), and a TLS verification failure. The
tool answers with an error result (or a warning naming the failure where a
server degrades gracefully), never with "failed unexpectedly", and the server
answers the next call.

Adapters: Prometheus (metrics), Loki, Elasticsearch, ADX (the Kusto query, and
separately the Entra ID token request before it), Jaeger, Tempo, Alertmanager,
PagerDuty, Prometheus as an alerts source (``/api/v1/alerts``), Kubernetes (infra,
explicit URL + bearer token), and the Prometheus the infra server reads usage
history from. Each receives the transport the way its own recorded-payload tests
pass it (``ctx.options`` "http_transport", "transport", "metrics_transport", or the
adapter's constructor).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from obsbench_servers.common.backend import (
    ADXBackend,
    AlertmanagerBackend,
    Auth,
    ElasticsearchBackend,
    JaegerBackend,
    KubernetesBackend,
    Limits,
    LokiBackend,
    PagerDutyBackend,
    PrometheusAlertsBackend,
    PrometheusBackend,
    TempoBackend,
)
from obsbench_servers.common.context import ServerContext

LIMITS = Limits(max_response_bytes=8 * 1024 * 1024)
MiB = 1024 * 1024


def _refused(req: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=req)


def _timeout(req: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=req)


def _tls(req: httpx.Request) -> httpx.Response:
    err = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    err.verify_message = "self-signed certificate"
    raise httpx.ConnectError("TLS failure", request=req) from err


def _huge(req: httpx.Request) -> httpx.Response:
    def body() -> Iterator[bytes]:
        yield b'{"status":"success","data":{"result":["'
        for _ in range(200):  # 200 MiB if anyone read it all
            yield b"x" * MiB

    return httpx.Response(200, headers={"content-type": "application/json"}, content=body())


FAULTS: dict[str, tuple[Callable[[httpx.Request], httpx.Response], tuple[str, ...]]] = {
    "refused": (_refused, ("refused",)),
    "timeout": (_timeout, ("time",)),
    "5xx": (lambda r: httpx.Response(503, text="upstream overloaded"), ("503",)),
    "429": (lambda r: httpx.Response(429, headers={"Retry-After": "30"}, text="slow down"),
            ("429", "rate")),
    "malformed": (lambda r: httpx.Response(200, headers={"content-type": "application/json"},
                                           content=b"<html>login page</html>"),
                  ("json", "JSON", "html", "HTML", "not", "unexpected", "invalid", "garbage")),
    "truncated": (lambda r: httpx.Response(200, headers={"content-type": "application/json"},
                                           content=b'{"status":"success","data":{"resu'),
                  ("json", "JSON", "truncated", "invalid", "not", "unexpected")),
    "huge": (_huge, ("larger than", "too large", "MiB", "max_response_bytes")),
    "tls": (_tls, ("TLS", "certificate")),
}


Case = tuple[str, ServerContext, Any, str, dict[str, Any]]


def _metrics(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = PrometheusBackend(type="prometheus", url="http://prom.test:9090", limits=LIMITS)
    ctx = ServerContext("metrics", [be], options={"http_transport": t})
    return "metrics", ctx, None, "query", {"expr": "up", "time": "2026-03-10T14:00:00Z"}


def _loki(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = LokiBackend(type="loki", url="http://loki.test:3100", limits=LIMITS)
    ctx = ServerContext("logs", [be], options={"transport": t})
    return "logs", ctx, None, "search_logs", {"query": '{service="checkout"}'}


def _elastic(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = ElasticsearchBackend(type="elasticsearch", url="http://es.test:9200", limits=LIMITS)
    ctx = ServerContext("logs", [be], options={"transport": t})
    return "logs", ctx, None, "search_logs", {"service": "checkout"}


def _jaeger(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    from obsbench_servers.traces.backends.jaeger import JaegerTraces

    be = JaegerBackend(type="jaeger", url="http://jaeger.test:16686", limits=LIMITS)
    return ("traces", ServerContext("traces", [be]), JaegerTraces(be, transport=t),
            "find_error_traces", {"service": "checkout"})


def _tempo(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    from obsbench_servers.traces.backends.tempo import TempoTraces

    be = TempoBackend(type="tempo", url="http://tempo.test:3200", limits=LIMITS)
    return ("traces", ServerContext("traces", [be]), TempoTraces(be, transport=t),
            "find_error_traces", {"service": "checkout"})


def _alertmanager(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = AlertmanagerBackend(type="alertmanager", url="http://am.test:9093", limits=LIMITS)
    ctx = ServerContext("alerts", [be], options={"transport": t})
    return "alerts", ctx, None, "list_firing_alerts", {}


def _adx_token_ok(t: httpx.MockTransport) -> httpx.MockTransport:
    """Entra ID answers; the fault hits the Kusto query itself."""
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "login.microsoftonline.com":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})
        return t.handle_request(req)
    return httpx.MockTransport(handler)


def _adx_config() -> ADXBackend:
    return ADXBackend(type="adx", cluster="https://adx.test.kusto.windows.net", database="Obs",
                      azure_tenant_id="tenant-1", limits=LIMITS,
                      auth=Auth(kind="azure_ad", username="app-id", secret="env:ADX")
                      ).with_secret("client-secret")


def _adx(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    ctx = ServerContext("logs", [_adx_config()], options={"transport": _adx_token_ok(t)})
    return "logs", ctx, None, "search_logs", {"service": "checkout"}


def _adx_token(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    """The same faults on the Entra ID token request that precedes every Kusto query."""
    ctx = ServerContext("logs", [_adx_config()], options={"transport": t})
    return "logs", ctx, None, "search_logs", {"service": "checkout"}


def _pagerduty(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = PagerDutyBackend(type="pagerduty", name="pd", from_email="oncall@example.com",
                          url="https://pd.test", limits=LIMITS,
                          auth=Auth(kind="api_key", secret="env:PD")).with_secret("pd-token")
    ctx = ServerContext("alerts", [be], options={"transport": t})
    return "alerts", ctx, None, "get_active_incidents", {}


def _prometheus_alerts(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = PrometheusAlertsBackend(type="prometheus", url="http://prom.test:9090", limits=LIMITS)
    ctx = ServerContext("alerts", [be], options={"transport": t})
    return "alerts", ctx, None, "list_firing_alerts", {}


def _kubernetes(t: httpx.MockTransport, _req: pytest.FixtureRequest) -> Case:
    be = KubernetesBackend(type="kubernetes", name="prod", url="https://k8s.test:6443",
                           namespace="shop", limits=LIMITS,
                           auth=Auth(kind="bearer", secret="env:K8S")).with_secret("k8s-token")
    ctx = ServerContext("infra", [be], options={"transport": t})
    return "infra", ctx, None, "get_service_status", {"service": "checkout"}


def _infra_usage(t: httpx.MockTransport, req: pytest.FixtureRequest) -> Case:
    """The infra server's usage history from a Prometheus (the rest from a bundle)."""
    out: Path = req.getfixturevalue("bundle_dir")("cpu-throttling")
    prom = PrometheusBackend(type="prometheus", url="http://prom.test:9090", limits=LIMITS)
    ctx = ServerContext.for_bundle("infra", out, options={"metrics": prom,
                                                          "metrics_transport": t})
    return "infra", ctx, None, "get_resource_utilization", {"service": "checkout"}


ADAPTERS = {"prometheus": _metrics, "loki": _loki, "elasticsearch": _elastic,
            "jaeger": _jaeger, "tempo": _tempo, "alertmanager": _alertmanager,
            "adx": _adx, "adx-token": _adx_token, "pagerduty": _pagerduty,
            "prometheus-alerts": _prometheus_alerts, "kubernetes": _kubernetes,
            "infra-usage-prometheus": _infra_usage}


def _server(signal: str, ctx: ServerContext, backend: Any) -> Any:
    from obsbench_servers.registry import build_server

    if backend is None:
        return build_server(signal, ctx)
    from obsbench_servers.traces.server import create_server

    return create_server(ctx, backend)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_every_fault_is_a_clear_tool_error(adapter: str, fault: str,
                                           request: pytest.FixtureRequest) -> None:
    handler, words = FAULTS[fault]
    signal, ctx, backend, tool, args = ADAPTERS[adapter](httpx.MockTransport(handler), request)
    server = _server(signal, ctx, backend)

    async def go() -> tuple[Any, Any]:
        async with Client(server) as c:
            first = await c.call_tool(tool, args)
            again = await c.list_tools()
            return first, again

    try:
        result, again = asyncio.run(go())
    finally:
        ctx.close()
    text = "\n".join(getattr(x, "text", "") for x in result.content)
    assert "failed unexpectedly" not in text, text[:1000]
    assert result.is_error or "warning" in text, text[:1000]
    assert any(w in text for w in words), (adapter, fault, text[:1000])
    assert "hint" in text or "warning" in text
    assert again.tools


@pytest.mark.parametrize("fault", ["refused", "timeout", "tls"])
def test_adx_token_faults_name_the_token_host_not_the_cluster(
        fault: str, request: pytest.FixtureRequest) -> None:
    """A person must look at Entra ID, not at the cluster, when the token request fails."""
    signal, ctx, _, tool, args = _adx_token(httpx.MockTransport(FAULTS[fault][0]), request)

    async def go() -> Any:
        async with Client(_server(signal, ctx, None)) as c:
            return await c.call_tool(tool, args)

    try:
        result = asyncio.run(go())
    finally:
        ctx.close()
    text = "\n".join(getattr(x, "text", "") for x in result.content)
    assert result.is_error and "login.microsoftonline.com" in text, text
    assert "adx.test" not in text, text


def _token_answers(kind: str, *, is_async: bool) -> Callable[[httpx.Request], httpx.Response]:
    """Entra ID answering ``kind``; the Kusto query after it answers an empty v2 result."""
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host != "login.microsoftonline.com":
            return httpx.Response(200, json=[])
        if kind == "ok":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})
        if kind == "no_token":
            return httpx.Response(200, json={"token_type": "Bearer"})
        if is_async:
            async def abody() -> Any:
                for _ in range(200):
                    yield b"x" * MiB
            return httpx.Response(200, content=abody())
        return _huge(req)
    return handler


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["ok", "no_token", "huge"])
def test_adx_token_answer_is_parsed_safely_and_capped(kind: str, is_async: bool) -> None:
    """Both client kinds of common/http.py read the Entra ID answer capped (1 MiB)."""
    from obsbench_servers.common.http import build_async_client, build_client

    cfg = _adx_config()
    transport = httpx.MockTransport(_token_answers(kind, is_async=is_async))

    async def via_async() -> httpx.Response:
        async with build_async_client(cfg, transport=transport) as client:
            return await client.post("/v2/rest/query", json={})

    def via_sync() -> httpx.Response:
        with build_client(cfg, transport=transport) as client:
            return client.post("/v2/rest/query", json={})

    from obsbench_servers.common.http import RequestFailedError

    if kind == "ok":
        r = asyncio.run(via_async()) if is_async else via_sync()
        assert r.request.headers["Authorization"] == "Bearer tok-1"
        return
    with pytest.raises(RequestFailedError) as err:
        asyncio.run(via_async()) if is_async else via_sync()
    expected = {"no_token": ("bad_response", "not a token"),
                "huge": ("too_large", "larger than 1 MiB")}[kind]
    assert err.value.reason == expected[0] and expected[1] in err.value.message
