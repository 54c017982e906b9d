"""The critical path of a trace: the chain of blocking work that set its duration.

The standard algorithm (Jaeger UI's ``computeCriticalPath``; Uber's CRISP):
walk back from the end of the root span. The child that finished last is on
the path; the parent's own time after that child is on the path too; then,
from that child's start, the next child that had *finished before it
started* (one it waited on in sequence) is on the path, and so on. Children
that overlapped the chosen one ran concurrently and did not set the duration,
so they are not on it. Each chosen child is walked the same way.

Before walking, children are clipped to their parent's interval (a child that
outlives its caller — a client timeout — only counts until the caller stopped
waiting), children entirely outside their parent are ignored, and
asynchronous children (FOLLOWS_FROM, producer -> consumer, fire-and-forget)
are skipped: nobody waited on them. Clock skew is corrected when the tree is
built (``tree.py``). The walk is iterative, so depth is unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from obsbench_servers.traces.tree import TraceTree


@dataclass
class CriticalPath:
    """Segments ``(span index, start_ns, end_ns)`` in time order, and time per span.

    ``by_span`` holds every span the walk went through, including spans whose
    children fill them entirely (0 ns of their own): they are on the chain too.
    """

    root: int
    segments: list[tuple[int, int, int]] = field(default_factory=list)
    by_span: dict[int, int] = field(default_factory=dict)

    @property
    def total_ns(self) -> int:
        return sum(e - s for _, s, e in self.segments)

    def contains(self, i: int) -> bool:
        return i in self.by_span


class _Frame:
    """One span being walked: its clipped start, blocking children, and the cursor."""

    __slots__ = ("cursor", "kids", "lo", "next", "span")

    def __init__(self, span: int, lo: int, kids: list[tuple[int, int, int]], cursor: int) -> None:
        self.span = span
        self.lo = lo
        self.kids = kids
        self.next = 0
        self.cursor = cursor


def critical_path(tree: TraceTree, root: int | None = None) -> CriticalPath:
    """The critical path under ``root`` (default: the trace's main root)."""
    spans = tree.spans
    r = tree.root if root is None else root
    rs = spans[r]
    cp = CriticalPath(r)
    out: list[tuple[int, int, int]] = []

    def kids(i: int, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Blocking children clipped to [lo, hi], latest end first."""
        got = []
        for c in tree.children[i]:
            if tree.is_async[c]:
                continue
            cs, ce = max(spans[c].start_ns, lo), min(spans[c].end_ns, hi)
            if ce < cs or (ce == cs and spans[c].duration_ns > 0):
                continue  # entirely outside the parent
            got.append((c, cs, ce))
        got.sort(key=lambda t: (t[2], t[1]), reverse=True)
        return got

    stack = [_Frame(r, rs.start_ns, kids(r, rs.start_ns, rs.end_ns), rs.end_ns)]
    while stack:
        f = stack[-1]
        pushed = False
        while f.next < len(f.kids):
            c, cs, ce = f.kids[f.next]
            f.next += 1
            if ce > f.cursor:
                continue  # overlapped the child already on the path: concurrent
            if ce < f.cursor:
                out.append((f.span, ce, f.cursor))
            f.cursor = cs
            cp.by_span.setdefault(c, 0)  # on the chain even if its children fill it
            stack.append(_Frame(c, cs, kids(c, cs, ce), ce))
            pushed = True
            break
        if pushed:
            continue
        if f.cursor > f.lo:
            out.append((f.span, f.lo, f.cursor))
        stack.pop()
    out.reverse()
    cp.segments = out
    cp.by_span.setdefault(r, 0)
    for i, s, e in out:
        cp.by_span[i] += e - s
    return cp


def by_attribution(tree: TraceTree, cp: CriticalPath) -> dict[tuple[str, str], int]:
    """Critical-path time per (service, operation) it belongs to (see ``TraceTree.attribution``)."""
    out: dict[tuple[str, str], int] = {}
    for i, ns in cp.by_span.items():
        key = tree.attribution(i)
        out[key] = out.get(key, 0) + ns
    return out


def by_service(tree: TraceTree, cp: CriticalPath) -> dict[str, int]:
    out: dict[str, int] = {}
    for (svc, _), ns in by_attribution(tree, cp).items():
        out[svc] = out.get(svc, 0) + ns
    return out
