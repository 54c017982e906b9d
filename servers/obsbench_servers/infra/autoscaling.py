"""Horizontal Pod Autoscaler state and history: is the service pinned at its maximum?

The HPA object says where it stands now (current/desired/min/max, the metric against
its target, the ``ScalingLimited`` condition); kube-state-metrics' replica series say
how long it has been at ``maxReplicas`` within the window; events say when it scaled
and whether new pods could be scheduled (``FailedScheduling``, ``TriggeredScaleUp``).
"""

from __future__ import annotations

import itertools
from typing import Any

from obsbench_servers.infra.k8s import KubeEvent, name_of, namespace_of
from obsbench_servers.infra.metrics_source import Series
from obsbench_servers.infra.workloads import Workload

SCALING_REASONS = frozenset({
    "SuccessfulRescale", "FailedRescale", "FailedGetScale", "FailedGetResourceMetric",
    "FailedComputeMetricsReplicas", "ScalingReplicaSet", "FailedScheduling",
    "TriggeredScaleUp", "NotTriggerScaleUp", "ScaleDown",
})


def hpa_for(hpas: list[dict[str, Any]], w: Workload) -> dict[str, Any] | None:
    for h in hpas:
        ref = (h.get("spec") or {}).get("scaleTargetRef") or {}
        if (ref.get("name") == w.name and ref.get("kind", w.kind) == w.kind
                and namespace_of(h) == w.namespace):
            return h
    return None


def _metric_line(spec_metric: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    kind = spec_metric.get("type")
    body = spec_metric.get(str(kind).lower()[:1] + str(kind)[1:] if kind else "") or {}
    target = body.get("target") or {}
    name = body.get("name") or (body.get("metric") or {}).get("name")
    cur = None
    if current:
        cbody = current.get(str(kind).lower()[:1] + str(kind)[1:] if kind else "") or {}
        cur = cbody.get("current")
    return {"type": kind, "name": name, "target": target, "current": cur}


def hpa_summary(h: dict[str, Any]) -> dict[str, Any]:
    spec = h.get("spec") or {}
    status = h.get("status") or {}
    currents = [m for m in status.get("currentMetrics") or () if isinstance(m, dict)]
    metrics = []
    for i, m in enumerate(spec.get("metrics") or ()):
        if isinstance(m, dict):
            metrics.append(_metric_line(m, currents[i] if i < len(currents) else None))
    if not metrics and spec.get("targetCPUUtilizationPercentage") is not None:  # autoscaling/v1
        metrics.append({"type": "Resource", "name": "cpu",
                        "target": {"averageUtilization": spec["targetCPUUtilizationPercentage"]},
                        "current": {"averageUtilization":
                                    status.get("currentCPUUtilizationPercentage")}})
    conditions = [{"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason"),
                   "message": c.get("message"), "since": c.get("lastTransitionTime")}
                  for c in status.get("conditions") or () if isinstance(c, dict)]
    current, maximum = status.get("currentReplicas"), spec.get("maxReplicas")
    limited = next((c for c in conditions if c["type"] == "ScalingLimited"), None)
    return {
        "name": name_of(h), "namespace": namespace_of(h),
        "min": spec.get("minReplicas", 1), "max": maximum, "current": current,
        "desired": status.get("desiredReplicas"), "last_scale_time": status.get("lastScaleTime"),
        "metrics": metrics, "conditions": conditions,
        "at_max_now": current is not None and maximum is not None and current >= maximum,
        "scaling_limited": bool(limited and limited["status"] == "True"),
        "scaling_limited_reason": limited["reason"] if limited else None,
    }


def time_at_max(current: Series, maximum: Series) -> dict[str, Any] | None:
    """Seconds the HPA's current replicas stood at its max, and when it first got there."""
    if not current or not maximum:
        return None
    max_by_ts = {}
    for _, pts in maximum:
        for ts, v in pts:
            max_by_ts[ts] = v
    ceiling = max((v for v in max_by_ts.values()), default=None)
    if ceiling is None:
        return None
    at_max_s = 0.0
    first: int | None = None
    last: int | None = None
    peak = 0.0
    for _, pts in current:
        for (t0, v0), (t1, _) in itertools.pairwise(pts):
            limit = max_by_ts.get(t0, ceiling)
            peak = max(peak, v0)
            if v0 >= limit:
                at_max_s += (t1 - t0) / 1000
                first = t0 if first is None else min(first, t0)
                last = t1
        if pts:
            peak = max(peak, pts[-1][1])
    return {"seconds_at_max": at_max_s, "first_at_max_ms": first, "last_at_max_ms": last,
            "peak_replicas": peak, "max_replicas": ceiling}


def scaling_events(events: list[KubeEvent], w: Workload, hpa_name: str | None) -> list[KubeEvent]:
    out = []
    for e in events:
        if e.reason not in SCALING_REASONS:
            continue
        if (e.object_kind == "HorizontalPodAutoscaler" and e.object_name == hpa_name) or (
                e.object_kind in ("Deployment", "StatefulSet", "Pod", "ReplicaSet")
                and w.owns_object_name(e.object_name)):
            out.append(e)
    return sorted(out, key=lambda e: e.first_ns or 0)
