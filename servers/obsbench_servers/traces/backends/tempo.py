"""Grafana Tempo over HTTP: TraceQL (or tag) search, trace by id as OTLP JSON, tag discovery.

- Search: ``GET /api/search?q=<TraceQL>&start=&end=&limit=&spss=`` (times in
  seconds). The query is built from the tool's arguments, e.g.
  ``{ resource.service.name = "checkout" && kind = server && duration >= 500ms }``.
  Tempo before 2.0 has no TraceQL: there the tag search is used
  (``tags=service.name=checkout&minDuration=500ms``). The version comes from
  ``/api/status/buildinfo``; when that is not served, TraceQL is assumed.
- Trace by id: ``GET /api/v2/traces/<id>`` (``{"trace": <OTLP>, "status": ...}``,
  Tempo 2.5+), else ``GET /api/traces/<id>`` (``{"batches": [...]}``). Tempo's
  JSON has base64 ids and enum names; both are read.
- Names: ``/api/v2/search/tag/resource.service.name/values`` and
  ``/api/v2/search/tag/name/values?q=...`` (v1 ``/api/search/tag/service.name/values``
  on older Tempo).
- The tenant goes in ``X-Scope-OrgID`` (``tenant`` in the profile; ``common/http``).

Tempo's search returns trace summaries, not spans: aggregate analyses fetch
each trace by id (at most the analysis's trace cap, ``limits.concurrency`` at a
time) and say that they worked on a sample.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from obsbench_servers.common.backend import TempoBackend
from obsbench_servers.common.errors import BackendError, NotFoundError
from obsbench_servers.common.http import RequestFailedError, build_client
from obsbench_servers.common.jsonapi import JsonResponse, call_json, get_optional
from obsbench_servers.store.importers._common import SPAN_ID_HEX, TRACE_ID_HEX, BadIdError, hex_id
from obsbench_servers.traces.backend import (
    DependencyCount,
    FetchedTrace,
    LatencyStats,
    MatchedSpan,
    SearchResult,
    TraceHit,
    TraceQuery,
    TraceSet,
    hit_from_spans,
    matches,
)
from obsbench_servers.traces.backends.jaeger import sample_spans
from obsbench_servers.traces.backends.wire import spans_from_otlp
from obsbench_servers.traces.model import Span

SAMPLE_LIMIT = 500
SPANS_PER_SPANSET = 5


def traceql_string(value: str) -> str:
    """A TraceQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def traceql_duration(ns: int) -> str:
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000}ms"
    return f"{ns // 1000}us" if ns % 1000 == 0 else f"{ns}ns"


def build_traceql(q: TraceQuery, *, entry: bool = True) -> str:
    """The TraceQL of a search: a span filter on the service's requests (or trace duration)."""
    conds = []
    if q.service is not None:
        conds.append(f"resource.service.name = {traceql_string(q.service)}")
        if not q.errors_only and entry:
            conds.append("(kind = server || kind = consumer)")
    if q.operation:
        conds.append(f"name = {traceql_string(q.operation)}")
    if q.errors_only:
        conds.append("status = error")
    if q.min_duration_ns and not q.errors_only:
        field = "duration" if q.service is not None else "traceDuration"
        conds.append(f"{field} >= {traceql_duration(q.min_duration_ns)}")
    return "{ " + " && ".join(conds) + " }" if conds else "{ }"


_LOGFMT_BARE = re.compile(r"^[^\s\"=\\]+$")


def logfmt_pair(key: str, value: str) -> str:
    """One ``key=value`` of Tempo's tag search, which reads ``tags`` as logfmt: a value with a
    space, quote or ``=`` (``GET /v1/cart``) must be quoted, or Tempo splits it."""
    if _LOGFMT_BARE.fullmatch(value):
        return f"{key}={value}"
    return f"{key}=" + '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    m = re.match(r"v?(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


