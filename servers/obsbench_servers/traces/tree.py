"""Building one trace's span tree robustly, whatever the span data looks like.

Real span data is messy, and every later step (critical path, compression,
comparison) needs a clean tree, so the repairs happen here, once, and each is
counted so that the tool can say what it changed:

- duplicate spans (the store keeps them as given; exporters retry): an exact
  copy is dropped, a conflicting copy with the same id keeps the longer span;
- missing parents (a partial trace, sampling, a lost batch): the orphan becomes
  an extra root, and the tree says which parent ids were absent;
- cycles in parent links (corrupt ids): broken at the earliest-starting span;
- negative durations (end before start): clamped to zero;
- clock skew between services: a server span that does not fit inside the
  client span that called it is shifted, with every span of its service below
  it, to sit centred in the caller (Jaeger's adjuster: equal latency each way);
  a server span longer than its caller that starts inside it is *not* skew —
  the caller gave up (a timeout) while the server ran on;
- asynchronous children (FOLLOWS_FROM, producer -> consumer, work that starts
  after its parent ended) are marked so that self-time and the critical path
  do not treat them as blocking.

Everything is index-based and iterative: a 10,000-span trace, or a 10,000-deep
chain, builds in milliseconds without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from obsbench_servers.traces.model import ENTRY_KINDS, OUTGOING_KINDS, Span, fmt_ns, peer_of

UNKNOWN_SERVICE = "unknown_service"


@dataclass
class SkewFix:
    """One clock-skew correction: ``service``'s spans under ``caller`` moved by ``shift_ns``."""

    service: str
    caller: str
    shift_ns: int
    spans: int

    def to_dict(self) -> dict[str, object]:
        return {"service": self.service, "caller": self.caller, "shift_ns": self.shift_ns,
                "spans": self.spans}


