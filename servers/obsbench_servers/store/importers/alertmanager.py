"""Alert dumps (``alerts/*.json``) into the ``alerts`` table.

Accepted, told apart by shape:
- Alertmanager v2 ``GET /api/v2/alerts``: an array of alerts (``fingerprint``,
  ``status.state``, ``receivers``...); source ``alertmanager``;
- Alertmanager v2 ``GET /api/v2/alerts/groups``: an array of groups, each with
  its ``alerts``;
- an Alertmanager webhook notification (``{"alerts": [...], "status": ...}``),
  whose alerts carry ``status`` firing/resolved;
- Prometheus ``GET /api/v1/alerts`` (``{"data": {"alerts": [...]}}``): state
  firing/pending from ``state``, start from ``activeAt``; source
  ``prometheus``. These have no fingerprint, so it is computed the way
  Alertmanager does (FNV-1a over the sorted label set), and the same alert
  gets the same fingerprint from either source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obsbench_servers.common.timeutil import TimeParseError
from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import (
    dumps,
    dumps_or_none,
    dumps_sorted,
    first_json_byte,
    stream_json,
    time_ns,
)

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common model.LabelSet.Fingerprint)."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, str(labels[name])):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _time(value: Any) -> int | None:
    try:
        return time_ns(value)
    except (TimeParseError, ValueError, OverflowError):
        return None


class _AlertsFile:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.writer = ctx.writer("alerts")
        self.index = 0

    def alert(self, a: Any, source: str, group_receiver: str | None = None) -> None:
        self.index += 1
        if not isinstance(a, dict):
            self.ctx.skip(0, f"not an alert: item #{self.index} is a {type(a).__name__}")
            return
        labels = a.get("labels")
        if not isinstance(labels, dict) or not labels:
            self.ctx.skip(0, f"no labels: alert #{self.index} has no label set")
            return
        labels = {str(k): str(v) for k, v in labels.items()}
        status = a.get("status")
        silenced = inhibited = None
        if source == "prometheus":
            state = a.get("state")
            starts = _time(a.get("activeAt"))
            ends = updated = None
        else:
            if isinstance(status, dict):  # v2 API
                state = status.get("state")
                silenced = status.get("silencedBy") or None
                inhibited = status.get("inhibitedBy") or None
            else:  # webhook: "firing" / "resolved"
                state = status
            starts = _time(a.get("startsAt"))
            ends = _time(a.get("endsAt"))
            updated = _time(a.get("updatedAt"))
        for key in ("activeAt", "startsAt", "endsAt", "updatedAt"):
            raw = a.get(key)
            if raw not in (None, "") and _time(raw) is None and not str(raw).startswith("0001"):
                self.ctx.warn(0, f"bad time: alert #{self.index} {labels.get('alertname')!r} "
                              f"{key}={str(raw)[:40]!r} kept as null")
        receivers = [r.get("name") if isinstance(r, dict) else r
                     for r in a.get("receivers") or ()]
        if not receivers and group_receiver:
            receivers = [group_receiver]
        self.writer.append(
            a.get("fingerprint") or label_fingerprint(labels),
            labels.get("alertname"),
            state,
            labels.get("severity"),
            starts, ends, updated,
            dumps_sorted(labels),
            dumps_or_none(a.get("annotations")),
            a.get("generatorURL") or None,
            dumps(silenced) if silenced else None,
            dumps(inhibited) if inhibited else None,
            dumps(receivers) if receivers else None,
            source,
        )
        self.ctx.count("alerts")


def import_alerts(path: Path, ctx: ImportContext) -> None:
    """Stream the alerts of any accepted shape (see the module docstring) into ``alerts``."""
    af = _AlertsFile(ctx)
    lead = first_json_byte(path)
    if lead == b"[":
        for _, item in stream_json(path, frozenset({"item"})):
            if isinstance(item, dict) and "alerts" in item and "fingerprint" not in item:
                receiver = item.get("receiver")
                name = receiver.get("name") if isinstance(receiver, dict) else None
                for a in item.get("alerts") or ():
                    af.alert(a, "alertmanager", name)
            else:
                af.alert(item, "alertmanager")
        return
    if lead != b"{":
        ctx.skip(0, "not an alerts document: expected a JSON array (Alertmanager) or object "
                 "(Prometheus /api/v1/alerts)" if lead else "empty file: no alerts")
        return
    top: list[str] = []
    found = False
    for prefix, item in stream_json(path, frozenset({"data.alerts.item", "alerts.item"}), top):
        found = True
        af.alert(item, "prometheus" if prefix == "data.alerts.item" else "alertmanager")
    if not found and not ({"data", "alerts"} & set(top)):
        ctx.skip(0, "not an alerts document: expected /api/v2/alerts, /api/v2/alerts/groups, "
                 "a webhook payload or /api/v1/alerts; top-level keys are "
                 f"{', '.join(top[:8]) or 'none'}")
