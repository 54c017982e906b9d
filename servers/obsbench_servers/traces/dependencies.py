"""The call graph from spans: who calls whom, how often, how it fails, how long it takes.

An edge is one outgoing call: a client (or producer) span from the caller to
the service that served it (the server child's service; for an
uninstrumented peer — a database, an external API — the peer named by the
span's attributes). A server span whose parent is another service's
non-client span (instrumentation without client spans) is an edge too.
Latency is what the caller saw (the client span), so network and queueing
time count. Producer -> consumer edges are marked asynchronous.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.traces.model import OUTGOING_KINDS, fmt_ns, percentile
from obsbench_servers.traces.tree import TraceTree


@dataclass
class Edge:
    caller: str
    callee: str
    calls: int = 0
    errors: int = 0
    durations: list[int] = field(default_factory=list)
    asynchronous: bool = False
    operations: Counter[str] = field(default_factory=Counter)
    window_calls: int | None = None  # the backend's own count for the whole window (Jaeger)

    @property
    def error_ratio(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    def quantile(self, q: float) -> float:
        return percentile(sorted(self.durations), q)

    def line(self) -> str:
        arrow = "=>" if self.asynchronous else "->"
        calls = f"{self.calls:,} calls"
        if self.window_calls is not None and self.window_calls != self.calls:
            calls = f"{self.window_calls:,} calls in window ({self.calls:,} in sampled traces)"
        if not self.calls:
            return (f"{self.caller} {arrow} {self.callee}: {calls} (none in the sampled "
                    "traces: no errors or latency known)")
        ops = ", ".join(f"{op} x{n}" for op, n in self.operations.most_common(3))
        return (f"{self.caller} {arrow} {self.callee}: {calls}, "
                f"{self.error_ratio:.1%} errors, p50 {fmt_ns(self.quantile(0.5))} "
                f"p95 {fmt_ns(self.quantile(0.95))} p99 {fmt_ns(self.quantile(0.99))}"
                + (f" [{ops}]" if ops else ""))

    def to_dict(self) -> dict[str, Any]:
        known = bool(self.durations)
        return {
            "caller": self.caller, "callee": self.callee, "calls": self.calls,
            "window_calls": self.window_calls, "errors": self.errors,
            "error_ratio": round(self.error_ratio, 6),
            "p50_ns": int(self.quantile(0.5)) if known else None,
            "p95_ns": int(self.quantile(0.95)) if known else None,
            "p99_ns": int(self.quantile(0.99)) if known else None,
            "asynchronous": self.asynchronous,
            "operations": dict(self.operations.most_common(10)),
        }


def edges(trees: list[TraceTree]) -> dict[tuple[str, str], Edge]:
    """Every edge seen in ``trees``."""
    out: dict[tuple[str, str], Edge] = {}

    def add(caller: str, callee: str, op: str, dur: int, *, err: bool, asyn: bool) -> None:
        e = out.get((caller, callee))
        if e is None:
            e = out[(caller, callee)] = Edge(caller, callee)
        e.calls += 1
        e.errors += 1 if err else 0
        e.durations.append(dur)
        e.operations[op] += 1
        e.asynchronous = e.asynchronous or asyn

    for tree in trees:
        spans = tree.spans
        for i, s in enumerate(spans):
            if s.kind in OUTGOING_KINDS:
                callee = tree.callee(i)
                if callee is not None:
                    add(s.service, callee, s.name, s.duration_ns, err=s.is_error,
                        asyn=s.kind == "producer")
                continue
            p = tree.parent[i]
            if p >= 0:
                ps = spans[p]
                if ps.service != s.service and ps.kind not in OUTGOING_KINDS:
                    add(ps.service, s.service, s.name, s.duration_ns, err=s.is_error,
                        asyn=tree.is_async[i])
    return out


def focus(all_edges: dict[tuple[str, str], Edge], service: str) -> list[Edge]:
    """Edges into ``service`` and everything reachable downstream of it, in BFS order."""
    down: dict[str, list[Edge]] = {}
    for e in all_edges.values():
        down.setdefault(e.caller, []).append(e)
    picked: list[Edge] = sorted((e for e in all_edges.values() if e.callee == service),
                                key=lambda e: -e.calls)
    seen = {service}
    queue = deque([service])
    while queue:
        svc = queue.popleft()
        for e in sorted(down.get(svc, []), key=lambda e: -e.calls):
            picked.append(e)
            if e.callee not in seen:
                seen.add(e.callee)
                queue.append(e.callee)
    return picked
