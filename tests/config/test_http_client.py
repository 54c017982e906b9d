"""The one HTTP client factory: auth, tenant, headers, TLS, timeouts, size cap, failure reasons."""

from __future__ import annotations

import base64
import gzip
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from config_support import SECRET, closed_port_url
from pydantic import TypeAdapter

from obsbench_servers.common.backend import (
    AlertsBackend,
    BackendBase,
    LogsBackend,
    MetricsBackend,
)
from obsbench_servers.common.errors import ConfigError
from obsbench_servers.common.http import (
    RequestFailedError,
    build_client,
    build_timeout,
    failure_from_exception,
    failure_from_status,
    fetch,
    redact_url,
    ssl_context,
)

METRICS: TypeAdapter[Any] = TypeAdapter(MetricsBackend)
LOGS: TypeAdapter[Any] = TypeAdapter(LogsBackend)
ALERTS: TypeAdapter[Any] = TypeAdapter(AlertsBackend)


def _recording(
    status: int = 200, body: bytes = b"{}"
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler), seen


def _send(backend: BackendBase) -> httpx.Request:
    transport, seen = _recording()
    with build_client(backend.with_secret(SECRET), transport=transport) as client:
        client.get("/api/v1/status/buildinfo")
    return seen[0]


@pytest.mark.parametrize(
    ("adapter", "config", "header", "expected"),
    [
        (
            METRICS,
            {"type": "prometheus", "auth": {"kind": "bearer", "secret": "env:T"}},
            "authorization",
            f"Bearer {SECRET}",
        ),
        (
            METRICS,
            {"type": "thanos", "auth": {"kind": "basic", "username": "u", "secret": "env:T"}},
            "authorization",
            "Basic " + base64.b64encode(f"u:{SECRET}".encode()).decode(),
        ),
        (
            LOGS,
            {"type": "elasticsearch", "auth": {"kind": "api_key", "secret": "env:T"}},
            "authorization",
            f"ApiKey {SECRET}",
        ),
        (
            ALERTS,
            {"type": "pagerduty", "auth": {"kind": "api_key", "secret": "env:T"}},
            "authorization",
            f"Token token={SECRET}",
        ),
        (
            LOGS,
            {"type": "loki", "auth": {"kind": "header", "header": "X-API-Key", "secret": "env:T"}},
            "x-api-key",
            SECRET,
        ),
    ],
    ids=["bearer", "basic", "es-api-key", "pagerduty-token", "custom-header"],
)
def test_auth_kinds_send_the_right_header(
    adapter: TypeAdapter[Any], config: dict[str, Any], header: str, expected: str
) -> None:
    backend = adapter.validate_python({"url": "https://backend.example.com", **config})
    request = _send(backend)
    assert request.headers[header] == expected
    assert request.url.host in ("backend.example.com", "api.pagerduty.com")


def test_tenant_extra_headers_and_user_agent() -> None:
    mimir = METRICS.validate_python(
        {
            "type": "mimir",
            "url": "http://mimir/prometheus",
            "tenant": "team-a",
            "headers": {"X-Team": "sre"},
        }
    )
    request = _send(mimir)
    assert request.headers["x-scope-orgid"] == "team-a"
    assert request.headers["x-team"] == "sre"
    assert request.headers["user-agent"].startswith("obsbench/")
    assert str(request.url) == "http://mimir/prometheus/api/v1/status/buildinfo"
    thanos = METRICS.validate_python({"type": "thanos", "url": "http://t", "tenant": "t1"})
    assert _send(thanos).headers["thanos-tenant"] == "t1"
    custom = LOGS.validate_python(
        {"type": "loki", "url": "http://l", "tenant": "t2", "tenant_header": "X-Tenant"}
    )
    assert _send(custom).headers["x-tenant"] == "t2"


def test_the_client_never_holds_the_secret_in_its_headers_or_repr() -> None:
    backend = METRICS.validate_python(
        {"type": "prometheus", "url": "http://p", "auth": {"kind": "bearer", "secret": "env:T"}}
    )
    with build_client(backend.with_secret(SECRET)) as client:
        assert SECRET not in repr(client.headers) + repr(client.auth) + str(dict(client.headers))
        assert "Authorization" in repr(client.auth)


