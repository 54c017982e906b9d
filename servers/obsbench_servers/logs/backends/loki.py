"""Grafana Loki: ``query_range``, ``query`` (for exact totals), labels, label values, series.

Structured filters become LogQL built safely: label values are quoted with
Go string escaping, literal text is regex-escaped before it goes into ``|~``,
regexes are validated with RE2 (Loki's own engine) first. The service label
is ``service_name`` (what Loki 3 derives from OTLP and ``service``/``app``
labels) unless the context option ``loki_service_label`` names another; the
level is filtered with ``| detected_level=~...`` (Loki 3's level detection)
unless ``loki_level_label`` says otherwise. Totals come from a
``sum(count_over_time(...))`` instant query over the same window, so the
count is exact and independent of the line limit.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from obsbench_servers.common.backend import LokiBackend
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.saferegex import check_regex, escape
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.logs.backend import (
    Direction,
    LogFilter,
    LogRecord,
    SearchResult,
    VolumeResult,
)
from obsbench_servers.logs.backends._http import HttpBackend


def quote(value: str) -> str:
    """A LogQL double-quoted string (Go escaping: backslash, quote, control characters)."""
    return json.dumps(value, ensure_ascii=False)


class LokiLogs(HttpBackend):
    kind = "loki"

    def __init__(self, backend: LokiBackend, *, transport: httpx.BaseTransport | None = None,
                 service_label: str = "service_name",
                 level_label: str = "detected_level") -> None:
        super().__init__(backend, transport)
        self.service_label = service_label
        self.level_label = level_label

    def describe(self) -> str:
        return f"loki {self.cfg.url}"

    def _on_error(self, resp: httpx.Response) -> None:
        if resp.status_code == 400:  # Loki answers query errors in plain text
            raise BadInputError(
                f"Loki refused the query: {resp.text.strip()[:300]}",
                'check the LogQL: a selector {label="value"} then |= "text", |~ "re", | json ...',
            )

    # -- LogQL building ----------------------------------------------------------------------

    def logql(self, flt: LogFilter) -> str:
        parts: list[str] = []
        if flt.query:
            q = flt.query.strip()
            if not q.startswith("{"):
                raise BadInputError("a LogQL log query starts with a stream selector {...}",
                                    'e.g. {service_name="checkout"} |= "timeout"')
            parts.append(q)
            if flt.service:
                parts.append(f"| {self.service_label}={quote(flt.service)}")
        elif flt.service:
            parts.append(f"{{{self.service_label}={quote(flt.service)}}}")
        else:
            parts.append(f'{{{self.service_label}=~".+"}}')
        if flt.levels:
            words = list(flt.levels) + (["warning"] if "warn" in flt.levels else []) + (
                ["critical"] if "fatal" in flt.levels else [])
            alts = "|".join(escape(w) for w in words)
            parts.append(f"| {self.level_label}=~{quote(f'(?i)({alts})')}")
        if flt.contains:
            parts.append(f"|~ {quote('(?i)' + escape(flt.contains))}")
        if flt.regex:
            parts.append(f"|~ {quote(check_regex(flt.regex))}")
        return " ".join(parts)

    # -- wire ----------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        body = self.request("GET", path, params=params, on_error=self._on_error)
        if not isinstance(body, dict) or body.get("status") != "success":
            raise BadInputError(f"Loki answered an unexpected document: {str(body)[:200]}")
        return body.get("data")

    def _streams(self, data: Any) -> list[LogRecord]:
        out: list[LogRecord] = []
        if not isinstance(data, dict) or data.get("resultType") != "streams":
            return out
        for stream in data.get("result") or []:
            labels = dict(stream.get("stream") or {})
            for value in stream.get("values") or []:
                ts, line = int(value[0]), str(value[1])
                extra = dict(labels)
                if len(value) > 2 and isinstance(value[2], dict):
                    for group in value[2].values():
                        if isinstance(group, dict):
                            extra.update(group)
                level = extra.get(self.level_label) or extra.get("level")
                out.append(LogRecord(
                    ts, extra.get(self.service_label) or extra.get("service") or
                    extra.get("app") or extra.get("job"),
                    str(level).lower() if level else None, line,
                    extra.get("trace_id") or extra.get("traceID"), extra.get("span_id"),
                    extra.get("pod"), extra))
        return out

    def count(self, logql: str, rng: TimeRange) -> int:
        secs = max(1, rng.duration_ns // 10**9)
        data = self._get("/loki/api/v1/query", {
            "query": f"sum(count_over_time({logql} [{secs}s]))", "time": str(rng.end_ns)})
        result = (data or {}).get("result") or []
        if not result:
            return 0
        return int(float(result[0]["value"][1]))

    def _range(self, flt: LogFilter, rng: TimeRange, limit: int,
               direction: Direction) -> SearchResult:
        q = self.logql(flt)
        data = self._get("/loki/api/v1/query_range", {
            "query": q, "start": str(rng.start_ns), "end": str(rng.end_ns - 1),
            "limit": str(limit + 1), "direction": direction})
        recs = self._streams(data)
        recs.sort(key=lambda r: r.ts_ns, reverse=direction == "backward")
        warnings: list[str] = []
        try:
            total, exact = self.count(q, rng), True
        except BadInputError:
            total, exact = len(recs), False
            warnings.append("Loki could not count the matches; the total is a lower bound")
        total = max(total, len(recs[:limit]))
        if len(recs) > limit and total <= limit:
            total, exact = len(recs), False
        return SearchResult(recs[:limit], total, exact, f"loki query_range {q}", warnings)

    def search(self, flt: LogFilter, rng: TimeRange, *, limit: int,
               direction: Direction) -> SearchResult:
        return self._range(flt, rng, limit, direction)

    def scan(self, flt: LogFilter, rng: TimeRange, *, max_records: int) -> SearchResult:
        return self._range(flt, rng, min(max_records, self.cfg.limits.max_log_lines), "forward")

    def volume(self, flt: LogFilter, rng: TimeRange, *, step_ns: int) -> VolumeResult:
        step = max(1, step_ns // 10**9)
        q = (f"sum by ({self.service_label}, {self.level_label}) "
             f"(count_over_time({self.logql(flt)} [{step}s]))")
        data = self._get("/loki/api/v1/query_range", {
            "query": q, "start": str(rng.start_ns + step_ns), "end": str(rng.end_ns),
            "step": f"{step}s"})
        buckets = max(1, -(-rng.duration_ns // step_ns))
        series: dict[tuple[str, str], list[int]] = {}
        for item in (data or {}).get("result") or []:
            metric = item.get("metric") or {}
            key = (str(metric.get(self.service_label, "")),
                   str(metric.get(self.level_label, "none")).lower())
            arr = series.setdefault(key, [0] * buckets)
            for ts, val in item.get("values") or []:
                b = int((float(ts) * 10**9 - rng.start_ns) // step_ns) - 1
                if 0 <= b < buckets:
                    arr[b] += int(float(val))
        return VolumeResult(rng.start_ns, step_ns, buckets, series, f"loki query_range {q}")

    def labels(self) -> list[str]:
        return [str(x) for x in self._get("/loki/api/v1/labels", {}) or []]

    def label_values(self, name: str) -> list[str]:
        return [str(x) for x in self._get(f"/loki/api/v1/label/{name}/values", {}) or []]

    def series(self, selector: str, rng: TimeRange) -> list[dict[str, str]]:
        data = self._get("/loki/api/v1/series", {"match[]": selector,
                                                 "start": str(rng.start_ns),
                                                 "end": str(rng.end_ns)})
        return [dict(x) for x in data or []]

    def services(self) -> list[str]:
        return self.label_values(self.service_label)

    def data_range(self) -> TimeRange | None:
        return None
