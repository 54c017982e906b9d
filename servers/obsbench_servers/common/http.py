"""One way to talk HTTP to a backend: a client built from a resolved backend config.

``build_client(backend)`` applies everything the config says — base URL, auth
(basic, bearer, custom header, API key, Azure AD client credentials), tenant
header, extra headers, CA bundle, client certificate, insecure-skip-verify
(logged as a warning), connect/read timeouts — so that no adapter re-implements
it. ``fetch`` adds what httpx lacks: a total deadline and a response size cap.
A client for a real backend also goes through ``ResilientTransport``
(``common/resilience.py``): the backend's shared rate limit and concurrency cap,
a circuit breaker, jittered retries of idempotent reads, ``Retry-After``.
``failure_from_exception`` / ``failure_from_status`` turn what went wrong into
an ``RequestFailedError`` that says why (DNS, refused, TLS, timeout, 401, ...) and what
to try.

Secrets: credential headers are added per request by an ``httpx.Auth`` whose
repr names only the header, so the client's default headers, reprs and logs
never hold a secret value.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterator
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from obsbench_servers.common.backend import ADXBackend, BackendBase, PagerDutyBackend, Timeouts
from obsbench_servers.common.errors import BackendError, ConfigError

log = logging.getLogger("obsbench_servers.http")

try:
    _VERSION = metadata.version("obsbench")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
USER_AGENT = f"obsbench/{_VERSION}"

_SENSITIVE_PARAMS = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "password", "sig", "signature", "secret"}
)


class RequestFailedError(BackendError):
    """A request failed; ``reason`` is a short category a person can act on."""

    def __init__(
        self, reason: str, message: str, hint: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason
        self.status = status

    def to_dict(self) -> dict[str, str]:
        data = super().to_dict()
        data["reason"] = self.reason
        return data


# --------------------------------------------------------------------------- auth


class SecretHeaderAuth(httpx.Auth):
    """Adds credential headers at send time; its repr never shows a value."""

    def __init__(self, headers: dict[str, SecretStr]) -> None:
        self._headers = headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name, value in self._headers.items():
            request.headers[name] = value.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"SecretHeaderAuth(headers={sorted(self._headers)})"


class AzureADAuth(httpx.Auth):
    """Azure AD (Entra ID) client-credentials flow for ADX; the token is cached until expiry."""

    # The token answer is read here, capped: a proxy answering with an endless body
    # must not be read whole (httpx would, with requires_response_body).
    requires_response_body = False
    MAX_TOKEN_BYTES = 1024 * 1024

    def __init__(
        self,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        resource: str,
    ) -> None:
        self.token_url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = f"{resource.rstrip('/')}/.default"
        self._token: SecretStr | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "scope": self._scope,
            },
        )

    def _accept(self, response: httpx.Response, content: bytes) -> None:
        if response.status_code != 200:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(json.loads(content).get("error_description", ""))[:300]
            if response.status_code == 429 or response.status_code >= 500:
                # Not a credentials problem: say so, or the person checks the wrong thing.
                retry = response.headers.get("Retry-After")
                raise RequestFailedError(
                    "rate_limited" if response.status_code == 429 else "server_error",
                    f"Azure AD could not issue a token ({response.status_code}"
                    + (f", Retry-After: {retry}" if retry else "") + ")",
                    "Entra ID is throttling or unavailable: wait and try again",
                    status=response.status_code,
                )
            raise RequestFailedError(
                "unauthorized",
                f"Azure AD refused the token request ({response.status_code}) {detail}".strip(),
                "check auth.username (the app's client id), azure_tenant_id and the client secret "
                "the auth.secret reference points at",
                status=response.status_code,
            )
        # A proxy's HTML login page or a cut-off body must be a clear error, not a crash.
        try:
            body = json.loads(content)
            token = body["access_token"]
            expires = float(body.get("expires_in", 3600))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RequestFailedError(
                "bad_response",
                "Azure AD answered the token request with something that is not a token "
                f"({type(exc).__name__}: invalid JSON or no access token in it)",
                "check azure_authority (a proxy or login page may be answering instead)",
                status=response.status_code,
            ) from None
        self._token = SecretStr(str(token))
        self._expires = time.monotonic() + expires - 60

    def _too_large(self, response: httpx.Response) -> RequestFailedError:
        return RequestFailedError(
            "too_large",
            f"Azure AD's token answer is larger than "
            f"{self.MAX_TOKEN_BYTES // (1024 * 1024)} MiB; it was not read",
            "check azure_authority (a proxy may be answering instead)",
            status=response.status_code)

    def _fresh(self) -> bool:
        with self._lock:
            return self._token is not None and time.monotonic() < self._expires

    def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the token answer, refusing one larger than ``MAX_TOKEN_BYTES``."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.MAX_TOKEN_BYTES:
                    raise self._too_large(response)
                chunks.append(chunk)
        finally:
            response.close()
        return b"".join(chunks)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._fresh():
            response = yield self._token_request()
            content = self._read_capped(response)
            with self._lock:
                self._accept(response, content)
        assert self._token is not None
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The same flow for ``build_async_client`` (its token answer read capped, async)."""
        if not self._fresh():
            response = yield self._token_request()
            chunks: list[bytes] = []
            size = 0
            try:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.MAX_TOKEN_BYTES:
                        raise self._too_large(response)
                    chunks.append(chunk)
            finally:
                await response.aclose()
            with self._lock:
                self._accept(response, b"".join(chunks))
        assert self._token is not None
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"AzureADAuth(token_url={self.token_url!r}, client_id={self._client_id!r})"


