"""Kubernetes events for a person in an incident: Warnings first, grouped by reason.

A crash-looping deployment produces hundreds of near-identical events; what matters
is which reasons occur, how often, on which objects, since when, and one message of
each. ``group_events`` folds them that way; ``service_events`` keeps the events about
one workload (itself, its ReplicaSets and pods, its autoscaler, and node events such
as the kernel's ``OOMKilling`` that name its container's process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.infra.k8s import KubeEvent, t
from obsbench_servers.infra.workloads import Workload


@dataclass
class EventGroup:
    type: str
    reason: str
    count: int = 0
    objects: list[str] = field(default_factory=list)
    first_ns: int | None = None
    last_ns: int | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "reason": self.reason, "count": self.count,
                "objects": self.objects, "first": t(self.first_ns), "last": t(self.last_ns),
                "message": self.message}


def about_workload(e: KubeEvent, w: Workload) -> bool:
    if e.namespace and e.namespace != w.namespace and e.object_kind != "Node":
        return False
    if e.object_kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod",
                         "HorizontalPodAutoscaler") and w.owns_object_name(e.object_name):
        return True
    if e.object_kind == "Node":
        names = {str(c.get("name")) for c in w.containers}
        return any(f"({n})" in e.message for n in names)
    return False


def service_events(events: list[KubeEvent], w: Workload) -> list[KubeEvent]:
    return [e for e in events if about_workload(e, w)]


def group_events(events: list[KubeEvent]) -> list[EventGroup]:
    """Groups by (type, reason): Warning groups first, then by count, then by recency."""
    groups: dict[tuple[str, str], EventGroup] = {}
    for e in sorted(events, key=lambda e: e.last_ns or 0):
        g = groups.setdefault((e.type, e.reason), EventGroup(e.type, e.reason))
        g.count += e.count
        obj = f"{e.object_kind}/{e.object_name}"
        if obj not in g.objects:
            g.objects.append(obj)
        if e.first_ns is not None and (g.first_ns is None or e.first_ns < g.first_ns):
            g.first_ns = e.first_ns
        if e.last_ns is not None and (g.last_ns is None or e.last_ns >= g.last_ns):
            g.last_ns = e.last_ns
            g.message = e.message
    return sorted(groups.values(),
                  key=lambda g: (g.type != "Warning", -g.count, -(g.last_ns or 0)))
