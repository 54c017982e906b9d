"""One ordered timeline for an incident: its log, the alerts, the changes, the cluster's events.

An on-call engineer reconstructs this by hand from four tabs: the PagerDuty log
(triggered, notified, acknowledged, notes), Alertmanager (what fired and when),
the deploy history and ``kubectl get events``. ``build`` merges them for the
incident's window (from ``lookback`` before it opened until it resolved, or now), so
"the deploy at 13:46, the first alert at 13:52, paged at 13:56" reads in one place.
Alerts already firing when the window opens are one entry at its start (standing
noise stays visible without burying the story); Warning events are folded per
reason and object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.alerts.backend import Alert, Incident, LogEntry
from obsbench_servers.common.timeutil import ns_to_rfc3339

SOURCE_ORDER = {"change": 0, "kubernetes": 1, "alert": 2, "incident": 3}


@dataclass
class Entry:
    ts_ns: int
    source: str  # incident | alert | change | kubernetes
    kind: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time": ns_to_rfc3339(self.ts_ns), "source": self.source, "kind": self.kind,
                "summary": self.summary, "detail": self.detail}


def _alert_label(a: Alert) -> str:
    scope = next((f"{k}={a.labels[k]}" for k in ("service", "job", "deployment", "container",
                                                  "pod", "namespace") if a.labels.get(k)), "")
    return f"{a.alertname} {scope} ({a.severity})".replace("  ", " ")


def log_entries(log: list[LogEntry]) -> list[Entry]:
    out = []
    for e in log:
        if e.created_at_ns is None:
            continue
        if e.type in ("note", "annotate") and e.note:
            summary = f"note by {e.agent or 'unknown'}: {e.note!r}"
        else:
            summary = e.summary + (f" ({e.agent})" if e.agent and e.agent not in e.summary
                                   else "")
        out.append(Entry(e.created_at_ns, "incident", e.type, summary, e.to_dict()))
    return out


def alert_entries(alerts: list[Alert], start_ns: int, end_ns: int) -> list[Entry]:
    out: list[Entry] = []
    standing = []
    seen: set[tuple[str, int | None]] = set()
    for a in sorted(alerts, key=lambda a: a.starts_at_ns or 0):
        key = (a.fingerprint, a.starts_at_ns)
        if key in seen:
            continue
        seen.add(key)
        starts = a.starts_at_ns
        if starts is not None and starts < start_ns:
            standing.append(a)
        elif starts is not None and starts < end_ns:
            state = " (suppressed)" if a.suppressed else ""
            out.append(Entry(starts, "alert", "firing", f"alert firing: {_alert_label(a)}"
                             f"{state}: {a.annotations.get('summary', '')}".rstrip(": "),
                             a.to_dict()))
        if a.ends_at_ns is not None and start_ns <= a.ends_at_ns < end_ns:
            out.append(Entry(a.ends_at_ns, "alert", "resolved",
                             f"alert resolved: {_alert_label(a)}", a.to_dict()))
    if standing:
        names = ", ".join(sorted({_alert_label(a) for a in standing}))
        out.append(Entry(start_ns, "alert", "already-firing",
                         f"already firing when the window opens: {names}",
                         {"alerts": [a.to_dict() for a in standing]}))
    return out


def change_entries(changes: list[dict[str, Any]]) -> list[Entry]:
    """Rollouts and config edits (``infra.changes`` dicts) as entries."""
    from obsbench_servers.common.timeutil import parse_rfc3339_ns  # noqa: PLC0415

    out = []
    for c in changes:
        if not c.get("time"):
            continue
        ts = parse_rfc3339_ns(c["time"])
        if c.get("kind") == "rollout":
            cause = f' "{c["change_cause"]}"' if c.get("change_cause") else ""
            summary = (f"rollout {c['namespace']}/{c['workload']} rev {c['revision']} "
                       f"({', '.join(c['change_kinds'])}){cause}: {c['summary']}")
        else:
            summary = c.get("summary", "config change")
        out.append(Entry(ts, "change", str(c.get("kind")), summary, c))
    return out


def event_entries(groups: list[dict[str, Any]]) -> list[Entry]:
    """Folded Kubernetes Warning events: ``{reason, object, count, first_ns, message}``."""
    return [Entry(g["first_ns"], "kubernetes", g["reason"],
                  f"{g['reason']} x{g['count']} on {g['object']}: {g['message']}", g)
            for g in groups if g.get("first_ns") is not None]


def incident_entries(incident: Incident) -> list[Entry]:
    out = []
    if incident.created_at_ns is not None:
        out.append(Entry(incident.created_at_ns, "incident", "opened",
                         f"incident {incident.id} opened: {incident.title}",
                         incident.to_dict()))
    return out


def merge(*parts: list[Entry]) -> list[Entry]:
    entries = [e for p in parts for e in p]
    entries.sort(key=lambda e: (e.ts_ns, SOURCE_ORDER.get(e.source, 9)))
    # A PagerDuty trigger entry and "incident opened" at the same second are one fact.
    out: list[Entry] = []
    for e in entries:
        if (e.kind == "opened" and any(o.kind == "trigger" and abs(o.ts_ns - e.ts_ns) < 10**9
                                       for o in entries)):
            continue
        out.append(e)
    return out


def fold_events(events: list[Any]) -> list[dict[str, Any]]:
    """Warning ``KubeEvent``s folded by reason and owner (a pod's ``name-hash-xyz`` -> ``name``)."""
    import re  # noqa: PLC0415

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.first_ns or 0):
        if e.type != "Warning":
            continue
        owner = e.object_name
        if e.object_kind == "Pod":
            owner = re.sub(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$|-[0-9]+$", "", owner)
        obj = f"{e.object_kind} {e.namespace + '/' if e.namespace else ''}{owner}"
        g = groups.setdefault((e.reason, obj), {"reason": e.reason, "object": obj, "count": 0,
                                                "first_ns": e.first_ns, "last_ns": e.last_ns,
                                                "message": e.message})
        g["count"] += e.count
        g["last_ns"], g["message"] = e.last_ns, e.message
    return list(groups.values())
