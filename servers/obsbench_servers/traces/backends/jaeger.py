"""Jaeger's query service over HTTP: the v1 JSON API, or api_v3 where v1 is gone.

v1 (every released Jaeger up to 2.x): ``GET /api/services``,
``/api/services/{s}/operations``, ``/api/traces?service=&operation=&start=&end=
&minDuration=&limit=&tags=`` (whole traces of the most recent matches, times in
microseconds), ``/api/traces/{id}``, ``/api/dependencies?endTs=&lookback=``
(milliseconds). Jaeger's main branch removed the v1 search and metadata
endpoints in favour of api_v3 (OTLP JSON): ``/api/v3/services``,
``/api/v3/operations?service=``, ``/api/v3/traces?query.serviceName=
&query.startTimeMin=&query.startTimeMax=&query.durationMin=&query.searchDepth=``
(RFC 3339 times, Go durations; 404 "No traces found" for an empty result),
``/api/v3/traces/{id}``, ``/api/v3/dependencies?startTime=&endTime=``.

The API is chosen once per adapter as ``obsbench doctor`` does: ``/api/services``
answering means v1, a 404 there means api_v3. Jaeger's search returns the most
recent matching traces, not the slowest: the adapter asks for more than it
shows and sorts, and says that the latency distribution comes from a sample.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from obsbench_servers.common.backend import JaegerBackend
from obsbench_servers.common.errors import BackendError, NotFoundError
from obsbench_servers.common.http import build_client
from obsbench_servers.common.jsonapi import JsonResponse, call_json, get_optional
from obsbench_servers.common.timeutil import ns_to_rfc3339
from obsbench_servers.traces.backend import (
    DependencyCount,
    FetchedTrace,
    LatencyStats,
    SearchResult,
    TraceQuery,
    TraceSet,
    entry_spans,
    hit_from_spans,
    matches,
)
from obsbench_servers.traces.backends.wire import (
    Decoded,
    group_by_trace,
    spans_from_jaeger,
    spans_from_otlp,
)
from obsbench_servers.traces.model import Span

SAMPLE_DEPTH = 200  # traces fetched to estimate a latency distribution
MAX_DEPTH = 1500
MAX_SERVICES = 20  # searched one by one when a question spans every service


def go_duration(ns: int) -> str:
    """A Go duration Jaeger parses: ``1.5s`` (api_v3 requires seconds with a fraction)."""
    whole, frac = divmod(ns, 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") + "s"


def sample_spans(spans: list[Span], max_spans: int) -> tuple[list[Span], list[str]]:
    """At most ``max_spans`` spans of one trace: roots, then the longest (keeps ancestors)."""
    if len(spans) <= max_spans:
        return spans, []
    keep = sorted(spans, key=lambda s: (s.parent_id is not None, -s.duration_ns,
                                        s.start_ns))[:max_spans]
    keep.sort(key=lambda s: s.start_ns)
    return keep, [f"the trace has {len(spans):,} spans, more than the {max_spans:,} allowed "
                  "(limits.max_spans_per_trace or max_spans): the root and the longest "
                  f"{max_spans:,} spans were kept (longest first keeps their ancestors)"]


class JaegerTraces:
    """``TracesBackend`` over Jaeger's HTTP query API (v1 or api_v3)."""

    name = "jaeger"

    def __init__(self, backend: JaegerBackend, *, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.backend = backend
        self.client = build_client(backend, transport=transport)
        self.max_spans_per_trace = backend.limits.max_spans_per_trace
        self._api: str | None = None
        self._lock = threading.Lock()
        self._v1_services: list[str] | None = None

    def describe(self) -> str:
        return f"jaeger {self.backend.target()}" + (f" (API {self._api})" if self._api else "")

    def _get(self, path: str, params: Any = None) -> JsonResponse:
        return call_json(self.client, self.backend, "GET", path, what="Jaeger", params=params)

    def _get_optional(self, path: str, params: Any = None) -> tuple[JsonResponse | None, str]:
        """The answer, or (None, what the 404 said): Jaeger's 404 bodies may be JSON or text."""
        return get_optional(self.client, self.backend, path, what="Jaeger", params=params)

    @property
    def api(self) -> str:
        with self._lock:
            if self._api is None:
                r, _ = self._get_optional("/api/services")
                if r is None:
                    self._api = "v3"
                else:
                    self._api = "v1"
                    self._v1_services = _list(_obj(r.data, "/api/services").get("data"))
            return self._api

    # -- names -----------------------------------------------------------------------------
    def services(self) -> list[str]:
        if self.api == "v1":
            if self._v1_services is None:
                self._v1_services = _list(_obj(self._get("/api/services").data,
                                               "/api/services").get("data"))
            out, self._v1_services = self._v1_services, None  # fresh on the next call
            return sorted(out)
        data = _obj(self._get("/api/v3/services").data, "/api/v3/services")
        return sorted(_list(data.get("services")))

    def operations(self, service: str) -> list[str]:
        if self.api == "v1":
            path = f"/api/services/{quote(service, safe='')}/operations"
            return sorted(_list(_obj(self._get(path).data, path).get("data")))
        data = _obj(self._get("/api/v3/operations", {"service": service}).data,
                    "/api/v3/operations")
        return sorted({str(o.get("name")) for o in data.get("operations") or ()
                       if isinstance(o, dict) and o.get("name")})

    # -- search ----------------------------------------------------------------------------
    def _find(self, q: TraceQuery, depth: int) -> tuple[dict[str, list[Span]], str, list[str]]:
        """Whole traces matching ``q`` (at most ``depth``), the request shown, notes."""
        if q.service is None:
            return self._find_all(q, depth)
        depth = max(1, min(depth, MAX_DEPTH))
        if self.api == "v1":
            params: dict[str, Any] = {
                "service": q.service, "start": q.start_ns // 1000, "end": q.end_ns // 1000,
                "limit": depth}
            if q.operation:
                params["operation"] = q.operation
            if q.min_duration_ns and not q.errors_only:
                params["minDuration"] = f"{q.min_duration_ns // 1000}us"
            if q.errors_only:
                params["tags"] = orjson.dumps({"error": "true"}).decode()
            r = self._get("/api/traces", params)
            body = _obj(r.data, "/api/traces")
            decoded = Decoded()
            for trace in body.get("data") or ():
                spans_from_jaeger(trace, decoded)
            notes = decoded.notes() + [
                f"Jaeger reported: {e.get('msg', e) if isinstance(e, dict) else e}"
                for e in body.get("errors") or ()]
            shown = "GET /api/traces?" + "&".join(f"{k}={v}" for k, v in params.items())
            return group_by_trace(decoded.spans), shown, notes
        params = {"query.serviceName": q.service,
                  "query.startTimeMin": ns_to_rfc3339(q.start_ns, precision="nanoseconds"),
                  "query.startTimeMax": ns_to_rfc3339(q.end_ns, precision="nanoseconds"),
                  "query.searchDepth": depth}
        if q.operation:
            params["query.operationName"] = q.operation
        if q.min_duration_ns and not q.errors_only:
            params["query.durationMin"] = go_duration(q.min_duration_ns)
        if q.errors_only:
            params["query.attributes"] = orjson.dumps({"error": "true"}).decode()
        found, _ = self._get_optional("/api/v3/traces", params)
        shown = "GET /api/v3/traces?" + "&".join(f"{k}={v}" for k, v in params.items())
        if found is None:  # api_v3 answers an empty search with 404 "No traces found"
            return {}, shown, []
        decoded = spans_from_otlp(_obj(found.data, "/api/v3/traces"))
        return group_by_trace(decoded.spans), shown, decoded.notes()

    def _find_all(self, q: TraceQuery, depth: int
                  ) -> tuple[dict[str, list[Span]], str, list[str]]:
        """Jaeger searches one service at a time: ask each (up to MAX_SERVICES) for a share."""
        services = self.services()
        picked = services[:MAX_SERVICES]
        share = max(1, depth // max(1, len(picked)))
        found: dict[str, list[Span]] = {}
        notes: list[str] = []
        for svc in picked:
            one, _, more = self._find(TraceQuery(q.start_ns, q.end_ns, svc, q.operation,
                                                 q.min_duration_ns, q.errors_only), share)
            for tid, spans in one.items():
                found.setdefault(tid, spans)
            notes.extend(more)
        notes.append(f"Jaeger searches one service at a time: up to {share} traces from each "
                     f"of {len(picked)} services"
                     + (f" (of {len(services)})" if len(services) > len(picked) else ""))
        query = (f"GET {'/api/traces' if self.api == 'v1' else '/api/v3/traces'} for each "
                 f"service, limit {share}")
        return found, query, notes

    def search(self, q: TraceQuery) -> SearchResult:
        depth = max(q.limit * 5, 100)
        found, shown, notes = self._find(q, depth)
        hits = []
        for tid, spans in found.items():
            hit = hit_from_spans(tid, spans, q)
            if matches(hit, spans, q):
                hits.append(hit)
        if q.errors_only:
            hits.sort(key=lambda h: -h.start_ns)
        else:
            hits.sort(key=lambda h: -(h.matched.duration_ns if h.matched else h.duration_ns))
        total = len(hits) if len(found) < depth else None
        if total is None:
            notes.append(f"Jaeger returned its {depth} most recent matching traces; more exist, "
                         "so the slowest of those are shown (narrow the window for all)")
        return SearchResult(hits[: q.limit], shown, total=total, notes=notes)

    def latency(self, q: TraceQuery) -> LatencyStats:
        lat = TraceQuery(q.start_ns, q.end_ns, q.service, q.operation)
        found, shown, _ = self._find(lat, SAMPLE_DEPTH)
        durations = [s.duration_ns for spans in found.values()
                     for s in entry_spans(spans, q.service)
                     if q.operation is None or s.name == q.operation]
        exact = len(found) < SAMPLE_DEPTH
        return LatencyStats.from_durations(
            durations, exact=exact,
            query=f"durations of {q.service} requests in {shown}"
                  + ("" if exact else f" (a sample: the {SAMPLE_DEPTH} most recent traces)"))

    def traces(self, q: TraceQuery, max_traces: int) -> TraceSet:
        found, shown, notes = self._find(q, max_traces)
        kept = []
        for tid, spans in found.items():
            hit = hit_from_spans(tid, spans, q)
            if matches(hit, spans, q):
                kept.append(spans)
        if len(found) >= max_traces:
            notes.append(f"the {max_traces} most recent matching traces were analysed "
                         "(Jaeger's search depth); more exist in the window")
        return TraceSet(kept, shown, matched=None if len(found) >= max_traces else len(kept),
                        notes=notes)

    # -- one trace -------------------------------------------------------------------------
    def get_trace(self, trace_id: str, max_spans: int, typed: str | None = None
                  ) -> FetchedTrace:
        path = f"/api/traces/{trace_id}" if self.api == "v1" else f"/api/v3/traces/{trace_id}"
        r, missing = self._get_optional(path)
        if r is None:
            raise _not_found(trace_id, missing)
        body = _obj(r.data, path)
        if self.api == "v1":
            decoded = Decoded()
            for trace in body.get("data") or ():
                spans_from_jaeger(trace, decoded)
        else:
            decoded = spans_from_otlp(body)
        spans = [s for s in decoded.spans if s.trace_id == trace_id]
        if not spans:
            raise _not_found(trace_id, "the answer held no spans of it")
        total = len({s.span_id for s in spans})
        kept, notes = sample_spans(spans, max_spans)
        return FetchedTrace(trace_id, kept, total, f"GET {path}",
                            total_errors=len({s.span_id for s in spans if s.is_error}),
                            notes=decoded.notes() + notes)

    def dependency_counts(self, start_ns: int, end_ns: int) -> list[DependencyCount] | None:
        if self.api == "v1":
            path = "/api/dependencies"
            params: dict[str, Any] = {"endTs": end_ns // 1_000_000,
                                      "lookback": max(1, (end_ns - start_ns) // 1_000_000)}
        else:
            path = "/api/v3/dependencies"
            params = {"startTime": ns_to_rfc3339(start_ns), "endTime": ns_to_rfc3339(end_ns)}
        r, _ = self._get_optional(path, params)
        if r is None:
            return None
        body = _obj(r.data, path)
        items = body.get("data") if self.api == "v1" else body.get("dependencies")
        out = []
        for d in items or ():
            if isinstance(d, dict) and d.get("parent") and d.get("child"):
                out.append(DependencyCount(str(d["parent"]), str(d["child"]),
                                           int(d.get("callCount") or 0)))
        return out

    def close(self) -> None:
        self.client.close()


def _obj(data: Any, where: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    raise BackendError(f"Jaeger answered {where} with a {type(data).__name__}, not an object",
                       "check that url points at jaeger-query (port 16686) and its base path")


def _list(value: Any) -> list[str]:
    return [str(v) for v in value or () if v]


def _not_found(trace_id: str, detail: str) -> NotFoundError:
    return NotFoundError(
        f"trace {trace_id} is not in Jaeger ({detail})",
        "it may be older than the storage's retention, or unsampled; find trace ids with "
        "find_slow_traces or find_error_traces")


__all__ = ["JaegerTraces", "go_duration", "sample_spans"]
