"""Where a service's requests spend their time, downstream, over many traces, vs a baseline.

For every request the service served in the window (its entry spans: server
or consumer spans, or spans whose parent is another service), every span
below it is charged to the (service, operation) its time belongs to (see
``TraceTree.attribution``: a database or external API under its own name, the
gap between a client span and the server span it called to the callee's
network). Two measures per (service, operation, caller):

- **self-time**: the work done there, per request;
- **critical-path time**: how much of the request's latency it set (parallel
  calls count once, asynchronous work not at all). These sum to the latency.

The same is computed for a baseline window; rows are ranked by how much
critical-path time per request grew, and services by the sum of their rows.
That names where new latency comes from — a database behind an N+1 fan, a
slow external API, a network link, a service's own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.traces.critical_path import critical_path
from obsbench_servers.traces.model import ENTRY_KINDS, OUTGOING_KINDS, fmt_ns
from obsbench_servers.traces.tree import TraceTree

RowKey = tuple[str, str, str]  # (service the time belongs to, operation, calling service)


@dataclass
class Cell:
    calls: int = 0
    self_ns: int = 0
    critical_ns: int = 0
    errors: int = 0

    def add(self, other: Cell) -> None:
        self.calls += other.calls
        self.self_ns += other.self_ns
        self.critical_ns += other.critical_ns
        self.errors += other.errors


@dataclass
class OpWindow:
    """The requests of one entry operation (``GET /product/{id}``) in a window."""

    requests: int = 0
    latency_ns: int = 0
    cells: dict[RowKey, Cell] = field(default_factory=dict)


@dataclass
class Window:
    """Totals over one window's requests to the service, also per entry operation."""

    requests: int = 0
    traces: int = 0
    latency_ns: int = 0
    errors: int = 0
    cells: dict[RowKey, Cell] = field(default_factory=dict)
    by_op: dict[str, OpWindow] = field(default_factory=dict)

    def per_request(self, value: int) -> float:
        return value / self.requests if self.requests else 0.0


def is_entry(tree: TraceTree, i: int) -> bool:
    """Does span ``i`` start work its service is answerable for?"""
    s = tree.spans[i]
    if s.kind in ENTRY_KINDS:
        return True
    if s.kind in OUTGOING_KINDS:
        return False
    p = tree.parent[i]
    return p < 0 or tree.spans[p].service != s.service


def aggregate(trees: list[TraceTree], service: str, operation: str | None = None) -> Window:
    """Charge every request of ``service`` (optionally one operation) in ``trees``."""
    w = Window()
    for tree in trees:
        spans = tree.spans
        selfs = tree.self_times()
        counted = [False] * len(spans)
        inside = [False] * len(spans)
        hit = False
        for i in tree.order:
            p = tree.parent[i]
            if p >= 0:
                inside[i] = inside[p] or counted[p]
            s = spans[i]
            if inside[i] or s.service != service or not is_entry(tree, i):
                continue
            if operation is not None and s.name != operation:
                continue
            counted[i] = True
            hit = True
            w.requests += 1
            w.latency_ns += s.duration_ns
            w.errors += 1 if s.is_error else 0
            ow = w.by_op.get(s.name)
            if ow is None:
                ow = w.by_op[s.name] = OpWindow()
            ow.requests += 1
            ow.latency_ns += s.duration_ns
            cp = critical_path(tree, i)
            for d in tree.subtree(i, sync_only=True):
                svc, op = tree.attribution(d)
                key = (svc, op, spans[d].service)
                c = ow.cells.get(key)
                if c is None:
                    c = ow.cells[key] = Cell()
                c.calls += 1
                c.self_ns += selfs[d]
                c.critical_ns += cp.by_span.get(d, 0)
                c.errors += 1 if spans[d].is_error else 0
        if hit:
            w.traces += 1
    for ow in w.by_op.values():
        for key, c in ow.cells.items():
            w.cells.setdefault(key, Cell()).add(c)
    return w


