"""Where container usage history comes from: the bundle's samples or a Prometheus API.

Right-sizing needs weeks of per-container CPU and memory, which only a metrics store
keeps (cAdvisor's ``container_*`` series, kube-state-metrics' ``kube_*``).
``MetricsSource.series`` returns raw samples of one metric for a label filter; the
analysis (5-minute rates, percentiles, throttling ratios) is then the same whichever
store answered. ``LocalMetrics`` reads the embedded store; ``backends/prometheus.py``
reads any Prometheus-compatible API with ``query_range``.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext

Series = list[tuple[dict[str, str], list[tuple[int, float]]]]  # (labels, [(ts_ms, value)])


def selector(metric: str, equals: dict[str, str], regex: dict[str, str]) -> str:
    """The PromQL selector for a metric and label filters (what the tool reports as its query)."""
    def q(v: str) -> str:  # a PromQL string literal: backslashes and quotes escaped
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    parts = [f"{k}={q(v)}" for k, v in sorted(equals.items())]
    parts += [f"{k}=~{q(v)}" for k, v in sorted(regex.items())]
    return f"{metric}{{{','.join(parts)}}}"


class MetricsSource(Protocol):
    label: str

    def series(self, metric: str, equals: dict[str, str], regex: dict[str, str],
               start_ns: int, end_ns: int) -> Series:
        """Raw samples of ``metric`` whose labels equal ``equals`` and fully match ``regex``."""
        ...


class LocalMetrics:
    """Samples from a bundle's store (regexes run by DuckDB's RE2, anchored like PromQL)."""

    def __init__(self, ctx: ServerContext, backend: LocalBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        self.label = backend.name or f"bundle {backend.bundle.name}"

    def series(self, metric: str, equals: dict[str, str], regex: dict[str, str],
               start_ns: int, end_ns: int) -> Series:
        where = ["s.metric = ?"]
        params: list[Any] = [metric]
        for k, v in equals.items():
            where.append("json_extract_string(s.labels_json, ?) = ?")
            params += [f"$.{k}", v]
        for k, v in regex.items():
            where.append(
                "regexp_full_match(coalesce(json_extract_string(s.labels_json, ?), ''), ?)")
            params += [f"$.{k}", v]
        sql = (
            "SELECT s.series_id, s.labels_json, m.ts_ms, m.value FROM series s "
            "JOIN samples m ON m.series_id = s.series_id "
            f"WHERE {' AND '.join(where)} AND m.ts_ms >= ? AND m.ts_ms <= ? "
            "ORDER BY s.series_id, m.ts_ms"
        )
        params += [start_ns // 1_000_000, end_ns // 1_000_000]
        out: Series = []
        current: int | None = None
        for sid, labels_json, ts, value in self.ctx.store(self.backend).query(sql, params):
            if sid != current:
                out.append((orjson.loads(labels_json), []))
                current = sid
            out[-1][1].append((int(ts), float(value)))
        return out