def test_an_unresolved_secret_is_a_config_error() -> None:
    backend = METRICS.validate_python(
        {"type": "prometheus", "url": "http://p", "auth": {"kind": "bearer", "secret": "env:T"}}
    )
    with pytest.raises(ConfigError) as info:
        build_client(backend)
    assert "env:T" in info.value.message and "set-secret" in str(info.value.hint)


def test_azure_ad_client_credentials_token_is_fetched_once() -> None:
    adx = LOGS.validate_python(
        {
            "type": "adx",
            "cluster": "https://c.kusto.windows.net",
            "database": "db",
            "azure_tenant_id": "tid",
            "auth": {"kind": "azure_ad", "username": "app-id", "secret": "env:ADX"},
        }
    )
    token_calls: list[dict[str, str]] = []
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.microsoftonline.com":
            assert request.url.path == "/tid/oauth2/v2.0/token"
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            token_calls.append(form)
            return httpx.Response(200, json={"access_token": "aad-token", "expires_in": 3600})
        seen.append(request)
        return httpx.Response(200, json={})

    with build_client(adx.with_secret(SECRET), transport=httpx.MockTransport(handler)) as client:
        client.post("/v1/rest/mgmt", json={})
        client.post("/v1/rest/mgmt", json={})
    assert len(token_calls) == 1
    assert token_calls[0]["grant_type"] == "client_credentials"
    assert token_calls[0]["client_id"] == "app-id"
    assert token_calls[0]["scope"] == "https%3A%2F%2Fc.kusto.windows.net%2F.default"
    assert [r.headers["authorization"] for r in seen] == ["Bearer aad-token"] * 2


def test_azure_ad_refusal_is_unauthorized() -> None:
    adx = LOGS.validate_python(
        {
            "type": "adx",
            "cluster": "https://c.kusto.windows.net",
            "database": "db",
            "azure_tenant_id": "tid",
            "auth": {"kind": "azure_ad", "username": "app", "secret": "env:A"},
        }
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret",
            },
        )

    transport = httpx.MockTransport(handler)
    with (
        build_client(adx.with_secret(SECRET), transport=transport) as client,
        pytest.raises(RequestFailedError) as info,
    ):
        client.get("/x")
    assert info.value.reason == "unauthorized" and "AADSTS7000215" in info.value.message


def test_fetch_caps_the_body_even_when_compressed() -> None:
    backend = METRICS.validate_python({"type": "prometheus", "url": "http://p"})
    big = b"x" * (3 << 20)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/plain":
            return httpx.Response(200, content=big)
        return httpx.Response(200, content=gzip.compress(big), headers={"content-encoding": "gzip"})

    with build_client(backend, transport=httpx.MockTransport(handler)) as client:
        for path in ("/plain", "/gzip"):
            with pytest.raises(RequestFailedError) as info:
                fetch(client, "GET", path, max_bytes=1 << 20, total_timeout=10)
            assert info.value.reason == "too_large"
            assert "1 MiB" in info.value.message and "max_response_bytes" in info.value.message
        ok = fetch(client, "GET", "/gzip", max_bytes=4 << 20, total_timeout=10)
        assert ok.content == big and "content-encoding" not in ok.headers