def _require_secret(backend: BackendBase) -> SecretStr:
    secret = backend.secret
    if secret is None:
        raise ConfigError(
            f"{backend.type} backend: secret reference {backend.auth.secret!r} was not resolved",
            "the workbench resolves references before connecting; check it with "
            "`obsbench config show` (or store it with `obsbench config set-secret NAME`)",
        )
    return secret


def auth_for(backend: BackendBase) -> httpx.Auth | None:
    """The httpx auth for a resolved backend (None when it needs none)."""
    kind = backend.auth.kind
    if kind == "none":
        return None
    secret = _require_secret(backend)
    if kind == "basic":
        raw = f"{backend.auth.username}:{secret.get_secret_value()}".encode()
        return SecretHeaderAuth(
            {"Authorization": SecretStr("Basic " + base64.b64encode(raw).decode())}
        )
    if kind == "bearer":
        return SecretHeaderAuth({"Authorization": SecretStr(f"Bearer {secret.get_secret_value()}")})
    if kind == "header":
        return SecretHeaderAuth({str(backend.auth.header): secret})
    if kind == "api_key":
        scheme = "Token token=" if isinstance(backend, PagerDutyBackend) else "ApiKey "
        return SecretHeaderAuth({"Authorization": SecretStr(scheme + secret.get_secret_value())})
    if kind == "azure_ad":
        if not isinstance(backend, ADXBackend) or not backend.azure_tenant_id:
            raise ConfigError("auth kind azure_ad is only for adx backends with azure_tenant_id")
        return AzureADAuth(
            backend.azure_authority,
            backend.azure_tenant_id,
            str(backend.auth.username),
            secret,
            backend.cluster,
        )
    raise ConfigError(f"unknown auth kind {kind!r}")  # pragma: no cover - the model forbids it


# --------------------------------------------------------------------------- TLS, timeouts


@functools.lru_cache(maxsize=32)
def _context(
    ca: str | None, cert: str | None, key: str | None, insecure: bool, stamp: tuple[int, ...]
) -> ssl.SSLContext:
    """One context per TLS setting (and file version): loading the CA store costs ~0.1 s."""
    del stamp  # part of the cache key only: an edited file gets a new context
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except ssl.SSLError as exc:
        raise _TLSFileError("ca", exc) from exc
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        try:
            ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise _TLSFileError("cert", exc) from exc
    return ctx


