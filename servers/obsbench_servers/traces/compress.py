"""A span tree an LLM can read: repeated siblings collapsed, self-time per service.

Thirty-seven ``SELECT users`` under one handler say one thing — the N+1
signature — so siblings with the same (service, operation, kind) become one
line with their count and latency spread:
``x37 user-api SELECT users [client -> postgres]: p50 12ms, max 90ms, total 410ms``.
The representative (the member on the critical path, else the slowest) keeps
its own subtree, so a fan of identical calls costs a few lines however wide.
Lines are produced parents-first with an explicit stack (no recursion limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.traces.critical_path import CriticalPath
from obsbench_servers.traces.model import OUTGOING_KINDS, fmt_ns, percentile
from obsbench_servers.traces.tree import TraceTree

MIN_REPEAT = 3  # siblings of one kind from this many on are collapsed


@dataclass
class Repeat:
    """Siblings collapsed into one line."""

    service: str
    operation: str
    kind: str
    peer: str | None
    members: list[int]
    representative: int
    p50_ns: float
    max_ns: int
    total_ns: int
    errors: int
    on_critical_path: int
    critical_ns: int

    def to_dict(self, tree: TraceTree) -> dict[str, Any]:
        return {
            "service": self.service, "operation": self.operation, "kind": self.kind,
            "peer": self.peer, "count": len(self.members),
            "p50_ns": int(self.p50_ns), "max_ns": self.max_ns, "total_ns": self.total_ns,
            "errors": self.errors, "on_critical_path": self.on_critical_path,
            "critical_ns": self.critical_ns,
            "representative": tree.spans[self.representative].span_id,
            "parent": tree.spans[tree.parent[self.members[0]]].span_id
            if tree.parent[self.members[0]] >= 0 else None,
        }


@dataclass(slots=True)
class TreeLine:
    """One line of the compressed tree; its text is rendered on demand (most never are)."""

    depth: int
    span: int
    repeat: Repeat | None = None
    on_path: bool = False
    error: bool = False
    member_line: bool = False  # "slowest/critical member" line under a repeat


@dataclass
class Compressed:
    tree: TraceTree
    cp: CriticalPath
    lines: list[TreeLine] = field(default_factory=list)
    repeats: list[Repeat] = field(default_factory=list)

    def text(self, line: TreeLine) -> str:
        """The rendering of one line (self-times are computed once, on first use)."""
        tree = self.tree
        if line.repeat is not None:
            return _repeat_text(tree, line.repeat)
        t0 = tree.spans[tree.root].start_ns
        body = _line_text(tree, line.span, self.cp, tree.self_times(), t0)
        return f"slowest/critical member: {body}" if line.member_line else body


def _span_label(tree: TraceTree, i: int) -> str:
    s = tree.spans[i]
    kind = s.kind
    if s.kind in OUTGOING_KINDS:
        peer, _ = tree.attribution(i)
        if peer != s.service:
            kind = f"{s.kind} -> {peer}"
    return f"{s.service} {s.name} [{kind}]"


def _line_text(tree: TraceTree, i: int, cp: CriticalPath, selfs: list[int], t0: int) -> str:
    s = tree.spans[i]
    text = (f"{_span_label(tree, i)} {fmt_ns(s.duration_ns)} self {fmt_ns(selfs[i])} "
            f"@+{fmt_ns(s.start_ns - t0)}")
    if cp.contains(i):
        text += f" cp {fmt_ns(cp.by_span[i])}"
    if tree.is_async[i]:
        text += " async"
    if s.is_error:
        text += f" ERROR {s.error_text()[:120]}"
    return text


def _repeat_text(tree: TraceTree, r: Repeat) -> str:
    kind = r.kind if not r.peer or r.peer == r.service else f"{r.kind} -> {r.peer}"
    text = (f"x{len(r.members)} {r.service} {r.operation} [{kind}]: p50 {fmt_ns(r.p50_ns)}, "
            f"max {fmt_ns(r.max_ns)}, total {fmt_ns(r.total_ns)}")
    if r.on_critical_path:
        text += f"; {r.on_critical_path} on critical path ({fmt_ns(r.critical_ns)})"
    if r.errors:
        text += f"; {r.errors} ERRORS"
    return text


def _make_repeat(tree: TraceTree, members: list[int], cp: CriticalPath) -> Repeat:
    spans = tree.spans
    durs = sorted(spans[m].duration_ns for m in members)
    on_cp = [m for m in members if cp.contains(m)]
    rep = max(on_cp or members, key=lambda m: (cp.by_span.get(m, 0), spans[m].duration_ns))
    first = spans[members[0]]
    peer, _ = tree.attribution(members[0])
    return Repeat(
        service=first.service, operation=first.name, kind=first.kind,
        peer=peer if peer != first.service else None, members=members, representative=rep,
        p50_ns=percentile(durs, 0.5), max_ns=durs[-1], total_ns=sum(durs),
        errors=sum(1 for m in members if spans[m].is_error),
        on_critical_path=len(on_cp), critical_ns=sum(cp.by_span[m] for m in on_cp),
    )


def compress(tree: TraceTree, cp: CriticalPath, *, min_repeat: int = MIN_REPEAT) -> Compressed:
    """The compressed tree under every root, main root first, as lines in display order."""
    spans = tree.spans
    out = Compressed(tree, cp)
    roots = [tree.root] + [r for r in tree.roots if r != tree.root]
    # stack items: (span index, depth) or (Repeat, depth); pushed in reverse display order
    stack: list[tuple[int | Repeat, int]] = [(r, 0) for r in reversed(roots)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Repeat):
            out.lines.append(TreeLine(depth, item.representative, repeat=item,
                                      on_path=item.on_critical_path > 0, error=item.errors > 0))
            rep = item.representative
            kids = tree.children[rep]
            if kids:
                out.lines.append(TreeLine(depth + 1, rep, on_path=cp.contains(rep),
                                          error=spans[rep].is_error, member_line=True))
                _push_children(tree, kids, depth + 2, stack=stack, cp=cp,
                               min_repeat=min_repeat, out=out)
            continue
        i = item
        out.lines.append(TreeLine(depth, i, on_path=cp.contains(i), error=spans[i].is_error))
        _push_children(tree, tree.children[i], depth + 1, stack=stack, cp=cp,
                       min_repeat=min_repeat, out=out)
    return out


def _push_children(tree: TraceTree, kids: list[int], depth: int, *,
                   stack: list[tuple[int | Repeat, int]], cp: CriticalPath, min_repeat: int,
                   out: Compressed) -> None:
    if not kids:
        return
    if len(kids) < min_repeat:  # nothing to collapse: children are already in start order
        stack.extend((c, depth) for c in reversed(kids))
        return
    spans = tree.spans
    groups: dict[tuple[str, str, str], list[int]] = {}
    for c in kids:
        s = spans[c]
        groups.setdefault((s.service, s.name, s.kind), []).append(c)
    items: list[tuple[int, int | Repeat]] = []
    for members in groups.values():
        if len(members) >= min_repeat:
            r = _make_repeat(tree, members, cp)
            out.repeats.append(r)
            items.append((spans[members[0]].start_ns, r))
        else:
            items.extend((spans[m].start_ns, m) for m in members)
    items.sort(key=lambda t: t[0])
    for _, it in reversed(items):
        stack.append((it, depth))


def self_time_by_service(tree: TraceTree) -> list[tuple[str, int, int]]:
    """(service, self-time ns, spans) with self-time attributed as ``TraceTree.attribution``."""
    selfs = tree.self_times()
    acc: dict[str, list[int]] = {}
    for i in range(len(tree.spans)):
        svc, _ = tree.attribution(i)
        a = acc.setdefault(svc, [0, 0])
        a[0] += selfs[i]
        a[1] += 1
    return sorted(((s, v[0], v[1]) for s, v in acc.items()), key=lambda t: -t[1])
