"""Timelines from evidence: every line a real timestamp a tool returned, with its evidence id.

A post-mortem timeline must never be invented, so it is only ever read out of the
structured payloads of the investigation's evidence: alert ``startsAt``/``endsAt``,
incident log entries, rollouts and config edits, Kubernetes events, metric change
points and anomaly onsets, and the first occurrence of new error patterns. Each tool
whose payload carries times has one extractor here; the same moment seen by two
tools (a rollout in ``get_recent_deployments`` and in ``get_incident_timeline``) is
merged into one line citing both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from obsbench.evidence import Evidence
from obsbench_servers.common.timeutil import TimeParseError, ns_to_rfc3339, parse_rfc3339_ns

# Normal Kubernetes events worth a timeline line (Warnings always are): job and CronJob
# lifecycle, rollouts and autoscaling. Pod plumbing (Pulling, Created, ...) is not.
_NORMAL_REASONS = frozenset({
    "SuccessfulCreate", "SawCompletedJob", "Completed", "ScalingReplicaSet",
    "SuccessfulRescale", "TriggeredScaleUp", "SuccessfulDelete", "Killing",
})
# Categories that are symptoms (used for impact start) and resolutions.
SYMPTOMS = frozenset({"alert-firing", "error-pattern", "anomaly", "metric-change"})
MAX_CHANGE_POINTS_PER_EVIDENCE = 12
MAX_PATTERNS_PER_EVIDENCE = 10
MIN_PATTERN_COUNT = 5


@dataclass
class TimelineEntry:
    """One line of a timeline: when, what, about which service, and the evidence it rests on."""

    time: str
    time_ns: int
    category: str  # alert-firing, alert-resolved, incident, change, event, job-start,
    #                job-failed, metric-change, anomaly, error-pattern
    text: str
    evidence: list[str] = field(default_factory=list)
    service: str | None = None
    severity: str | None = None
    key: str = ""
    note: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        return data


def _ns(value: Any) -> int | None:
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value:
        try:
            return parse_rfc3339_ns(value)
        except TimeParseError:
            return None
    return None


def _entry(when: Any, category: str, text: str, ev: Evidence, *, service: str | None = None,
           severity: str | None = None, key: str = "",
           detail: dict[str, Any] | None = None) -> TimelineEntry | None:
    ns = _ns(when)
    if ns is None:
        return None
    return TimelineEntry(ns_to_rfc3339(ns), ns, category, text, [ev.id], service, severity,
                         key or f"{category}|{ns}|{text}", detail=detail or {})


def _alert_service(labels: dict[str, Any]) -> str | None:
    for name in ("service", "job", "container", "deployment", "workload", "job_name", "pod"):
        value = labels.get(name)
        if value:
            return _workload_of(str(value)) if name in ("job_name", "pod") else str(value)
    return None


def _alert_label(alert: dict[str, Any]) -> str:
    labels = alert.get("labels") or {}
    name = alert.get("alertname") or labels.get("alertname") or "alert"
    svc = _alert_service(labels)
    sev = alert.get("severity") or labels.get("severity")
    return f"{name}" + (f" {svc}" if svc else "") + (f" ({sev})" if sev else "")


def _alert_entries(alert: dict[str, Any], ev: Evidence, now_ns: int | None
                   ) -> list[TimelineEntry]:
    """Firing (and, when it ended before "now", resolved) lines for one alert."""
    labels = alert.get("labels") or {}
    fp = alert.get("fingerprint") or "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
    svc = _alert_service(labels)
    sev = alert.get("severity") or labels.get("severity")
    label = _alert_label(alert)
    desc = (alert.get("annotations") or {}).get("description") or \
        (alert.get("annotations") or {}).get("summary") or ""
    out: list[TimelineEntry] = []
    starts = alert.get("starts_at") or alert.get("activeAt")
    start_ns = _ns(starts)
    fired = _entry(starts, "alert-firing", f"{label} started firing" + (f": {desc}" if desc
                                                                           else ""),
                   ev, service=svc, severity=sev, key=f"alert-firing|{fp}|{start_ns}",
                   detail={"alertname": labels.get("alertname"), "fingerprint": fp,
                           "suppressed": bool(alert.get("silenced_by") or
                                              alert.get("inhibited_by"))})
    if fired:
        out.append(fired)
    end_ns = _ns(alert.get("ends_at"))
    # Alertmanager keeps an endsAt in the future on active alerts (an expiry, not an end):
    # only an end at or before "now" is a resolution.
    if end_ns is not None and now_ns is not None and end_ns <= now_ns and \
            alert.get("state") != "active":
        resolved = _entry(end_ns, "alert-resolved", f"{label} resolved", ev, service=svc,
                          severity=sev, key=f"alert-resolved|{fp}|{end_ns}",
                          detail={"alertname": labels.get("alertname"), "fingerprint": fp})
        if resolved:
            out.append(resolved)
    return out


def _now_ns(ev: Evidence) -> int | None:
    return _ns((ev.time_range or {}).get("end"))


# -- extractors, one per tool ------------------------------------------------------------------

def _firing_alerts(ev: Evidence) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    for alert in ev.payload.get("alerts") or []:
        if isinstance(alert, dict):
            out += _alert_entries(alert, ev, _now_ns(ev))
    return out


def _incident_timeline(ev: Evidence) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    incident = ev.payload.get("incident") or {}
    inc_id = incident.get("id") or "incident"
    for item in ev.payload.get("entries") or []:
        source, kind, detail = item.get("source"), item.get("kind"), item.get("detail") or {}
        entry: TimelineEntry | None = None
        if source == "alert" and kind == "already-firing":
            for alert in detail.get("alerts") or []:
                out += [e for e in _alert_entries(alert, ev, _now_ns(ev))
                        if e.category == "alert-firing"]
            continue
        if source == "alert" and kind in ("firing", "resolved"):
            labels = detail.get("labels") or {}
            fp = detail.get("fingerprint") or item.get("summary")
            cat = "alert-firing" if kind == "firing" else "alert-resolved"
            when = _ns(item.get("time"))
            label = _alert_label(detail)
            desc = (detail.get("annotations") or {}).get("description") or ""
            text = (f"{label} started firing" + (f": {desc}" if desc else "")
                    if kind == "firing" else f"{label} resolved")
            entry = _entry(when, cat, text, ev, service=_alert_service(labels),
                           severity=detail.get("severity") or labels.get("severity"),
                           key=f"{cat}|{fp}|{when}",
                           detail={"alertname": labels.get("alertname"), "fingerprint": fp,
                                   "suppressed": "(suppressed)" in str(item.get("summary"))})
        elif source == "incident":
            entry = _entry(item.get("time"), "incident",
                           f"incident {inc_id}: {item.get('summary')}", ev,
                           key=f"incident|{detail.get('id') or item.get('time')}",
                           detail={"incident": inc_id, "type": kind})
        elif source == "change":
            entry = _change_entry(detail or item, ev)
        elif source == "kubernetes":
            obj = str(detail.get("object") or "")
            entry = _k8s_entry(item.get("time"), str(kind), obj,
                               message=str(detail.get("message") or ""),
                               count=int(detail.get("count") or 1), etype="Warning", ev=ev)
        if entry is not None:
            out.append(entry)
    return out


def _change_entry(change: dict[str, Any], ev: Evidence) -> TimelineEntry | None:
    ns_, workload = change.get("namespace") or "", change.get("workload") or change.get("name")
    kind = change.get("kind") or "change"
    rev = change.get("revision")
    cause = change.get("change_cause")
    what = change.get("summary") or ""
    who = change.get("who")
    text = (f"{kind} {ns_}/{workload}" + (f" rev {rev}" if rev is not None else "")
            + (f" \"{cause}\"" if cause else "") + (f": {what}" if what else "")
            + (f" (by {who})" if who else ""))
    return _entry(change.get("time"), "change", text, ev, service=str(workload or "") or None,
                  key=f"change|{ns_}/{workload}|{kind}|{rev}|{change.get('time')}",
                  detail={"workload": workload, "namespace": ns_, "kind": kind,
                          "revision": rev})


def _recent_deployments(ev: Evidence) -> list[TimelineEntry]:
    return [e for c in ev.payload.get("changes") or [] if (e := _change_entry(c, ev))]


def _workload_of(obj_name: str) -> str:
    """``nightly-reconcile-29563320`` -> ``nightly-reconcile``; pod/RS hashes stripped."""
    parts = obj_name.split("-")
    while len(parts) > 1 and (parts[-1].isdigit() or (len(parts[-1]) in (5, 8, 9, 10)
                                                      and any(c.isdigit() for c in parts[-1]))):
        parts.pop()
    return "-".join(parts)


def _k8s_entry(when: Any, reason: str, obj: str, *, message: str, count: int, etype: str,
               ev: Evidence) -> TimelineEntry | None:
    kind, _, name = obj.partition(" ") if " " in obj else obj.partition("/")
    name = name.rsplit("/", 1)[-1]
    workload = _workload_of(name) if name else None
    category = "event"
    if reason == "SuccessfulCreate" and kind == "CronJob":
        category = "job-start"
    elif reason in ("BackoffLimitExceeded", "DeadlineExceeded") and kind == "Job":
        category = "job-failed"
    text = f"{etype} {reason}" + (f" x{count}" if count > 1 else "") + \
        f" on {kind}/{name}: {message}"
    return _entry(when, category, text, ev, service=workload,
                  key=f"k8s|{reason}|{kind}/{workload}|{when}",
                  detail={"reason": reason, "object": f"{kind}/{name}", "type": etype})


def _events(ev: Evidence) -> list[TimelineEntry]:
    """Warnings, and the Normal events that mark job runs, rollouts and scaling, each once
    per (reason, object): the first occurrence."""
    out: list[TimelineEntry] = []
    seen: set[tuple[str, str, str]] = set()
    items = sorted((e for e in ev.payload.get("events") or [] if isinstance(e, dict)),
                   key=lambda e: str(e.get("first") or ""))
    for e in items:
        etype, reason = str(e.get("type") or "Normal"), str(e.get("reason") or "")
        if etype != "Warning" and reason not in _NORMAL_REASONS:
            continue
        kind, name = str(e.get("object_kind") or ""), str(e.get("object_name") or "")
        group = (reason, kind, _workload_of(name))
        if group in seen:
            continue
        seen.add(group)
        entry = _k8s_entry(e.get("first"), reason, f"{kind}/{name}",
                           message=str(e.get("message") or ""), count=int(e.get("count") or 1),
                           etype=etype, ev=ev)
        if entry:
            out.append(entry)
    return out


def _series_name(labels: dict[str, Any]) -> str:
    name = labels.get("__name__") or "expr"
    keep = {k: v for k, v in labels.items()
            if k in ("service", "mode", "state", "job", "container", "pod", "reason", "code",
                     "status", "persistentvolumeclaim", "client_name")}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(keep.items()))
    return f"{name}{{{inner}}}" if inner else str(name)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _query_range(ev: Evidence) -> list[TimelineEntry]:
    found: list[tuple[float, TimelineEntry]] = []
    for summary in ev.payload.get("summaries") or []:
        labels = summary.get("labels") or {}
        name = _series_name(labels)
        for cp in summary.get("change_points") or []:
            entry = _entry(cp.get("time"), "metric-change",
                           f"{name} changed {_fmt(cp.get('before'))} -> {_fmt(cp.get('after'))}",
                           ev, service=labels.get("service") or labels.get("job"),
                           key=f"metric-change|{name}|{cp.get('time')}",
                           detail={"series": name, "before": cp.get("before"),
                                   "after": cp.get("after")})
            if entry:
                found.append((float(cp.get("score") or 0.0), entry))
    found.sort(key=lambda p: -p[0])
    return [e for _, e in found[:MAX_CHANGE_POINTS_PER_EVIDENCE]]


def _anomalies(ev: Evidence) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    for a in ev.payload.get("anomalies") or []:
        text = (f"{a.get('service')}: {a.get('title') or a.get('signal')} departs from baseline "
                f"({_fmt(a.get('baseline'))} -> peak {_fmt(a.get('peak'))} {a.get('unit') or ''})"
                ).rstrip()
        entry = _entry(a.get("onset"), "anomaly", text, ev, service=a.get("service"),
                       key=f"anomaly|{a.get('service')}|{a.get('signal')}|{a.get('onset')}",
                       detail={"signal": a.get("signal"), "z": a.get("z")})
        if entry:
            out.append(entry)
    return out


def _error_patterns(ev: Evidence) -> list[TimelineEntry]:
    """First occurrence of the patterns that are new since the baseline (the biggest ones:
    a handful of one-off lines is not a story)."""
    out: list[TimelineEntry] = []
    new = [p for p in ev.payload.get("patterns") or []
           if p.get("status") == "new" and int(p.get("count") or 0) >= MIN_PATTERN_COUNT]
    new.sort(key=lambda p: -int(p.get("count") or 0))
    for p in new[:MAX_PATTERNS_PER_EVIDENCE]:
        services = p.get("services") or {}
        svc = max(services, key=lambda s: services[s]) if services else None
        template = str(p.get("template") or "")
        short = template if len(template) <= 160 else template[:157] + "..."
        entry = _entry(p.get("first_seen"), "error-pattern",
                       f"new log pattern first seen ({p.get('count')}x until "
                       f"{p.get('last_seen')}): {short}", ev, service=svc,
                       key=f"error-pattern|{p.get('id')}",
                       detail={"pattern": p.get("id"), "count": p.get("count")})
        if entry:
            out.append(entry)
    return out


EXTRACTORS: dict[tuple[str, str], Callable[[Evidence], list[TimelineEntry]]] = {
    ("alerts", "list_firing_alerts"): _firing_alerts,
    ("metrics", "list_firing_alerts"): _firing_alerts,
    ("alerts", "get_incident_timeline"): _incident_timeline,
    ("infra", "get_recent_deployments"): _recent_deployments,
    ("infra", "get_events"): _events,
    ("metrics", "query_range"): _query_range,
    ("metrics", "find_anomalies"): _anomalies,
    ("logs", "get_error_patterns"): _error_patterns,
}


@dataclass
class Timeline:
    """Entries inside the window (time order) and alerts already firing before it opened."""

    entries: list[TimelineEntry]
    before_window: list[TimelineEntry]

    def to_dict(self) -> dict[str, Any]:
        return {"entries": [e.to_dict() for e in self.entries],
                "before_window": [e.to_dict() for e in self.before_window]}


def build_timeline(evidence: Iterable[Evidence], window: tuple[int, int] | None = None
                   ) -> Timeline:
    """Every timestamped fact in the evidence, merged by what it is, ordered by time.

    Facts after the window's end are dropped; alerts that started firing before the
    window opened go to ``before_window`` (standing noise is context, not the story).
    Error evidence is skipped: a failed call proves nothing.
    """
    merged: dict[str, TimelineEntry] = {}
    for ev in evidence:
        extractor = EXTRACTORS.get((ev.server, ev.tool))
        if ev.is_error or extractor is None:
            continue
        for entry in extractor(ev):
            have = merged.get(entry.key)
            if have is None:
                merged[entry.key] = entry
            else:
                have.evidence += [i for i in entry.evidence if i not in have.evidence]
                if len(entry.text) > len(have.text):
                    have.text = entry.text
    entries = sorted(merged.values(), key=lambda e: (e.time_ns, e.category, e.text))
    inside: list[TimelineEntry] = []
    before: list[TimelineEntry] = []
    for e in entries:
        if window is not None and e.time_ns > window[1]:
            continue
        if window is not None and e.time_ns < window[0]:
            if e.category == "alert-firing":
                before.append(e)
            elif e.category == "change":
                inside.append(e)  # a change before the window can still be the cause
            continue
        inside.append(e)
    return Timeline(inside, before)
