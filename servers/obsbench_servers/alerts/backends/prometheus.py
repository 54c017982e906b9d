"""Prometheus's own ``GET /api/v1/alerts``: firing and pending alerting rules.

Useful where there is no Alertmanager, and to see *pending* alerts (a condition that
is true but has not lasted its ``for:`` yet) that Alertmanager never receives. The
answer has no fingerprints; they are computed the way Alertmanager computes them, so
the same alert from both sources merges into one.

With ``tenant_label`` (a Prometheus shared by tenants), only alerts whose labels carry
``tenant_label=tenant`` are returned: the rules see every tenant and ``/api/v1/alerts``
takes no filter, so the list is cut here, client-side, and every answer says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from obsbench_servers.alerts.backend import ALERTS, Alert, BaseAlertsBackend
from obsbench_servers.alerts.backends.alertmanager import api_time
from obsbench_servers.alerts.matchers import Matcher, match_all
from obsbench_servers.common.backend import PrometheusAlertsBackend as PrometheusAlertsConfig
from obsbench_servers.common.errors import BackendError
from obsbench_servers.common.http import build_client
from obsbench_servers.common.jsonapi import call_json

if TYPE_CHECKING:
    from obsbench_servers.metrics.tenancy import TenantScope


class PrometheusAlerts(BaseAlertsBackend):
    type = "prometheus"
    capabilities = frozenset({ALERTS})

    def __init__(self, config: PrometheusAlertsConfig,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.label = config.name or "prometheus"
        self._transport = transport
        self.warnings: list[str] = []
        self._tenant: TenantScope | None = None
        if config.tenant_label:
            # The metrics server's scope: same validation (a tenant_label needs a tenant,
            # a real label name, not __name__), raised before any request.
            from obsbench_servers.metrics.tenancy import TenantScope  # noqa: PLC0415

            self._tenant = TenantScope.from_config(config.tenant_label, config.tenant)

    def _alerts(self) -> list[Alert]:
        from obsbench_servers.store.importers.alertmanager import (  # noqa: PLC0415
            label_fingerprint,
        )

        with build_client(self.config, transport=self._transport) as client:
            body = call_json(client, self.config, "GET", "/api/v1/alerts",
                             what=f"Prometheus {self.label}").data
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
            raise BackendError(f"Prometheus {self.label}: /api/v1/alerts answered no alerts list",
                               "is url a Prometheus server (not Alertmanager or Grafana)?")
        out = []
        for a in data["alerts"]:
            if not isinstance(a, dict) or not isinstance(a.get("labels") or {}, dict):
                continue
            labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
            if self._tenant is not None and not self._tenant.owns(labels):
                continue  # another tenant's (or nobody's): not even counted
            raw = a.get("annotations")
            annotations: dict[Any, Any] = raw if isinstance(raw, dict) else {}
            out.append(Alert(
                fingerprint=label_fingerprint(labels), labels=labels,
                annotations={str(k): str(v) for k, v in annotations.items()},
                state=str(a.get("state", "firing")), starts_at_ns=api_time(a.get("activeAt")),
                source=self.label))
        if self._tenant is not None:
            note = (f"Prometheus {self.label}: alerts filtered to "
                    f"{self._tenant.label}={self._tenant.value!r} (client-side; alerts of other "
                    "tenants or without that label are not shown)")
            if note not in self.warnings:
                self.warnings.append(note)
        return out

    def firing_alerts(self, now_ns: int, matchers: list[Matcher]) -> list[Alert]:
        return [a for a in self._alerts()
                if a.state in ("firing", "pending") and match_all(matchers, a.labels)]

    def alerts_between(self, start_ns: int, end_ns: int) -> list[Alert]:
        return [a for a in self._alerts() if (a.starts_at_ns or 0) < end_ns]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.label, "url": self.config.url}
        if self._tenant is not None:
            out["tenant_filter"] = {self._tenant.label: self._tenant.value}
        return out
