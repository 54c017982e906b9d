"""A one-screen overview of what a store holds: window, volumes, alerts, incidents, changes.

Used by ``obsbench demo``, ``obsbench import`` and ``doctor`` to show a person
what they are about to investigate. It is a census, not an analysis: the
servers do the analysis.
"""

from __future__ import annotations

from typing import Any

import orjson

from obsbench_servers.common.timeutil import ns_to_rfc3339
from obsbench_servers.store.store import TelemetryStore


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else {}


def overview(store: TelemetryStore, *, limit: int = 10) -> dict[str, Any]:
    """Counts, services, alerts, incidents and recent changes of a store."""
    q = store.query
    services = [r[0] for r in q(
        "SELECT service FROM (SELECT service FROM logs UNION SELECT service FROM spans) "
        "WHERE service IS NOT NULL AND service <> '' ORDER BY service")]
    alerts = [
        {
            "alertname": name,
            "severity": severity,
            "state": state,
            "starts_at": ns_to_rfc3339(starts) if starts else None,
            "labels": _json(labels),
        }
        for name, severity, state, starts, labels in q(
            "SELECT alertname, severity, state, starts_at_ns, labels_json FROM alerts "
            "ORDER BY starts_at_ns NULLS LAST, alertname")
    ]
    incidents = [
        {"id": i, "title": t, "status": s, "urgency": u, "service": svc,
         "created_at": ns_to_rfc3339(c) if c else None}
        for i, t, s, u, svc, c in q(
            "SELECT id, title, status, urgency, service, created_at_ns FROM incidents "
            "ORDER BY created_at_ns NULLS LAST")
    ]
    changes = []
    for ns, name, created, ann_json, owner, raw in q(
        "SELECT namespace, name, created_at_ns, annotations_json, owner_name, raw_json "
        "FROM k8s_objects WHERE kind = 'ReplicaSet' ORDER BY created_at_ns DESC NULLS LAST"
    ):
        ann = _json(ann_json)
        spec = _json(raw).get("spec", {}).get("template", {}).get("spec", {})
        images = [c.get("image") for c in spec.get("containers", []) if c.get("image")]
        changes.append({
            "namespace": ns, "replicaset": name, "deployment": owner,
            "created_at": ns_to_rfc3339(created) if created else None,
            "revision": ann.get("deployment.kubernetes.io/revision"),
            "change_cause": ann.get("kubernetes.io/change-cause"),
            "images": images,
        })
    warnings = [
        {"reason": reason, "count": int(count), "objects": int(objects)}
        for reason, count, objects in q(
            "SELECT reason, sum(coalesce(count, 1)), count(DISTINCT object_name) FROM k8s_events "
            "WHERE type = 'Warning' GROUP BY reason ORDER BY 2 DESC, 1")
    ]
    window = store.manifest.window
    return {
        "name": store.manifest.name,
        "description": store.manifest.description,
        "window": {"start": window.start, "end": window.end} if window else None,
        "counts": store.counts(),
        "services": services,
        "alerts": alerts[:limit],
        "alerts_total": len(alerts),
        "incidents": incidents[:limit],
        "incidents_total": len(incidents),
        "changes": changes[:limit],
        "changes_total": len(changes),
        "warning_events": warnings[:limit],
    }
