"""The metrics MCP server: PromQL, discovery, golden signals, comparisons, anomalies, alerts.

An investigation usually goes: ``find_anomalies`` (what moved, where, since
when) or ``get_service_golden_signals`` for the service in the alert, then
``query_range`` to look closer, ``compare_time_periods`` to check "is this
normal for this time", and ``list_metrics`` / ``label_values`` /
``metric_metadata`` whenever a name is uncertain. Every tool returns compact
text for the model (summaries, change points, shapes) and every point in
``structured_content`` for panels and scripts.
"""

from __future__ import annotations

import math
import re
import threading
import time as _time
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from obsbench_servers.common.backend import LocalBackend, PrometheusBackend
from obsbench_servers.common.budget import DEFAULT_TOOL_TOKENS, TextBudget
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError, ConfigError, NotFoundError
from obsbench_servers.common.guards import (
    DEFAULT_POINT_BUDGET,
    cap_series,
    check_points,
    check_range,
    check_series,
    choose_step,
)
from obsbench_servers.common.result import Coverage, ToolOutput
from obsbench_servers.common.timeutil import (
    NS_PER_S,
    TimeParseError,
    TimeRange,
    format_duration_ns,
    parse_duration_ns,
    parse_time_ns,
)
from obsbench_servers.common.toolkit import register_tool
from obsbench_servers.metrics import anomalies as an
from obsbench_servers.metrics import golden as gs
from obsbench_servers.metrics.backend import (
    MetricsBackend,
    QueryData,
    SeriesData,
    after_warmup,
)
from obsbench_servers.metrics.compare import compare_series
from obsbench_servers.metrics.promql.ast import VectorSel, walk
from obsbench_servers.metrics.promql.parse import parse
from obsbench_servers.metrics.summaries import hhmm, sparkline, summarize
from obsbench_servers.metrics.units import fmt

INSTRUCTIONS = (
    "Metrics (Prometheus / PromQL) of the services under investigation. Start broad: "
    "find_anomalies ranks what deviates from its baseline across all services, with onset times "
    "(the earliest onset is usually closest to the cause); get_service_golden_signals gives one "
    "service's latency, traffic, errors and saturation whatever its metric naming. Then "
    "query_range to look closer, compare_time_periods to ask 'is this normal', "
    "list_firing_alerts for what Prometheus is alerting on. Never guess metric names: "
    "list_metrics, label_values and metric_metadata say what exists. Times accept RFC 3339, "
    "epoch seconds or relative (now-2h); 'now' is the end of the data for a bundle."
)

MAX_EXPR = 20_000
MAX_SERIES_SELECTED = 20_000  # one selector; the embedded engine's default is the same
LOOKBACK_NS = 5 * 60 * NS_PER_S
SHAPE_WIDTH = 24
NAMES_CACHE_S = 60.0


def make_backend(ctx: ServerContext) -> MetricsBackend:
    """The adapter for the context's metrics backend."""
    be = ctx.backend
    if isinstance(be, LocalBackend):
        from obsbench_servers.metrics.backends.local import LocalMetrics  # noqa: PLC0415

        return LocalMetrics(ctx.store(be), be, ctx.options)
    if isinstance(be, PrometheusBackend):
        from obsbench_servers.metrics.backends.prometheus import PrometheusHTTP  # noqa: PLC0415

        return PrometheusHTTP(be, transport=ctx.options.get("http_transport"))
    raise ConfigError(f"{be.type!r} is not a metrics backend",
                      "set [profiles.NAME.metrics] type to prometheus, thanos, mimir, "
                      "victoriametrics or local")


def _common_labels(series: list[dict[str, str]]) -> dict[str, str]:
    if len(series) < 2:
        return {}
    first = series[0]
    return {k: v for k, v in first.items()
            if all(s.get(k) == v for s in series[1:])}


def _labels_text(labels: dict[str, str], skip: dict[str, str] | None = None) -> str:
    skip = skip or {}
    name = labels.get("__name__", "") if "__name__" not in skip else ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items()
                     if k != "__name__" and k not in skip)
    return f"{name}{{{inner}}}"


