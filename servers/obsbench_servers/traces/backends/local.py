"""The embedded backend: spans of a telemetry bundle in the DuckDB store.

The ``spans`` table is sorted by (trace_id, start_ns), so one trace is a
range scan and aggregate questions (latency quantiles, slowest requests,
error traces) are single SQL statements over columns. Duplicates are kept in
the store as given; every query here deduplicates by (trace_id, span_id).

A service's *requests* are its entry spans: server or consumer spans, or an
internal/unspecified span whose parent belongs to another service (or is
absent) — what a span-kind-less Jaeger client writes.
"""

from __future__ import annotations

from typing import Any

import orjson

from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError, NotFoundError
from obsbench_servers.common.timeutil import ns_to_rfc3339
from obsbench_servers.store import TelemetryStore
from obsbench_servers.traces.backend import (
    DependencyCount,
    FetchedTrace,
    LatencyStats,
    MatchedSpan,
    SearchResult,
    TraceHit,
    TraceQuery,
    TraceSet,
)
from obsbench_servers.traces.model import Span, fmt_ns, peer_of

_SPAN_COLS = ("trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, "
              "status_code, status_message")
# An entry span of ``s`` (see the module docstring); needs the table aliased ``s``.
_ENTRY = ("(s.kind IN ('server', 'consumer') OR (s.kind NOT IN ('client', 'producer') AND "
          "NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND "
          "p.span_id = s.parent_span_id AND p.service = s.service)))")
_ROOT = ("(s.parent_span_id IS NULL OR NOT EXISTS (SELECT 1 FROM spans p WHERE "
         "p.trace_id = s.trace_id AND p.span_id = s.parent_span_id))")
_PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "peer.hostname", "url.full",
              "http.url", "db.system", "messaging.destination.name", "messaging.system")


def _loads(text: str | None) -> Any:
    return orjson.loads(text) if text else None