class _Trickle(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        for _ in range(20):
            time.sleep(0.1)
            yield b"."


def test_fetch_enforces_the_total_deadline() -> None:
    backend = METRICS.validate_python({"type": "prometheus", "url": "http://p"})
    transport = httpx.MockTransport(lambda r: httpx.Response(200, stream=_Trickle()))
    with build_client(backend, transport=transport) as client:
        t0 = time.monotonic()
        with pytest.raises(RequestFailedError) as info:
            fetch(client, "GET", "/slow", max_bytes=1 << 20, total_timeout=0.35)
        assert time.monotonic() - t0 < 1.5
    assert info.value.reason == "timeout" and "timeouts.total" in str(info.value.hint)


def test_timeouts_never_exceed_total_or_the_cap() -> None:
    backend = METRICS.validate_python(
        {
            "type": "prometheus",
            "url": "http://p",
            "timeouts": {"connect": 3, "read": 90, "total": 45},
        }
    )
    t = build_timeout(backend.timeouts)
    assert (t.connect, t.read, t.pool) == (3, 45, 45)
    t = build_timeout(backend.timeouts, cap=2)
    assert (t.connect, t.read) == (2, 2)


def test_refused_connection_is_named_with_a_hint() -> None:
    backend = METRICS.validate_python({"type": "prometheus", "url": closed_port_url()})
    with build_client(backend) as client, pytest.raises(RequestFailedError) as info:
        fetch(client, "GET", "/api/v1/status/buildinfo", max_bytes=1024, total_timeout=5)
    assert info.value.reason == "refused"
    assert "connection refused" in info.value.message and "port" in str(info.value.hint)


def test_dns_failure_simulated_resolver_error_is_named() -> None:
    """The resolver's own exception, as httpx wraps it (no DNS lookup is made here)."""
    try:
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as cause:
        exc = httpx.ConnectError("[Errno -2] Name or service not known")
        exc.__cause__ = cause
    failure = failure_from_exception(exc, "https://promethus.internal:9090/api")
    assert failure.reason == "dns"
    assert "promethus.internal" in failure.message and "DNS" in str(failure.hint)


def test_tls_verification_failure_is_named() -> None:
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    cause.verify_message = "self-signed certificate"
    exc = httpx.ConnectError("certificate verify failed")
    exc.__cause__ = cause
    failure = failure_from_exception(exc, "https://prom:9090")
    assert failure.reason == "tls" and "self-signed certificate" in failure.message
    assert "tls.ca_file" in str(failure.hint)


@pytest.mark.parametrize(
    ("status", "reason", "hint_part"),
    [
        (401, "unauthorized", "set-secret"),
        (403, "forbidden", "tenant"),
        (404, "not_found", "/prometheus"),
        (429, "rate_limited", "requests_per_second"),
        (503, "server_error", "health"),
        (400, "http_error", "request"),
    ],
)
def test_http_statuses_become_reasons(status: int, reason: str, hint_part: str) -> None:
    request = httpx.Request("GET", "http://p/api/v1/query?query=up&api_key=abc")
    response = httpx.Response(
        status,
        json={"status": "error", "error": "boom"},
        request=request,
        headers={"Retry-After": "7"} if status == 429 else {},
    )
    failure = failure_from_status(response)
    assert failure is not None
    assert failure.reason == reason and failure.status == status
    assert hint_part in str(failure.hint)
    assert "boom" in failure.message and "api_key=REDACTED" in failure.message
    if status == 429:
        assert "Retry-After: 7" in failure.message
    assert failure_from_status(httpx.Response(200, request=request)) is None


def test_redact_url_drops_credentials() -> None:
    assert (
        redact_url("https://u:pw@host:8443/p?token=t&q=up")
        == "https://host:8443/p?token=REDACTED&q=up"
    )


def test_tls_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = METRICS.validate_python(
        {"type": "prometheus", "url": "https://p", "tls": {"ca_file": str(tmp_path / "nope.pem")}}
    )
    with pytest.raises(ConfigError) as info:
        ssl_context(missing)
    assert "tls.ca_file" in info.value.message and "does not exist" in info.value.message
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError) as info:
        ssl_context(
            METRICS.validate_python(
                {"type": "prometheus", "url": "https://p", "tls": {"ca_file": str(junk)}}
            )
        )
    assert "not a PEM CA bundle" in info.value.message
    insecure = METRICS.validate_python(
        {"type": "prometheus", "url": "https://p:9443", "tls": {"insecure_skip_verify": True}}
    )
    with caplog.at_level(logging.WARNING, logger="obsbench_servers.http"):
        ctx = ssl_context(insecure)
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert "TLS verification is disabled for https://p:9443" in caplog.text