class _TLSFileError(Exception):
    def __init__(self, part: str, exc: Exception) -> None:
        super().__init__(str(exc))
        self.part = part


def ssl_context(backend: BackendBase) -> ssl.SSLContext:
    """Verification per ``tls``: a CA bundle, a client certificate, or (warned) none."""
    tls = backend.tls
    files = (
        ("tls.ca_file", tls.ca_file),
        ("tls.cert_file", tls.cert_file),
        ("tls.key_file", tls.key_file),
    )
    for name, path in files:
        if path is not None and not path.is_file():
            raise ConfigError(
                f"{backend.type} backend: {name} {path} does not exist",
                f"fix the path in {name}, or remove the key",
            )
    if tls.insecure_skip_verify:
        log.warning(
            "TLS verification is disabled for %s (tls.insecure_skip_verify = true)",
            redact_url(backend.target()),
        )
    stamp = tuple(p.stat().st_mtime_ns for _, p in files if p is not None)
    try:
        return _context(
            str(tls.ca_file) if tls.ca_file else None,
            str(tls.cert_file) if tls.cert_file else None,
            str(tls.key_file) if tls.key_file else None,
            tls.insecure_skip_verify,
            stamp,
        )
    except _TLSFileError as exc:
        if exc.part == "ca":
            raise ConfigError(
                f"{backend.type} backend: tls.ca_file {tls.ca_file} is not a PEM CA bundle ({exc})",
                "point tls.ca_file at PEM-encoded CA certificates",
            ) from exc
        raise ConfigError(
            f"{backend.type} backend: cannot load client certificate {tls.cert_file} "
            f"with key {tls.key_file}: {exc}",
            "tls.cert_file and tls.key_file must be a matching PEM certificate and "
            "unencrypted private key",
        ) from exc


def insecure_warning(backend: BackendBase) -> str | None:
    """The warning to show a person when verification is off."""
    if backend.tls.insecure_skip_verify:
        return (
            "TLS certificate verification is disabled (tls.insecure_skip_verify); "
            "anyone on the path can read the traffic and the credentials"
        )
    return None


def build_timeout(timeouts: Timeouts, cap: float | None = None) -> httpx.Timeout:
    """httpx timeouts from the config; none exceeds ``total`` (nor ``cap`` when given)."""
    limit = min(timeouts.total, cap) if cap else timeouts.total
    read = min(timeouts.read, limit)
    return httpx.Timeout(connect=min(timeouts.connect, limit), read=read, write=read, pool=limit)


def _client_kwargs(backend: BackendBase, timeout_cap: float | None) -> dict[str, Any]:
    headers = {"User-Agent": USER_AGENT, **backend.headers}
    if backend.tenant:
        headers[backend.tenant_header_name] = backend.tenant
    return {
        "base_url": backend.endpoint(),
        "headers": headers,
        "auth": auth_for(backend),
        "verify": ssl_context(backend),
        "timeout": build_timeout(backend.timeouts, timeout_cap),
        "follow_redirects": True,
        "trust_env": True,
    }


def build_client(
    backend: BackendBase,
    *,
    timeout_cap: float | None = None,
    transport: httpx.BaseTransport | None = None,
    resilience: bool | None = None,
) -> httpx.Client:
    """A synchronous client for a resolved backend (``backend.with_secret(...)``).

    ``resilience`` (rate limit, breaker, retries; see ``common/resilience.py``) is on
    by default for the real network and off for an injected ``transport`` (a test's
    mock), unless asked for explicitly.
    """
    kwargs = _client_kwargs(backend, timeout_cap)
    if resilience is None:
        resilience = transport is None
    if resilience:
        from obsbench_servers.common.resilience import (  # noqa: PLC0415 - small, on demand
            ResilientTransport,
            gate_for,
        )

        inner = transport or httpx.HTTPTransport(verify=kwargs["verify"], trust_env=True)
        limits = getattr(backend, "limits", None)
        gate = gate_for(str(kwargs["base_url"]), backend.tenant or "",
                        rate=float(getattr(limits, "requests_per_second", 10.0)),
                        concurrency=int(getattr(limits, "concurrency", 4)))
        transport = ResilientTransport(inner, gate)
    if transport is not None:
        kwargs["transport"] = transport
    return httpx.Client(**kwargs)


