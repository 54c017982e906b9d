"""PagerDuty incidents and log entries for the paging (critical) alerts.

The REST API v2 list shapes (``{"incidents": [...]}`` and ``{"log_entries":
[...]}``): one incident per paging alert group, triggered by the Alertmanager
integration, notified to the on-call, acknowledged a few minutes later,
annotated, and resolved when the alert resolved.
"""

from __future__ import annotations

import random
from typing import Any

from obsbench.scenarios import rand
from obsbench.scenarios.alerting import Firing
from obsbench.scenarios.timeline import rfc3339
from obsbench.scenarios.world import World

PD = "https://api.pagerduty.com"
WEB = "https://shop.pagerduty.com"
ONCALL = [("PX4Q2LB", "Dana Whitfield"), ("P8M1ZQA", "Ravi Menon"), ("PK7T0WE", "Lea Brandt")]
SERVICE_REF = {"id": "PSHOP01", "type": "service_reference", "summary": "shop-prod",
               "self": f"{PD}/services/PSHOP01", "html_url": f"{WEB}/service-directory/PSHOP01"}


def _pd_id(*parts: object) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    h = int(rand.stable_hash(*parts, length=16), 16)
    out = []
    for _ in range(6):
        h, r = divmod(h, len(alphabet))
        out.append(alphabet[r])
    return "P" + "".join(out)


def _user(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "type": "user_reference", "summary": name, "self": f"{PD}/users/{uid}",
            "html_url": f"{WEB}/users/{uid}"}


def build(w: World, fired: list[Firing]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = w.rng("pagerduty")
    end = w.frame.end
    groups: dict[tuple[str, str], list[Firing]] = {}
    for f in fired:
        if f.labels["severity"] != "critical":
            continue
        key = (f.labels["alertname"], f.labels.get("service") or f.labels.get("instance")
               or f.labels.get("persistentvolumeclaim", ""))
        groups.setdefault(key, []).append(f)
    incidents: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    number = 4100 + rng.randint(0, 800)
    oncall_id, oncall = ONCALL[rng.randrange(len(ONCALL))]
    for (alertname, subject), fs in sorted(groups.items(), key=lambda kv: min(f.starts
                                                                              for f in kv[1])):
        number += 1
        first = min(f.starts for f in fs)
        created = first + rng.uniform(8, 25)
        still = any(f.ends is None for f in fs)
        resolved_at = None if still else max(f.ends or end for f in fs) + rng.uniform(5, 40)
        if resolved_at is not None and resolved_at > end:
            resolved_at, still = None, True
        ack_at = created + rng.uniform(90, 420)
        acked = ack_at < end
        status = "resolved" if resolved_at else ("acknowledged" if acked else "triggered")
        inc_id = _pd_id(w.name, w.seed, alertname, subject, first)
        title = f"[FIRING:{len(fs)}] {alertname} {subject} ({fs[0].labels['severity']})"
        user = _user(oncall_id, oncall)
        incident: dict[str, Any] = {
            "id": inc_id, "type": "incident", "summary": f"[#{number}] {title}",
            "self": f"{PD}/incidents/{inc_id}", "html_url": f"{WEB}/incidents/{inc_id}",
            "incident_number": number, "title": title,
            "description": fs[0].annotations.get("description", title),
            "created_at": rfc3339(created), "updated_at": rfc3339(resolved_at or
                                                                   (ack_at if acked else created)),
            "status": status, "urgency": "high",
            "incident_key": f'{{}}:{{alertname="{alertname}"}}/{rand.stable_hash(subject)}',
            "service": SERVICE_REF,
            "assignments": [] if status == "resolved" else [
                {"at": rfc3339(created + 2), "assignee": user}],
            "acknowledgements": [{"at": rfc3339(ack_at), "acknowledger": user}]
            if acked and status != "resolved" else [],
            "last_status_change_at": rfc3339(resolved_at or (ack_at if acked else created)),
            "last_status_change_by": user if acked and not resolved_at else SERVICE_REF,
            "escalation_policy": {"id": "PESC0SR", "type": "escalation_policy_reference",
                                  "summary": "SRE primary", "self": f"{PD}/escalation_policies/"
                                                                    "PESC0SR"},
            "teams": [{"id": "PTSRE01", "type": "team_reference", "summary": "SRE",
                       "self": f"{PD}/teams/PTSRE01"}],
            "priority": {"id": "PPRIO1", "type": "priority", "summary": "P1" if
                         alertname in ("HighErrorRate", "BlackboxProbeFailed", "PostgresDown")
                         else "P2"},
            "alert_counts": {"all": len(fs), "triggered": 0 if resolved_at else len(fs),
                             "resolved": len(fs) if resolved_at else 0},
            "is_mergeable": True,
        }
        if resolved_at:
            incident["resolved_at"] = rfc3339(resolved_at)
        incidents.append(incident)
        ref = {"id": inc_id, "type": "incident_reference", "summary": incident["summary"],
               "self": incident["self"], "html_url": incident["html_url"]}
        agent_int = {"id": "PINT0AM", "type": "generic_events_api_inbound_integration_reference",
                     "summary": "Alertmanager", "self": f"{PD}/services/PSHOP01/integrations/"
                                                        "PINT0AM"}

        def entry(  # noqa: PLR0917
                kind: str, at: float, summary: str, agent: dict[str, Any],
                  channel: dict[str, Any], inc_ref: dict[str, Any] = ref,
                  inc: str = inc_id, teams: Any = incident["teams"]) -> dict[str, Any]:
            eid = _pd_id(inc, kind, at)
            return {"id": eid, "type": kind, "summary": summary, "self": f"{PD}/log_entries/{eid}",
                    "html_url": f"{WEB}/incidents/{inc}/log_entries/{eid}",
                    "created_at": rfc3339(at), "agent": agent, "channel": channel,
                    "service": SERVICE_REF, "incident": inc_ref, "teams": teams}

        entries.append(entry("trigger_log_entry", created, "Triggered through the API.",
                             agent_int, {"type": "api", "summary": title}))
        entries.append(entry("notify_log_entry", created + 3, f"Notified {oncall} by push "
                             "notification.", user, {"type": "push_notification"}))
        if created + 63 < end and not acked:
            entries.append(entry("notify_log_entry", created + 63, f"Notified {oncall} by phone.",
                                 user, {"type": "phone"}))
        if acked:
            entries.append(entry("acknowledge_log_entry", ack_at, f"Acknowledged by {oncall}.",
                                 user, {"type": "mobile"}))
            note_at = ack_at + rng.uniform(120, 400)
            if note_at < end:
                entries.append(entry("annotate_log_entry", note_at, "Note added",
                                     user, {"type": "note", "summary": _note(alertname, subject,
                                                                             rng)}))
        if resolved_at:
            entries.append(entry("resolve_log_entry", resolved_at, "Resolved through the API.",
                                 agent_int, {"type": "api"}))
    entries.sort(key=lambda e: (e["created_at"], e["id"]))
    return incidents, entries


def _note(alertname: str, subject: str, rng: random.Random) -> str:
    notes = {
        "HighErrorRate": f"Looking into {subject} errors; checking recent deploys and dashboards.",
        "BlackboxProbeFailed": "Synthetic check failing from all regions; investigating edge.",
        "PostgresDown": "DB unreachable, checking the postgres pod and volume.",
        "KubePersistentVolumeFillingUp": "Volume almost full; looking at what is writing.",
    }
    return notes.get(alertname, f"Investigating {alertname} on {subject}.") + rng.choice(
        ("", " Joined the incident bridge.", " Paging the service owner if needed."))
