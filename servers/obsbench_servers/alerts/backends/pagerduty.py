"""PagerDuty REST API v2: incidents, their log entries and notes; acknowledge; add notes.

Token auth (``Authorization: Token token=...``, built by ``common.http``), classic
offset pagination (``limit``/``offset``/``more``, capped so a busy account cannot
flood a tool), the ``ratelimit-*`` headers PagerDuty sends (a warning when few
requests remain) and 429 answers (retried once for reads when ``Retry-After`` is
short). Writes carry the ``From:`` header PagerDuty requires (a user's e-mail).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from obsbench_servers.alerts.backend import (
    ACK,
    INCIDENTS,
    NOTES,
    BaseAlertsBackend,
    Incident,
    LogEntry,
)
from obsbench_servers.alerts.backends.alertmanager import api_time
from obsbench_servers.common.backend import PagerDutyBackend as PagerDutyConfig
from obsbench_servers.common.errors import BackendError, BadInputError
from obsbench_servers.common.http import build_client
from obsbench_servers.common.jsonapi import JsonResponse, call_json

ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE = 100
MAX_PAGES = 10
LOW_RATE_LIMIT = 10


def _ref(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return ref.get("summary") or ref.get("name") or ref.get("id")
    return str(ref) if ref else None


def incident_from_api(inc: dict[str, Any], source: str) -> Incident:
    acks = [api_time(a.get("at")) for a in inc.get("acknowledgements") or ()
            if isinstance(a, dict)]
    counts: dict[str, Any] = (inc["alert_counts"] if isinstance(inc.get("alert_counts"), dict)
                              else {})
    number = inc.get("incident_number")
    return Incident(
        id=str(inc.get("id", "")),
        number=int(number) if isinstance(number, int) else None,
        title=str(inc.get("title") or inc.get("summary") or ""),
        status=str(inc.get("status", "")),
        urgency=inc.get("urgency"),
        service=_ref(inc.get("service")),
        assignees=[a for a in (_ref(x.get("assignee")) for x in inc.get("assignments") or ()
                               if isinstance(x, dict)) if a],
        created_at_ns=api_time(inc.get("created_at")),
        acknowledged_at_ns=min((a for a in acks if a is not None), default=None),
        resolved_at_ns=api_time(inc.get("resolved_at")) or (
            api_time(inc.get("last_status_change_at")) if inc.get("status") == "resolved"
            else None),
        html_url=inc.get("html_url"),
        description=inc.get("description"),
        alert_count=counts.get("all") if isinstance(counts.get("all"), int) else None,
        kind="pagerduty",
        source=source,
    )


def log_entry_from_api(e: dict[str, Any], incident_id: str, source: str) -> LogEntry:
    channel: dict[str, Any] = e["channel"] if isinstance(e.get("channel"), dict) else {}
    kind = str(e.get("type", "")).removesuffix("_reference")
    note = channel.get("summary") if kind == "annotate_log_entry" else None
    return LogEntry(
        id=str(e.get("id", "")), incident_id=incident_id,
        type=kind.removesuffix("_log_entry"),
        created_at_ns=api_time(e.get("created_at")), summary=str(e.get("summary", "")),
        agent=_ref(e.get("agent")), note=note, source=source,
    )


class PagerDutyAlerts(BaseAlertsBackend):
    """One PagerDuty account, optionally narrowed to services and teams."""

    type = "pagerduty"
    capabilities = frozenset({INCIDENTS, ACK, NOTES})

    def __init__(self, config: PagerDutyConfig,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.label = config.name or "pagerduty"
        self._transport = transport
        self.warnings: list[str] = []
        self._local = threading.local()

    @contextmanager
    def session(self) -> Iterator[httpx.Client]:
        """One client for the requests of one operation (pages, notes), closed after it."""
        current = getattr(self._local, "client", None)
        if current is not None:
            yield current
            return
        with build_client(self.config, transport=self._transport) as client:
            client.headers["Accept"] = ACCEPT
            self._local.client = client
            try:
                yield client
            finally:
                self._local.client = None

    def _call(self, method: str, path: str, *, params: Any = None, json: Any = None,
              headers: dict[str, str] | None = None, accept: tuple[int, ...] = ()
              ) -> JsonResponse:
        with self.session() as client:
            r = call_json(client, self.config, method, path, params=params, json=json,
                          headers=headers, accept_status=accept,
                          what=f"PagerDuty {self.label}")
        remaining = r.headers.get("ratelimit-remaining") or r.headers.get(
            "x-rate-limit-remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) < LOW_RATE_LIMIT:
            reset = r.headers.get("ratelimit-reset", "?")
            note = (f"PagerDuty rate limit nearly spent: {remaining} requests left, "
                    f"resets in {reset}s")
            if note not in self.warnings:
                self.warnings.append(note)
        return r

    def _pages(self, path: str, key: str, params: list[tuple[str, str]]) -> tuple[list[Any], bool]:
        """Every item of a paginated list (up to MAX_PAGES pages) and whether more remained."""
        with self.session():
            return self._pages_in_session(path, key, params)

    def _pages_in_session(self, path: str, key: str, params: list[tuple[str, str]]
                          ) -> tuple[list[Any], bool]:
        items: list[Any] = []
        offset = 0
        for _ in range(MAX_PAGES):
            data = self._call("GET", path, params=[*params, ("limit", str(PAGE)),
                                                   ("offset", str(offset))]).data
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise BackendError(f"PagerDuty {self.label}: {path} answered no {key!r} list",
                                   "is url the REST API (https://api.pagerduty.com)?")
            items.extend(data[key])
            if not data.get("more"):
                return items, False
            offset += len(data[key]) or PAGE
        return items, True

    # -- reads

    def active_incidents(self, now_ns: int) -> list[Incident]:
        params = [("statuses[]", "triggered"), ("statuses[]", "acknowledged"),
                  ("time_zone", "UTC"), ("sort_by", "created_at:desc")]
        params += [("service_ids[]", s) for s in self.config.service_ids]
        params += [("team_ids[]", t) for t in self.config.team_ids]
        items, more = self._pages("/incidents", "incidents", params)
        if more:
            self.warnings.append(f"PagerDuty {self.label}: more than {len(items)} active "
                                 f"incidents ({MAX_PAGES} pages read); the oldest were not "
                                 "read — narrow service_ids or team_ids")
        return [incident_from_api(i, self.label) for i in items if isinstance(i, dict)]

    def incident_ids(self, now_ns: int) -> list[str]:
        return [i.id for i in self.active_incidents(now_ns)]

    def incident(self, incident_id: str, now_ns: int) -> Incident | None:
        _check_id(incident_id)
        r = self._call("GET", f"/incidents/{incident_id}", accept=(404,))
        if r.status == 404 or not isinstance(r.data, dict):
            return None
        inc = r.data.get("incident")
        return incident_from_api(inc, self.label) if isinstance(inc, dict) else None

    def incident_log(self, incident_id: str) -> list[LogEntry]:
        _check_id(incident_id)
        with self.session():
            return self._incident_log(incident_id)

    def _incident_log(self, incident_id: str) -> list[LogEntry]:
        items, more = self._pages(f"/incidents/{incident_id}/log_entries", "log_entries",
                                  [("is_overview", "false"), ("time_zone", "UTC")])
        entries = [log_entry_from_api(e, incident_id, self.label) for e in items
                   if isinstance(e, dict)]
        if more:
            self.warnings.append(f"incident {incident_id}: more than {len(items)} log "
                                 f"entries ({MAX_PAGES} pages read); the rest were not read")
        notes = self._call("GET", f"/incidents/{incident_id}/notes").data
        note_items = notes.get("notes") if isinstance(notes, dict) else None
        for n in note_items or ():
            if not isinstance(n, dict):
                continue
            created = api_time(n.get("created_at"))
            # A note also appears as an annotate log entry; keep one, with the text.
            entries = [e for e in entries if not (e.type == "annotate" and created is not None
                       and e.created_at_ns is not None
                       and abs(e.created_at_ns - created) <= 2_000_000_000)]
            entries.append(LogEntry(
                id=str(n.get("id", "")), incident_id=incident_id, type="note",
                created_at_ns=created, summary="Note added", agent=_ref(n.get("user")),
                note=str(n.get("content", "")), source=self.label))
        return entries

    # -- writes (called only through the write gate)

    def _from(self, from_email: str) -> str:
        email = from_email if "@" in (from_email or "") else self.config.from_email
        if not email:
            raise BadInputError(
                "PagerDuty writes need the e-mail of a PagerDuty user (the From: header)",
                "pass user as an e-mail address, or set from_email in the pagerduty backend",
            )
        return email

    def acknowledge(self, incident_id: str, from_email: str) -> Incident:
        _check_id(incident_id)
        body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
        r = self._call("PUT", f"/incidents/{incident_id}", json=body,
                       headers={"From": self._from(from_email)})
        inc = r.data.get("incident") if isinstance(r.data, dict) else None
        if not isinstance(inc, dict):
            raise BackendError(f"PagerDuty {self.label} did not return the incident")
        return incident_from_api(inc, self.label)

    def add_note(self, incident_id: str, content: str, from_email: str) -> LogEntry:
        _check_id(incident_id)
        r = self._call("POST", f"/incidents/{incident_id}/notes",
                       json={"note": {"content": content}},
                       headers={"From": self._from(from_email)})
        note = r.data.get("note") if isinstance(r.data, dict) else None
        if not isinstance(note, dict):
            raise BackendError(f"PagerDuty {self.label} did not return the note")
        return LogEntry(id=str(note.get("id", "")), incident_id=incident_id, type="note",
                        created_at_ns=api_time(note.get("created_at")), summary="Note added",
                        agent=_ref(note.get("user")), note=str(note.get("content", "")),
                        source=self.label)

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.label, "url": self.config.url}


def _check_id(incident_id: str) -> None:
    if not incident_id or not incident_id.replace("-", "").replace("_", "").isalnum():
        raise BadInputError(f"{incident_id!r} is not a PagerDuty incident id",
                            "use the id from get_active_incidents (e.g. P3ETBPP)")
