"""The state of a service's workload: replicas, conditions, pods, and why pods die.

Answers the first question of most incidents — is it running, and if not, why —
from the workload's status, its conditions and its pods' container statuses
(``restartCount``, ``state.waiting.reason`` such as CrashLoopBackOff,
``lastState.terminated.reason`` such as OOMKilled or Error with the exit code).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from obsbench_servers.infra.changes import CHANGE_CAUSE, REVISION
from obsbench_servers.infra.k8s import annotations_of, name_of, pod_problem, pod_summary
from obsbench_servers.infra.workloads import Workload


def replica_counts(w: Workload) -> dict[str, Any]:
    spec, st = w.spec, w.status
    if w.kind == "DaemonSet":
        return {"desired": st.get("desiredNumberScheduled"), "ready": st.get("numberReady", 0),
                "available": st.get("numberAvailable", 0),
                "updated": st.get("updatedNumberScheduled", 0),
                "unavailable": st.get("numberUnavailable", 0)}
    desired = spec.get("replicas", 1)
    ready = st.get("readyReplicas", 0)
    return {"desired": desired, "ready": ready,
            "available": st.get("availableReplicas", 0 if w.kind == "Deployment" else ready),
            "updated": st.get("updatedReplicas", 0),
            "unavailable": st.get("unavailableReplicas",
                                  max(0, (desired or 0) - (st.get("availableReplicas") or ready)))}


def conditions(w: Workload) -> list[dict[str, Any]]:
    return [{"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason"),
             "message": c.get("message"), "since": c.get("lastTransitionTime")}
            for c in w.status.get("conditions") or () if isinstance(c, dict)]


def service_status(w: Workload, pods: list[dict[str, Any]],
                   replicasets: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything ``get_service_status`` reports, as data."""
    counts = replica_counts(w)
    summaries = sorted((pod_summary(p) for p in pods), key=lambda s: (-s["restarts"], s["name"]))
    revision_of = {}
    for rs in replicasets:
        h = (rs.get("metadata") or {}).get("labels", {}).get("pod-template-hash")
        if h:
            revision_of[h] = annotations_of(rs).get(REVISION)
    for s in summaries:
        s["revision"] = revision_of.get(s.get("template_hash") or "")
        s["problem"] = pod_problem(s)
    terminations: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for s in summaries:
        for c in s["containers"]:
            last = c.get("last_termination")
            if last and last.get("reason"):
                terminations[f"{last['reason']} (exit {last.get('exit_code')})"] += 1
            if c["state"] == "waiting" and c["reason"]:
                waiting[str(c["reason"])] += 1
            if c["state"] == "terminated" and c["reason"]:
                terminations[f"{c['reason']} (exit ?)"] += 1
    images = {str(c.get("name")): c.get("image") for c in w.containers}
    ann = annotations_of(w.obj)
    desired = counts.get("desired") or 0
    healthy = (counts.get("ready") or 0) >= desired and not waiting
    return {
        "workload": w.ref(),
        "replicas": counts,
        "healthy": healthy,
        "revision": ann.get(REVISION),
        "change_cause": ann.get(CHANGE_CAUSE),
        "images": images,
        "conditions": conditions(w),
        "pods": summaries,
        "restarts_total": sum(s["restarts"] for s in summaries),
        "waiting_reasons": dict(waiting),
        "last_termination_reasons": dict(terminations),
        "replicasets": [name_of(rs) for rs in replicasets],
    }
