"""Prometheus HTTP API backend: Prometheus, Thanos, Mimir (X-Scope-OrgID) and VictoriaMetrics.

All four serve ``/api/v1/query``, ``query_range``, ``series``, ``labels``,
``label/<name>/values``, ``metadata`` and (Prometheus, Thanos rulers, Mimir)
``alerts``. The client comes from ``common/http.py`` (auth, tenant header,
TLS, timeouts); ``fetch`` bounds every answer in time and size. What can go
wrong becomes an error that says what to fix:

- ``bad_data`` (400) and ``execution`` (422): the query is wrong -> ``BadInputError``
  with Prometheus's message (which carries the position of a parse error);
- ``timeout``/``canceled`` (503), 5xx, 429, 401/403, 404: ``BackendError`` with
  the reason and a hint;
- an HTML page (a login proxy, a wrong port) or a body that is not the API's
  JSON envelope: ``BackendError`` naming what came back.

Reads are idempotent, so a 502/503/504 or 429 is retried once (``Retry-After``
honoured up to 2 s).

With ``tenant_label`` set (a Prometheus shared by tenants), ``metrics/tenancy.py``
pins every query and every discovery request to the profile's tenant: PromQL is
rewritten through the parser, ``series``/``labels``/``label values`` get the
tenant's ``match[]``, metadata is cut to the tenant's metric families and alerts
to the tenant's own.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from obsbench_servers.common.backend import PrometheusBackend
from obsbench_servers.common.errors import BackendError, BadInputError
from obsbench_servers.common.http import (
    RequestFailedError,
    build_client,
    failure_from_status,
    fetch,
    redact_url,
)
from obsbench_servers.metrics.backend import QueryData
from obsbench_servers.metrics.tenancy import TenantScope

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_POST_OVER = 1500  # characters of query beyond which the form body is used
_FAMILY_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _seconds(ns: int) -> str:
    whole, frac = divmod(ns, 1_000_000_000)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac // 1_000_000:03d}"


class PrometheusHTTP:
    """``MetricsBackend`` over the Prometheus HTTP API."""

    def __init__(self, config: PrometheusBackend,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.kind: str = config.type
        self.limits = config.limits
        self.description = f"{config.type} {redact_url(config.endpoint())}"
        self.timeout_s = float(config.timeouts.total)
        self.data_start_ns: int | None = None  # a live store: its data began long ago
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        # Checked here so a tenant_label without a tenant fails before any request.
        self.tenant = TenantScope.from_config(config.tenant_label, config.tenant)

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = build_client(self.config, transport=self._transport)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- the request path

    def prepare_query(self, expr: str) -> str:
        """The PromQL actually sent: with a tenant, every selector pinned to it."""
        return self.tenant.query(expr) if self.tenant else expr

    def _discovery_match(self, match: list[str] | None) -> list[str]:
        """``match[]`` of a discovery request: the tenant's series only, when there is one."""
        return self.tenant.matches(match) if self.tenant else list(match or [])

    def _request(self, path: str, params: list[tuple[str, str]]) -> tuple[Any, list[str], str]:
        """GET (or POST for long queries) ``path``; return (data, warnings, request text)."""
        size = sum(len(v) for _, v in params)
        method = "POST" if size > _POST_OVER else "GET"
        shown = f"{method} {path}?" + "&".join(f"{k}={v}" for k, v in params)
        attempts = 2
        for attempt in range(attempts):
            kwargs: dict[str, Any] = {"params": params}
            if method == "POST":
                kwargs = {"content": urlencode(params),
                          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
            resp = fetch(self.client, method, path, max_bytes=self.limits.max_response_bytes,
                         total_timeout=self.timeout_s, **kwargs)
            if (resp.status_code in _RETRY_STATUSES and attempt + 1 < attempts
                    and not _is_api_error(resp, "bad_data", "execution")):
                time.sleep(_retry_after(resp))
                continue
            return (*self._decode(resp, path), shown)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, resp: httpx.Response, path: str) -> tuple[Any, list[str]]:
        ctype = resp.headers.get("content-type", "")
        body = resp.content
        where = redact_url(str(resp.request.url)) if resp.request else path
        head = body[:256].lstrip().lower()
        if "html" in ctype or head.startswith((b"<!doctype", b"<html")):
            if resp.status_code == 401:
                raise failure_from_status(resp) or BackendError("401")
            raise BackendError(
                f"{where} answered an HTML page (HTTP {resp.status_code}), not the Prometheus API",
                "the URL points at a web UI, a login page or a proxy: set url to the API's base "
                "(e.g. http://prometheus:9090, Mimir: https://mimir/prometheus) and check auth",
            )
        try:
            doc = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or "status" not in doc:
            failure = failure_from_status(resp)
            if failure is not None:
                raise failure
            snippet = body[:120].decode("utf-8", "replace")
            raise BackendError(
                f"{where} answered something that is not the Prometheus API's JSON "
                f"(HTTP {resp.status_code}, {ctype or 'no content type'}): {snippet!r}",
                "check that url is a Prometheus-compatible API (Prometheus, Thanos Query, "
                "Mimir's /prometheus, VictoriaMetrics)",
            )
        if doc.get("status") != "success":
            etype = str(doc.get("errorType", ""))
            error = str(doc.get("error", "unknown error"))
            if etype in ("bad_data", "execution") or resp.status_code in (400, 422):
                raise BadInputError(
                    f"{self.config.type} rejected the query ({etype}): {error}",
                    "fix the PromQL (list_metrics and label_values show what exists); "
                    "for many-to-many errors add on(...)/ignoring(...) or aggregate first",
                )
            if etype in ("timeout", "canceled"):
                raise BackendError(
                    f"{self.config.type} gave up on the query ({etype}): {error}",
                    "narrow the time range or the selector, or use a larger step",
                )
            failure = failure_from_status(resp)
            if failure is not None:
                failure.message = f"{failure.message} ({etype or 'error'}: {error})"
                raise failure
            raise BackendError(f"{self.config.type} answered an error ({etype}): {error}")
        if resp.status_code >= 400:
            raise failure_from_status(resp) or BackendError(f"HTTP {resp.status_code}")
        warnings = [str(w) for w in doc.get("warnings", []) or []]
        return doc.get("data"), warnings

    # -- MetricsBackend

    def query(self, expr: str, time_ns: int) -> QueryData:
        data, warnings, shown = self._request(
            "/api/v1/query", [("query", self.prepare_query(expr)), ("time", _seconds(time_ns))])
        _check_data(data, "query")
        return QueryData(data, shown, warnings)

    def query_range(self, expr: str, start_ns: int, end_ns: int, step_s: float) -> QueryData:
        data, warnings, shown = self._request("/api/v1/query_range", [
            ("query", self.prepare_query(expr)), ("start", _seconds(start_ns)),
            ("end", _seconds(end_ns)), ("step", f"{step_s:g}")])
        _check_data(data, "query_range")
        return QueryData(data, shown, warnings)

    def series(self, match: list[str], start_ns: int, end_ns: int) -> list[dict[str, str]]:
        params = [("match[]", self.prepare_query(m)) for m in match]
        params += [("start", _seconds(start_ns)), ("end", _seconds(end_ns))]
        data, _, _ = self._request("/api/v1/series", params)
        if not isinstance(data, list):
            raise BackendError("series answer is not a list", "check the backend type")
        return [dict(d) for d in data]

    def count_series(self, match: list[str], start_ns: int, end_ns: int) -> int | None:
        """The most series any one selector selects at ``end_ns``, counted by the backend.

        One small instant query (``count(sel)``, one per selector joined with ``or`` under a
        ``probe`` label) instead of ``/api/v1/series``, whose answer is as large as the
        selection itself. Series that ended before the lookback at ``end_ns`` are not
        counted: the probe bounds what the query will read, not the whole history.
        """
        if not match:
            return 0
        parts = [f'label_replace(count({m}), "probe", "{i}", "", "")'
                 for i, m in enumerate(match)]
        expr = parts[0] if len(parts) == 1 else " or ".join(parts)
        data, _, _ = self._request("/api/v1/query", [("query", self.prepare_query(expr)),
                                                    ("time", _seconds(end_ns))])
        if not isinstance(data, dict):
            return None
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list):
            return _count(result)
        if not isinstance(result, list):
            return None
        counts = [_count(r.get("value")) for r in result if isinstance(r, dict)]
        return max(counts, default=0)

    def label_names(self, match: list[str] | None, start_ns: int, end_ns: int) -> list[str]:
        params = [("match[]", m) for m in self._discovery_match(match)]
        params += [("start", _seconds(start_ns)), ("end", _seconds(end_ns))]
        data, _, _ = self._request("/api/v1/labels", params)
        return sorted(str(x) for x in data or [])

    def label_values(
        self, label: str, match: list[str] | None, start_ns: int, end_ns: int
    ) -> list[str]:
        params = [("match[]", m) for m in self._discovery_match(match)]
        params += [("start", _seconds(start_ns)), ("end", _seconds(end_ns))]
        data, _, _ = self._request(f"/api/v1/label/{label}/values", params)
        return sorted(str(x) for x in data or [])

    def metadata(self, metric: str | None = None) -> dict[str, list[dict[str, str]]]:
        meta = self._metadata(metric)
        if self.tenant is None or not meta:
            return meta
        # /api/v1/metadata takes no match[]: keep the families the tenant has series of.
        names = set(self.label_values("__name__", None, 0, time.time_ns()))
        return {k: v for k, v in meta.items()
                if k in names or any(k + s in names for s in _FAMILY_SUFFIXES)}

    def _metadata(self, metric: str | None = None) -> dict[str, list[dict[str, str]]]:
        params = [("metric", metric)] if metric else []
        data, _, _ = self._request("/api/v1/metadata", params)
        if not isinstance(data, dict):
            return {}
        if metric and not data:
            # Prometheus keys metadata by family; try the family of a series name.
            for suffix in _FAMILY_SUFFIXES:
                if metric.endswith(suffix):
                    return self._metadata(metric[: -len(suffix)])
        return {str(k): list(v) for k, v in data.items()}

    def alerts(self, now_ns: int) -> list[dict[str, Any]]:
        data, _, _ = self._request("/api/v1/alerts", [])
        if not isinstance(data, dict):
            raise BackendError("alerts answer has no data object", "check the backend type")
        alerts = list(data.get("alerts", []))
        if self.tenant is not None:  # rules see every tenant: keep the ones labelled ours
            alerts = [a for a in alerts
                      if isinstance(a, dict) and self.tenant.owns(a.get("labels") or {})]
        return alerts


def _check_data(data: Any, what: str) -> None:
    if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
        raise BackendError(f"{what} answer has no resultType/result",
                           "check that url is a Prometheus-compatible API")


def _count(value: Any) -> int:
    """The count of a ``[time, "value"]`` pair (0 when it is not one)."""
    try:
        return int(float(value[1]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0


def _is_api_error(resp: httpx.Response, *types: str) -> bool:
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and doc.get("errorType") in types


def _retry_after(resp: httpx.Response) -> float:
    value = resp.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), 2.0)
    except ValueError:
        return 0.5


__all__ = ["PrometheusHTTP", "RequestFailedError"]
