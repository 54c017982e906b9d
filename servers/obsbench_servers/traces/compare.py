"""Two traces side by side: align their trees by service/operation path, show where time moved.

The brief's "normal vs slow request": both trees are keyed by the path of
(service, operation) from the root, so ``frontend GET /product > user-api GET
/v1/users/{id} > SELECT user_preferences`` in one lines up with the same path
in the other however many times it repeats. For each path: calls, total time,
self-time and critical-path time on both sides; rows are ranked by how much
self-time moved, which is where the extra latency was actually spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.traces.critical_path import CriticalPath
from obsbench_servers.traces.tree import TraceTree

PathKey = tuple[int, str, str]  # (parent path id, service, operation)


@dataclass
class PathStat:
    count: int = 0
    total_ns: int = 0
    self_ns: int = 0
    critical_ns: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "total_ns": self.total_ns, "self_ns": self.self_ns,
                "critical_ns": self.critical_ns, "errors": self.errors}


@dataclass
class PathDelta:
    path: list[str]
    a: PathStat
    b: PathStat

    @property
    def self_delta(self) -> int:
        return self.b.self_ns - self.a.self_ns

    @property
    def critical_delta(self) -> int:
        return self.b.critical_ns - self.a.critical_ns

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "self_delta_ns": self.self_delta, "critical_delta_ns": self.critical_delta,
                "count_delta": self.b.count - self.a.count}


@dataclass
class Comparison:
    duration_a: int
    duration_b: int
    rows: list[PathDelta] = field(default_factory=list)
    services: list[tuple[str, int, int]] = field(default_factory=list)  # svc, self a, self b
    same_root: bool = True

    @property
    def delta(self) -> int:
        return self.duration_b - self.duration_a


class _Paths:
    """Interns paths shared by both trees: id -> (parent id, service, operation)."""

    def __init__(self) -> None:
        self.ids: dict[PathKey, int] = {}
        self.keys: list[PathKey] = []

    def intern(self, key: PathKey) -> int:
        pid = self.ids.get(key)
        if pid is None:
            pid = self.ids[key] = len(self.keys)
            self.keys.append(key)
        return pid

    def labels(self, pid: int) -> list[str]:
        out = []
        while pid >= 0:
            parent, svc, op = self.keys[pid]
            out.append(f"{svc} {op}")
            pid = parent
        out.reverse()
        return out


def _stats(tree: TraceTree, cp: CriticalPath, paths: _Paths) -> dict[int, PathStat]:
    selfs = tree.self_times()
    pid = [-1] * len(tree.spans)
    stats: dict[int, PathStat] = {}
    for i in tree.order:
        s = tree.spans[i]
        p = tree.parent[i]
        svc, _ = tree.attribution(i)
        label_op = s.name if svc == s.service else f"{s.name} -> {svc}"
        pid[i] = paths.intern((pid[p] if p >= 0 else -1, s.service, label_op))
        st = stats.setdefault(pid[i], PathStat())
        st.count += 1
        st.total_ns += s.duration_ns
        st.self_ns += selfs[i]
        st.critical_ns += cp.by_span.get(i, 0)
        st.errors += 1 if s.is_error else 0
    return stats


def compare(a: TraceTree, cp_a: CriticalPath, b: TraceTree, cp_b: CriticalPath) -> Comparison:
    """Align ``a`` (the reference) and ``b`` and rank paths by self-time moved."""
    paths = _Paths()
    sa, sb = _stats(a, cp_a, paths), _stats(b, cp_b, paths)
    ra, rb = a.spans[a.root], b.spans[b.root]
    out = Comparison(ra.duration_ns, rb.duration_ns,
                     same_root=(ra.service, ra.name) == (rb.service, rb.name))
    for pid in set(sa) | set(sb):
        out.rows.append(PathDelta(paths.labels(pid), sa.get(pid, PathStat()),
                                  sb.get(pid, PathStat())))
    out.rows.sort(key=lambda r: (-abs(r.self_delta), -abs(r.b.count - r.a.count), r.path))
    svc: dict[str, list[int]] = {}
    for tree, col in ((a, 0), (b, 1)):
        selfs = tree.self_times()
        for i in range(len(tree.spans)):
            name, _ = tree.attribution(i)
            svc.setdefault(name, [0, 0])[col] += selfs[i]
    out.services = sorted(((k, v[0], v[1]) for k, v in svc.items()),
                          key=lambda t: -abs(t[2] - t[1]))
    return out
