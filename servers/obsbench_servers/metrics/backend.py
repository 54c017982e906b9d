"""The one interface every metrics backend implements, and the data it returns.

Results are the Prometheus HTTP API's ``data`` object (``resultType``,
``result`` with ``metric`` and ``value``/``values``, values as strings), whichever
backend answered: Prometheus-compatible stores return it as is, the embedded
engine produces the same shape. Tools and analyses read it through
``SeriesData`` (numpy arrays); ``obsbench metrics query --json`` prints it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from obsbench_servers.common.backend import Limits


def parse_value(text: str) -> float:
    """A Prometheus JSON value string ("1.5", "NaN", "+Inf") as a float."""
    return float(text)


@dataclass
class SeriesData:
    """One series of a result: labels, times (epoch seconds) and values."""

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")


@dataclass
class QueryData:
    """A query's answer: the Prometheus ``data`` object and what was actually run."""

    data: dict[str, Any]
    query: str  # the backend request (method, path and parameters) or engine call
    warnings: list[str] = field(default_factory=list)
    samples_read: int | None = None

    @property
    def result_type(self) -> str:
        return str(self.data.get("resultType", ""))

    def series(self) -> list[SeriesData]:
        """Every series as arrays (a scalar result becomes one series without labels)."""
        rt = self.result_type
        result = self.data.get("result", [])
        if rt == "scalar":
            t, v = result
            return [SeriesData({}, np.array([float(t)]), np.array([parse_value(v)]))]
        if rt == "string":
            return []
        out = []
        for item in result:
            pts = item.get("values")
            if pts is None:
                pts = [item["value"]] if "value" in item else []
            ts = np.fromiter((float(p[0]) for p in pts), dtype=float, count=len(pts))
            vs = np.fromiter((parse_value(p[1]) for p in pts), dtype=float, count=len(pts))
            out.append(SeriesData(dict(item.get("metric", {})), ts, vs))
        return out


WARMUP_NS = 5 * 60 * 1_000_000_000  # the usual rate window


def after_warmup(series: list[SeriesData], data_start_ns: int | None,
                 warmup_ns: int = WARMUP_NS) -> list[SeriesData]:
    """The series without their points in the first ``warmup_ns`` after the data begins."""
    if data_start_ns is None:
        return series
    cut = (data_start_ns + warmup_ns) / 1e9
    out = []
    for s in series:
        keep = s.ts >= cut
        if keep.all():
            out.append(s)
        elif keep.any():
            out.append(SeriesData(s.labels, s.ts[keep], s.values[keep]))
    return out


class MetricsBackend(Protocol):
    """Prometheus-compatible reads. Times are epoch nanoseconds; steps seconds."""

    kind: str  # "local", "prometheus", "thanos", "mimir", "victoriametrics"
    description: str  # what a person recognises it by (bundle path, base URL)
    limits: Limits
    timeout_s: float
    # When the data begins, if known (a bundle): rate windows that reach before it are
    # still filling, and their first values are not a change to report.
    data_start_ns: int | None

    def query(self, expr: str, time_ns: int) -> QueryData:
        """``/api/v1/query``: the value of ``expr`` at one instant."""
        ...

    def query_range(self, expr: str, start_ns: int, end_ns: int, step_s: float) -> QueryData:
        """``/api/v1/query_range``: ``expr`` evaluated from start to end every ``step_s``."""
        ...

    def series(self, match: list[str], start_ns: int, end_ns: int) -> list[dict[str, str]]:
        """``/api/v1/series``: label sets of the series the selectors match."""
        ...

    def label_names(self, match: list[str] | None, start_ns: int, end_ns: int) -> list[str]:
        ...

    def label_values(
        self, label: str, match: list[str] | None, start_ns: int, end_ns: int
    ) -> list[str]:
        """``/api/v1/label/<label>/values`` (``__name__`` lists metric names)."""
        ...

    def metadata(self, metric: str | None = None) -> dict[str, list[dict[str, str]]]:
        """``/api/v1/metadata``: type, help and unit per metric family."""
        ...

    def alerts(self, now_ns: int) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: pending and firing alerts (labels, annotations, state, activeAt)."""
        ...

    def count_series(self, match: list[str], start_ns: int, end_ns: int) -> int | None:
        """The most series one of the selectors matches, when cheap to know before a query
        (None when the backend guards its own selection)."""
        ...

    def close(self) -> None:
        ...