@dataclass
class TreeIssues:
    """What was repaired while building the tree (all zero for clean data)."""

    duplicates: int = 0
    conflicting_duplicates: int = 0
    missing_parents: int = 0
    missing_parent_ids: list[str] = field(default_factory=list)
    cycles_broken: int = 0
    negative_durations: int = 0
    detached: int = 0
    skew: list[SkewFix] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per repair, for the coverage and warnings of a tool result."""
        out = []
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate span(s) dropped (same id, same content)")
        if self.conflicting_duplicates:
            out.append(f"{self.conflicting_duplicates} span id(s) appeared with different "
                       "content; the longest copy was kept")
        if self.missing_parents:
            ids = ", ".join(self.missing_parent_ids[:3])
            out.append(f"{self.missing_parents} span(s) reference a parent that is not in the "
                       f"trace ({ids}{', ...' if len(self.missing_parent_ids) > 3 else ''}); "
                       "shown as extra roots: the trace is incomplete")
        if self.cycles_broken:
            out.append(f"{self.cycles_broken} cycle(s) in parent links broken at the earliest "
                       "span (corrupt span data)")
        if self.negative_durations:
            out.append(f"{self.negative_durations} span(s) ended before they started; "
                       "treated as zero-length")
        if self.skew:
            fixes = "; ".join(f"{s.service} under {s.caller} {'+' if s.shift_ns >= 0 else ''}"
                              f"{fmt_ns(s.shift_ns)}" for s in self.skew[:4])
            more = f" (+{len(self.skew) - 4} more)" if len(self.skew) > 4 else ""
            out.append(f"clock skew corrected: {fixes}{more}")
        if self.detached:
            out.append(f"{self.detached} child span(s) start after their parent ended: "
                       "treated as asynchronous (not blocking)")
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "duplicates": self.duplicates,
            "conflicting_duplicates": self.conflicting_duplicates,
            "missing_parents": self.missing_parents,
            "missing_parent_ids": self.missing_parent_ids[:20],
            "cycles_broken": self.cycles_broken,
            "negative_durations": self.negative_durations,
            "detached": self.detached,
            "skew": [s.to_dict() for s in self.skew],
        }


@dataclass
class TraceTree:
    """A trace as arrays indexed by span position; ``order`` lists parents before children."""

    spans: list[Span]
    parent: list[int]
    children: list[list[int]]
    roots: list[int]
    depth: list[int]
    is_async: list[bool]
    order: list[int]
    issues: TreeIssues
    shift: list[int]
    _self: list[int] | None = None
    _attr: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        return self.spans[0].trace_id if self.spans else ""

    @property
    def root(self) -> int:
        """The main root: the longest root (a real root beats an orphan of equal length)."""
        best = self.roots[0]
        for r in self.roots[1:]:
            s, b = self.spans[r], self.spans[best]
            key = (s.duration_ns, s.parent_id is None, -s.start_ns)
            if key > (b.duration_ns, b.parent_id is None, -b.start_ns):
                best = r
        return best

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    def sync_children(self, i: int) -> list[int]:
        return [c for c in self.children[i] if not self.is_async[c]]

    def self_times(self) -> list[int]:
        """Each span's time not covered by its blocking children (clipped to the span)."""
        if self._self is not None:
            return self._self
        spans = self.spans
        children = self.children
        is_async = self.is_async
        out = [0] * len(spans)
        for i, s in enumerate(spans):
            lo, hi = s.start_ns, s.end_ns
            kids = children[i]
            if not kids:
                out[i] = hi - lo if hi > lo else 0
                continue
            covered = 0
            cur_s = cur_e = 0
            have = False
            for c in kids:  # sorted by start
                if is_async[c]:
                    continue
                cs, ce = spans[c].start_ns, spans[c].end_ns
                cs = max(cs, lo)
                ce = min(ce, hi)
                if ce <= cs:
                    continue
                if not have or cs > cur_e:
                    if have:
                        covered += cur_e - cur_s
                    cur_s, cur_e, have = cs, ce, True
                elif ce > cur_e:
                    cur_e = ce
            if have:
                covered += cur_e - cur_s
            rest = (hi - lo) - covered
            out[i] = rest if rest > 0 else 0
        self._self = out
        return out

    def subtree(self, i: int, *, sync_only: bool = False) -> list[int]:
        """``i`` and everything below it, parents first."""
        out = [i]
        k = 0
        while k < len(out):
            for c in self.children[out[k]]:
                if not (sync_only and self.is_async[c]):
                    out.append(c)
            k += 1
        return out

    def attribution(self, i: int) -> tuple[str, str]:
        """(service, operation) that a span's self-time belongs to.

        Work a service does itself is its own. Time an outgoing (client or
        producer) span spends not covered by the callee's span is spent in the
        network, a queue or an uninstrumented peer: it belongs to the peer, so
        a database, an external API or a slow link shows up under its own name.
        """
        s = self.spans[i]
        if s.kind not in OUTGOING_KINDS:
            return s.service, s.name
        got = self._attr.get(i)
        if got is not None:
            return got
        for c in self.children[i]:
            child = self.spans[c]
            if not self.is_async[c] and child.service != s.service and (
                    child.kind in ENTRY_KINDS or child.kind == "unspecified"):
                got = (child.service, f"{child.name} (network, client-side)")
                break
        else:
            peer = peer_of(s)
            got = (peer, s.name) if peer else (s.service, f"{s.name} (outgoing, peer unknown)")
        self._attr[i] = got
        return got

    def callee(self, i: int) -> str | None:
        """The service on the other end of an outgoing span, asynchronous consumers included."""
        s = self.spans[i]
        for c in self.children[i]:
            child = self.spans[c]
            if child.service != s.service and (child.kind in ENTRY_KINDS or
                                               child.kind == "unspecified"):
                return child.service
        svc, _ = self.attribution(i)
        return svc if svc != s.service else None

    def dfs_order(self) -> list[int]:
        """Every span in display order: depth first, children by start, main root first."""
        out: list[int] = []
        roots = [self.root] + [r for r in self.roots if r != self.root]
        stack = list(reversed(roots))
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(reversed(self.children[i]))
        return out

    def path_of(self, i: int) -> list[int]:
        """The ancestors of ``i`` from the root down, ``i`` included."""
        out = [i]
        p = self.parent[i]
        while p >= 0:
            out.append(p)
            p = self.parent[p]
        out.reverse()
        return out


def _same(a: Span, b: Span) -> bool:
    return (a.parent_id, a.service, a.name, a.start_ns, a.end_ns, a.status) == (
        b.parent_id, b.service, b.name, b.start_ns, b.end_ns, b.status)


