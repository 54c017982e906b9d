"""The extra tool calls a post-mortem needs, made through the investigation's own hub.

An investigator gathers what it needs to name a cause; a post-mortem also needs the
whole story's timestamps (the rollouts and events of the window, the incidents with
their logs, the first occurrence of new errors). ``collect_timeline_evidence`` makes
the calls the investigation did not make, through the same hub, so that they become
evidence of the same investigation (same id sequence, same audit trail) and the
timeline can cite them.

Incidents that were resolved by the window's end are not "active" then; they are
found by asking which incidents were open at the first symptom (a second hub over the
same scope with "now" moved there, sharing the evidence store), and their timelines
are then read at the window's end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from obsbench.hub import Hub
from obsbench.reports.timeline import build_timeline
from obsbench_servers.common.timeutil import TimeParseError, ns_to_rfc3339, parse_rfc3339_ns

MAX_INCIDENTS = 4
MAX_PROBES = 3
MIN_LOOKBACK_S = 2 * 3600
PAGE_DELAY_NS = 10 * 60 * 10**9  # paging follows the first alert within minutes
ERROR_LEAD_NS = 30 * 60 * 10**9
MIN_BASELINE_NS = 30 * 60 * 10**9


def _has(hub: Hub, server: str, tool: str) -> bool:
    return any(e.server == server and e.tool == tool and not e.is_error for e in hub.evidence)


def _known(hub: Hub, name: str) -> bool:
    return any(t.name == name for t in hub.tools())


async def collect_timeline_evidence(hub: Hub, window: dict[str, str]) -> list[str]:
    """Call what the post-mortem's timeline needs and the investigation did not; return the
    new evidence ids (errors included: a failed call is recorded, and simply adds no line)."""
    try:
        start_ns, end_ns = parse_rfc3339_ns(window["start"]), parse_rfc3339_ns(window["end"])
    except (KeyError, TypeError, TimeParseError):
        return []
    span = {"start": window["start"], "end": window["end"]}
    wanted: list[tuple[str, dict[str, Any]]] = [
        ("alerts_list_firing_alerts", {}),
        ("alerts_get_active_incidents", {}),
        ("infra_get_recent_deployments", dict(span)),
        ("infra_get_events", dict(span)),
    ]
    new = await _call_missing(hub, wanted)

    # Incidents resolved by the window's end are not active then: ask which were open
    # shortly after the first alert or anomaly (else at the window's quarter points).
    if not _incident_ids(hub) and _known(hub, "alerts_get_active_incidents"):
        for at in _probe_instants(hub, start_ns, end_ns):
            past = Hub(replace(hub.scope, at_ns=at), servers=("alerts",), evidence=hub.evidence,
                       audit=hub.audit, call_timeout_s=hub.call_timeout_s,
                       server_factory=hub.server_factory)
            async with past:
                record = await past.call("alerts_get_active_incidents", {})
            new.append(record.evidence.id)
            if _incident_ids(hub):
                break
    done = {str(e.arguments.get("incident_id")) for e in hub.evidence
            if e.tool == "get_incident_timeline" and not e.is_error}
    todo = [i for i in _incident_ids(hub) if i not in done][:MAX_INCIDENTS]
    if todo and _known(hub, "alerts_get_incident_timeline"):
        new += await _call_missing(hub, [
            ("alerts_get_incident_timeline",
             {"incident_id": i, "lookback": _lookback(hub, i, start_ns)}) for i in todo],
            always=True)

    # New error patterns: mined from a little before the first alert, against the part of
    # the window before it (the default baseline, the window before, may hold no data).
    if not _has(hub, "logs", "get_error_patterns"):
        first = _first_alert_ns(hub, start_ns, end_ns)
        split = (first - ERROR_LEAD_NS) if first is not None else (start_ns + end_ns) // 2
        split = max(split, start_ns + MIN_BASELINE_NS)
        args: dict[str, Any] = {"start": ns_to_rfc3339(split), "end": window["end"]}
        if split < end_ns:
            args["baseline"] = f"{window['start']}..{ns_to_rfc3339(split)}"
            new += await _call_missing(hub, [("logs_get_error_patterns", args)])
    return new


async def _call_missing(hub: Hub, wanted: list[tuple[str, dict[str, Any]]], *,
                        always: bool = False) -> list[str]:
    calls = [(n, a) for n, a in wanted
             if _known(hub, n) and (always or not _has(hub, *n.split("_", 1)))]
    return [r.evidence.id for r in await hub.call_many(calls)] if calls else []


def _first_alert_ns(hub: Hub, start_ns: int, end_ns: int) -> int | None:
    timeline = build_timeline(list(hub.evidence), (start_ns, end_ns))
    return next((e.time_ns for e in timeline.entries if e.category == "alert-firing"
                 and not e.detail.get("suppressed")), None)


def _probe_instants(hub: Hub, start_ns: int, end_ns: int) -> list[int]:
    timeline = build_timeline(list(hub.evidence), (start_ns, end_ns))
    first = next((e.time_ns for e in timeline.entries
                  if e.category in ("alert-firing", "anomaly", "metric-change")), None)
    instants = [first + PAGE_DELAY_NS] if first is not None else []
    instants += [start_ns + (end_ns - start_ns) * q // 4 for q in (1, 2, 3)]
    return [t for t in instants if start_ns < t < end_ns][:MAX_PROBES]


def _incident_ids(hub: Hub) -> list[str]:
    ids: list[str] = []
    for e in hub.evidence:
        if e.tool == "get_active_incidents" and not e.is_error:
            for inc in e.payload.get("incidents") or []:
                if inc.get("id") and inc["id"] not in ids:
                    ids.append(str(inc["id"]))
    return ids


def _lookback(hub: Hub, incident_id: str, start_ns: int) -> str:
    """Far enough back to reach the window's start (at least 2h)."""
    opened: int | None = None
    for e in hub.evidence:
        for inc in (e.payload.get("incidents") or []) if e.tool == "get_active_incidents" else []:
            if inc.get("id") == incident_id and inc.get("created_at"):
                try:
                    opened = parse_rfc3339_ns(str(inc["created_at"]))
                except TimeParseError:
                    opened = None
    seconds = MIN_LOOKBACK_S
    if opened is not None:
        seconds = max(seconds, (opened - start_ns) // 10**9 + 60)
    return f"{seconds // 60}m"
