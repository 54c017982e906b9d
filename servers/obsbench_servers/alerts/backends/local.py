"""Alerts and incidents from a telemetry bundle (the embedded store's tables).

The bundle holds an Alertmanager dump (one entry per fingerprint, the latest
firing, resolved ones with their ``endsAt``) and PagerDuty incidents with their
log entries. "Now" is the context's now (the bundle's end, or ``--at``): an alert
fires at now when it started before and has not ended; an incident's status at now
is read from its log (triggered, acknowledged, resolved entries up to now), so an
earlier ``--at`` shows the incident as it was then. Alertmanager's notification
groups are not part of an alerts dump; the bundle's alerts are grouped by
``alertname``, which is Alertmanager's most common ``group_by``.
"""

from __future__ import annotations

from typing import Any

import orjson

from obsbench_servers.alerts.backend import (
    ALERTS,
    GROUPS,
    INCIDENTS,
    Alert,
    AlertGroup,
    BaseAlertsBackend,
    Incident,
    LogEntry,
)
from obsbench_servers.alerts.matchers import Matcher, match_all
from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext

_ALERT_COLUMNS = ("fingerprint, state, starts_at_ns, ends_at_ns, updated_at_ns, labels_json, "
                  "annotations_json, generator_url, silenced_by_json, inhibited_by_json, "
                  "receivers_json, source")


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


class LocalAlerts(BaseAlertsBackend):
    type = "local"
    capabilities = frozenset({ALERTS, GROUPS, INCIDENTS})

    def __init__(self, ctx: ServerContext, backend: LocalBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        self.label = backend.name or f"bundle {backend.bundle.name}"

    @property
    def _store(self) -> Any:
        return self.ctx.store(self.backend)

    def _rows(self, where: str, params: list[Any]) -> list[Alert]:
        rows = self._store.query(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {where}", params)
        out = []
        for (fp, state, starts, ends, updated, labels, annots, url, silenced, inhibited,
             receivers, source) in rows:
            out.append(Alert(
                fingerprint=fp, labels=_json(labels, {}), annotations=_json(annots, {}),
                state=state or "active", starts_at_ns=starts, ends_at_ns=ends,
                updated_at_ns=updated, generator_url=url, silenced_by=_json(silenced, []),
                inhibited_by=_json(inhibited, []), receivers=_json(receivers, []),
                source=f"{self.label} ({source})" if source == "prometheus" else self.label))
        return out

    def firing_alerts(self, now_ns: int, matchers: list[Matcher]) -> list[Alert]:
        alerts = self._rows(
            "(starts_at_ns IS NULL OR starts_at_ns <= ?) AND (ends_at_ns IS NULL OR ends_at_ns > ?)"
            " AND coalesce(state, '') NOT IN ('inactive', 'resolved')", [now_ns, now_ns])
        return [a for a in alerts if match_all(matchers, a.labels)]

    def alerts_between(self, start_ns: int, end_ns: int) -> list[Alert]:
        return self._rows("coalesce(starts_at_ns, 0) < ? AND (ends_at_ns IS NULL OR "
                          "ends_at_ns > ?)", [end_ns, start_ns])

    def groups(self, now_ns: int, matchers: list[Matcher]) -> list[AlertGroup]:
        by_name: dict[str, AlertGroup] = {}
        for a in self.firing_alerts(now_ns, matchers):
            g = by_name.setdefault(a.alertname, AlertGroup({"alertname": a.alertname},
                                                           (a.receivers or [""])[0], [],
                                                           self.label))
            g.fingerprints.append(a.fingerprint)
        return list(by_name.values())

    # -- incidents

    def _entries(self, incident_id: str | None = None) -> dict[str, list[LogEntry]]:
        sql = ("SELECT id, incident_id, type, created_at_ns, summary, agent, channel_json "
               "FROM incident_log_entries")
        params: list[Any] = []
        if incident_id is not None:
            sql += " WHERE incident_id = ?"
            params.append(incident_id)
        out: dict[str, list[LogEntry]] = {}
        for eid, inc, raw_kind, created, summary, agent, channel in self._store.query(sql, params):
            kind = str(raw_kind or "").removesuffix("_reference").removesuffix("_log_entry")
            note = _json(channel, {}).get("summary") if kind == "annotate" else None
            out.setdefault(inc, []).append(LogEntry(eid, inc, kind, created, summary or "",
                                                    agent, note, self.label))
        return out

    def _incidents(self, now_ns: int, where: str = "TRUE",
                   params: list[Any] | None = None) -> list[Incident]:
        rows = self._store.query(
            "SELECT id, number, title, status, urgency, service, created_at_ns, resolved_at_ns, "
            f"assignees_json, html_url, raw_json FROM incidents WHERE {where}", params or [])
        entries = self._entries() if rows else {}
        out = []
        for (iid, number, title, raw_status, urgency, service, created, resolved, assignees, url,
             raw) in rows:
            if created is not None and created > now_ns:
                continue  # not yet opened at "now"
            log = sorted(entries.get(iid, []), key=lambda e: e.created_at_ns or 0)
            acked = next((e.created_at_ns for e in log if e.type == "acknowledge"
                          and (e.created_at_ns or 0) <= now_ns), None)
            res = next((e.created_at_ns for e in log if e.type == "resolve"
                        and (e.created_at_ns or 0) <= now_ns), None)
            if res is None and resolved is not None and resolved <= now_ns:
                res = resolved
            status = raw_status
            if log or created is not None:
                status = "resolved" if res else ("acknowledged" if acked else "triggered")
            body = _json(raw, {})
            counts = body.get("alert_counts") if isinstance(body.get("alert_counts"), dict) else {}
            out.append(Incident(
                id=iid, number=number, title=title or "", status=status or "triggered",
                urgency=urgency, service=service, assignees=_json(assignees, []),
                created_at_ns=created, acknowledged_at_ns=acked, resolved_at_ns=res,
                html_url=url, description=body.get("description"),
                alert_count=counts.get("all") if isinstance(counts.get("all"), int) else None,
                kind="pagerduty", source=self.label))
        return out

    def has_incidents(self) -> bool:
        row = self._store.query("SELECT count(*) FROM incidents")
        return bool(row and row[0][0])

    def active_incidents(self, now_ns: int) -> list[Incident]:
        return [i for i in self._incidents(now_ns) if i.status in ("triggered", "acknowledged")]

    def incident_ids(self, now_ns: int) -> list[str]:
        out = []
        for i in self._incidents(now_ns):
            out += [i.id, f"#{i.number}"] if i.number else [i.id]
        return out

    def incident(self, incident_id: str, now_ns: int) -> Incident | None:
        key = incident_id.strip().lstrip("#")
        found = self._incidents(now_ns, "id = ? OR CAST(number AS VARCHAR) = ?", [key, key])
        return found[0] if found else None

    def incident_log(self, incident_id: str) -> list[LogEntry]:
        return self._entries(incident_id).get(incident_id, [])

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.label, "bundle": str(self.backend.bundle)}
