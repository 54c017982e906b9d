"""Is each configured backend reachable, and which version is it? (``obsbench doctor``, status bars)

One harmless, read-only request per backend, through the same client the
servers use, so a check that passes here means the adapter's connection works:

- Prometheus, Thanos, Mimir: ``GET /api/v1/status/buildinfo`` (``/api/v1/query?query=1``
  where buildinfo is not served); VictoriaMetrics: buildinfo, and its version from
  ``vm_app_version`` on ``/metrics`` when buildinfo has none.
- Alertmanager ``GET /api/v2/status`` (versionInfo, cluster); Loki
  ``GET /loki/api/v1/status/buildinfo``; Tempo ``GET /api/status/buildinfo`` (``/ready`` on
  older Tempo); Jaeger ``GET /api/services`` (``/api/v3/services`` on Jaeger without the v1
  API; Jaeger does not report its version); Elasticsearch/OpenSearch ``GET /`` and
  ``GET /<index>/_count``; PagerDuty ``GET /abilities`` (and each configured service id);
  Kubernetes ``GET /version``.
- Azure Data Explorer: ``.show version`` on ``/v1/rest/mgmt``. It is a read-only control
  command that any authenticated principal may run, reads no table data, and returns the
  engine version — a ``print 1`` query would prove access but not say which version.
- ``local``: opens the bundle with ``TelemetryStore`` (importing it once if needed) and
  reports row counts and anything the import skipped.

Every failure says why (dns, refused, tls, timeout, unauthorized, ...) and what to try.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from obsbench_servers.common.backend import (
    ADXBackend,
    AnyBackend,
    BackendBase,
    ElasticsearchBackend,
    KubernetesBackend,
    LocalBackend,
    PagerDutyBackend,
    backend_summary,
)
from obsbench_servers.common.errors import ObsbenchError
from obsbench_servers.common.http import (
    RequestFailedError,
    build_client,
    failure_from_status,
    fetch,
    insecure_warning,
)
from obsbench_servers.common.kubeconfig import connect

Status = Literal["ok", "warn", "fail"]
TransportFor = Callable[[BackendBase], httpx.BaseTransport | None]
PROBE_MAX_BYTES = 8 * 1024 * 1024
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"


@dataclass
class HealthResult:
    """The outcome of checking one backend."""

    signal: str
    type: str
    target: str
    status: Status
    name: str | None = None
    version: str | None = None
    detail: str = ""
    reason: str | None = None
    message: str | None = None
    hint: str | None = None
    warnings: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal,
            "type": self.type,
            "name": self.name,
            "target": self.target,
            "status": self.status,
            "ok": self.ok,
            "version": self.version,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
            "warnings": self.warnings,
        }
        if self.status == "fail":
            out.update(reason=self.reason, message=self.message, hint=self.hint)
        if self.data:
            out["data"] = self.data
        return out


@dataclass
class _Outcome:
    version: str | None
    detail: str
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class _Prober:
    """GET/POST helpers that turn every failure into an ``RequestFailedError``."""

    def __init__(self, backend: BackendBase, client: httpx.Client, timeout: float) -> None:
        self.backend = backend
        self.client = client
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        resp = fetch(
            self.client,
            method,
            path,
            max_bytes=PROBE_MAX_BYTES,
            total_timeout=min(self.timeout, self.backend.timeouts.total),
            **kwargs,
        )
        failure = failure_from_status(resp)
        if failure is not None:
            raise failure
        return resp

    def json(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError:
            raise RequestFailedError(
                "bad_response",
                f"{resp.request.url} did not answer JSON (content-type "
                f"{resp.headers.get('content-type', 'none')!r})",
                f"is this really a {self.backend.type} API? check url (and its path prefix)",
            ) from None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- probes


def _vm_version(p: _Prober) -> str | None:
    text = p.request("GET", "/metrics").text
    m = re.search(r"^vm_app_version\{([^}]*)\}", text, re.MULTILINE)
    if not m:
        return None
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    return labels.get("short_version") or labels.get("version") or None


def _prometheus(p: _Prober) -> _Outcome:
    try:
        body = _obj(p.json("/api/v1/status/buildinfo"))
    except RequestFailedError as f:
        if f.reason != "not_found":
            raise
        p.json("/api/v1/query", params={"query": "1"})
        return _Outcome(None, "query API answers; buildinfo is not served here")
    if body.get("status") != "success":
        raise RequestFailedError(
            "bad_response",
            f"buildinfo answered status {body.get('status')!r}",
            "check that url points at the Prometheus HTTP API",
        )
    data = _obj(body.get("data"))
    version = data.get("version") or None
    if version is None and p.backend.type == "victoriametrics":
        version = _vm_version(p)
        if version is None:
            return _Outcome(
                None, "healthy; this build does not report its version", data={"buildinfo": data}
            )
    detail = f"{p.backend.type} {version}" if version else p.backend.type
    return _Outcome(version, detail, data={"buildinfo": data})


def _alertmanager(p: _Prober) -> _Outcome:
    body = _obj(p.json("/api/v2/status"))
    info = _obj(body.get("versionInfo"))
    cluster = _obj(body.get("cluster"))
    peers = cluster.get("peers") or []
    state = cluster.get("status", "unknown")
    detail = f"cluster {state}" + (f", {len(peers)} peers" if peers else "")
    return _Outcome(
        info.get("version"), detail, data={"versionInfo": info, "cluster_status": state}
    )


def _loki(p: _Prober) -> _Outcome:
    body = _obj(p.json("/loki/api/v1/status/buildinfo"))
    return _Outcome(body.get("version") or None, "loki", data={"buildinfo": body})


def _tempo(p: _Prober) -> _Outcome:
    try:
        body = _obj(p.json("/api/status/buildinfo"))
    except RequestFailedError as f:
        if f.reason != "not_found":
            raise
        p.request("GET", "/ready")
        return _Outcome(None, "ready; this Tempo does not serve buildinfo")
    return _Outcome(body.get("version") or None, "tempo", data={"buildinfo": body})


def _jaeger(p: _Prober) -> _Outcome:
    try:
        services = _obj(p.json("/api/services")).get("data") or []
        api = "v1"
    except RequestFailedError as f:
        if f.reason != "not_found":
            raise
        services = _obj(p.json("/api/v3/services")).get("services") or []
        api = "v3"
    return _Outcome(
        None,
        f"{len(services)} services (API {api}); Jaeger does not report its version",
        data={"services": len(services), "api": api},
    )


def _elasticsearch(p: _Prober) -> _Outcome:
    backend = p.backend
    assert isinstance(backend, ElasticsearchBackend)
    warnings: list[str] = []
    version: str | None = None
    distribution = "unknown"
    try:
        root = _obj(p.json("/"))
        v = _obj(root.get("version"))
        version = v.get("number")
        distribution = v.get("distribution") or "elasticsearch"
        if distribution != backend.type:
            warnings.append(
                f"the server is {distribution} but the profile says type = "
                f"{backend.type!r}; set type = {distribution!r}"
            )
    except RequestFailedError as f:
        if f.reason != "forbidden":
            raise
        warnings.append("the credentials may not read cluster info (403 on GET /); version unknown")
    try:
        count = _obj(p.json(f"/{quote(backend.index, safe='*,-')}/_count")).get("count")
        if count == 0:
            warnings.append(f"index pattern {backend.index!r} matches no documents")
    except RequestFailedError as f:
        if f.reason != "not_found":
            raise
        count = None
        warnings.append(f"no index matches {backend.index!r}; check index in the profile")
    detail = f"{distribution} {version or ''}".strip() + (
        f", {count:,} docs in {backend.index}" if isinstance(count, int) else ""
    )
    return _Outcome(version, detail, warnings, {"distribution": distribution, "count": count})


def _adx(p: _Prober) -> _Outcome:
    backend = p.backend
    assert isinstance(backend, ADXBackend)
    body = _obj(
        p.json(
            "/v1/rest/mgmt",
            method="POST",
            json={"db": backend.database, "csl": ".show version"},
            headers={"Accept": "application/json", "x-ms-app": "obsbench-doctor"},
        )
    )
    tables = body.get("Tables") or []
    if not tables:
        raise RequestFailedError(
            "bad_response",
            ".show version returned no table",
            "check cluster: is it an Azure Data Explorer (Kusto) endpoint?",
        )
    cols = [c.get("ColumnName") for c in tables[0].get("Columns", [])]
    rows = tables[0].get("Rows") or [[]]
    info = dict(zip(cols, rows[0], strict=False))
    version = info.get("BuildVersion") or info.get("ProductVersion")
    detail = f"{info.get('ServiceType', 'Kusto')} {info.get('ProductVersion', '')}".strip()
    return _Outcome(str(version) if version else None, detail, data={"show_version": info})


def _pagerduty(p: _Prober) -> _Outcome:
    backend = p.backend
    assert isinstance(backend, PagerDutyBackend)
    headers = {"Accept": PAGERDUTY_ACCEPT}
    abilities = _obj(p.json("/abilities", headers=headers)).get("abilities") or []
    warnings = []
    for sid in backend.service_ids:
        try:
            p.json(f"/services/{quote(sid)}", headers=headers)
        except RequestFailedError as f:
            if f.reason != "not_found":
                raise
            warnings.append(f"service id {sid!r} was not found (alerts.service_ids)")
    return _Outcome(
        "REST API v2",
        f"token valid; account has {len(abilities)} abilities",
        warnings,
        {"abilities": abilities},
    )


def _kubernetes_version(p: _Prober) -> _Outcome:
    body = _obj(p.json("/version"))
    version = body.get("gitVersion")
    return _Outcome(
        version, f"Kubernetes {version} ({body.get('platform', '?')})", data={"version": body}
    )


_PROBES: dict[str, Callable[[_Prober], _Outcome]] = {
    "prometheus": _prometheus,
    "thanos": _prometheus,
    "mimir": _prometheus,
    "victoriametrics": _prometheus,
    "alertmanager": _alertmanager,
    "loki": _loki,
    "tempo": _tempo,
    "jaeger": _jaeger,
    "elasticsearch": _elasticsearch,
    "opensearch": _elasticsearch,
    "adx": _adx,
    "pagerduty": _pagerduty,
    "kubernetes": _kubernetes_version,
}


def _probe_http(
    backend: BackendBase, timeout: float, transport: httpx.BaseTransport | None
) -> _Outcome:
    warnings: list[str] = []
    closer = None
    if isinstance(backend, KubernetesBackend):
        conn = connect(backend)
        closer = conn.close
        warnings += conn.warnings
        backend = conn.backend
    try:
        with build_client(backend, timeout_cap=timeout, transport=transport) as client:
            outcome = _PROBES[backend.type](_Prober(backend, client, timeout))
    finally:
        if closer:
            closer()
    note = insecure_warning(backend)
    outcome.warnings = warnings + ([note] if note else []) + outcome.warnings
    return outcome


def _probe_local(backend: LocalBackend) -> _Outcome:
    # Lazy: the store pulls in DuckDB, which a check of remote backends does not need.
    from obsbench_servers.store import TelemetryStore  # noqa: PLC0415

    bundle = backend.bundle
    if not bundle.is_dir():
        raise RequestFailedError(
            "missing_bundle",
            f"bundle {bundle} does not exist",
            "run `obsbench demo` (creates the demo bundle) or "
            "`obsbench scenarios generate NAME --out DIR`, or fix bundle in the profile",
        )
    with TelemetryStore.open(bundle) as store:
        counts = store.counts()
        report = store.report
        name = store.manifest.name
    skipped, cached = report.skipped, report.cached
    shown = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v) or "no rows"
    warnings = [f"{i.location()}: {i.reason}" for i in report.issues() if i.severity == "error"][:3]
    if skipped:
        first = next((i for i in report.issues() if i.severity == "skipped"), None)
        warnings.append(
            f"{skipped:,} records were skipped on import"
            + (f" (first: {first.location()}: {first.reason})" if first else "")
        )
    if not any(counts.values()):
        warnings.append("the bundle imported but holds no rows")
    return _Outcome(
        "embedded",
        f"{name}: {shown}" + (" (cached)" if cached else " (imported now)"),
        warnings,
        {"counts": counts, "skipped": skipped, "cached": cached},
    )


def check_backend(
    signal: str,
    backend: AnyBackend,
    *,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> HealthResult:
    """Check one backend (already carrying its secret); never raises."""
    summary = backend_summary(backend)
    result = HealthResult(
        signal=signal, type=backend.type, target=summary["target"], name=backend.name, status="ok"
    )
    t0 = time.perf_counter()
    try:
        if isinstance(backend, LocalBackend):
            outcome = _probe_local(backend)
        else:
            outcome = _probe_http(backend, timeout, transport)
    except RequestFailedError as exc:
        result.status, result.reason, result.message, result.hint = (
            "fail",
            exc.reason,
            exc.message,
            exc.hint,
        )
    except ObsbenchError as exc:
        result.status, result.reason = "fail", exc.kind
        result.message, result.hint = exc.message, exc.hint
    except Exception as exc:  # a check must never take the others down
        result.status, result.reason = "fail", "error"
        result.message = f"{type(exc).__name__}: {exc}"
        result.hint = "this is unexpected; please report it with the message above"
    else:
        result.version, result.detail = outcome.version, outcome.detail
        result.warnings, result.data = outcome.warnings, outcome.data
        if outcome.warnings:
            result.status = "warn"
    result.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
    return result


def check_many(
    items: list[tuple[str, AnyBackend]],
    *,
    timeout: float,
    transport_for: TransportFor | None = None,
    workers: int = 8,
) -> list[HealthResult]:
    """Check backends concurrently, in input order; one bundle is opened once for all signals."""
    if not items:
        return []
    by_bundle: dict[str, Future[HealthResult]] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        futures: list[tuple[str, AnyBackend, Future[HealthResult]]] = []
        for signal, backend in items:
            if isinstance(backend, LocalBackend):
                key = str(backend.bundle)
                if key not in by_bundle:
                    by_bundle[key] = pool.submit(check_backend, signal, backend, timeout=timeout)
                futures.append((signal, backend, by_bundle[key]))
            else:
                transport = transport_for(backend) if transport_for else None
                futures.append(
                    (
                        signal,
                        backend,
                        pool.submit(
                            check_backend, signal, backend, timeout=timeout, transport=transport
                        ),
                    )
                )
        results = []
        for signal, backend, fut in futures:
            r: HealthResult = fut.result()
            if r.signal != signal or r.name != backend.name:
                r = HealthResult(
                    **{
                        **r.__dict__,
                        "signal": signal,
                        "name": backend.name,
                        "warnings": list(r.warnings),
                        "data": dict(r.data),
                    }
                )
            results.append(r)
    return results
