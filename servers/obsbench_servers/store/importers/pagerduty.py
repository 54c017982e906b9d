"""PagerDuty REST v2 dumps (``incidents/*.json``) into ``incidents`` and ``incident_log_entries``.

Accepted: the list responses ``{"incidents": [...]}`` and ``{"log_entries":
[...]}`` (streamed item by item, pagination fields ignored), the single
resource wrappers ``{"incident": {...}}`` and ``{"log_entry": {...}}``, a bare
incident or log entry, and a top-level array of either. Assignees come from
``assignments[].assignee.summary``; the service from ``service.summary`` (the
id when the reference has no summary). Other PagerDuty documents (alerts,
past or related incidents) are reported as skipped, not guessed at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obsbench_servers.common.timeutil import TimeParseError
from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import (
    dumps,
    dumps_or_none,
    first_json_byte,
    load_small_json,
    stream_json,
    time_ns,
)

_WANTED = frozenset({"incidents.item", "log_entries.item", "item"})


def _time(value: Any) -> int | None:
    try:
        return time_ns(value)
    except (TimeParseError, ValueError, OverflowError):
        return None


def _ref_name(ref: Any) -> str | None:
    """A PagerDuty reference object as a name: its summary, else its id."""
    if isinstance(ref, dict):
        return ref.get("summary") or ref.get("name") or ref.get("id")
    return str(ref) if ref else None


def _kind(obj: dict[str, Any]) -> str | None:
    t = str(obj.get("type") or "")
    if t.endswith("log_entry") or t.endswith("log_entry_reference"):
        return "log_entry"
    if t in ("incident", "incident_reference") or "incident_number" in obj:
        return "incident"
    return None


class _PagerDutyFile:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.incidents = ctx.writer("incidents")
        self.entries = ctx.writer("incident_log_entries")
        self.index = 0

    def item(self, obj: Any, kind: str | None) -> None:
        self.index += 1
        if not isinstance(obj, dict):
            self.ctx.skip(0, f"not a PagerDuty object: item #{self.index} is a "
                          f"{type(obj).__name__}")
            return
        kind = kind or _kind(obj)
        if kind == "incident":
            self.incident(obj)
        elif kind == "log_entry":
            self.log_entry(obj)
        else:
            self.ctx.skip(0, f"not an incident or log entry: item #{self.index} has type "
                          f"{obj.get('type')!r}")

    def incident(self, inc: dict[str, Any]) -> None:
        if not inc.get("id"):
            self.ctx.skip(0, f"no id: incident #{self.index} has no id")
            return
        assignees = [
            _ref_name(a.get("assignee")) for a in inc.get("assignments") or ()
            if isinstance(a, dict) and a.get("assignee")
        ]
        resolved = _time(inc.get("resolved_at"))
        if resolved is None and inc.get("status") == "resolved":
            resolved = _time(inc.get("last_status_change_at"))
        raw_number = inc.get("incident_number")
        number = (int(raw_number) if isinstance(raw_number, (int, float, str))
                  and str(raw_number).isdigit() else None)
        self.incidents.append(
            str(inc["id"]),
            number,
            inc.get("title") or inc.get("summary"),
            inc.get("status"),
            inc.get("urgency"),
            _ref_name(inc.get("service")),
            _time(inc.get("created_at")),
            resolved,
            dumps(assignees) if assignees else None,
            inc.get("html_url"),
            dumps(inc),
        )
        self.ctx.count("incidents")

    def log_entry(self, entry: dict[str, Any]) -> None:
        if not entry.get("id"):
            self.ctx.skip(0, f"no id: log entry #{self.index} has no id")
            return
        incident = entry.get("incident")
        self.entries.append(
            str(entry["id"]),
            incident.get("id") if isinstance(incident, dict) else incident,
            entry.get("type"),
            _time(entry.get("created_at")),
            entry.get("summary"),
            _ref_name(entry.get("agent")),
            dumps_or_none(entry.get("channel")),
            dumps(entry),
        )
        self.ctx.count("incident_log_entries")


def import_pagerduty(path: Path, ctx: ImportContext) -> None:
    """Stream incidents and log entries of any accepted shape into their tables."""
    pf = _PagerDutyFile(ctx)
    lead = first_json_byte(path)
    if lead not in (b"{", b"["):
        ctx.skip(0, "not a PagerDuty document: expected a JSON object or array"
                 if lead else "empty file: no incidents")
        return
    top: list[str] = []
    found = False
    for prefix, obj in stream_json(path, _WANTED, top):
        found = True
        pf.item(obj, {"incidents.item": "incident", "log_entries.item": "log_entry"}.get(prefix))
    if found or lead == b"[" or {"incidents", "log_entries"} & set(top):
        return
    # One resource, wrapped ({"incident": {...}}) or bare: small, read whole.
    if {"incident", "log_entry", "id", "incident_number"} & set(top):
        doc = load_small_json(path)
        if isinstance(doc, dict) and "id" not in doc:
            for key, kind in (("incident", "incident"), ("log_entry", "log_entry")):
                if isinstance(doc.get(key), dict):
                    pf.item(doc[key], kind)
                    return
        else:
            pf.item(doc, None)
            return
    ctx.skip(0, "not incidents or log entries: this PagerDuty document has "
             f"{', '.join(top[:6]) or 'no keys'}; export GET /incidents or GET /log_entries "
             "(or /incidents/{id}/log_entries)")