class TempoTraces:
    """``TracesBackend`` over Tempo's HTTP API."""

    name = "tempo"

    def __init__(self, backend: TempoBackend, *, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.backend = backend
        self.client = build_client(backend, transport=transport)
        self.max_spans_per_trace = backend.limits.max_spans_per_trace
        self._version: tuple[int, ...] | None = None
        self._probed = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        tenant = f" tenant {self.backend.tenant}" if self.backend.tenant else ""
        return f"tempo {self.backend.target()}{tenant}"

    def _get(self, path: str, params: Any = None) -> JsonResponse:
        return call_json(self.client, self.backend, "GET", path, what="Tempo", params=params)

    def _get_optional(self, path: str, params: Any = None) -> tuple[JsonResponse | None, str]:
        """The answer, or (None, what the 404 said): Tempo's error bodies are plain text."""
        return get_optional(self.client, self.backend, path, what="Tempo", params=params)

    @property
    def version(self) -> tuple[int, ...] | None:
        with self._lock:
            if not self._probed:
                self._probed = True
                try:
                    r, _ = self._get_optional("/api/status/buildinfo")
                    if r is not None and isinstance(r.data, dict):
                        self._version = _version_tuple(str(r.data.get("version") or ""))
                except (RequestFailedError, BackendError):
                    self._version = None  # unknown: assume a current Tempo
            return self._version

    @property
    def traceql(self) -> bool:
        v = self.version
        return v is None or v >= (2, 0)

    # -- names -----------------------------------------------------------------------------
    def _tag_values(self, v2_tag: str, v1_tag: str, q: str | None = None) -> list[str]:
        params = {"q": q} if q else None
        r, _ = self._get_optional(f"/api/v2/search/tag/{v2_tag}/values", params)
        if r is not None:
            values = _obj(r.data).get("tagValues") or []
            return sorted({str(v.get("value")) if isinstance(v, dict) else str(v)
                           for v in values if v})
        old = self._get(f"/api/search/tag/{v1_tag}/values")  # Tempo before the v2 tag API
        return sorted({str(v) for v in _obj(old.data).get("tagValues") or () if v})

    def services(self) -> list[str]:
        return self._tag_values("resource.service.name", "service.name")

    def operations(self, service: str) -> list[str]:
        return self._tag_values("name", "name",
                                q="{ resource.service.name = " + traceql_string(service) + " }")

    # -- search ----------------------------------------------------------------------------
    def _search(self, q: TraceQuery, limit: int, *, entry: bool = True
                ) -> tuple[list[TraceHit], str, list[str]]:
        params: dict[str, Any] = {"start": q.start_ns // 1_000_000_000,
                                  "end": -(-q.end_ns // 1_000_000_000), "limit": limit}
        notes: list[str] = []
        if self.traceql:
            params["q"] = build_traceql(q, entry=entry)
            params["spss"] = SPANS_PER_SPANSET
        else:
            tags = []
            if q.service:
                tags.append(logfmt_pair("service.name", q.service))
            if q.operation:
                tags.append(logfmt_pair("name", q.operation))
            if q.errors_only:
                tags.append("error=true")
            if tags:
                params["tags"] = " ".join(tags)
            if q.min_duration_ns and not q.errors_only:
                params["minDuration"] = traceql_duration(q.min_duration_ns)
            notes.append("tag search (this Tempo predates TraceQL): durations are whole traces")
        r = self._get("/api/search", params)
        shown = "GET /api/search?" + "&".join(f"{k}={v}" for k, v in params.items())
        hits = [h for h in (_hit(t, q) for t in _obj(r.data).get("traces") or ()) if h]
        return hits, shown, notes

    def search(self, q: TraceQuery) -> SearchResult:
        depth = max(q.limit * 5, 100)
        hits, shown, notes = self._search(q, depth)
        if q.errors_only:
            hits.sort(key=lambda h: -h.start_ns)
        else:
            hits.sort(key=lambda h: -(h.matched.duration_ns if h.matched else h.duration_ns))
        total = len(hits) if len(hits) < depth else None
        if total is None:
            notes.append(f"Tempo returned {depth} matching traces (its search limit); more "
                         "exist, so the slowest of those are shown")
        return SearchResult(hits[: q.limit], shown, total=total, notes=notes)

    def latency(self, q: TraceQuery) -> LatencyStats:
        lat = TraceQuery(q.start_ns, q.end_ns, q.service, q.operation)
        hits, shown, _ = self._search(lat, SAMPLE_LIMIT)
        durations = [h.matched.duration_ns if h.matched else h.duration_ns for h in hits]
        exact = len(hits) < SAMPLE_LIMIT
        return LatencyStats.from_durations(
            durations, exact=exact,
            query=f"durations of matched spans in {shown}"
                  + ("" if exact else f" (a sample of {SAMPLE_LIMIT} traces)"))

    def traces(self, q: TraceQuery, max_traces: int) -> TraceSet:
        hits, shown, notes = self._search(q, max_traces)
        ids = [h.trace_id for h in hits]
        workers = max(1, min(self.backend.limits.concurrency, 8))
        with ThreadPoolExecutor(workers) as pool:
            fetched = list(pool.map(self._fetch_spans, ids))
        kept = []
        missing = 0
        for tid, spans in zip(ids, fetched, strict=True):
            if not spans:
                missing += 1
                continue
            if matches(hit_from_spans(tid, spans, q), spans, q):
                kept.append(spans)
        if missing:
            notes.append(f"{missing} trace(s) found by the search could not be fetched")
        if len(hits) >= max_traces:
            notes.append(f"{max_traces} traces analysed (the search limit); more exist")
        return TraceSet(kept, f"{shown}, then GET /api/v2/traces/<id> for each",
                        matched=None if len(hits) >= max_traces else len(kept), notes=notes)

    # -- one trace -------------------------------------------------------------------------
    def _trace_doc(self, trace_id: str) -> tuple[Any, str]:
        v = self.version
        paths = ([f"/api/v2/traces/{trace_id}"] if v is None or v >= (2, 5) else []) + \
            [f"/api/traces/{trace_id}"]
        last = ""
        for path in paths:
            r, last = self._get_optional(path)
            if r is not None:
                return r.data, path
        raise NotFoundError(
            f"trace {trace_id} is not in Tempo ({last})",
            "it may be older than the retention or belong to another tenant; find trace ids "
            "with find_slow_traces or find_error_traces")

    def _fetch_spans(self, trace_id: str) -> list[Span]:
        try:
            doc, _ = self._trace_doc(trace_id)
        except NotFoundError:
            return []
        return [s for s in spans_from_otlp(doc).spans if s.trace_id == trace_id]

    def get_trace(self, trace_id: str, max_spans: int, typed: str | None = None
                  ) -> FetchedTrace:
        doc, path = self._trace_doc(trace_id)
        decoded = spans_from_otlp(doc)
        spans = [s for s in decoded.spans if s.trace_id == trace_id]
        notes = decoded.notes()
        if isinstance(doc, dict) and str(doc.get("status", "")).upper() == "PARTIAL":
            notes.append("Tempo marked the trace PARTIAL"
                         + (f": {doc.get('message')}" if doc.get("message") else ""))
        if not spans:
            raise NotFoundError(f"Tempo returned no spans for trace {trace_id}",
                                "find trace ids with find_slow_traces or find_error_traces")
        total = len({s.span_id for s in spans})
        kept, more = sample_spans(spans, max_spans)
        return FetchedTrace(trace_id, kept, total, f"GET {path}",
                            total_errors=len({s.span_id for s in spans if s.is_error}),
                            notes=notes + more)

    def dependency_counts(self, start_ns: int, end_ns: int) -> list[DependencyCount] | None:
        return None  # Tempo's service graph lives in Prometheus metrics, not its API

    def close(self) -> None:
        self.client.close()


def _obj(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    raise BackendError(f"Tempo answered with a {type(data).__name__}, not an object",
                       "check that url points at Tempo's HTTP API (port 3200)")


def _hit(t: Any, q: TraceQuery) -> TraceHit | None:
    """A search result: ``{traceID, rootServiceName, rootTraceName, startTimeUnixNano,
    durationMs, spanSets: [{spans: [{spanID, name, durationNanos, ...}]}], serviceStats}``."""
    if not isinstance(t, dict):
        return None
    try:
        tid = hex_id(t.get("traceID"), TRACE_ID_HEX)
    except BadIdError:
        return None
    if tid is None:
        return None
    start = int(t.get("startTimeUnixNano") or 0)
    dur = int(float(t.get("durationMs") or 0) * 1_000_000)
    stats = t.get("serviceStats") or {}
    spans_total = sum(int(v.get("spanCount") or 0) for v in stats.values()
                      if isinstance(v, dict)) or None
    errors = sum(int(v.get("errorCount") or 0) for v in stats.values()
                 if isinstance(v, dict)) if stats else None
    matched = None
    sets = t.get("spanSets") or ([t["spanSet"]] if isinstance(t.get("spanSet"), dict) else [])
    best: dict[str, Any] | None = None
    for ss in sets:
        for sp in (ss or {}).get("spans") or ():
            if best is None or int(sp.get("durationNanos") or 0) > int(
                    best.get("durationNanos") or 0):
                best = sp
    if best is not None:
        try:
            sid = hex_id(best.get("spanID"), SPAN_ID_HEX) or ""
        except BadIdError:
            sid = ""
        attrs = {a.get("key"): (a.get("value") or {}).get("stringValue")
                 for a in best.get("attributes") or () if isinstance(a, dict)}
        matched = MatchedSpan(sid, str(best.get("name") or ""), int(best.get("durationNanos") or 0),
                              error=attrs.get("status") == "error" or q.errors_only)
    elif q.service is None or q.errors_only:
        matched = None
    return TraceHit(trace_id=tid, start_ns=start, duration_ns=dur,
                    root_service=t.get("rootServiceName"), root_name=t.get("rootTraceName"),
                    span_count=spans_total, error_count=errors,
                    services=sorted(stats) if isinstance(stats, dict) else [], matched=matched)