class MetricsTools:
    """The tools' shared state: the backend (made on first use) and cached names."""

    def __init__(self, ctx: ServerContext, backend: MetricsBackend | None = None) -> None:
        self.ctx = ctx
        self._backend = backend
        self._lock = threading.Lock()
        self._names: tuple[float, list[str]] | None = None
        self.point_budget = int(ctx.options.get("point_budget", DEFAULT_POINT_BUDGET))
        self.max_tokens = int(ctx.options.get("max_tool_tokens", DEFAULT_TOOL_TOKENS))

    @property
    def backend(self) -> MetricsBackend:
        with self._lock:
            if self._backend is None:
                self._backend = make_backend(self.ctx)
                self.ctx.on_close(self._backend.close)
            return self._backend

    @property
    def limits(self) -> Any:
        return self.ctx.backend.limits

    def overrides(self) -> dict[str, str]:
        be = self.ctx.backend
        out = dict(be.golden_signals) if isinstance(be, PrometheusBackend) else {}
        extra = self.ctx.options.get("golden_signal_overrides") or {}
        if not isinstance(extra, dict):
            raise ConfigError("golden_signal_overrides must map a signal name to a PromQL "
                              "template with {service}")
        out.update({str(k): str(v) for k, v in extra.items()})
        return out

    # -- argument checks -------------------------------------------------------------------

    def window(self, start: str | None, end: str | None, default_since: str = "1h") -> TimeRange:
        try:
            tr = self.ctx.time_range(start, end, default_since=default_since)
        except TimeParseError as exc:
            raise BadInputError(str(exc), "write times as RFC 3339 (2026-03-10T14:05:00Z), "
                                "epoch seconds, or relative (now-2h); end defaults to now") \
                from None
        if tr.duration_ns <= 0:
            raise BadInputError("the time range is empty (start equals end)",
                                "give start before end, e.g. start=now-1h")
        check_range(tr, self.limits, what="time range")
        return tr

    def instant(self, time: str | None) -> int:
        try:
            return parse_time_ns(time, self.ctx.now_ns()) if time else self.ctx.now_ns()
        except TimeParseError as exc:
            raise BadInputError(str(exc), "write the time as RFC 3339, epoch seconds or "
                                "now-30m") from None

    @staticmethod
    def duration(text: str, what: str) -> int:
        try:
            ns = parse_duration_ns(text)
        except TimeParseError as exc:
            raise BadInputError(f"{what}: {exc}", "write a duration such as 30s, 5m, 1h or 7d") \
                from None
        if ns <= 0:
            raise BadInputError(f"{what} must be positive (got {text!r})")
        return ns

    def expression(self, expr: str) -> str:
        expr = (expr or "").strip()
        if not expr:
            raise BadInputError("expr is empty", "write a PromQL expression, e.g. "
                                "sum by (service) (rate(http_requests_total[5m]))")
        if len(expr) > MAX_EXPR:
            raise BadInputError(f"expr is {len(expr):,} characters (limit {MAX_EXPR:,})",
                                "split the query into smaller ones")
        node = parse(expr)  # syntax errors with a position, before the backend is asked
        info = walk(node)
        reach = info.max_range_ms + info.max_offset_ms
        if reach * 1_000_000 > self.limits.max_range_ns:
            raise BadInputError(
                f"the query reaches {format_duration_ns(reach * 1_000_000)} back (range "
                f"selectors, subqueries and offsets), more than limits.max_range "
                f"({self.limits.max_range})",
                "use a shorter [range] or offset, e.g. [5m] for rates or [1h] for *_over_time",
            )
        return expr

    def guard_selection(self, expr: str, at_ns: int) -> None:
        """Refuse a query with a selector matching more series than one query may read,
        before the query is sent: the backend counts them first when that is cheap (a
        remote Prometheus answers one ``count()``; the embedded engine checks by itself)."""
        sels = walk(parse(expr)).selectors
        texts = sorted({s.selector_text() for s in sels if len(s.matcher_sets) == 1})
        if not texts:
            return
        count = self.backend.count_series(texts, at_ns - LOOKBACK_NS, at_ns)
        if count is None:
            return
        limit = int(self.ctx.options.get("max_series_selected", MAX_SERIES_SELECTED))
        what = (f"the selector {texts[0]}" if len(texts) == 1
                else f"a selector of the query ({', '.join(texts)})")
        check_series(count, self.limits, what=what, limit=limit,
                     setting="the series one selector may read")

    def metric_names(self) -> list[str]:
        now = _time.monotonic()
        cached = self._names
        if cached is None or now - cached[0] > NAMES_CACHE_S:
            end = self.ctx.now_ns()
            start = end - min(self.limits.max_range_ns, 31 * 86400 * NS_PER_S)
            cached = self._names = (now, self.backend.label_values("__name__", None, start, end))
        return cached[1]

    def unknown_metrics(self, expr: str) -> list[str]:
        names = set(self.metric_names())
        out = []
        for sel in walk(parse(expr)).selectors:
            if sel.name and sel.name not in names:
                out.append(sel.name)
        return out

    def check_empty(self, expr: str, empty: bool) -> list[str]:
        """Unknown metric names: an error when nothing came back, a warning otherwise."""
        unknown = self.unknown_metrics(expr)
        if not unknown:
            return []
        names = self.metric_names()
        hints = []
        for name in unknown:
            close = gs.close_names(name, names)
            hints.append(f"{name}: did you mean {', '.join(close)}?" if close
                         else f"{name}: no similar metric")
        if empty:
            raise NotFoundError(
                f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(no such series in {self.backend.description})",
                "; ".join(hints) + " — list_metrics(match=...) shows what exists",
            )
        return [f"unknown metric {h}" for h in hints]

    # -- tools -----------------------------------------------------------------------------

    def query(
        self,
        expr: Annotated[str, Field(description="PromQL expression, e.g. "
                                   "sum by (service) (rate(http_requests_total[5m]))")],
        time: Annotated[str | None, Field(description="evaluation time: RFC 3339, epoch "
                                          "seconds or relative (now-30m); default now")] = None,
    ) -> ToolOutput:
        """Evaluate a PromQL expression at one instant (the current value of something).

        Use for "what is X right now / at time T": current error ratios, replica counts,
        top-k offenders. For how something changed over time use query_range. The text lists
        the series sorted by value; structured_content.data.prometheus is the Prometheus API
        data object.
        """
        expr = self.expression(expr)
        t = self.instant(time)
        self.guard_selection(expr, t)
        qd = self.backend.query(expr, t)
        result = qd.data.get("result", [])
        warnings = list(qd.warnings)
        data_obj, notes = qd.data, []
        if qd.result_type in ("vector", "matrix"):
            warnings += self.check_empty(expr, not result)
            keep, note = cap_series(len(result), self.limits)
            if note:
                warnings.append(note)
                notes.append(note)
                data_obj = {"resultType": qd.result_type, "result": result[:keep]}
                qd = QueryData(data_obj, qd.query, qd.warnings, qd.samples_read)
        budget = TextBudget(max_tokens=self.max_tokens, unit="series")
        series = qd.series()
        rt = qd.result_type
        shown_total = len(result) if rt in ("vector", "matrix") else 1
        if rt == "scalar":
            head = f"scalar {fmt(float(series[0].values[0]))} at {_ts(t)}"
        elif rt == "string":
            head = f"string {result[1]!r} at {_ts(t)}"
        else:
            common = _common_labels([s.labels for s in series])
            head = f"{shown_total} series at {_ts(t)}" + (
                f"; all share {_labels_text(common)}" if common else "")
            if rt == "matrix":
                for s in series:
                    sm = summarize(s.ts, s.values)
                    budget.add(f"{_labels_text(s.labels, common)}: {len(s.ts)} samples, last "
                               f"{fmt(sm.last)}, min {fmt(sm.min)}, max {fmt(sm.max)}")
            else:
                order = sorted(series, key=lambda s: -_sortable(float(s.values[0])))
                for s in order:
                    budget.add(f"{fmt(float(s.values[0]))}  {_labels_text(s.labels, common)}")
        return ToolOutput(
            kind="series" if rt in ("vector", "matrix") else "table",
            summary=head,
            text=budget.render(),
            data={"prometheus": data_obj, "time": _ts(t)},
            query=qd.query,
            time_range=TimeRange(t, t),
            coverage=Coverage(shown=len(budget.lines) if rt in ("vector", "matrix") else 1,
                              total=shown_total, unit="series", notes=notes),
            backend=self.backend.description,
            warnings=warnings,
        )

    def query_range(
        self,
        expr: Annotated[str, Field(description="PromQL expression returning an instant vector "
                                   "or scalar, e.g. histogram_quantile(0.95, sum by (le) "
                                   "(rate(http_request_duration_seconds_bucket[5m])))")],
        start: Annotated[str | None, Field(description="range start (RFC 3339, epoch, now-2h); "
                                           "default end - 1h")] = None,
        end: Annotated[str | None, Field(description="range end; default now")] = None,
        step: Annotated[str | None, Field(description="resolution such as 30s or 5m; omit to "
                                          "have one chosen within the point budget")] = None,
    ) -> ToolOutput:
        """Evaluate PromQL over a time range: how values changed, and when.

        Use to see the shape of a metric around an incident. Each series comes back as
        min/max/mean/p95/last, a trend, the change points (time, level before -> after) and a
        downsampled shape; every point is in structured_content (data.prometheus is the
        Prometheus API data object). The step is chosen so no series exceeds the point budget
        unless you give one; ranges and steps beyond the backend's limits are refused with a
        narrower suggestion.
        """
        expr = self.expression(expr)
        tr = self.window(start, end)
        if step:
            step_s = self.duration(step, "step") / NS_PER_S
            points = check_points(tr, step_s, self.limits)
        else:
            choice = choose_step(tr.duration_ns, self.limits, self.point_budget)
            step_s, points = float(choice.step_s), choice.points
        self.guard_selection(expr, tr.end_ns)
        qd = self.backend.query_range(expr, tr.start_ns, tr.end_ns, step_s)
        series = [s for s in qd.series() if len(s.ts)]
        warnings = list(qd.warnings) + self.check_empty(expr, not series)
        keep, note = cap_series(len(series), self.limits)
        notes = [f"{points:,} points/series at step {step_s:g}s (text: summary and "
                 f"{SHAPE_WIDTH}-point shape; structured content: every point)"]
        data_obj = qd.data
        if note:
            notes.append(note)
            warnings.append(note)
            data_obj = {"resultType": qd.data.get("resultType"),
                        "result": qd.data.get("result", [])[:keep]}
            series = series[:keep]
        info = walk(parse(expr))
        warm = (info.max_range_ms + info.max_offset_ms) * 1_000_000
        trimmed = []
        for s in series:
            cut = after_warmup([s], self.backend.data_start_ns, warm) if warm else [s]
            trimmed.append(cut[0] if cut and len(cut[0].ts) >= 3 else s)
        if any(len(a.ts) != len(b.ts) for a, b in zip(trimmed, series, strict=True)):
            notes.append(f"summaries skip the first {format_duration_ns(warm)} after the data "
                         "begins (range windows still filling)")
        summaries = [summarize(s.ts, s.values) for s in trimmed]
        order = sorted(range(len(series)), key=lambda i: (
            -max((c.score for c in summaries[i].change_points), default=0.0),
            -_sortable(summaries[i].mean)))
        common = _common_labels([s.labels for s in series])
        budget = TextBudget(max_tokens=self.max_tokens, unit="series")
        for i in order:
            budget.add(render_series(trimmed[i], summaries[i], common), max_chars=900)
        head = (f"{len(series)} series, step {step_s:g}s"
                + (f"; all share {_labels_text(common)}" if common else ""))
        return ToolOutput(
            kind="series",
            summary=head,
            text=budget.render(),
            data={"prometheus": data_obj, "step_s": step_s,
                  "summaries": [{"labels": s.labels, **sm.to_dict()}
                                for s, sm in zip(series, summaries, strict=True)]},
            query=qd.query,
            time_range=tr,
            coverage=Coverage(shown=len(budget.lines), total=len(series), unit="series",
                              notes=notes),
            backend=self.backend.description,
            warnings=warnings,
        )

    def list_metrics(
        self,
        match: Annotated[str | None, Field(description="substring or regex the metric name "
                                           "must contain (case-insensitive), e.g. 'http' or "
                                           "'^pg_'")] = None,
        limit: Annotated[int, Field(description="most names to return (1-1000)")] = 100,
    ) -> ToolOutput:
        """List metric names that exist (with type and help), so queries use real names.

        Use before writing PromQL for an unfamiliar service, or when a query came back empty.
        """
        if not 1 <= limit <= 1000:
            raise BadInputError(f"limit must be between 1 and 1000 (got {limit})")
        names = self.metric_names()
        if match:
            try:
                rx = re.compile(match, re.IGNORECASE)
            except re.error as exc:
                raise BadInputError(f"match is not a valid regex: {exc}",
                                    "use a plain substring such as 'http_server'") from None
            names = [n for n in names if rx.search(n)]
        try:
            meta = self.backend.metadata()
        except Exception:
            meta = {}
        from obsbench_servers.metrics.backends.local import family_of  # noqa: PLC0415

        budget = TextBudget(max_tokens=self.max_tokens, unit="metrics")
        rows = []
        for n in names[:limit]:
            fam = family_of(n, meta)
            info = meta[fam][0] if fam else {}
            rows.append({"name": n, "type": info.get("type", ""), "help": info.get("help", ""),
                         "unit": info.get("unit", "")})
            budget.add(f"{n} ({info.get('type') or 'untyped'})"
                       + (f": {info['help']}" if info.get("help") else ""), max_chars=200)
        if len(names) > limit:
            budget.skip(0)
        head = f"{len(names)} metric names" + (f" matching {match!r}" if match else "")
        if not names and match:
            close = gs.close_names(match, self.metric_names())
            head += "; none match" + (f" (did you mean {', '.join(close)}?)" if close else "")
        return ToolOutput(
            kind="table", summary=head, text=budget.render(),
            data={"metrics": rows, "total": len(names)},
            query=f"label values of __name__{' matching ' + match if match else ''}",
            coverage=Coverage(shown=len(budget.lines), total=len(names), unit="metrics",
                              notes=[f"limit {limit}"] if len(names) > limit else []),
            backend=self.backend.description,
        )

    def label_values(
        self,
        label: Annotated[str, Field(description="label name, e.g. service, pod, le, "
                                    "http_route; __name__ lists metric names")],
        match: Annotated[str | None, Field(description="optional series selector restricting "
                                           "the series, e.g. http_requests_total{service="
                                           "\"checkout\"}")] = None,
        start: Annotated[str | None, Field(description="range start; default end - 1h")] = None,
        end: Annotated[str | None, Field(description="range end; default now")] = None,
        limit: Annotated[int, Field(description="most values to return (1-5000)")] = 200,
    ) -> ToolOutput:
        """List the values a label takes (services, routes, status codes, pods).

        Use to find the exact service or route names before filtering on them.
        """
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label or ""):
            raise BadInputError(f"{label!r} is not a label name",
                                "label names are letters, digits and _, e.g. service")
        if not 1 <= limit <= 5000:
            raise BadInputError(f"limit must be between 1 and 5000 (got {limit})")
        tr = self.window(start, end)
        matches = None
        if match:
            node = parse(match)
            if not isinstance(node, VectorSel):
                raise BadInputError(f"match must be a series selector, got {match!r}",
                                    'write e.g. http_requests_total{service="checkout"}')
            matches = [match]
        values = self.backend.label_values(label, matches, tr.start_ns, tr.end_ns)
        if not values:
            names = self.backend.label_names(matches, tr.start_ns, tr.end_ns)
            if label not in names:
                close = gs.close_names(label, names)
                raise NotFoundError(
                    f"no series has a label {label!r}" + (f" among {match}" if match else "")
                    + " in this range",
                    (f"did you mean {', '.join(close)}? " if close else "")
                    + f"labels here: {', '.join(names[:40])}")
        budget = TextBudget(max_tokens=self.max_tokens, unit="values")
        for v in values[:limit]:
            budget.add(v, max_chars=200)
        return ToolOutput(
            kind="table", summary=f"{len(values)} values of {label}"
            + (f" among {match}" if match else ""),
            text=budget.render(), data={"label": label, "values": values[:limit],
                                        "total": len(values)},
            query=f"label values of {label}" + (f" for {match}" if match else ""),
            time_range=tr,
            coverage=Coverage(shown=len(budget.lines), total=len(values), unit="values"),
            backend=self.backend.description,
        )

    def metric_metadata(
        self,
        metric: Annotated[str, Field(description="metric name, e.g. http_requests_total")],
    ) -> ToolOutput:
        """Type (counter, gauge, histogram, summary), help text and unit of a metric, and its
        labels.

        Use to know whether to rate() a metric (counters) or read it directly (gauges), and
        which labels it can be filtered and grouped by.
        """
        metric = (metric or "").strip()
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", metric):
            raise BadInputError(f"{metric!r} is not a metric name",
                                "metric names are letters, digits, _ and :")
        names = self.metric_names()
        if metric not in names:
            family = [n for n in names if n.startswith(metric + "_")]
            if not family:
                close = gs.close_names(metric, names)
                raise NotFoundError(f"unknown metric {metric!r}",
                                    (f"did you mean {', '.join(close)}? " if close else "")
                                    + "list_metrics(match=...) shows what exists")
        meta = self.backend.metadata(metric)
        end = self.ctx.now_ns()
        start = end - min(self.limits.max_range_ns, 86400 * NS_PER_S)
        series_names = [n for n in names if n == metric or n.startswith(metric + "_")][:12]
        labels: dict[str, set[str]] = {}
        count = 0
        for n in series_names:
            for lb in self.backend.series([n], start, end)[:5000]:
                count += 1
                for k, v in lb.items():
                    if k != "__name__":
                        labels.setdefault(k, set()).add(v)
        lines: list[str] = []
        for fam_name, entries in meta.items():
            for e in entries[:3]:
                lines.append(f"{fam_name}: type {e.get('type') or 'unknown'}"
                             + (f", unit {e['unit']}" if e.get("unit") else "")
                             + (f" — {e['help']}" if e.get("help") else ""))
        if not meta:
            lines.append("no metadata (type/help) is recorded for this metric")
        lines.append(f"{count} series" + (f" across {', '.join(series_names)}"
                                          if len(series_names) > 1 else ""))
        budget = TextBudget(max_tokens=self.max_tokens, unit="labels")
        for line in lines:
            budget.add(line)
        for k in sorted(labels):
            vals = sorted(labels[k])
            shown = ", ".join(vals[:8]) + (f", … ({len(vals)} values)" if len(vals) > 8 else "")
            budget.add(f"label {k}: {shown}", max_chars=300)
        return ToolOutput(
            kind="table", summary=f"metadata of {metric}", text=budget.render(),
            data={"metric": metric, "metadata": meta, "series": count,
                  "labels": {k: sorted(v)[:200] for k, v in labels.items()}},
            query=f"metadata and series of {metric}",
            coverage=Coverage(shown=len(budget.lines), total=len(lines) + len(labels),
                              unit="lines"),
            backend=self.backend.description,
        )

    def get_service_golden_signals(
        self,
        service: Annotated[str, Field(description="service name as it appears in the metrics "
                                      "(e.g. checkout, user-api, postgres)")],
        window: Annotated[str, Field(description="how far back from end to analyse; the window "
                                     "before it is shown as 'before'")] = "1h",
        end: Annotated[str | None, Field(description="window end; default now")] = None,
    ) -> ToolOutput:
        """Latency (p50/p95/p99), traffic, error ratio and saturation of one service.

        Use first for the service named in an alert or a complaint. Detects the service's
        metric naming (OpenTelemetry, Prometheus client, Micrometer, Istio/Envoy, classic
        summaries, cAdvisor/kube-state-metrics, postgres/redis exporters, a caller's client
        metrics for external dependencies) and says which it used. Each signal shows now vs
        the window before and when it changed.
        """
        service = (service or "").strip()
        if not service:
            raise BadInputError("service is empty", "name a service, e.g. checkout")
        span = self.duration(window, "window")
        end_ns = self.instant(end)
        tr = TimeRange(end_ns - span, end_ns)
        check_range(TimeRange(end_ns - 2 * span, end_ns), self.limits, what="window (x2)")
        step = choose_step(2 * span, self.limits, min(self.point_budget, 240), min_step_s=15).step_s
        try:
            known = list(gs.discover_services(self.backend, tr.start_ns - span, tr.end_ns))
        except Exception:
            known = []
        report = gs.golden_signals(self.backend, service, tr.start_ns, tr.end_ns,
                                   step_s=float(step), overrides=self.overrides(),
                                   known_services=known)
        with_data = [r for r in report.results if r.series]
        errors = [r for r in report.results if r.error]
        ranked = sorted(with_data, key=lambda r: -r.change)
        budget = TextBudget(max_tokens=self.max_tokens, unit="signals")
        convs = report.conventions
        notes = [d.note for d in report.detections if d.note and d.convention in convs]
        budget.add(f"conventions: {', '.join(convs) or 'none'}"
                   + (f" ({'; '.join(notes)})" if notes else "")
                   + (f"; profile overrides: {', '.join(report.overrides_used)}"
                      if report.overrides_used else ""), max_chars=800)
        moved = [r for r in ranked if r.change >= 0.5]
        if moved:
            budget.add("biggest changes: " + "; ".join(
                f"{r.signal.title} {gs.fmt_unit(r.before, r.signal.unit)}→"
                f"{gs.fmt_unit(r.now, r.signal.unit)}" for r in moved[:5]), max_chars=900)
        order = {"latency": 0, "traffic": 1, "errors": 2, "saturation": 3, "availability": 4,
                 "network": 5, "dependency": 6}
        for r in sorted(with_data, key=lambda r: (order.get(r.signal.group, 9), r.signal.key)):
            for line in gs.render_signal(r, SHAPE_WIDTH):
                budget.add(line, max_chars=700)
        absent = [r.signal.key for r in report.results if not r.series and not r.error]
        data = {
            "service": service, "conventions": convs,
            "detections": [{"convention": d.convention, "selector": d.selector, "note": d.note}
                           for d in report.detections],
            "overrides_used": report.overrides_used, "step_s": step,
            "window": tr.to_dict(), "before": TimeRange(tr.start_ns - span, tr.start_ns).to_dict(),
            "signals": [r.to_dict() for r in report.results if r.series or r.error],
            "absent": absent,
        }
        return ToolOutput(
            kind="series",
            summary=(f"golden signals of {service}, {_ts(tr.start_ns)} .. {_ts(tr.end_ns)} "
                     f"(vs the {window} before) via {', '.join(convs) or 'no convention'}"),
            text=budget.render(),
            data=data,
            query=_queries_line([r.signal.promql for r in with_data]),
            time_range=tr,
            coverage=Coverage(shown=len(budget.lines), total=len(with_data) + 1, unit="lines",
                              notes=[f"{len(absent)} signals have no data here"] if absent else []),
            backend=self.backend.description,
            warnings=[f"{r.signal.key}: {r.error}" for r in errors],
        )

    def compare_time_periods(
        self,
        expr: Annotated[str | None, Field(description="PromQL to compare (or give service)")]
        = None,
        service: Annotated[str | None, Field(description="compare this service's golden "
                                             "signals instead of an expression")] = None,
        start: Annotated[str | None, Field(description="window start; default end - 1h")] = None,
        end: Annotated[str | None, Field(description="window end; default now")] = None,
        baseline: Annotated[str, Field(description="'previous' (the window just before), or "
                                       "how far back the baseline is, e.g. 1d or 7d (same "
                                       "time yesterday / last week)")] = "previous",
    ) -> ToolOutput:
        """Compare a window with a baseline window: per-series deltas and whether each is
        outside normal variation.

        Use to tell "this is unusual" from "this is what Tuesday afternoons look like":
        baseline=7d compares with the same time last week, baseline=previous with the period
        just before.
        """
        if bool(expr) == bool(service):
            raise BadInputError("give exactly one of expr or service",
                                "expr='sum(rate(http_requests_total[5m]))' or service='checkout'")
        tr = self.window(start, end)
        shift = tr.duration_ns if baseline == "previous" else self.duration(baseline, "baseline")
        base = TimeRange(tr.start_ns - shift, tr.end_ns - shift)
        check_range(TimeRange(base.start_ns, tr.end_ns), self.limits, what="window and baseline")
        step = float(choose_step(tr.duration_ns, self.limits, min(self.point_budget, 240),
                                 min_step_s=15).step_s)
        if expr:
            items: list[tuple[str, str, str, str]] = [("expr", expr, self.expression(expr), "")]
            self.guard_selection(items[0][2], tr.end_ns)
        else:
            assert service is not None
            dets = gs.detect(self.backend, service, base.start_ns, tr.end_ns)
            sigs = [(d.convention, s) for d in dets for s in d.signals]
            if len(dets) <= 1:
                raise NotFoundError(f"no metrics found for service {service!r}",
                                    "label_values('service') lists the services")
            items = [(c, s.title, s.promql, s.unit) for c, s in sigs]
        rows = []
        budget = TextBudget(max_tokens=self.max_tokens, unit="series")
        queries = []
        for conv, title, promql, unit in items:
            try:
                now_q = self.backend.query_range(promql, tr.start_ns, tr.end_ns, step)
                base_q = self.backend.query_range(promql, base.start_ns, base.end_ns, step)
            except BadInputError:
                if expr:
                    raise
                continue
            queries.append(promql)
            deltas = compare_series(now_q.series(), base_q.series())
            if expr and not deltas:
                self.check_empty(promql, True)
            for d in deltas:
                rows.append({"signal": title, "convention": conv, "promql": promql,
                             **d.to_dict()})
                lab = _labels_text(d.labels) if d.labels else ""
                mark = "OUTSIDE normal variation" if d.outside else "within normal variation"
                ratio = f" (x{d.ratio:.3g})" if math.isfinite(d.ratio) else ""
                z = f", z={max(-999.0, min(999.0, d.z)):+.1f}" if math.isfinite(d.z) else ""
                u = unit or ""
                budget.add(f"{title} {lab}: {gs.fmt_unit(d.window_median, u)} vs "
                           f"{gs.fmt_unit(d.baseline_median, u)}{ratio}{z} — {mark}"
                           + ("" if d.present == "both" else f" [{d.present}]"), max_chars=500)
        rows.sort(key=lambda r: not r["outside_normal_variation"])
        outside = sum(1 for r in rows if r["outside_normal_variation"])
        return ToolOutput(
            kind="table",
            summary=(f"{outside} of {len(rows)} series outside normal variation: "
                     f"{_ts(tr.start_ns)}..{_ts(tr.end_ns)} vs {_ts(base.start_ns)}.."
                     f"{_ts(base.end_ns)}"),
            text=budget.render(),
            data={"window": tr.to_dict(), "baseline": base.to_dict(), "step_s": step,
                  "rows": rows},
            query=_queries_line(queries),
            time_range=tr,
            coverage=Coverage(shown=len(budget.lines), total=len(rows), unit="series"),
            backend=self.backend.description,
        )

    def find_anomalies(
        self,
        window: Annotated[str, Field(description="recent period to examine, e.g. 1h")] = "1h",
        end: Annotated[str | None, Field(description="window end; default now")] = None,
        baseline: Annotated[str, Field(description="length of the normal period just before "
                                       "the window, e.g. 2h")] = "2h",
        service: Annotated[str | None, Field(description="only this service (and what it runs "
                                             "on or calls)")] = None,
        limit: Annotated[int, Field(description="most anomalies to list (1-100)")] = 15,
    ) -> ToolOutput:
        """Rank the series that deviate most from their baseline, across all services, with
        onset times.

        Use at the start of an investigation ("metrics with unusual values"): latency, errors,
        traffic, saturation, restarts, pools, databases, caches, probes and nodes are scored
        with robust z-scores against the period before the window. The onset is when the
        deviation began; the earliest onset among strong anomalies usually points at the cause.
        Also reports CPU use against requests and limits (over- and under-provisioning).
        """
        if not 1 <= limit <= 100:
            raise BadInputError(f"limit must be between 1 and 100 (got {limit})")
        span = self.duration(window, "window")
        base_span = self.duration(baseline, "baseline")
        end_ns = self.instant(end)
        tr = TimeRange(end_ns - span, end_ns)
        full = TimeRange(tr.start_ns - base_span, end_ns)
        check_range(full, self.limits, what="window and baseline")
        step = float(choose_step(full.duration_ns, self.limits, min(self.point_budget, 300),
                                 min_step_s=15).step_s)
        result = an.scan(self.backend, full.start_ns, tr.start_ns, end_ns, step_s=step,
                         service=service)
        lines, top = an.render(result, limit)
        budget = TextBudget(max_tokens=self.max_tokens, unit="lines")
        strong = [a for a in result.anomalies if a.counts_for_onset]
        by_service: dict[str, tuple[float, float, list[str]]] = {}
        for a in strong:
            onset, score, sigs = by_service.get(a.service, (math.inf, 0.0, []))
            sigs.append(a.signal.key)
            by_service[a.service] = (min(onset, a.onset or math.inf), max(score, a.score), sigs)
        if by_service:
            first = sorted(by_service.items(), key=lambda kv: kv[1][0])
            budget.add("earliest onsets: " + "; ".join(
                f"{svc} {hhmm(v[0])} ({', '.join(dict.fromkeys(v[2]))[:80]})"
                for svc, v in first[:8]), max_chars=900)
        for line in lines:
            budget.add(line, max_chars=500)
        if not lines:
            budget.add("no series deviates strongly from its baseline in this window")
        fits = result.fits
        for f in fits[:6]:
            ratio = f.usage_p95 / f.request if f.request else math.nan
            near_limit = math.isfinite(f.limit) and f.usage_p95 >= 0.9 * f.limit
            verdict = ("over-provisioned" if ratio < 0.5 else
                       "near its CPU limit" if near_limit else "fits")
            if verdict == "fits":
                continue
            budget.add(f"resource fit: {f.service} uses {f.usage_p95:.3g} cores at p95 of "
                       f"{f.request:.3g} requested ({ratio * 100:.0f}%)"
                       + (f", limit {f.limit:.3g}" if math.isfinite(f.limit) else "")
                       + f" — {verdict}", max_chars=300)
        data = {
            "window": tr.to_dict(), "baseline": TimeRange(full.start_ns, tr.start_ns).to_dict(),
            "step_s": step, "service": service,
            "anomalies": [a.to_dict() for a in result.anomalies[:max(limit, 50)]],
            "services_by_onset": [
                {"service": s, "onset": _ts(int(v[0] * NS_PER_S)), "score": round(v[1], 2),
                 "signals": list(dict.fromkeys(v[2]))}
                for s, v in sorted(by_service.items(), key=lambda kv: kv[1][0])],
            "resource_fit": [f.to_dict() for f in fits],
            "queries": result.queries, "failed": result.failed,
        }
        scope = f" for {service}" if service else " across services"
        return ToolOutput(
            kind="series",
            summary=(f"{len(top)} anomalies{scope}, {_ts(tr.start_ns)} .. {_ts(tr.end_ns)} vs "
                     f"the {baseline} before"),
            text=budget.render(),
            data=data,
            query=f"{result.queries} batch signal queries (see data.anomalies[].promql)",
            time_range=tr,
            coverage=Coverage(shown=len(top), total=len([a for a in result.anomalies
                                                         if a.score >= 3.0]),
                              unit="anomalies",
                              notes=[f"{len(result.anomalies)} series scored"]
                              + ([f"{len(result.failed)} signal queries failed"]
                                 if result.failed else [])),
            backend=self.backend.description,
            warnings=result.failed[:5],
        )

    def list_firing_alerts(
        self,
        state: Annotated[str | None, Field(description="firing or pending; default both")]
        = None,
        match: Annotated[str | None, Field(description="substring of the alert name or "
                                           "labels, e.g. checkout")] = None,
    ) -> ToolOutput:
        """Alerts Prometheus is evaluating as pending or firing, with active-since times and
        annotations.

        Use to see what the alerting rules already say; for routing, silences and
        acknowledgements use the alerts server.
        """
        if state not in (None, "firing", "pending"):
            raise BadInputError(f"state must be firing or pending (got {state!r})")
        now = self.ctx.now_ns()
        alerts = self.backend.alerts(now)
        if state:
            alerts = [a for a in alerts if a.get("state") == state]
        if match:
            m = match.lower()
            alerts = [a for a in alerts if m in str(a.get("labels", {})).lower()]
        alerts.sort(key=lambda a: str(a.get("activeAt", "")))
        budget = TextBudget(max_tokens=self.max_tokens, unit="alerts")
        for a in alerts:
            lb = dict(a.get("labels", {}))
            name = lb.pop("alertname", "?")
            ann = a.get("annotations", {})
            summary = ann.get("summary") or ann.get("description") or ""
            budget.add(f"{a.get('state', '?')} {name} since {a.get('activeAt', '?')} "
                       f"{_labels_text(lb)}" + (f" — {summary}" if summary else ""),
                       max_chars=400)
        return ToolOutput(
            kind="alerts",
            summary=f"{len(alerts)} alerts pending or firing at {_ts(now)}",
            text=budget.render(), data={"alerts": alerts},
            query="GET /api/v1/alerts" if not isinstance(self.ctx.backend, LocalBackend)
            else "alerts of the bundle active at 'now'",
            time_range=TimeRange(now, now),
            coverage=Coverage(shown=len(budget.lines), total=len(alerts), unit="alerts"),
            backend=self.backend.description,
        )


