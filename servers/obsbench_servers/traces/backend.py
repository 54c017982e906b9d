"""The one interface every trace backend implements, and the shapes it answers in.

A backend adapter knows its wire API (Jaeger v1 or api_v3, Tempo, the
embedded store); the tools know what the LLM needs. Between them: search
(trace hits with their root, duration, span count and errors), the latency
distribution of a service's requests, one trace's spans, a set of traces for
aggregate analysis, and — where the backend keeps them — window-wide
dependency counts. Every answer carries the query actually run, so that the
evidence shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from obsbench_servers.traces.model import ENTRY_KINDS, OUTGOING_KINDS, Span, percentile


@dataclass
class TraceQuery:
    """What to look for. ``service`` matches spans of that service; None: trace roots."""

    start_ns: int
    end_ns: int
    service: str | None = None
    operation: str | None = None
    min_duration_ns: int | None = None
    errors_only: bool = False
    limit: int = 20


@dataclass
class MatchedSpan:
    """The span of the queried service that made a trace match (its request, or its error)."""

    span_id: str
    name: str
    duration_ns: int
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"span_id": self.span_id, "name": self.name, "duration_ns": self.duration_ns,
                "error": self.error}


@dataclass
class TraceHit:
    """One trace found by a search."""

    trace_id: str
    start_ns: int
    duration_ns: int
    root_service: str | None = None
    root_name: str | None = None
    span_count: int | None = None
    error_count: int | None = None
    services: list[str] = field(default_factory=list)
    matched: MatchedSpan | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id, "start_ns": self.start_ns,
            "duration_ns": self.duration_ns, "root_service": self.root_service,
            "root_name": self.root_name, "span_count": self.span_count,
            "error_count": self.error_count, "services": self.services,
            "matched": self.matched.to_dict() if self.matched else None,
        }


@dataclass
class SearchResult:
    hits: list[TraceHit]
    query: str
    total: int | None = None  # traces matching in the window, when the backend can tell
    notes: list[str] = field(default_factory=list)


@dataclass
class LatencyStats:
    """The distribution of the requests' durations; ``exact`` unless computed from a sample."""

    count: int
    p50_ns: float = 0.0
    p90_ns: float = 0.0
    p95_ns: float = 0.0
    p99_ns: float = 0.0
    max_ns: float = 0.0
    mean_ns: float = 0.0
    exact: bool = True
    query: str = ""

    @classmethod
    def from_durations(cls, durations: list[int], *, exact: bool, query: str) -> LatencyStats:
        d = sorted(durations)
        if not d:
            return cls(0, exact=exact, query=query)
        return cls(len(d), percentile(d, 0.5), percentile(d, 0.9), percentile(d, 0.95),
                   percentile(d, 0.99), float(d[-1]), sum(d) / len(d), exact, query)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "p50_ns": round(self.p50_ns), "p90_ns": round(self.p90_ns),
                "p95_ns": round(self.p95_ns), "p99_ns": round(self.p99_ns),
                "max_ns": round(self.max_ns), "mean_ns": round(self.mean_ns),
                "exact": self.exact}


@dataclass
class FetchedTrace:
    """One trace's spans; fewer than ``total_spans`` when the trace was too big to load whole."""

    trace_id: str
    spans: list[Span]
    total_spans: int
    query: str
    total_errors: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return len(self.spans) < self.total_spans


@dataclass
class TraceSet:
    """Many traces for aggregate analysis (dependencies, breakdowns, error origins)."""

    traces: list[list[Span]]
    query: str
    matched: int | None = None  # traces that matched before sampling, when known
    notes: list[str] = field(default_factory=list)


@dataclass
class DependencyCount:
    caller: str
    callee: str
    calls: int


@runtime_checkable
class TracesBackend(Protocol):
    """What the traces server needs from a backend."""

    name: str
    max_spans_per_trace: int

    def describe(self) -> str:
        """What a person recognises the backend by: type and target."""
        ...

    def services(self) -> list[str]:
        """Services that emitted spans."""
        ...

    def operations(self, service: str) -> list[str]:
        """Span names of one service."""
        ...

    def search(self, q: TraceQuery) -> SearchResult:
        """Traces matching ``q``: slowest first, or for ``errors_only`` most recent first."""
        ...

    def latency(self, q: TraceQuery) -> LatencyStats:
        """Durations of ``q.service``'s requests (entry spans) in the window."""
        ...

    def get_trace(self, trace_id: str, max_spans: int, typed: str | None = None
                  ) -> FetchedTrace:
        """One trace (NotFoundError when absent), at most ``max_spans`` spans.

        ``typed`` is the id as the caller wrote it, for backends that can resolve a prefix.
        """
        ...

    def traces(self, q: TraceQuery, max_traces: int) -> TraceSet:
        """Whole traces in which ``q.service`` served requests (or all traces), sampled."""
        ...

    def dependency_counts(self, start_ns: int, end_ns: int) -> list[DependencyCount] | None:
        """Window-wide call counts per edge, when the backend keeps them (else None)."""
        ...

    def close(self) -> None: ...


def entry_spans(spans: list[Span], service: str | None) -> list[Span]:
    """The spans where ``service`` received work (``None``: the trace's roots)."""
    by_id = {s.span_id: s for s in spans}
    out = []
    for s in spans:
        parent = by_id.get(s.parent_id) if s.parent_id else None
        if service is None:
            if parent is None:
                out.append(s)
            continue
        if s.service != service:
            continue
        if s.kind in ENTRY_KINDS or (s.kind not in OUTGOING_KINDS and (
                parent is None or parent.service != s.service)):
            out.append(s)
    return out


def hit_from_spans(trace_id: str, spans: list[Span], q: TraceQuery) -> TraceHit:
    """A search hit computed from a whole trace (backends whose search returns spans)."""
    roots = [s for s in spans if not s.parent_id] or spans
    root = min(roots, key=lambda s: s.start_ns)
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    matched: MatchedSpan | None = None
    if q.service is not None:
        if q.errors_only:
            cands = [s for s in spans if s.service == q.service and s.is_error]
        else:
            cands = [s for s in entry_spans(spans, q.service)
                     if q.operation is None or s.name == q.operation]
        if cands:
            best = max(cands, key=lambda s: s.duration_ns)
            matched = MatchedSpan(best.span_id, best.name, best.duration_ns, best.is_error)
    return TraceHit(
        trace_id=trace_id, start_ns=start, duration_ns=end - start,
        root_service=root.service, root_name=root.name,
        span_count=len({s.span_id for s in spans}),
        error_count=sum(1 for s in spans if s.is_error),
        services=sorted({s.service for s in spans if s.service}), matched=matched,
    )


def matches(hit: TraceHit, spans: list[Span], q: TraceQuery) -> bool:
    """Client-side filter for backends whose search cannot express all of ``q``."""
    if q.service is None:
        if q.min_duration_ns is not None and hit.duration_ns < q.min_duration_ns:
            return False
        return not (q.errors_only and not hit.error_count)
    if hit.matched is None:
        return False
    if q.min_duration_ns is not None and not q.errors_only:
        return hit.matched.duration_ns >= q.min_duration_ns
    return True