def build_async_client(
    backend: BackendBase,
    *,
    timeout_cap: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The asynchronous twin of ``build_client``."""
    kwargs = _client_kwargs(backend, timeout_cap)
    if transport is not None:
        kwargs["transport"] = transport
    return httpx.AsyncClient(**kwargs)


# --------------------------------------------------------------------------- requests


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def read_capped(
    chunks: Iterator[bytes], max_bytes: int, *, deadline: float | None = None, url: str = ""
) -> bytes:
    """Read a body up to ``max_bytes``, failing past the cap or the monotonic ``deadline``."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > max_bytes:
            raise RequestFailedError(
                "too_large",
                f"response from {redact_url(url)} is larger than {_size(max_bytes)} "
                "(limits.max_response_bytes)",
                "narrow the query (shorter range, fewer series, a lower limit) or raise "
                "limits.max_response_bytes",
            )
        if deadline is not None and time.monotonic() > deadline:
            raise RequestFailedError(
                "timeout",
                f"{redact_url(url)} did not finish within the total timeout",
                "narrow the query, or raise timeouts.total",
            )
    return bytes(buf)


def fetch(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    total_timeout: float,
    **kwargs: Any,
) -> httpx.Response:
    """One request with a total deadline and a size cap; errors raise RequestFailedError.

    The returned response has its body read; HTTP error statuses are returned,
    not raised (see ``failure_from_status``).
    """
    deadline = time.monotonic() + total_timeout
    full = str(client.base_url.join(url))
    try:
        with client.stream(method, url, **kwargs) as resp:
            # Decoded bytes count against the cap, so a compressed bomb is caught too.
            body = read_capped(resp.iter_bytes(), max_bytes, deadline=deadline, url=full)
            headers = [
                (k, v)
                for k, v in resp.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(
                resp.status_code,
                headers=headers,
                content=body,
                request=resp.request,
                extensions=resp.extensions,
            )
    except httpx.HTTPError as exc:
        raise failure_from_exception(exc, full) from exc


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, BaseException):
                yield arg
        cur = cur.__cause__ or cur.__context__


def failure_from_exception(exc: BaseException, url: str) -> RequestFailedError:
    """Name what went wrong with a request that got no HTTP answer, and what to try."""
    if isinstance(exc, httpx.RequestError):
        # The failing request may be another host's, e.g. the Entra ID token request an
        # ADX query makes first: name that host, not the one the caller asked for.
        try:
            sent = str(exc.request.url)
        except RuntimeError:  # no request attached
            sent = url
        if urlsplit(sent).hostname != urlsplit(url).hostname:
            url = sent
    where = redact_url(url)
    host = urlsplit(url).hostname or where
    if isinstance(exc, RequestFailedError):
        return exc
    if isinstance(exc, httpx.ConnectTimeout):
        return RequestFailedError(
            "timeout",
            f"connecting to {where} timed out",
            "check that the host is reachable from here (VPN, firewall, proxy), "
            "or raise timeouts.connect",
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestFailedError(
            "timeout",
            f"{where} accepted the connection but did not answer in time",
            "the server is overloaded or hung, or the query is too heavy; "
            "try again, or raise timeouts.read / timeouts.total",
        )
    text = " ".join(str(c) for c in _causes(exc)).lower()
    for cause in _causes(exc):
        if (
            isinstance(cause, socket.gaierror)
            or "name or service not known" in text
            or "nodename nor servname" in text
            or "temporary failure in name resolution" in text
        ):
            return RequestFailedError(
                "dns",
                f"cannot resolve host {host!r}",
                "check the hostname in url, your DNS and VPN",
            )
        if isinstance(cause, ssl.SSLCertVerificationError) or "certificate verify failed" in text:
            verify = next(
                (c for c in _causes(exc) if isinstance(c, ssl.SSLCertVerificationError)), None
            )
            detail = getattr(verify, "verify_message", "") or "certificate verify failed"
            return RequestFailedError(
                "tls",
                f"TLS: the certificate of {host} is not trusted ({detail})",
                "set tls.ca_file to the CA bundle that signed the server's "
                "certificate (tls.insecure_skip_verify = true only for a test)",
            )
        if (
            isinstance(cause, ConnectionRefusedError)
            or "connection refused" in text
            or "errno 111" in text
        ):
            return RequestFailedError(
                "refused",
                f"connection refused by {where}",
                "is the service running and listening on that host and port? "
                "check the port in url, or port-forward to it",
            )
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError) or "[ssl" in text:
            return RequestFailedError(
                "tls",
                f"TLS handshake with {host} failed ({cause})",
                "check the scheme (http vs https), tls.ca_file and, if the "
                "server requires one, tls.cert_file / tls.key_file",
            )
    if isinstance(exc, httpx.RemoteProtocolError):
        return RequestFailedError(
            "protocol",
            f"{where} closed the connection or answered garbage ({exc})",
            "check the port and scheme: is this really the backend's HTTP API?",
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return RequestFailedError("bad_url", f"invalid URL {where}: {exc}", "fix url in the config")
    return RequestFailedError(
        "network", f"request to {where} failed: {exc}", "check network connectivity to the backend"
    )


def failure_from_status(response: httpx.Response) -> RequestFailedError | None:
    """An ``RequestFailedError`` for a non-2xx answer (None for success)."""
    code = response.status_code
    if code < 400:
        return None
    where = redact_url(str(response.request.url)) if response.request else ""
    snippet = _error_snippet(response)
    msg = f"{where} answered {code} {response.reason_phrase}".strip()
    if snippet:
        msg += f": {snippet}"
    if code == 400 and "http request to an https server" in snippet.lower():
        return RequestFailedError(
            "wrong_scheme", msg, "the server speaks HTTPS: change url to https://", status=code
        )
    if code == 401:
        return RequestFailedError(
            "unauthorized",
            msg,
            "the credentials were refused: check auth.kind and that auth.secret "
            "resolves to a valid token (`obsbench config show`; store a new one "
            "with `obsbench config set-secret NAME`)",
            status=code,
        )
    if code == 403:
        return RequestFailedError(
            "forbidden",
            msg,
            "authenticated but not allowed: check the account's permissions "
            "and, for multi-tenant stores, the tenant",
            status=code,
        )
    if code == 404:
        return RequestFailedError(
            "not_found",
            msg,
            "the endpoint is not there: check the url's path prefix (Mimir "
            "serves the Prometheus API under /prometheus; a reverse proxy may "
            "add one) and the backend type",
            status=code,
        )
    if code == 429:
        retry = response.headers.get("Retry-After")
        return RequestFailedError(
            "rate_limited",
            msg + (f" (Retry-After: {retry})" if retry else ""),
            "the backend is rate limiting: wait, or lower limits.requests_per_second",
            status=code,
        )
    if code >= 500:
        return RequestFailedError(
            "server_error",
            msg,
            "the backend is failing or overloaded; check its health and logs",
            status=code,
        )
    return RequestFailedError(
        "http_error", msg, "check the request and the backend's documentation", status=code
    )


def _error_snippet(response: httpx.Response, limit: int = 200) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:limit]
    if isinstance(body, dict):
        for key in ("error", "message", "msg", "errors"):
            if body.get(key):
                value = body[key]
                if isinstance(value, dict):
                    value = value.get("reason") or value.get("message") or value
                return str(value)[:limit]
    if isinstance(body, str):
        return body[:limit]
    return ""


def redact_url(url: str) -> str:
    """A URL without user info or credential-like query parameters, safe to log and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode(
        [
            (k, "REDACTED" if k.lower() in _SENSITIVE_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
