"""What an alerts backend provides, in one vocabulary for Alertmanager, PagerDuty, Prometheus
and bundles.

A profile may configure several alert sources at once (Alertmanager *and* PagerDuty,
say); the server asks each for what it can do (``capabilities``) and merges the
answers. An adapter translates its wire format into these dataclasses and nothing
else: ranking, grouping, timelines and budgets live in the server and its analysis
modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from obsbench_servers.alerts.matchers import Matcher
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.timeutil import ns_to_rfc3339

# What a backend can do; the server registers and routes by these.
ALERTS = "alerts"          # current alerts (list_firing_alerts)
GROUPS = "groups"          # Alertmanager alert groups
INCIDENTS = "incidents"    # incidents with log entries (PagerDuty, bundle incidents)
SILENCES = "silences"      # read and write silences (Alertmanager)
ACK = "ack"                # acknowledge incidents (PagerDuty)
NOTES = "notes"            # add incident notes (PagerDuty)

SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "high": 1, "warning": 2, "warn": 2,
                 "info": 3, "low": 3, "none": 4}


def _t(ns: int | None) -> str | None:
    return ns_to_rfc3339(ns) if ns is not None else None


@dataclass
class Alert:
    """One alert as Alertmanager (or Prometheus) reports it."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # active | suppressed | unprocessed (Alertmanager); firing | pending (Prometheus)
    starts_at_ns: int | None
    ends_at_ns: int | None = None
    updated_at_ns: int | None = None
    generator_url: str | None = None
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "none")

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity.lower(), 4)

    @property
    def suppressed(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by) or self.state == "suppressed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "alertname": self.alertname,
            "severity": self.severity, "state": self.state, "labels": self.labels,
            "annotations": self.annotations, "starts_at": _t(self.starts_at_ns),
            "ends_at": _t(self.ends_at_ns), "updated_at": _t(self.updated_at_ns),
            "generator_url": self.generator_url, "silenced_by": self.silenced_by,
            "inhibited_by": self.inhibited_by, "receivers": self.receivers,
            "source": self.source,
        }


@dataclass
class AlertGroup:
    """An Alertmanager notification group: the labels it groups by, its receiver, its alerts."""

    labels: dict[str, str]
    receiver: str
    fingerprints: list[str]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Incident:
    """A PagerDuty incident, or an Alertmanager group presented as one."""

    id: str
    title: str
    status: str  # triggered | acknowledged | resolved
    urgency: str | None = None
    number: int | None = None
    service: str | None = None
    assignees: list[str] = field(default_factory=list)
    created_at_ns: int | None = None
    acknowledged_at_ns: int | None = None
    resolved_at_ns: int | None = None
    html_url: str | None = None
    description: str | None = None
    alert_count: int | None = None
    kind: str = "pagerduty"  # pagerduty | alertmanager-group
    source: str = ""
    fingerprints: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "title": self.title, "status": self.status,
            "urgency": self.urgency, "service": self.service, "assignees": self.assignees,
            "created_at": _t(self.created_at_ns), "acknowledged_at": _t(self.acknowledged_at_ns),
            "resolved_at": _t(self.resolved_at_ns), "html_url": self.html_url,
            "description": self.description, "alert_count": self.alert_count,
            "kind": self.kind, "source": self.source, "fingerprints": self.fingerprints,
        }


@dataclass
class LogEntry:
    """One entry of an incident's log (trigger, notify, acknowledge, note, resolve...)."""

    id: str
    incident_id: str
    type: str
    created_at_ns: int | None
    summary: str
    agent: str | None = None
    note: str | None = None  # the note's text for notes
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "incident_id": self.incident_id, "type": self.type,
                "created_at": _t(self.created_at_ns), "summary": self.summary,
                "agent": self.agent, "note": self.note, "source": self.source}


@dataclass
class Silence:
    id: str
    state: str
    matchers: list[Matcher]
    starts_at_ns: int | None
    ends_at_ns: int | None
    created_by: str = ""
    comment: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state,
                "matchers": [str(m) for m in self.matchers],
                "starts_at": _t(self.starts_at_ns), "ends_at": _t(self.ends_at_ns),
                "created_by": self.created_by, "comment": self.comment, "source": self.source}


@runtime_checkable
class AlertsBackend(Protocol):
    """One alert source. Methods outside ``capabilities`` raise ``BadInputError``."""

    label: str
    type: str
    capabilities: frozenset[str]

    def firing_alerts(self, now_ns: int, matchers: list[Matcher]) -> list[Alert]: ...
    def groups(self, now_ns: int, matchers: list[Matcher]) -> list[AlertGroup]: ...
    def alerts_between(self, start_ns: int, end_ns: int) -> list[Alert]: ...
    def active_incidents(self, now_ns: int) -> list[Incident]: ...
    def incident(self, incident_id: str, now_ns: int) -> Incident | None: ...
    def incident_ids(self, now_ns: int) -> list[str]: ...
    def incident_log(self, incident_id: str) -> list[LogEntry]: ...
    def silences(self) -> list[Silence]: ...
    def create_silence(self, matchers: list[Matcher], starts_ns: int, ends_ns: int,
                       created_by: str, comment: str) -> str: ...
    def expire_silence(self, silence_id: str) -> None: ...
    def acknowledge(self, incident_id: str, from_email: str) -> Incident: ...
    def add_note(self, incident_id: str, content: str, from_email: str) -> LogEntry: ...
    def describe(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class BaseAlertsBackend:
    """Defaults for what a backend cannot do: a clear error naming the backend."""

    label = "alerts"
    type = "none"
    capabilities: frozenset[str] = frozenset()

    def _cannot(self, what: str) -> BadInputError:
        return BadInputError(f"the {self.type} backend {self.label!r} cannot {what}",
                             "configure a backend that can (see docs/alerts.md)")

    def firing_alerts(self, now_ns: int, matchers: list[Matcher]) -> list[Alert]:
        raise self._cannot("list alerts")

    def groups(self, now_ns: int, matchers: list[Matcher]) -> list[AlertGroup]:
        raise self._cannot("list alert groups")

    def alerts_between(self, start_ns: int, end_ns: int) -> list[Alert]:
        raise self._cannot("list alerts")

    def active_incidents(self, now_ns: int) -> list[Incident]:
        raise self._cannot("list incidents")

    def incident(self, incident_id: str, now_ns: int) -> Incident | None:
        raise self._cannot("read incidents")

    def incident_ids(self, now_ns: int) -> list[str]:
        return []

    def incident_log(self, incident_id: str) -> list[LogEntry]:
        raise self._cannot("read incident logs")

    def silences(self) -> list[Silence]:
        raise self._cannot("read silences")

    def create_silence(self, matchers: list[Matcher], starts_ns: int, ends_ns: int,
                       created_by: str, comment: str) -> str:
        raise self._cannot("create silences")

    def expire_silence(self, silence_id: str) -> None:
        raise self._cannot("expire silences")

    def acknowledge(self, incident_id: str, from_email: str) -> Incident:
        raise self._cannot("acknowledge incidents")

    def add_note(self, incident_id: str, content: str, from_email: str) -> LogEntry:
        raise self._cannot("add incident notes")

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.label}

    def close(self) -> None:
        return None