class LocalTraces:
    """``TracesBackend`` over the embedded store of a bundle."""

    name = "local"

    def __init__(self, ctx: ServerContext, backend: LocalBackend) -> None:
        self._ctx = ctx
        self._backend = backend
        self.max_spans_per_trace = backend.limits.max_spans_per_trace
        self._services: list[str] | None = None

    @property
    def store(self) -> TelemetryStore:
        return self._ctx.store(self._backend)

    def describe(self) -> str:
        return f"local bundle {self.store.manifest.name} ({self._backend.bundle})"

    def _q(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.store.query(sql, params)

    # -- names -----------------------------------------------------------------------------
    def services(self) -> list[str]:
        if self._services is None:
            self._services = [r[0] for r in self._q(
                "SELECT DISTINCT service FROM spans WHERE service IS NOT NULL ORDER BY 1")]
        return self._services

    def peers(self) -> list[str]:
        """Uninstrumented peers named by client spans (databases, external APIs)."""
        cols = ", ".join(f"json_extract_string(attributes_json, '$.\"{k}\"')" for k in _PEER_KEYS)
        found = set()
        for row in self._q(f"SELECT DISTINCT {cols} FROM spans "
                           "WHERE kind IN ('client', 'producer')"):
            attrs = {k: v for k, v in zip(_PEER_KEYS, row, strict=True) if v}
            peer = peer_of(Span("", "", None, "", "", "client", attributes=attrs))
            if peer:
                found.add(peer)
        return sorted(found - set(self.services()))

    def operations(self, service: str) -> list[str]:
        return [r[0] for r in self._q(
            "SELECT DISTINCT name FROM spans WHERE service = ? ORDER BY 1", [service])]

    # -- search ----------------------------------------------------------------------------
    def _matching(self, q: TraceQuery) -> tuple[str, list[Any], str]:
        """SQL selecting matching spans ``s`` (one per trace later), params, readable query."""
        where = ["s.start_ns >= ?", "s.start_ns < ?"]
        params: list[Any] = [q.start_ns, q.end_ns]
        shown = [f"start in [{ns_to_rfc3339(q.start_ns)}, {ns_to_rfc3339(q.end_ns)})"]
        if q.service is not None:
            where.append("s.service = ?")
            params.append(q.service)
            shown.insert(0, f"service = {q.service!r}")
        if q.errors_only:
            where.append("s.status_code = 'error'")
            shown.append("status = error")
        else:
            where.append(_ENTRY if q.service is not None else _ROOT)
            shown.append("entry spans" if q.service is not None else "root spans")
        if q.operation is not None:
            where.append("s.name = ?")
            params.append(q.operation)
            shown.append(f"name = {q.operation!r}")
        if q.min_duration_ns is not None:
            where.append("s.end_ns - s.start_ns >= ?")
            params.append(q.min_duration_ns)
            shown.append(f"duration >= {fmt_ns(q.min_duration_ns)}")
        return " AND ".join(where), params, "spans WHERE " + " AND ".join(shown)

    def latency(self, q: TraceQuery) -> LatencyStats:
        lat = TraceQuery(q.start_ns, q.end_ns, q.service, q.operation)
        where, params, shown = self._matching(lat)
        row = self._q(
            "WITH m AS (SELECT DISTINCT s.trace_id, s.span_id, s.end_ns - s.start_ns AS d "
            f"FROM spans s WHERE {where}) SELECT count(*), quantile_cont(d, 0.5), "
            "quantile_cont(d, 0.9), quantile_cont(d, 0.95), quantile_cont(d, 0.99), max(d), "
            "avg(d) FROM m", params)[0]
        count = int(row[0] or 0)
        if not count:
            return LatencyStats(0, query=f"quantiles of duration over {shown}")
        p50, p90, p95, p99, mx, mean = (float(v) for v in row[1:])
        return LatencyStats(count, p50, p90, p95, p99, mx, mean, exact=True,
                            query=f"quantiles of duration over {shown}")

    def search(self, q: TraceQuery) -> SearchResult:
        where, params, shown = self._matching(q)
        order = "s.start_ns DESC" if q.errors_only else "(s.end_ns - s.start_ns) DESC"
        rows = self._q(
            f"WITH m AS (SELECT s.trace_id, s.span_id, s.name, s.end_ns - s.start_ns AS d, "
            f"s.status_code = 'error' AS err, s.start_ns AS st, row_number() OVER "
            f"(PARTITION BY s.trace_id ORDER BY {order}, s.span_id) AS rn FROM spans s "
            f"WHERE {where}) SELECT trace_id, span_id, name, d, err, count(*) OVER () AS total "
            f"FROM m WHERE rn = 1 ORDER BY {'st' if q.errors_only else 'd'} DESC, trace_id "
            "LIMIT ?", [*params, q.limit])
        total = int(rows[0][5]) if rows else 0
        matched = {r[0]: MatchedSpan(r[1], r[2], int(r[3]), bool(r[4])) for r in rows}
        hits = self._summaries(list(matched))
        for h in hits:
            h.matched = matched.get(h.trace_id)
        if q.errors_only:
            hits.sort(key=lambda h: -h.start_ns)
        else:
            hits.sort(key=lambda h: -(h.matched.duration_ns if h.matched else h.duration_ns))
        order_txt = "most recent first" if q.errors_only else "slowest first"
        return SearchResult(hits, f"{shown}; one per trace, {order_txt}, limit {q.limit}",
                            total=total)

    def _summaries(self, trace_ids: list[str]) -> list[TraceHit]:
        if not trace_ids:
            return []
        rows = self._q(
            "WITH t AS (SELECT DISTINCT ON (trace_id, span_id) * FROM spans "
            "WHERE trace_id IN (SELECT unnest(?))) "
            "SELECT trace_id, min(start_ns), max(end_ns) - min(start_ns), count(*), "
            "count(*) FILTER (WHERE status_code = 'error'), list(DISTINCT service ORDER BY "
            "service) FILTER (WHERE service IS NOT NULL), "
            "coalesce(arg_min(service, start_ns) FILTER (WHERE parent_span_id IS NULL), "
            "arg_min(service, start_ns)), "
            "coalesce(arg_min(name, start_ns) FILTER (WHERE parent_span_id IS NULL), "
            "arg_min(name, start_ns)) FROM t GROUP BY trace_id", [trace_ids])
        return [TraceHit(trace_id=r[0], start_ns=int(r[1]), duration_ns=int(r[2]),
                         span_count=int(r[3]), error_count=int(r[4]), services=list(r[5] or []),
                         root_service=r[6], root_name=r[7]) for r in rows]

    # -- one trace -------------------------------------------------------------------------
    def _resolve_id(self, trace_id: str, typed: str) -> str:
        if self._q("SELECT 1 FROM spans WHERE trace_id = ? LIMIT 1", [trace_id]):
            return trace_id
        prefix = typed.strip().lower()
        if 6 <= len(prefix) < 32:
            cands = [r[0] for r in self._q(
                "SELECT DISTINCT trace_id FROM spans WHERE starts_with(trace_id, ?) LIMIT 4",
                [prefix])]
            if len(cands) == 1:
                return cands[0]
            if cands:
                raise BadInputError(
                    f"trace id prefix {typed!r} matches several traces: {', '.join(cands[:3])}",
                    "pass the full 32-digit trace id")
        raise NotFoundError(
            f"trace {trace_id} is not in this bundle",
            "find trace ids with find_slow_traces or find_error_traces; a trace id from a log "
            "line may belong to a trace that was not sampled")

    def get_trace(self, trace_id: str, max_spans: int, typed: str | None = None) -> FetchedTrace:
        tid = self._resolve_id(trace_id, typed or trace_id)
        total, distinct, errors = self._q(
            "SELECT count(*), count(DISTINCT span_id), count(DISTINCT span_id) FILTER "
            "(WHERE status_code = 'error') FROM spans WHERE trace_id = ?", [tid])[0]
        sql = (f"SELECT {_SPAN_COLS}, attributes_json, resource_json, events_json, links_json, "
               "scope FROM spans WHERE trace_id = ?")
        query = f"spans WHERE trace_id = '{tid}'"
        notes: list[str] = []
        if total > max_spans:
            sql += (" ORDER BY (parent_span_id IS NULL) DESC, (end_ns - start_ns) DESC, "
                    "start_ns LIMIT ?")
            rows = self._q(sql, [tid, max_spans])
            query += f" ORDER BY root first, duration DESC LIMIT {max_spans}"
            notes.append(f"the trace has {distinct:,} spans, more than the {max_spans:,} allowed "
                         "(limits.max_spans_per_trace or max_spans): the root and the longest "
                         f"{max_spans:,} spans were loaded (longest first keeps their ancestors)")
        else:
            rows = self._q(sql + " ORDER BY start_ns", [tid])
        resources: dict[str, Any] = {}  # one resource per pod: parse each text once
        spans = [self._span(r, full=True, resources=resources) for r in rows]
        return FetchedTrace(tid, spans, int(distinct), query, total_errors=int(errors), notes=notes)

    @staticmethod
    def _span(r: tuple[Any, ...], *, full: bool, resources: dict[str, Any] | None = None
              ) -> Span:
        links = _loads(r[13]) if r[13] else None
        resource: dict[str, Any] = {}
        if full and r[11]:
            cache = resources if resources is not None else {}
            resource = cache.get(r[11]) or cache.setdefault(r[11], _loads(r[11]) or {})
        ref_type = "child_of"
        if isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("ref_type") == "follows_from" \
                        and link.get("span_id") == r[2]:
                    ref_type = "follows_from"
        return Span(
            trace_id=r[0], span_id=r[1], parent_id=r[2], service=r[3] or "",
            name=r[4] or "", kind=r[5] or "unspecified", start_ns=int(r[6]),
            end_ns=int(r[7] if r[7] is not None else r[6]), status=r[8] or "unset",
            status_message=r[9], attributes=_loads(r[10]) or {},
            resource=resource,
            events=_loads(r[12]) or [], links=links or [], ref_type=ref_type,
            scope=r[14] if full else None,
        )

    # -- many traces -----------------------------------------------------------------------
    def traces(self, q: TraceQuery, max_traces: int) -> TraceSet:
        where, params, shown = self._matching(
            TraceQuery(q.start_ns, q.end_ns, q.service, q.operation, q.min_duration_ns,
                       q.errors_only))
        ids_sql = f"SELECT DISTINCT s.trace_id FROM spans s WHERE {where}"
        matched = int(self._q(f"SELECT count(*) FROM ({ids_sql})", params)[0][0])
        notes = []
        if matched > max_traces:
            ids_sql = (f"SELECT trace_id FROM ({ids_sql}) ORDER BY hash(trace_id) "
                       f"LIMIT {int(max_traces)}")
            notes.append(f"{max_traces:,} of {matched:,} matching traces analysed "
                         "(a deterministic sample)")
        rows = self._q(
            f"WITH ids AS ({ids_sql}) SELECT {_SPAN_COLS}, CASE WHEN kind IN ('client', "
            "'producer') OR status_code = 'error' THEN attributes_json END, NULL, "
            "CASE WHEN status_code = 'error' THEN events_json END, links_json, NULL "
            "FROM spans WHERE trace_id IN (SELECT trace_id FROM ids) ORDER BY trace_id, start_ns",
            params)
        traces: list[list[Span]] = []
        current = None
        for r in rows:
            if r[0] != current:
                traces.append([])
                current = r[0]
            traces[-1].append(self._span(r, full=False))
        sampled = f" (sampled to {max_traces:,})" if matched > max_traces else ""
        return TraceSet(traces, f"traces with {shown}{sampled}", matched=matched, notes=notes)

    def dependency_counts(self, start_ns: int, end_ns: int) -> list[DependencyCount] | None:
        return None  # computed from the spans themselves (exactly, as the store has them all)

    def close(self) -> None:
        """The store belongs to the context, which closes it."""
