"""Every HTTP backend adapter against every fault: each becomes a clear tool error.

Faults are served by ``httpx.MockTransport`` (the recorded-payload style of the
servers' own tests): refused connection, read timeout, 503, 429 with
Retry-After, malformed JSON, truncated JSON, a 200 MB body (streamed lazily and
capped at ``limits.max_response_bytes``), and a TLS verification failure. The
tool answers with an error result (or a warning naming the failure where a
server degrades gracefully), never with "failed unexpectedly", and the server
answers the next call.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from mcp import Client

from obsbench_servers.common.backend import (
    AlertmanagerBackend,
    ElasticsearchBackend,
    JaegerBackend,
    Limits,
    LokiBackend,
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


def _metrics(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    be = PrometheusBackend(type="prometheus", url="http://prom.test:9090", limits=LIMITS)
    ctx = ServerContext("metrics", [be], options={"http_transport": t})
    return "metrics", ctx, None, "query", {"expr": "up", "time": "2026-03-10T14:00:00Z"}


def _loki(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    be = LokiBackend(type="loki", url="http://loki.test:3100", limits=LIMITS)
    ctx = ServerContext("logs", [be], options={"transport": t})
    return "logs", ctx, None, "search_logs", {"query": '{service="checkout"}'}


def _elastic(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    be = ElasticsearchBackend(type="elasticsearch", url="http://es.test:9200", limits=LIMITS)
    ctx = ServerContext("logs", [be], options={"transport": t})
    return "logs", ctx, None, "search_logs", {"service": "checkout"}


def _jaeger(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    from obsbench_servers.traces.backends.jaeger import JaegerTraces

    be = JaegerBackend(type="jaeger", url="http://jaeger.test:16686", limits=LIMITS)
    return ("traces", ServerContext("traces", [be]), JaegerTraces(be, transport=t),
            "find_error_traces", {"service": "checkout"})


def _tempo(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    from obsbench_servers.traces.backends.tempo import TempoTraces

    be = TempoBackend(type="tempo", url="http://tempo.test:3200", limits=LIMITS)
    return ("traces", ServerContext("traces", [be]), TempoTraces(be, transport=t),
            "find_error_traces", {"service": "checkout"})


def _alertmanager(t: httpx.MockTransport) -> tuple[str, ServerContext, Any, str, dict[str, Any]]:
    be = AlertmanagerBackend(type="alertmanager", url="http://am.test:9093", limits=LIMITS)
    ctx = ServerContext("alerts", [be], options={"transport": t})
    return "alerts", ctx, None, "list_firing_alerts", {}


ADAPTERS = {"prometheus": _metrics, "loki": _loki, "elasticsearch": _elastic,
            "jaeger": _jaeger, "tempo": _tempo, "alertmanager": _alertmanager}


def _server(signal: str, ctx: ServerContext, backend: Any) -> Any:
    from obsbench_servers.registry import build_server

    if backend is None:
        return build_server(signal, ctx)
    from obsbench_servers.traces.server import create_server

    return create_server(ctx, backend)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_every_fault_is_a_clear_tool_error(adapter: str, fault: str) -> None:
    handler, words = FAULTS[fault]
    signal, ctx, backend, tool, args = ADAPTERS[adapter](httpx.MockTransport(handler))
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
