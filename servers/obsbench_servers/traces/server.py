"""The traces MCP server: the tools, their arguments, and the backend they run on.

Progressive disclosure: ``find_slow_traces`` / ``find_error_traces`` (search,
with the window's latency distribution and where errors originate), then
``get_service_dependencies`` (topology) and ``get_latency_breakdown`` (where
a service's time goes, vs a baseline), then ``get_trace_details`` (one trace:
critical path, compressed tree, errors) and ``compare_trace_spans`` (a normal
and a slow request side by side). ``list_trace_services`` says what exists.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from obsbench_servers.common.backend import (
    JaegerBackend,
    LocalBackend,
    TempoBackend,
)
from obsbench_servers.common.budget import TextBudget
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import (
    BadInputError,
    ConfigError,
    NotFoundError,
)
from obsbench_servers.common.guards import check_range
from obsbench_servers.common.result import Coverage, ToolOutput
from obsbench_servers.common.suggest import close_names
from obsbench_servers.common.timeutil import (
    TimeParseError,
    TimeRange,
    format_duration_ns,
    ns_to_rfc3339,
    parse_duration_ns,
)
from obsbench_servers.common.toolkit import register_tool
from obsbench_servers.traces import views
from obsbench_servers.traces.backend import FetchedTrace, TraceQuery, TracesBackend
from obsbench_servers.traces.breakdown import aggregate, compare_windows
from obsbench_servers.traces.compare import compare
from obsbench_servers.traces.compress import compress
from obsbench_servers.traces.critical_path import critical_path
from obsbench_servers.traces.dependencies import Edge, edges, focus
from obsbench_servers.traces.failures import error_groups, message_key, origins
from obsbench_servers.traces.model import fmt_ns, normalize_trace_id
from obsbench_servers.traces.span_details import select, span_record
from obsbench_servers.traces.tree import TraceTree, build_tree

INSTRUCTIONS = (
    "Distributed traces of the services under investigation. Work from broad to narrow: "
    "1. search: find_slow_traces / find_error_traces find requests (with the window's latency "
    "distribution and where errors originate); 2. topology: get_service_dependencies for the "
    "call graph, get_latency_breakdown for which downstream service or operation a service's "
    "latency grew in (vs a baseline window); 3. critical path: get_trace_details on one trace "
    "id (critical path, collapsed repeats such as N+1 queries, errors), compare_trace_spans "
    "for a normal vs a slow request; 4. span details: get_span_details on the few spans that "
    "matter (attributes, events, resource). list_trace_services gets names right. Times "
    "accept RFC 3339, epoch seconds or now-2h."
)


SERVICE_CACHE_S = 60.0
MAX_LIMIT = 100


def make_backend(ctx: ServerContext) -> TracesBackend:
    """The adapter for the context's traces backend."""
    be = ctx.backend
    if isinstance(be, LocalBackend):
        from obsbench_servers.traces.backends.local import LocalTraces  # noqa: PLC0415

        return LocalTraces(ctx, be)
    if isinstance(be, JaegerBackend):
        from obsbench_servers.traces.backends.jaeger import JaegerTraces  # noqa: PLC0415

        return JaegerTraces(be)
    if isinstance(be, TempoBackend):
        from obsbench_servers.traces.backends.tempo import TempoTraces  # noqa: PLC0415

        return TempoTraces(be)
    raise ConfigError(f"{be.type!r} is not a traces backend",
                      "set [profiles.NAME.traces] type to jaeger, tempo or local")