@dataclass
class Row:
    """One (service, operation, caller): per request now, and in the mix-adjusted baseline."""

    service: str
    operation: str
    caller: str
    critical_now: float
    critical_before: float
    self_now: float
    self_before: float
    calls_now: float
    calls_before: float
    errors: int
    baseline_errors: int

    @property
    def critical_delta(self) -> float:
        return self.critical_now - self.critical_before

    def line(self, with_baseline: bool) -> str:
        where = self.service if self.caller == self.service else \
            f"{self.service} (called by {self.caller})"
        text = (f"{where} {self.operation}: {fmt_ns(self.critical_now)}/req on critical path, "
                f"self {fmt_ns(self.self_now)}/req, {self.calls_now:.2g} calls/req")
        if with_baseline:
            sign = "+" if self.critical_delta >= 0 else ""
            text += (f" (baseline {fmt_ns(self.critical_before)}/req, {sign}"
                     f"{fmt_ns(self.critical_delta)}; {self.calls_before:.2g} calls/req)")
        if self.errors:
            text += f"; {self.errors} errors"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "operation": self.operation, "caller": self.caller,
            "critical_ns_per_request": round(self.critical_now),
            "baseline_critical_ns_per_request": round(self.critical_before),
            "critical_delta_ns_per_request": round(self.critical_delta),
            "self_ns_per_request": round(self.self_now),
            "baseline_self_ns_per_request": round(self.self_before),
            "calls_per_request": round(self.calls_now, 3),
            "baseline_calls_per_request": round(self.calls_before, 3),
            "errors": self.errors, "baseline_errors": self.baseline_errors,
        }


@dataclass
class Breakdown:
    current: Window
    baseline: Window | None
    rows: list[Row]
    services: list[tuple[str, float, float]]  # service, critical/req now, baseline
    baseline_latency: float = 0.0  # mean latency per request in the mix-adjusted baseline

    @property
    def has_baseline(self) -> bool:
        return self.baseline is not None and self.baseline.requests > 0

    @property
    def top_service(self) -> str | None:
        """The service whose critical-path time per request grew most (or is largest)."""
        if not self.services:
            return None
        if self.has_baseline:
            return max(self.services, key=lambda t: t[1] - t[2])[0]
        return max(self.services, key=lambda t: t[1])[0]


def compare_windows(current: Window, baseline: Window | None) -> Breakdown:
    """Rows for every key of either window, ranked by critical-path growth per request.

    The baseline is *mix-adjusted*: each entry operation's baseline per request is
    weighted by that operation's share of the current requests, so a window with
    more checkouts (heavy) and fewer landing pages (light) is not mistaken for a
    slowdown of the checkout path. An operation with no baseline requests
    counts as new work (its baseline is zero).
    """
    base = baseline or Window()
    n = current.requests or 1
    weights = {op: ow.requests / n for op, ow in current.by_op.items()}
    keys = set(current.cells) | {k for op in weights if op in base.by_op
                                 for k in base.by_op[op].cells}
    rows = []
    base_latency = 0.0
    for op, wgt in weights.items():
        bo = base.by_op.get(op)
        if bo is not None and bo.requests:
            base_latency += wgt * bo.latency_ns / bo.requests
    for k in keys:
        now = current.cells.get(k, Cell())
        before = [0.0, 0.0, 0.0]
        berr = 0
        for op, wgt in weights.items():
            bo = base.by_op.get(op)
            if bo is None or not bo.requests:
                continue
            c = bo.cells.get(k)
            if c is None:
                continue
            before[0] += wgt * c.critical_ns / bo.requests
            before[1] += wgt * c.self_ns / bo.requests
            before[2] += wgt * c.calls / bo.requests
            berr += c.errors
        rows.append(Row(k[0], k[1], k[2], now.critical_ns / n, before[0], now.self_ns / n,
                        before[1], now.calls / n, before[2], now.errors, berr))
    with_base = base.requests > 0
    rows.sort(key=lambda r: (-(r.critical_delta if with_base else r.critical_now),
                             -r.self_now, r.service, r.operation))
    svc: dict[str, list[float]] = {}
    for r in rows:
        acc = svc.setdefault(r.service, [0.0, 0.0])
        acc[0] += r.critical_now
        acc[1] += r.critical_before
    services = sorted(((s, v[0], v[1]) for s, v in svc.items()),
                      key=lambda t: -((t[1] - t[2]) if with_base else t[1]))
    return Breakdown(current, baseline, rows, services, base_latency)
