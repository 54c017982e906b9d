"""Hand-built spans for the traces tests: times in milliseconds, ids from small numbers."""

from __future__ import annotations

from typing import Any

from obsbench_servers.traces.model import Span

TRACE = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000


def sid(n: int) -> str:
    return f"{n:016x}"


def span(  # noqa: PLR0917 - compact builders read best positionally
    n: int,
    parent: int | None,
    service: str,
    name: str,
    start_ms: float,
    end_ms: float,
    *,
    kind: str = "server",
    error: str | None = None,
    ref: str = "child_of",
    attrs: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    trace: str = TRACE,
) -> Span:
    """A span ``n`` under ``parent`` from ``start_ms`` to ``end_ms``; ``error`` sets the status."""
    return Span(
        trace_id=trace, span_id=sid(n), parent_id=sid(parent) if parent is not None else None,
        service=service, name=name, kind=kind, start_ns=int(start_ms * MS),
        end_ns=int(end_ms * MS), status="error" if error else "unset", status_message=error,
        attributes=dict(attrs or {}), events=list(events or []), ref_type=ref,
    )


def segments_ms(tree: Any, cp: Any) -> list[tuple[str, float, float]]:
    """Critical-path segments as (span name, start ms, end ms), for readable assertions."""
    return [(tree.spans[i].name, s / MS, e / MS) for i, s, e in cp.segments]


# -- a 10,000-span trace with a known critical path and known errors -----------------------------

BIG_START_NS = 1_773_150_000 * 10**9  # 2026-03-10T13:20:00Z
BIG_ERRORS = {  # (service, operation) -> message; every one must be named by get_trace_details
    ("svc19", "step 19"): "context deadline exceeded",
    ("cache", "GET"): "connection reset by peer",
    ("api", "SELECT items"): "canceling statement due to statement timeout",
    ("svc3", "leaf work"): "NullPointerException: price is null",
    ("svc7", "leaf work"): "OutOfMemoryError: Java heap space",
}


def big_trace(n: int = 10_000, trace: str = TRACE) -> list[Span]:
    """A request with three phases: 2,000 concurrent cache reads, 500 sequential queries (an
    N+1), then a 20-deep chain of services with concurrent leaf work under each; errors of
    the five kinds in ``BIG_ERRORS`` scattered in (19 error spans). Starts at ``BIG_START_NS``."""
    import random

    rng = random.Random(5)
    db = {"db.system": "postgresql", "server.address": "postgres.data.svc.cluster.local"}
    cache = {"server.address": "redis-master.data.svc.cluster.local"}
    out = [span(1, None, "gateway", "GET /big", 0, 10_000, trace=trace)]
    nid = 2
    for k in range(2000):  # phase 1: concurrent cache reads in [0, 1000)
        st = rng.uniform(0, 500)
        err = BIG_ERRORS[("cache", "GET")] if k % 400 == 7 else None
        out.append(span(nid, 1, "api", "GET", st, st + rng.uniform(1, 499), kind="client",
                        attrs=cache, error=err, trace=trace))
        out[-1].service = "cache" if err else "api"
        nid += 1
    for k in range(500):  # phase 2: an N+1 of sequential queries in [1000, 6000)
        st = 1000 + 10 * k
        err = BIG_ERRORS[("api", "SELECT items")] if k % 100 == 50 else None
        out.append(span(nid, 1, "api", "SELECT items", st, st + 9.5, kind="client", attrs=db,
                        error=err, trace=trace))
        nid += 1
    parent = 1
    chain = []
    for i in range(20):  # phase 3: a chain of nested services in [6000, 9900)
        err = BIG_ERRORS[("svc19", "step 19")] if i == 19 else None
        out.append(span(nid, parent, f"svc{i}", f"step {i}", 6000 + 10 * i, 9900 - 10 * i,
                        error=err, trace=trace))
        chain.append(nid)
        parent = nid
        nid += 1
    k = 0
    while len(out) < n:  # concurrent leaf work under the chain, off the critical path
        i = k % 20
        lo, hi = 6000 + 10 * i, 9900 - 10 * i
        st = rng.uniform(lo, hi - 200)
        svc = f"svc{i}"
        err = BIG_ERRORS.get((svc, "leaf work")) if k % 97 == 3 else None
        name = "leaf work" if err else f"task {(k // 20) % 60}"  # many distinct operations
        out.append(span(nid, chain[i], svc, name, st, st + rng.uniform(1, 150),
                        kind="internal", error=err, trace=trace))
        nid += 1
        k += 1
    for s in out:
        s.start_ns += BIG_START_NS
        s.end_ns += BIG_START_NS
    return out


def otlp_document(spans: list[Span]) -> dict[str, Any]:
    """An OTLP/JSON ``ExportTraceServiceRequest`` holding ``spans`` (one resource per service)."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    kinds = {"server": 2, "client": 3, "internal": 1, "producer": 4, "consumer": 5}
    for s in spans:
        item: dict[str, Any] = {
            "traceId": s.trace_id, "spanId": s.span_id, "name": s.name,
            "kind": kinds.get(s.kind, 0), "startTimeUnixNano": str(s.start_ns),
            "endTimeUnixNano": str(s.end_ns),
            "attributes": [{"key": k, "value": {"stringValue": str(v)}}
                           for k, v in s.attributes.items()],
        }
        if s.parent_id:
            item["parentSpanId"] = s.parent_id
        if s.is_error:
            item["status"] = {"code": 2, "message": s.status_message or ""}
        by_service.setdefault(s.service, []).append(item)
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "obsbench.test"}, "spans": items}]}
        for svc, items in by_service.items()]}


def write_bundle(directory: Any, spans: list[Span], name: str = "big") -> Any:
    """A bundle holding ``spans`` as OTLP/JSON, its window around them."""
    from pathlib import Path

    import orjson

    from obsbench_servers.common.timeutil import ns_to_rfc3339

    d = Path(directory)
    (d / "traces").mkdir(parents=True, exist_ok=True)
    (d / "traces" / "spans.otlp.json").write_bytes(orjson.dumps(otlp_document(spans)))
    lo = min(s.start_ns for s in spans) // 10**9 - 60
    hi = max(s.end_ns for s in spans) // 10**9 + 60
    (d / "bundle.toml").write_text(f'name = "{name}"\n[window]\n'
                                   f'start = "{ns_to_rfc3339(lo * 10**9)}"\n'
                                   f'end = "{ns_to_rfc3339(hi * 10**9)}"\n')
    return d
