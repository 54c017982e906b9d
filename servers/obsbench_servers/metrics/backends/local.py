"""The embedded metrics backend: PromQL over a bundle's DuckDB store.

Queries run through the embedded engine (``promql/``); discovery reads the
in-memory series index; metadata comes from the store's ``metric_metadata``
(OpenMetrics families); alerts come from the bundle's alert files, shaped
like Prometheus's ``/api/v1/alerts``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from obsbench_servers.common.backend import Limits, LocalBackend
from obsbench_servers.common.timeutil import ns_to_rfc3339
from obsbench_servers.metrics.backend import QueryData
from obsbench_servers.metrics.promql.ast import VectorSel
from obsbench_servers.metrics.promql.engine import Engine, EngineLimits
from obsbench_servers.metrics.promql.parse import parse
from obsbench_servers.metrics.promql.storage import StoreSource
from obsbench_servers.metrics.promql.values import EvalError

if TYPE_CHECKING:
    from obsbench_servers.store import TelemetryStore

_NS_PER_MS = 1_000_000
# OpenMetrics family suffixes: a series named family + suffix belongs to the family.
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_info", "_gsum", "_gcount")


def family_of(metric: str, families: set[str] | dict[str, Any]) -> str | None:
    """The metadata family of a series name (``http_requests_total`` -> ``http_requests``)."""
    if metric in families:
        return metric
    for suffix in _SUFFIXES:
        if metric.endswith(suffix) and metric[: -len(suffix)] in families:
            return metric[: -len(suffix)]
    return None


class LocalMetrics:
    """``MetricsBackend`` over the embedded store."""

    kind = "local"

    def __init__(self, store: TelemetryStore, config: LocalBackend,
                 options: dict[str, Any] | None = None) -> None:
        opts = options or {}
        self.store = store
        self.limits: Limits = config.limits
        self.description = f"embedded store ({config.bundle})"
        self.timeout_s = float(opts.get("query_timeout_s", 60.0))
        self.source = StoreSource(store)
        self._engine_limits = EngineLimits(
            max_samples=int(opts.get("max_samples", 50_000_000)),
            max_series_selected=int(opts.get("max_series_selected", 20_000)),
            timeout_s=self.timeout_s,
        )
        self.lookback_ms = int(opts.get("lookback_ms", 5 * 60 * 1000))
        self._meta: dict[str, dict[str, str]] | None = None
        row = store.query("SELECT min(ts_ms) FROM samples")
        self.data_start_ns: int | None = (int(row[0][0]) * _NS_PER_MS
                                          if row and row[0][0] is not None else None)

    def _engine(self) -> Engine:
        return Engine(self.source, lookback_ms=self.lookback_ms, limits=self._engine_limits)

    # -- queries

    def query(self, expr: str, time_ns: int) -> QueryData:
        eng = self._engine()
        data = eng.instant(expr, time_ns // _NS_PER_MS)
        return QueryData(data, f"embedded query {expr} time={ns_to_rfc3339(time_ns)}",
                         samples_read=eng.samples_read)

    def query_range(self, expr: str, start_ns: int, end_ns: int, step_s: float) -> QueryData:
        eng = self._engine()
        data = eng.range(expr, start_ns // _NS_PER_MS, end_ns // _NS_PER_MS,
                         round(step_s * 1000))
        run = f"embedded query_range {expr} step={step_s:g}s"
        return QueryData(data, run, samples_read=eng.samples_read)

    # -- discovery

    def _selectors(self, match: list[str] | None) -> list[VectorSel]:
        out = []
        for m in match or []:
            node = parse(m)
            if not isinstance(node, VectorSel):
                raise EvalError(f"match[] must be a series selector, got {m!r}",
                                'write e.g. http_requests_total{service="checkout"}')
            out.append(node)
        return out

    def _matched(self, match: list[str] | None) -> list[dict[str, str]]:
        idx = self.source.index
        if not match:
            return list(idx.dicts)
        seen: set[int] = set()
        out = []
        for sel in self._selectors(match):
            for pos in idx.match(sel.matcher_sets):
                if pos not in seen:
                    seen.add(pos)
                    out.append(idx.dicts[pos])
        return out

    def _active_names(self, start_ns: int, end_ns: int) -> set[str] | None:
        """Metric names with samples in the range (None: every name in the store)."""
        rows = self.store.query(
            "SELECT DISTINCT s.metric FROM series s WHERE s.series_id IN ("
            "SELECT DISTINCT series_id FROM samples WHERE ts_ms BETWEEN ? AND ?)",
            [start_ns // _NS_PER_MS, end_ns // _NS_PER_MS],
        )
        return {r[0] for r in rows}

    def series(self, match: list[str], start_ns: int, end_ns: int) -> list[dict[str, str]]:
        active = self._active_names(start_ns, end_ns)
        return [d for d in self._matched(match) if active is None or d["__name__"] in active]

    def count_series(self, match: list[str], start_ns: int, end_ns: int) -> int | None:
        """None: the embedded engine checks each selection against ``max_series_selected``
        itself, from the in-memory index, before it reads a sample."""
        return None

    def label_names(self, match: list[str] | None, start_ns: int, end_ns: int) -> list[str]:
        names: set[str] = set()
        for d in self._matched(match):
            names.update(d)
        return sorted(names)

    def label_values(
        self, label: str, match: list[str] | None, start_ns: int, end_ns: int
    ) -> list[str]:
        series = self.series(match, start_ns, end_ns) if match else self._matched(None)
        if not match and label == "__name__":
            active = self._active_names(start_ns, end_ns)
            series = [d for d in series if active is None or d["__name__"] in active]
        return sorted({d[label] for d in series if d.get(label)})

    def metadata(self, metric: str | None = None) -> dict[str, list[dict[str, str]]]:
        if self._meta is None:
            self._meta = {
                name: {"type": typ or "unknown", "help": help_ or "", "unit": unit or ""}
                for name, typ, help_, unit in self.store.query(
                    "SELECT metric, type, help, unit FROM metric_metadata")
            }
        meta = self._meta
        if metric is None:
            return {k: [v] for k, v in sorted(meta.items())}
        fam = family_of(metric, meta)
        if fam is None:
            return {}
        return {fam: [meta[fam]]}

    # -- alerts

    def alerts(self, now_ns: int) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT alertname, state, starts_at_ns, ends_at_ns, labels_json, annotations_json, "
            "source FROM alerts WHERE starts_at_ns <= ? AND (ends_at_ns IS NULL OR ends_at_ns > ?) "
            "ORDER BY starts_at_ns",
            [now_ns, now_ns],
        )
        out = []
        for _alert, state, starts, _ends, labels_json, annotations_json, _source in rows:
            prom_state = state if state in ("pending", "firing") else "firing"
            if state == "inactive":
                continue
            out.append({
                "labels": orjson.loads(labels_json or "{}"),
                "annotations": orjson.loads(annotations_json or "{}"),
                "state": prom_state,
                "activeAt": ns_to_rfc3339(int(starts), precision="milliseconds"),
                "value": "",
                "source_state": state,
            })
        return out

    def close(self) -> None:
        """The store belongs to the server context, which closes it."""


def metric_like(name: str) -> bool:
    return re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) is not None