def build_tree(spans: list[Span], *, adjust_skew: bool = True) -> TraceTree:
    """Repair and link ``spans`` (one trace) into a ``TraceTree``. Takes ownership of them."""
    issues = TreeIssues()
    # 1. duplicates
    by_id: dict[str, int] = {}
    kept: list[Span] = []
    for s in spans:
        if not s.service:
            s.service = UNKNOWN_SERVICE
        if s.end_ns < s.start_ns:
            issues.negative_durations += 1
            s.end_ns = s.start_ns
        j = by_id.get(s.span_id)
        if j is None:
            by_id[s.span_id] = len(kept)
            kept.append(s)
            continue
        if _same(kept[j], s):
            issues.duplicates += 1
        else:
            issues.conflicting_duplicates += 1
            if s.duration_ns > kept[j].duration_ns:
                kept[j] = s
    n = len(kept)
    # 2. parents
    parent = [-1] * n
    for i, s in enumerate(kept):
        pid = s.parent_id
        if not pid:
            continue
        if pid == s.span_id:
            issues.cycles_broken += 1
            continue
        j = by_id.get(pid)
        if j is None:
            issues.missing_parents += 1
            if len(issues.missing_parent_ids) < 20:
                issues.missing_parent_ids.append(pid)
            continue
        parent[i] = j
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p >= 0:
            children[p].append(i)
    roots = [i for i in range(n) if parent[i] < 0]
    # 3. cycles: whatever is not reachable from a root hangs in (or off) a cycle
    reached = [False] * n
    order: list[int] = []

    def mark(start: list[int]) -> None:
        k = len(order)
        for r in start:
            reached[r] = True
            order.append(r)
        while k < len(order):
            for c in children[order[k]]:
                if not reached[c]:
                    reached[c] = True
                    order.append(c)
            k += 1

    mark(roots)
    if len(order) < n:
        for u in range(n):
            if reached[u]:
                continue
            walk: dict[int, int] = {}
            x = u
            while x >= 0 and x not in walk and not reached[x]:
                walk[x] = len(walk)
                x = parent[x]
            if x < 0 or reached[x]:
                continue  # hangs off something already handled
            cycle = [y for y, pos in walk.items() if pos >= walk[x]]
            cut = min(cycle, key=lambda y: (kept[y].start_ns, kept[y].span_id))
            children[parent[cut]].remove(cut)
            parent[cut] = -1
            roots.append(cut)
            issues.cycles_broken += 1
            mark([cut])
    for ch in children:
        if len(ch) > 1:
            ch.sort(key=lambda c: (kept[c].start_ns, kept[c].end_ns))
    depth = [0] * n
    for i in order:
        p = parent[i]
        if p >= 0:
            depth[i] = depth[p] + 1
    # 4. asynchronous relations that the data states
    is_async = [False] * n
    for i in range(n):
        p = parent[i]
        if p < 0:
            continue
        s = kept[i]
        if s.ref_type == "follows_from" or (kept[p].kind == "producer" and s.kind == "consumer"):
            is_async[i] = True
    shift = [0] * n
    # 5. clock skew between services, top-down
    if adjust_skew:
        _adjust_skew(kept, parent, children, order=order, is_async=is_async, shift=shift,
                     issues=issues)
    # 6. work that starts after its parent ended does not block it
    for i in order:
        p = parent[i]
        if p < 0 or is_async[i]:
            continue
        ps, s = kept[p], kept[i]
        if s.start_ns >= ps.end_ns and s.start_ns > ps.start_ns:
            is_async[i] = True
            issues.detached += 1
    return TraceTree(kept, parent, children, sorted(roots, key=lambda r: kept[r].start_ns),
                     depth, is_async, order, issues, shift)


def _adjust_skew(spans: list[Span], parent: list[int], children: list[list[int]], *,
                 order: list[int], is_async: list[bool], shift: list[int],
                 issues: TreeIssues) -> None:
    fixes: dict[tuple[str, str], SkewFix] = {}
    for i in order:
        p = parent[i]
        if p < 0 or is_async[i]:
            continue
        ps, s = spans[p], spans[i]
        if s.service == ps.service:
            continue
        if ps.start_ns <= s.start_ns and s.end_ns <= ps.end_ns:
            continue
        pd, sd = ps.duration_ns, s.duration_ns
        if sd <= pd:
            delta = ps.start_ns + (pd - sd) // 2 - s.start_ns
        elif s.start_ns < ps.start_ns or s.start_ns >= ps.end_ns:
            delta = ps.start_ns - s.start_ns
        else:
            continue  # starts inside the caller and outlives it: the caller gave up
        if delta == 0:
            continue
        moved = 0
        stack = [i]
        while stack:
            x = stack.pop()
            spans[x].start_ns += delta
            spans[x].end_ns += delta
            shift[x] += delta
            moved += 1
            stack.extend(c for c in children[x] if spans[c].service == s.service)
        key = (s.service, ps.service)
        fix = fixes.get(key)
        if fix is None:
            fixes[key] = SkewFix(s.service, ps.service, delta, moved)
        else:
            fix.spans += moved
            if abs(delta) > abs(fix.shift_ns):
                fix.shift_ns = delta
    issues.skew = sorted(fixes.values(), key=lambda f: -abs(f.shift_ns))