def render_series(s: SeriesData, sm: Any, common: dict[str, str]) -> str:
    """One line per series: labels, statistics, trend, change points, shape."""
    text = (f"{_labels_text(s.labels, common)}: min {fmt(sm.min)} max {fmt(sm.max)} mean "
            f"{fmt(sm.mean)} p95 {fmt(sm.p95)} last {fmt(sm.last)}; {sm.trend}")
    if sm.change_points:
        text += "; changes " + ", ".join(
            f"{hhmm(c.t)} {fmt(c.before)}→{fmt(c.after)}" for c in sm.change_points)
    return text + f" {sparkline(s.ts, s.values, SHAPE_WIDTH)}"


def _queries_line(queries: list[str], max_chars: int = 600) -> str:
    """The footer's query line: the first queries, and how many more are in the data."""
    out = ""
    for i, q in enumerate(queries):
        nxt = q if not out else f"{out}; {q}"
        if len(nxt) > max_chars:
            return f"{out or q[:max_chars]} … (+{len(queries) - max(i, 1)} more queries in data)"
        out = nxt
    return out


def _sortable(v: float) -> float:
    return v if math.isfinite(v) else -math.inf


def _ts(ns: int) -> str:
    from obsbench_servers.common.timeutil import ns_to_rfc3339  # noqa: PLC0415

    return ns_to_rfc3339(ns)


def create_server(ctx: ServerContext) -> MCPServer:
    """The metrics server for one context (a profile's metrics backend or a bundle)."""
    server = MCPServer("obsbench-metrics", instructions=INSTRUCTIONS)
    tools = MetricsTools(ctx)
    timeout = float(ctx.options.get("tool_timeout_s", 120.0))
    for fn in (tools.query, tools.query_range, tools.list_metrics, tools.label_values,
               tools.metric_metadata, tools.get_service_golden_signals,
               tools.compare_time_periods, tools.find_anomalies, tools.list_firing_alerts):
        register_tool(server, fn, name=fn.__name__, timeout_s=timeout)
    return server


__all__ = ["INSTRUCTIONS", "MetricsTools", "QueryData", "create_server", "make_backend"]
