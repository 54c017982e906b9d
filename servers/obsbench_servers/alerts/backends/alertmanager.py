"""Alertmanager API v2: alerts, alert groups, silences (read, create, expire).

Endpoints: ``GET /api/v2/alerts`` (with ``filter=`` matchers, active, silenced and
inhibited alerts alike: the caller decides what to show), ``GET
/api/v2/alerts/groups``, ``GET/POST /api/v2/silences``, ``DELETE
/api/v2/silence/{id}``. Error bodies are inconsistent in Alertmanager (a bare JSON
string with 400, ``{"code","message"}`` with 422, an empty 404); ``common.http``
reads all three.
"""

from __future__ import annotations

from typing import Any

import httpx

from obsbench_servers.alerts.backend import (
    ALERTS,
    GROUPS,
    SILENCES,
    Alert,
    AlertGroup,
    BaseAlertsBackend,
    Silence,
)
from obsbench_servers.alerts.matchers import Matcher, match_all, to_filter_params
from obsbench_servers.common.backend import AlertmanagerBackend as AlertmanagerConfig
from obsbench_servers.common.errors import BackendError, NotFoundError
from obsbench_servers.common.http import build_client
from obsbench_servers.common.jsonapi import JsonResponse, call_json
from obsbench_servers.common.timeutil import TimeParseError, ns_to_rfc3339, parse_rfc3339_ns


def api_time(value: Any) -> int | None:
    """An API timestamp as ns; Go's zero time (``0001-01-01``) and garbage are None."""
    if not value or not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        return parse_rfc3339_ns(value)
    except TimeParseError:
        return None


def alert_from_api(a: dict[str, Any], source: str) -> Alert:
    status: dict[str, Any] = a["status"] if isinstance(a.get("status"), dict) else {}
    return Alert(
        fingerprint=str(a.get("fingerprint", "")),
        labels={str(k): str(v) for k, v in (a.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (a.get("annotations") or {}).items()},
        state=str(status.get("state") or "active"),
        starts_at_ns=api_time(a.get("startsAt")),
        ends_at_ns=api_time(a.get("endsAt")),
        updated_at_ns=api_time(a.get("updatedAt")),
        generator_url=a.get("generatorURL") or None,
        silenced_by=[str(s) for s in status.get("silencedBy") or ()],
        inhibited_by=[str(s) for s in status.get("inhibitedBy") or ()],
        receivers=[str(r.get("name")) if isinstance(r, dict) else str(r)
                   for r in a.get("receivers") or ()],
        source=source,
    )


class AlertmanagerAlerts(BaseAlertsBackend):
    """One Alertmanager (a cluster's peers answer the same; configure one URL)."""

    type = "alertmanager"
    capabilities = frozenset({ALERTS, GROUPS, SILENCES})

    def __init__(self, config: AlertmanagerConfig,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.label = config.name or "alertmanager"
        self._transport = transport

    def _call(self, method: str, path: str, **kw: Any) -> JsonResponse:
        # One client per request: a tool call makes one or two, and nothing is left open.
        with build_client(self.config, transport=self._transport) as client:
            return call_json(client, self.config, method, path,
                             what=f"Alertmanager {self.label}", **kw)

    def _get(self, path: str, params: Any = None) -> Any:
        return self._call("GET", path, params=params).data

    def _list(self, path: str, params: Any = None) -> list[Any]:
        data = self._get(path, params)
        if not isinstance(data, list):
            raise BackendError(
                f"Alertmanager {self.label}: {path} answered a {type(data).__name__}, "
                "not a list",
                "is url an Alertmanager (API v2)? Prometheus and Grafana answer other shapes",
            )
        return data

    # -- reads

    def firing_alerts(self, now_ns: int, matchers: list[Matcher]) -> list[Alert]:
        params = [("active", "true"), ("silenced", "true"), ("inhibited", "true"),
                  ("unprocessed", "true"), *to_filter_params(matchers)]
        alerts = [alert_from_api(a, self.label) for a in self._list("/api/v2/alerts", params)
                  if isinstance(a, dict)]
        return [a for a in alerts if match_all(matchers, a.labels)]

    def alerts_between(self, start_ns: int, end_ns: int) -> list[Alert]:
        # Alertmanager keeps only current alerts (resolved ones leave after resolve_timeout).
        alerts = [alert_from_api(a, self.label) for a in self._list("/api/v2/alerts")
                  if isinstance(a, dict)]
        return [a for a in alerts
                if (a.starts_at_ns or 0) < end_ns and (a.ends_at_ns is None
                                                        or a.ends_at_ns > start_ns)]

    def groups(self, now_ns: int, matchers: list[Matcher]) -> list[AlertGroup]:
        params = [("active", "true"), ("silenced", "true"), ("inhibited", "true"),
                  *to_filter_params(matchers)]
        out = []
        for g in self._list("/api/v2/alerts/groups", params):
            if not isinstance(g, dict):
                continue
            receiver = g.get("receiver") or {}
            fps = [str(a.get("fingerprint")) for a in g.get("alerts") or ()
                   if isinstance(a, dict) and match_all(matchers, a.get("labels") or {})]
            if fps:
                out.append(AlertGroup({str(k): str(v) for k, v in (g.get("labels") or {}).items()},
                                      str(receiver.get("name", "")) if isinstance(receiver, dict)
                                      else str(receiver), fps, self.label))
        return out

    def silences(self) -> list[Silence]:
        out = []
        for s in self._list("/api/v2/silences"):
            if not isinstance(s, dict):
                continue
            status: dict[str, Any] = s["status"] if isinstance(s.get("status"), dict) else {}
            out.append(Silence(
                id=str(s.get("id", "")), state=str(status.get("state", "")),
                matchers=[Matcher.from_api(m) for m in s.get("matchers") or ()
                          if isinstance(m, dict)],
                starts_at_ns=api_time(s.get("startsAt")), ends_at_ns=api_time(s.get("endsAt")),
                created_by=str(s.get("createdBy", "")), comment=str(s.get("comment", "")),
                source=self.label))
        return out

    # -- writes (called only through the write gate)

    def create_silence(self, matchers: list[Matcher], starts_ns: int, ends_ns: int,
                       created_by: str, comment: str) -> str:
        body = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": ns_to_rfc3339(starts_ns, precision="milliseconds"),
            "endsAt": ns_to_rfc3339(ends_ns, precision="milliseconds"),
            "createdBy": created_by,
            "comment": comment,
        }
        data = self._call("POST", "/api/v2/silences", json=body).data
        if not isinstance(data, dict) or not data.get("silenceID"):
            raise BackendError(f"Alertmanager {self.label} did not return a silence id: "
                               f"{str(data)[:200]}")
        return str(data["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        # An unknown id: Alertmanager 0.25 answers 500 with the JSON string "silence not
        # found" (seen on the real server, tests/alerts/test_alertmanager_live.py); newer
        # releases answer 404. Expiring an already expired silence is a 200.
        r = self._call("DELETE", f"/api/v2/silence/{silence_id}", accept_status=(404, 500))
        if r.status == 500 and not (isinstance(r.data, str) and "not found" in r.data.lower()):
            raise BackendError(f"Alertmanager {self.label} answered 500 expiring silence "
                               f"{silence_id!r}: {r.data!r}",
                               "Alertmanager failed internally; check its log and retry")
        if r.status in (404, 500):
            raise NotFoundError(f"Alertmanager {self.label} has no silence {silence_id!r}",
                                "list silences with list_firing_alerts (silenced_by) or "
                                "`amtool silence query`")

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.label, "url": self.config.url}