class TracesTools:
    """The tools' shared state: the backend (made on first use) and cached names."""

    def __init__(self, ctx: ServerContext, backend: TracesBackend | None = None) -> None:
        self.ctx = ctx
        self._backend = backend
        self._lock = threading.Lock()
        self._names: tuple[float, list[str], list[str]] | None = None

    @property
    def backend(self) -> TracesBackend:
        with self._lock:
            if self._backend is None:
                self._backend = make_backend(self.ctx)
            return self._backend

    @property
    def is_local(self) -> bool:
        return self.backend.name == "local"

    # -- argument checks -------------------------------------------------------------------
    def window(self, start: str | None, end: str | None, default_since: str = "1h") -> TimeRange:
        try:
            tr = self.ctx.time_range(start, end, default_since=default_since)
        except TimeParseError as exc:
            raise BadInputError(str(exc), "write times as RFC 3339 (2026-03-10T14:05:00Z), "
                                "epoch seconds, or relative (now-2h); end defaults to now") \
                from None
        if tr.duration_ns <= 0:
            raise BadInputError("the time range is empty (start equals end)",
                                "give start before end, e.g. start=now-1h")
        check_range(tr, self.ctx.backend.limits, what="time range")
        return tr

    def names(self) -> tuple[list[str], list[str]]:
        """(services with spans, uninstrumented peers), cached for a minute."""
        now = time.monotonic()
        cached = self._names
        if cached is None or now - cached[0] > SERVICE_CACHE_S:
            be = self.backend
            peers_fn = getattr(be, "peers", None)
            peers = list(peers_fn()) if callable(peers_fn) else []
            cached = self._names = (now, be.services(), peers)
        return cached[1], cached[2]

    def service(self, name: str | None, *, allow_peers: bool = False) -> str | None:
        if name is None or not str(name).strip():
            return None
        name = str(name).strip()
        services, peers = self.names()
        if name in services or (allow_peers and name in peers):
            return name
        if name in peers:
            raise BadInputError(
                f"{name!r} emits no spans of its own (it is only seen as the peer of client "
                "spans: a database, cache or external API)",
                "ask about its callers: get_service_dependencies(service="
                f"{name!r}) lists them; get_latency_breakdown on a caller shows its share")
        lower = {s.lower(): s for s in services + (peers if allow_peers else [])}
        if name.lower() in lower:
            return lower[name.lower()]
        pool = services + (peers if allow_peers else [])
        close = close_names(name, pool)
        listing = ", ".join(services[:30]) or "none"
        hint = (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + \
            f"services with spans: {listing}"
        raise NotFoundError(f"no spans from service {name!r} in {self.backend.describe()}", hint)

    def operation(self, service: str | None, op: str | None) -> str | None:
        if op is None or not str(op).strip():
            return None
        op = str(op).strip()
        if service is None:
            raise BadInputError("operation needs a service", "pass service= together with "
                                "operation=, e.g. service='checkout'")
        ops = self.backend.operations(service)
        if op in ops:
            return op
        close = close_names(op, ops)
        hint = (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + \
            f"operations of {service}: {', '.join(ops[:25]) or 'none'}"
        raise NotFoundError(f"{service} has no operation {op!r}", hint)

    @staticmethod
    def limit(value: int, default: int = 10) -> int:
        if value is None:
            return default
        if not 1 <= int(value) <= MAX_LIMIT:
            raise BadInputError(f"limit must be between 1 and {MAX_LIMIT} (got {value})",
                                "ask for fewer traces and narrow the window instead")
        return int(value)

    def window_warnings(self, tr: TimeRange) -> list[str]:
        """For a bundle: say so when the range misses the data."""
        if not self.is_local:
            return []
        be = self.ctx.backend
        assert isinstance(be, LocalBackend)
        window = self.ctx.store(be).manifest.window
        if window is None:
            return []
        if tr.end_ns <= window.start_ns or tr.start_ns >= window.end_ns:
            return [f"the range lies outside the bundle's window ({window.start} .. "
                    f"{window.end}); nothing can match"]
        return []

    def fetch_tree(self, trace_id: str, max_spans: int | None = None
                   ) -> tuple[TraceTree, FetchedTrace]:
        """Load one trace (bounded by the span limit) and build its repaired tree."""
        tid = normalize_trace_id(trace_id)
        cap = self.backend.max_spans_per_trace
        if max_spans is not None and max_spans < 1:
            raise BadInputError(f"max_spans must be at least 1 (got {max_spans})",
                                f"omit it to load up to {cap:,} spans")
        want = min(max_spans or cap, cap)
        be = self.backend
        fetched = be.get_trace(tid, want, typed=str(trace_id))
        if not fetched.spans:
            raise NotFoundError(f"trace {tid} has no spans in {be.describe()}",
                                "find trace ids with find_slow_traces or find_error_traces")
        return build_tree(fetched.spans), fetched

    def threshold(self, text: str | None, stats: Any) -> tuple[int | None, str]:
        raw = (text or "p95").strip().lower()
        if raw.startswith("p") and raw[1:].replace(".", "", 1).isdigit():
            q = float(raw[1:])
            if not 0 < q < 100:
                raise BadInputError(f"percentile {raw} must be between p1 and p99.9",
                                    "use p50, p90, p95 or p99")
            if not stats.count:
                return None, raw
            value = {50.0: stats.p50_ns, 90.0: stats.p90_ns, 95.0: stats.p95_ns,
                     99.0: stats.p99_ns}.get(q)
            if value is None:
                raise BadInputError(f"percentile {raw} is not one of p50, p90, p95, p99",
                                    "use p50, p90, p95 or p99, or a duration like 500ms")
            return int(value), f"{raw} of the window ({fmt_ns(value)})"
        try:
            ns = int(float(raw) * 1_000_000) if raw.replace(".", "", 1).isdigit() \
                else parse_duration_ns(raw)
        except TimeParseError:
            raise BadInputError(
                f"latency_threshold {text!r} is neither a duration nor a percentile",
                "write a duration (500ms, 1.5s; a bare number is milliseconds) or p95/p99"
            ) from None
        return ns, fmt_ns(ns)


def _origin_label(tree: TraceTree, i: int) -> str:
    s = tree.spans[i]
    svc, _ = tree.attribution(i)
    where = f"{s.service} {s.name}" + (f" -> {svc}" if svc != s.service else "")
    return f"{where}: {s.error_text()[:140]}"


def create_server(ctx: ServerContext, backend: TracesBackend | None = None) -> MCPServer:
    """The traces server over ``ctx``'s backend (``backend`` overrides it, for tests)."""
    tools = TracesTools(ctx, backend)
    server = MCPServer("obsbench-traces", instructions=INSTRUCTIONS)

    def find_slow_traces(  # noqa: PLR0917 - MCP tool arguments
        service: Annotated[str | None, Field(
            description="Service whose requests to search (its server/consumer spans). "
                        "Omit for whole traces (root spans).")] = None,
        latency_threshold: Annotated[str | None, Field(
            description="Slow means at least this: a duration (500ms, 2s; a bare number is "
                        "milliseconds) or a percentile of the window (p90, p95, p99). "
                        "Default p95.")] = None,
        start: Annotated[str | None, Field(
            description="Window start: RFC 3339, epoch seconds, or relative (now-2h). "
                        "Default: one hour before end.")] = None,
        end: Annotated[str | None, Field(description="Window end (default now).")] = None,
        operation: Annotated[str | None, Field(
            description="Only this operation (span name) of the service, e.g. "
                        "'GET /v1/users/{id}'.")] = None,
        limit: Annotated[int, Field(description="Traces to list (1-100).")] = 10,
    ) -> ToolOutput:
        """Find the slowest requests of a service in a time window, with the window's latency
        distribution (p50/p90/p95/p99/max) so that "slow" has a meaning. Returns trace ids with
        the request's duration, the trace's root operation, span count and error count. Use it
        first when latency is the symptom, then get_trace_details on a returned trace id, or
        get_latency_breakdown to see which downstream service the time grew in."""
        tr = tools.window(start, end)
        svc = tools.service(service)
        op = tools.operation(svc, operation)
        n = tools.limit(limit)
        be = tools.backend
        stats = be.latency(TraceQuery(tr.start_ns, tr.end_ns, svc, op))
        threshold, thr_text = tools.threshold(latency_threshold, stats)
        what = (f"{svc} {op}" if op else svc) if svc else "traces"
        warnings = tools.window_warnings(tr)
        if threshold is None:
            return ToolOutput(
                kind="spans", summary=f"no requests of {what} in the window",
                text=views.latency_line(stats, what), data={
                    "service": svc, "operation": op, "latency": stats.to_dict(),
                    "threshold_ns": None, "total": 0, "traces": []},
                query=stats.query, time_range=tr, coverage=Coverage(0, 0, "traces"),
                backend=be.describe(), warnings=warnings)
        res = be.search(TraceQuery(tr.start_ns, tr.end_ns, svc, op, threshold, limit=n))
        total = res.total
        summary = (f"{total if total is not None else len(res.hits)} "
                   f"{'requests of ' + what if svc else 'traces'} took >= {thr_text}"
                   + (f"; slowest {fmt_ns(res.hits[0].matched.duration_ns)}"
                      if res.hits and res.hits[0].matched else
                      f"; slowest {fmt_ns(res.hits[0].duration_ns)}" if res.hits else ""))
        b = TextBudget(unit="traces")
        b.add(views.latency_line(stats, what))
        b.add(f"threshold: {thr_text}")
        shown = sum(1 for h in res.hits if b.add(views.hit_line(h)))
        return ToolOutput(
            kind="spans", summary=summary, text=b.render(),
            data={"service": svc, "operation": op, "threshold_ns": threshold,
                  "threshold": thr_text, "latency": stats.to_dict(), "total": total,
                  "traces": [h.to_dict() for h in res.hits]},
            query=f"{res.query}; {stats.query}", time_range=tr,
            coverage=Coverage(shown, total, "traces", list(res.notes)),
            backend=be.describe(), warnings=warnings)

    def find_error_traces(
        service: Annotated[str | None, Field(
            description="Service whose spans failed. Omit for errors anywhere.")] = None,
        start: Annotated[str | None, Field(
            description="Window start: RFC 3339, epoch seconds, or now-2h (default: one hour "
                        "before end).")] = None,
        end: Annotated[str | None, Field(description="Window end (default now).")] = None,
        limit: Annotated[int, Field(description="Traces to list (1-100).")] = 10,
    ) -> ToolOutput:
        """Find traces in which a service's spans failed, most recent first, and where the
        errors ORIGINATE: the deepest erroring span of each trace (a database timeout under a
        failing handler, a downstream 503, an exception in the service's own code), grouped by
        service, operation and message over many traces. Use it when errors are the symptom:
        the origin names the service to look at next; then get_trace_details on a trace id."""
        tr = tools.window(start, end)
        svc = tools.service(service)
        n = tools.limit(limit)
        be = tools.backend
        q = TraceQuery(tr.start_ns, tr.end_ns, svc, errors_only=True, limit=n)
        res = be.search(q)
        sample = be.traces(TraceQuery(tr.start_ns, tr.end_ns, svc, errors_only=True),
                           200 if tools.is_local else 30)
        trees = {t.trace_id: t for t in (build_tree(spans) for spans in sample.traces if spans)}
        unreadable = 0
        for h in res.hits:
            if h.trace_id not in trees:
                try:
                    tree, _ = tools.fetch_tree(h.trace_id)
                except NotFoundError:
                    unreadable += 1
                    continue
                trees[h.trace_id] = tree
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        per_trace: dict[str, str] = {}
        for tid, tree in trees.items():
            found = origins(tree)
            if not found:
                continue
            per_trace[tid] = _origin_label(tree, found[0])
            seen: set[tuple[str, str]] = set()
            for i in found:
                s = tree.spans[i]
                peer, _ = tree.attribution(i)
                key = (f"{s.service} {s.name}" + (f" -> {peer}" if peer != s.service else ""),
                       message_key(s.error_text()))
                if key in seen:
                    continue
                seen.add(key)
                g = groups.setdefault(key, {"where": key[0], "service": s.service,
                                            "operation": s.name, "peer": peer,
                                            "message": s.error_text(), "traces": 0,
                                            "example_trace_id": tid})
                g["traces"] += 1
        ranked = sorted(groups.values(), key=lambda g: -g["traces"])
        total = res.total if res.total is not None else len(res.hits)
        what = svc or "any service"
        top = ranked[0] if ranked else None
        summary = (f"{total} traces with errors in {what}"
                   + (f"; most originate in {top['where']} ({top['traces']} of "
                      f"{len(trees)} analysed)" if top else ""))
        b = TextBudget(unit="lines")
        if ranked:
            b.add(f"errors originate in (deepest erroring span; {len(trees)} traces analysed):")
            for g in ranked[:12]:
                b.add(f"  {g['traces']} traces: {g['where']}: {g['message'][:200]} "
                      f"(e.g. {g['example_trace_id']})", max_chars=700)
        b.add(f"traces ({len(res.hits)} most recent):")
        for h in res.hits:
            b.add("  " + views.hit_line(h, origin=per_trace.get(h.trace_id)), max_chars=700)
        notes = list(res.notes) + list(sample.notes)
        if unreadable:
            notes.append(f"{unreadable} trace(s) found by the search could not be fetched")
        return ToolOutput(
            kind="spans", summary=summary, text=b.render(),
            data={"service": svc, "total": total, "analysed_traces": len(trees),
                  "origins": ranked,
                  "traces": [{**h.to_dict(), "origin": per_trace.get(h.trace_id)}
                             for h in res.hits]},
            query=f"{res.query}; origins from {sample.query}", time_range=tr,
            coverage=Coverage(len(res.hits), total, "traces", notes),
            backend=be.describe(), warnings=tools.window_warnings(tr))

    def get_trace_details(
        trace_id: Annotated[str, Field(
            description="The trace id (32 hex digits; Jaeger's 16 work; a unique prefix of "
                        "at least 6 digits works on bundles).")],
        max_spans: Annotated[int | None, Field(
            description="Load at most this many spans (default and ceiling: the backend's "
                        "limits.max_spans_per_trace). A bigger trace is sampled, and the "
                        "result says so.")] = None,
    ) -> ToolOutput:
        """One trace, compressed for reading: the critical path (the chain of blocking work
        that set its duration, with the share each service/operation took), every error
        grouped with its message and attributes (ORIGIN marks the deepest erroring span),
        self-time per service, and the span tree with repeated siblings collapsed
        ("x37 user-api SELECT users: p50 12ms, max 90ms" is an N+1). The full tree is in the
        structured content. Use it on a trace id from find_slow_traces/find_error_traces; then
        get_span_details on the few spans that matter (their attributes, events, resource)."""
        tree, fetched = tools.fetch_tree(trace_id, max_spans)
        cp = critical_path(tree)
        comp = compress(tree, cp)
        groups = error_groups(tree)
        notes = list(fetched.notes)
        summary, text, data, shown = views.trace_details(
            tree, cp, comp, groups, total_spans=fetched.total_spans,
            total_errors=fetched.total_errors, notes=notes)
        covered: set[int] = set()
        for ln in comp.lines[:shown]:
            covered.update(ln.repeat.members if ln.repeat else (ln.span,))
        cov_notes = notes + tree.issues.notes()
        if shown < len(comp.lines):
            cov_notes.append(f"tree view: {shown:,} of {len(comp.lines):,} lines fit the "
                             "token budget; critical path and errors are listed first")
        tr = TimeRange(tree.start_ns, max(tree.end_ns, tree.start_ns))
        return ToolOutput(
            kind="trace", summary=summary, text=text, data=data, query=fetched.query,
            time_range=tr,
            coverage=Coverage(len(covered), fetched.total_spans, "spans", cov_notes),
            backend=tools.backend.describe(), warnings=tree.issues.notes())

    def get_span_details(
        trace_id: Annotated[str, Field(description="The trace id, as for get_trace_details.")],
        spans: Annotated[list[str], Field(
            description="Up to 10 spans: span ids (16 hex digits, or a unique prefix) or "
                        "'service operation' labels as get_trace_details shows them (e.g. "
                        "'user-api SELECT user_preferences'); a label matching several spans "
                        "gives the slowest 3.")],
    ) -> ToolOutput:
        """The last step after get_trace_details: a few spans of one trace in full — every
        attribute (SQL statement, URL, status code, peer), events such as exceptions with
        their stack-trace message, links, the pod/host resource, parent, children, timing
        (offset, duration, self-time, critical-path share) and who its time belongs to. Use
        it on the spans that matter: those on the critical path, error origins, a collapsed
        repeat (N+1) whose query text you need."""
        tree, fetched = tools.fetch_tree(trace_id)
        cp = critical_path(tree)
        try:
            chosen = select(tree, list(spans or []))
        except NotFoundError as exc:
            if not fetched.sampled:
                raise
            raise NotFoundError(
                exc.message, f"{exc.hint}; note: this trace has {fetched.total_spans:,} spans and "
                f"only the {len(fetched.spans):,} longest were loaded "
                "(limits.max_spans_per_trace)") from None
        records = [(sel, [span_record(tree, cp, i) for i in sel.spans]) for sel in chosen]
        summary, text, shown = views.span_details(tree, records)
        total = sum(len(recs) for _, recs in records)
        notes = list(fetched.notes) + [
            f"{sel.spec!r} matched {sel.matched} spans: the slowest {len(sel.spans)} shown"
            for sel in chosen if sel.matched > len(sel.spans)]
        if shown < total:
            notes.append(f"{total - shown} span(s) did not fit the token budget; all are in "
                         "structured_content")
        return ToolOutput(
            kind="spans", summary=summary, text=text,
            data={"trace_id": tree.trace_id,
                  "requested": [{"spec": sel.spec, "matched": sel.matched,
                                 "span_ids": [tree.spans[i].span_id for i in sel.spans]}
                                for sel in chosen],
                  "spans": [r for _, recs in records for r in recs]},
            query=fetched.query, time_range=TimeRange(tree.start_ns, max(tree.end_ns,
                                                                          tree.start_ns)),
            coverage=Coverage(shown, total, "spans", notes),
            backend=tools.backend.describe(), warnings=tree.issues.notes())

    def compare_trace_spans(
        trace_id_1: Annotated[str, Field(description="The reference trace (e.g. a normal "
                                                     "request).")],
        trace_id_2: Annotated[str, Field(description="The trace to explain (e.g. a slow "
                                                     "request of the same operation).")],
    ) -> ToolOutput:
        """Compare two traces: their span trees are aligned by service/operation path and the
        result says where time moved — which paths gained self-time or critical-path time,
        which calls multiplied (x1 -> x24 is an N+1), what exists in only one of them. Use it
        on a normal and a slow request of the same operation."""
        id1, id2 = normalize_trace_id(trace_id_1), normalize_trace_id(trace_id_2)
        if id1 == id2:
            raise BadInputError("both trace ids are the same trace",
                                "pass a normal request as trace_id_1 and a slow one as "
                                "trace_id_2 (find_slow_traces lists slow ones)")
        ta, fa = tools.fetch_tree(trace_id_1)
        tb, fb = tools.fetch_tree(trace_id_2)
        cmp = compare(ta, critical_path(ta), tb, critical_path(tb))
        summary, text, data = views.comparison(cmp, ta.trace_id, tb.trace_id, ta, tb)
        shown = min(len(cmp.rows), 25)
        tr = TimeRange(min(ta.start_ns, tb.start_ns), max(ta.end_ns, tb.end_ns))
        return ToolOutput(
            kind="table", summary=summary, text=text, data=data,
            query=f"{fa.query}; {fb.query}", time_range=tr,
            coverage=Coverage(shown, len(cmp.rows), "paths",
                              fa.notes + fb.notes + ta.issues.notes() + tb.issues.notes()),
            backend=tools.backend.describe())

    def get_service_dependencies(
        service: Annotated[str | None, Field(
            description="Focus: the calls into this service and everything downstream of it "
                        "(databases and external APIs included). Omit for the whole graph.")
        ] = None,
        start: Annotated[str | None, Field(
            description="Window start (default: one hour before end).")] = None,
        end: Annotated[str | None, Field(description="Window end (default now).")] = None,
    ) -> ToolOutput:
        """The call graph from spans: caller -> callee edges with request counts, error ratios
        and latency (p50/p95/p99, as the caller saw it), databases and external APIs included,
        asynchronous (=>) messaging edges marked. Use it to follow a symptom downstream and to
        see which dependency fails or is slow; then get_latency_breakdown or find_slow_traces /
        find_error_traces on the service that looks wrong."""
        tr = tools.window(start, end)
        svc = tools.service(service, allow_peers=True)
        services, _ = tools.names()
        be = tools.backend
        traced = svc if svc in services else None
        ts = be.traces(TraceQuery(tr.start_ns, tr.end_ns, traced),
                       2000 if tools.is_local else 100)
        trees = [build_tree(t) for t in ts.traces if t]
        graph = edges(trees)
        notes = list(ts.notes)
        counts = be.dependency_counts(tr.start_ns, tr.end_ns)
        if counts:
            for c in counts:
                e = graph.get((c.caller, c.callee))
                if e is None:
                    e = graph[(c.caller, c.callee)] = Edge(c.caller, c.callee)
                e.window_calls = c.calls
            notes.append("call counts are the backend's own for the whole window; errors and "
                         "latency come from the sampled traces")
        chosen = focus(graph, svc) if svc else sorted(graph.values(),
                                                     key=lambda e: (e.caller, -e.calls))
        summary, text, data = views.dependencies(chosen, svc, len(trees))
        return ToolOutput(
            kind="table", summary=summary, text=text, data=data, query=ts.query,
            time_range=tr, coverage=Coverage(len(chosen), len(chosen), "edges", notes),
            backend=be.describe(), warnings=tools.window_warnings(tr))

    def get_latency_breakdown(  # noqa: PLR0917 - MCP tool arguments
        service: Annotated[str, Field(description="The service whose requests to break down "
                                                  "(often the alerting or entry service).")],
        start: Annotated[str | None, Field(
            description="Window start (default: one hour before end). Put it at the incident's "
                        "onset to compare before and after.")] = None,
        end: Annotated[str | None, Field(description="Window end (default now).")] = None,
        operation: Annotated[str | None, Field(
            description="Only requests of this operation.")] = None,
        baseline_start: Annotated[str | None, Field(
            description="Baseline window start (default: a window as long as the main one, "
                        "just before it).")] = None,
        baseline_end: Annotated[str | None, Field(
            description="Baseline window end (default: the main window's start).")] = None,
    ) -> ToolOutput:
        """Where a service's request latency goes, aggregated over many traces and compared
        with a baseline window: critical-path time and self-time per request, by the
        downstream service and operation it is spent in (databases, external APIs and network
        time between services included), with calls per request (a jump from 1 to 24 is an
        N+1). Names the service whose share grew most: use it to locate the root cause of a
        latency increase before reading single traces (then find_slow_traces and
        get_trace_details to see it in one request)."""
        svc = tools.service(service)
        if svc is None:
            raise BadInputError("service is required",
                                "pass the service whose latency grew, e.g. the alerting one")
        tr = tools.window(start, end)
        op = tools.operation(svc, operation)
        if baseline_start or baseline_end:
            bs = tools.window(baseline_start,
                              baseline_end or ns_to_rfc3339(tr.start_ns, precision="nanoseconds"),
                              default_since=format_duration_ns(tr.duration_ns))
        else:
            bs = TimeRange(tr.start_ns - tr.duration_ns, tr.start_ns)
        be = tools.backend
        cap = 2000 if tools.is_local else 100
        cur = be.traces(TraceQuery(tr.start_ns, tr.end_ns, svc, op), cap)
        base = be.traces(TraceQuery(bs.start_ns, bs.end_ns, svc, op), cap)
        w_cur = aggregate([build_tree(t) for t in cur.traces if t], svc, op)
        w_base = aggregate([build_tree(t) for t in base.traces if t], svc, op)
        bd = compare_windows(w_cur, w_base)
        if not w_cur.requests:
            return ToolOutput(
                kind="table", summary=f"no requests of {svc} in the window",
                text="nothing to break down: widen the window or check the service name",
                data={"service": svc, "operation": op, "requests": 0, "rows": []},
                query=cur.query, time_range=tr, coverage=Coverage(0, 0, "requests"),
                backend=be.describe(), warnings=tools.window_warnings(tr))
        summary, text, data = views.breakdown(bd, svc, op, (tr.start_ns, tr.end_ns),
                                              (bs.start_ns, bs.end_ns))
        notes = [f"current: {n}" for n in cur.notes] + [f"baseline: {n}" for n in base.notes]
        if not bd.has_baseline:
            notes.append("the baseline window has no requests: shares shown without growth")
        return ToolOutput(
            kind="table", summary=summary, text=text, data=data,
            query=f"{cur.query}; baseline {base.query}", time_range=tr,
            coverage=Coverage(w_cur.requests, None, "requests", notes),
            backend=be.describe(), warnings=tools.window_warnings(tr))

    def list_trace_services(
        service: Annotated[str | None, Field(
            description="List this service's operations instead of the services.")] = None,
    ) -> ToolOutput:
        """The services that emit spans (and, on bundles, the databases and external APIs seen
        only as peers), or one service's operations (span names). Use it to get names right
        before searching."""
        svc = tools.service(service)
        be = tools.backend
        services, peers = tools.names()
        b = TextBudget(unit="names")
        if svc is None:
            b.add(f"services with spans ({len(services)}): {', '.join(services)}",
                  max_chars=4000)
            if peers:
                b.add(f"peers seen only from client spans ({len(peers)}): {', '.join(peers)}",
                      max_chars=2000)
            return ToolOutput(kind="table", summary=f"{len(services)} services emit spans",
                              text=b.render(), data={"services": services, "peers": peers},
                              query="services", coverage=Coverage(len(services), len(services),
                                                                  "services"),
                              backend=be.describe())
        ops = be.operations(svc)
        for op in ops:
            b.add(op)
        return ToolOutput(kind="table", summary=f"{svc} has {len(ops)} operations",
                          text=b.render(), data={"service": svc, "operations": ops},
                          query=f"operations of {svc}",
                          coverage=Coverage(len(b.lines), len(ops), "operations"),
                          backend=be.describe())

    register_tool(server, find_slow_traces, title="Find slow traces")
    register_tool(server, find_error_traces, title="Find error traces")
    register_tool(server, get_trace_details, title="Trace details")
    register_tool(server, get_span_details, title="Span details")
    register_tool(server, compare_trace_spans, title="Compare two traces")
    register_tool(server, get_service_dependencies, title="Service dependencies")
    register_tool(server, get_latency_breakdown, title="Latency breakdown")
    register_tool(server, list_trace_services, title="Trace services")
    return server
