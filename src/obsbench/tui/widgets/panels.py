"""One panel per evidence kind; each shows the backend query and resolved time range.

``build_panel(evidence)`` picks the panel: a metric chart for range-query series,
the virtualised log view for log lines, a span-tree waterfall for a trace, a table
for alerts and incidents, a timeline for changes, and the text the model saw for
anything else (golden signals, errors...); a
table for error patterns. ``y`` shows the raw JSON.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static, Tree
from textual.widgets.tree import TreeNode

from obsbench.evidence import Evidence
from obsbench.tui.widgets.chart_axes import (
    Pane,
    max_panes,
    pad_labels,
    plan_panes,
    y_range,
    y_ticks,
)
from obsbench.tui.widgets.logview import LogRows, LogView

MAX_SERIES = 6
BAR_WIDTH = 28
REPEAT_MIN = 3


def _hhmm(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M")


def _epoch(value: Any) -> float | None:
    """RFC 3339 or epoch seconds -> epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def time_window(time_range: dict[str, Any] | None) -> tuple[float, float] | None:
    """An evidence item's resolved time range as epoch seconds, or None."""
    tr = time_range or {}
    lo, hi = _epoch(tr.get("start")), _epoch(tr.get("end"))
    return (lo, hi) if lo is not None and hi is not None and hi > lo else None


def header_text(ev: Evidence, extra: str = "") -> Text:
    """``E3 logs.search_logs`` · time range · coverage, then the query: where the data came from.

    A Text, not markup: queries contain brackets (``rate(x[5m])``).
    """
    text = Text()
    text.append(f"{ev.id} ", style="bold")
    text.append(f"{ev.server}.{ev.tool}")
    if ev.time_range:
        text.append(f" · {ev.time_range.get('start', '')} .. {ev.time_range.get('end', '')}")
    if ev.coverage_line:
        text.append(f" · {ev.coverage_line}", style="dim")
    if ev.query:
        text.append(f"\nquery: {ev.query}")
    if ev.is_error:
        text.append("\nerror: ", style="bold")
        text.append(ev.summary)
    if extra:
        text.append(f"\n{extra}")
    return text


class Panel(Vertical):
    """A header (query, range, coverage) over a body; ``evidence`` is what it shows."""

    can_focus = False

    def __init__(self, evidence: Evidence, **kwargs: Any) -> None:
        super().__init__(classes="panel", **kwargs)
        self.evidence = evidence

    def compose(self) -> ComposeResult:
        yield Static(header_text(self.evidence), classes="panel-header")
        yield from self.body()

    def body(self) -> ComposeResult:
        yield VerticalScroll(Static(Text(self.evidence.text or self.evidence.summary),
                                    classes="panel-text"), classes="panel-body")


class TextPanel(Panel):
    """What the model saw, for kinds without a dedicated view."""


# -- metrics -------------------------------------------------------------------------------------
def matrix_series(payload: dict[str, Any]) -> list[tuple[str, list[float], list[float]]]:
    """``(label, times_s, values)`` per series of a Prometheus matrix (NaN and junk dropped)."""
    prom = payload.get("prometheus") or {}
    out = []
    for item in prom.get("result") or []:
        labels = item.get("metric") or {}
        name = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        label = name or labels.get("__name__", "value")
        ts: list[float] = []
        vs: list[float] = []
        for t, v in item.get("values") or []:
            try:
                fv = float(v)
            except (TypeError, ValueError):
                continue
            if not math.isnan(fv):
                ts.append(float(t))
                vs.append(fv)
        out.append((label, ts, vs))
    return out


def _points(label: str, points: list[Any]) -> tuple[str, list[float], list[float]]:
    ts: list[float] = []
    vs: list[float] = []
    for pt in points or []:
        try:
            t, v = float(pt[0]), float(pt[1])
        except (TypeError, ValueError, IndexError):
            continue  # null values (NaN, inf on the server) are gaps
        if not math.isnan(v):
            ts.append(t)
            vs.append(v)
    return label, ts, vs


def chart_items(payload: dict[str, Any]) -> list[tuple[str, list[float], list[float], str]]:
    """``(label, times_s, values, unit)`` of any chartable payload: a Prometheus matrix
    (unit unknown: ""), the anomalies of find_anomalies or the golden signals of
    get_service_golden_signals (their points)."""
    if (payload.get("prometheus") or {}).get("resultType") == "matrix":
        return [(label, ts, vs, "") for label, ts, vs in matrix_series(payload)]
    out = []
    for a in payload.get("anomalies") or []:
        unit = str(a.get("unit") or "")
        out.append((*_points(f"{a.get('service', '')} {a.get('signal', '')} ({unit})",
                             a.get("points") or []), unit))
    for sig in payload.get("signals") or []:
        unit = str(sig.get("unit") or "")
        for s in sig.get("series") or []:
            labels = ",".join(f"{v}" for _, v in sorted((s.get("labels") or {}).items()))
            name = " ".join(filter(None, (str(sig.get("key", "")), labels, f"({unit})")))
            out.append((*_points(name, s.get("points") or []), unit))
    return out


def chart_series(payload: dict[str, Any]) -> list[tuple[str, list[float], list[float]]]:
    """``(label, times_s, values)`` of any chartable payload (see ``chart_items``)."""
    return [(label, ts, vs) for label, ts, vs, _ in chart_items(payload)]


def is_chartable(payload: dict[str, Any]) -> bool:
    return any(ts for _, ts, _ in chart_series(payload))


def change_times(payload: dict[str, Any]) -> list[float]:
    """Change points of every series summary and anomaly onsets (epoch s): the markers."""
    times: list[float] = []
    summaries = list(payload.get("summaries") or [])
    summaries += [s.get("summary") or {} for sig in payload.get("signals") or []
                  for s in sig.get("series") or []]
    for s in summaries:
        for c in s.get("change_points") or []:
            t = _epoch(c.get("t", c.get("time")))
            if t is not None:
                times.append(t)
    for a in payload.get("anomalies") or []:
        t = _epoch(a.get("onset"))
        if t is not None:
            times.append(t)
    return sorted(set(times))


def onset_time(marks: list[float]) -> float | None:
    """The earliest change point: where the chart's story starts (marked ``onset``)."""
    return min(marks) if marks else None


def zoom_window(window: tuple[float, float] | None, lo: float, hi: float,
                ) -> tuple[float, float] | None:
    """The part of ``window`` inside the chart's [lo, hi], or None when it is not narrower
    (zooming to a window as wide as the chart, or outside it, would show nothing new)."""
    if window is None or hi <= lo:
        return None
    a, b = max(window[0], lo), min(window[1], hi)
    if b <= a or (a <= lo and b >= hi):
        return None
    return a, b


class MetricPanel(Panel):
    """Several series on a real time axis, onset and change points marked, with a legend;
    zoomed to the cited window when a narrower item is selected (``z`` resets)."""

    def __init__(self, evidence: Evidence, **kwargs: Any) -> None:
        super().__init__(evidence, **kwargs)
        items = chart_items(evidence.payload)
        self.total_series = len(items)
        items = items[:MAX_SERIES]
        self.series = [(label, ts, vs) for label, ts, vs, _ in items]
        self.units = [unit for *_, unit in items]
        self.panes: list[Pane] = []  # as last drawn: one per unit while they fit
        xs = [t for _, ts, _ in self.series for t in ts]
        self.span: tuple[float, float] | None = (min(xs), max(xs)) if xs else None
        self.marks = change_times(evidence.payload)
        self.zoomed: tuple[float, float] | None = None
        self.changes: list[tuple[float, str]] = []  # deploys and config changes (time, what)
        self._axes: dict[tuple[int, int, float, float], Any] = {}  # x_axis(), by layout

    def body(self) -> ComposeResult:
        from textual_plotext import PlotextPlot  # noqa: PLC0415 - heavy, only when charted

        plot = PlotextPlot(classes="metric-plot")
        self._draw(plot)
        yield Static(self._note(), classes="panel-note")
        yield plot

    def _note(self) -> str:
        parts = [f"{len(self.series)} of {self.total_series} series plotted"
                 if self.total_series > len(self.series) else ""]
        onset = onset_time(self.marks)
        if onset is not None:
            parts.append(f"onset {_hhmm(onset)} (magenta); change points: "
                         + ", ".join(_hhmm(t) for t in self.marks[:6]) + " (red)")
        lo, hi = self.zoomed or self.span or (0.0, 0.0)
        inside = [(t, what) for t, what in self.changes if lo <= t <= hi]
        if inside:
            parts.append("changes: " + ", ".join(f"{_hhmm(t)} {what}" for t, what in inside[:4])
                         + (f" (+{len(inside) - 4})" if len(inside) > 4 else "") + " (blue)")
        if len(self.panes) > 1:
            parts.append("one y axis per unit: "
                         + ", ".join(p.unit or "+".join(u or "?" for u in p.units)
                                     for p in self.panes))
        if self.zoomed:
            parts.append(f"zoomed to {_hhmm(self.zoomed[0])}..{_hhmm(self.zoomed[1])} "
                         "(z resets)")
        return "; ".join(filter(None, parts)) or "no change points"

    def _draw(self, plot: Any) -> None:
        """Draw the series; of different units, in stacked panes sharing the time axis."""
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        self._axes.clear()
        lo, hi = self.zoomed or self.span or (0.0, 0.0)
        rows = plot.size.height
        self.panes = plan_panes(self.units, max_panes(rows))
        stacked = len(self.panes) > 1
        if stacked:
            plt.subplots(len(self.panes), 1)
        visible = [[(t, v) for t, v in zip(ts, vs, strict=True) if lo <= t <= hi]
                   for _, ts, vs in self.series]
        pane_rows = rows // len(self.panes) if rows else 0
        ticks = pad_labels([
            y_ticks(*y_range([v for i in pane.members for _, v in visible[i]]), pane.unit,
                    3 if not pane_rows or pane_rows >= 7 else 2)
            for pane in self.panes])
        for n, pane in enumerate(self.panes, 1):
            sub = plt.subplot(n, 1) if stacked else plt
            for i in pane.members:
                if visible[i]:
                    sub.plot([t for t, _ in visible[i]], [v for _, v in visible[i]],
                             label=self.series[i][0][:40], marker="braille")
            if stacked or pane.unit:
                sub.ylim(ticks[n - 1][0][0], ticks[n - 1][-1][0])
                sub.yticks([v for v, _ in ticks[n - 1]], [label for _, label in ticks[n - 1]])
            self._draw_time(sub, lo, hi, bottom=n == len(self.panes))
        plot.refresh()

    def _draw_time(self, sub: Any, lo: float, hi: float, *, bottom: bool) -> None:
        """The x axis (labelled under the bottom pane only), change points and changes."""
        if self.span:
            sub.xlim(lo, hi)
            ticks = [lo + (hi - lo) * i / 4 for i in range(5)]
            if bottom:
                sub.xticks(ticks, [_hhmm(t) for t in ticks])
            else:
                sub.xticks([], [])
            onset = onset_time(self.marks)
            for t in self.marks:
                if lo <= t <= hi:
                    sub.vline(t, "magenta" if t == onset else "red")
            for t, _ in self.changes:
                if lo <= t <= hi:
                    sub.vline(t, "blue")
        if bottom:
            sub.xlabel("time (UTC)")

    def on_resize(self) -> None:
        # Panes need rows: a shorter panel stacks fewer (the last one mixes the rest).
        if len(set(self.units)) > 1:
            self.call_after_refresh(self._fit_panes)

    def _fit_panes(self) -> None:
        from textual_plotext import PlotextPlot  # noqa: PLC0415

        if not self.is_mounted:
            return
        rows = self.query_one(PlotextPlot).size.height
        if len(plan_panes(self.units, max_panes(rows))) != len(self.panes):
            self._redraw()

    def set_changes(self, changes: list[tuple[float, str]]) -> bool:
        """Mark deploys and config changes on the chart's time axis; True when redrawn."""
        changes = sorted(changes)
        if changes == self.changes:
            return False
        self.changes = changes
        self._redraw()
        return True

    def _redraw(self) -> None:
        if self.is_mounted:
            from textual_plotext import PlotextPlot  # noqa: PLC0415

            self._draw(self.query_one(PlotextPlot))
            self.query_one(".panel-note", Static).update(self._note())

    def zoom(self, window: tuple[float, float] | None) -> bool:
        """Zoom the x axis to ``window`` (None resets); True when the view changed."""
        target = zoom_window(window, *self.span) if self.span and window else None
        if target == self.zoomed:
            return False
        self.zoomed = target
        self._redraw()
        return True

    def x_axis(self, width: int, height: int = 0) -> Any:
        """The chart's x axis as plotext lays it out at ``width`` columns (a timeline.Axis):
        the changes timeline draws on it, so T is in the same column in both."""
        from textual_plotext import PlotextPlot  # noqa: PLC0415

        from obsbench.tui.widgets.timeline import Axis  # noqa: PLC0415

        if self.span is None or width <= 0 or not self.is_mounted:
            return None
        lo, hi = self.zoomed or self.span
        plot = self.query_one(PlotextPlot)
        height = plot.size.height or height or 20  # never shown: as tall as it would be
        key = (width, height, lo, hi)
        cached = self._axes.get(key)
        if cached is not None:
            return cached
        plt = plot.plt  # laid out as PlotextPlot.render does; its next render resizes it back
        plt.plotsize(width, height)
        plt._set_size(width, height)  # private: see PlotextPlot.render
        plt.build()
        cols = plt._active.monitor.matrix.Cols_canvas  # type: ignore[attr-defined]
        label = f"{self.evidence.id} {self.evidence.tool}" + (" zoomed" if self.zoomed else "")
        self._axes[key] = Axis(lo, hi, cols.start, len(cols), label)
        return self._axes[key]


# -- logs ----------------------------------------------------------------------------------------
def log_rows(payload: dict[str, Any]) -> LogRows:
    """Rows oldest first from a logs payload (``lines`` with ts, level, service, message).

    Lazy: a row is built when it is drawn or read, so a 100k-line item opens at once.
    """
    return LogRows(payload.get("lines") or [],
                   reverse=payload.get("direction", "backward") == "backward")


class LogPanel(Panel):
    """The virtualised log view with its ``/`` filter."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("slash", "filter", "filter", show=False)]

    def body(self) -> ComposeResult:
        yield Input(placeholder="filter (regex; enter applies, empty clears)",
                    classes="log-filter", compact=True)
        yield LogView(log_rows(self.evidence.payload), id=f"log-{self.evidence.id}")

    def on_mount(self) -> None:
        self.query_one(".log-filter", Input).display = False

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def action_filter(self) -> None:
        box = self.query_one(".log-filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.has_class("log-filter"):
            event.stop()
            count = self.view.apply_filter(event.value)
            self.query_one(".panel-header", Static).update(
                header_text(self.evidence,
                            f"filter {event.value!r}: {count:,} lines" if event.value else ""))
            if not event.value:
                event.input.display = False
            self.view.focus()


    def mark(self, template: str | None) -> int:
        """Highlight the lines of one error pattern (None clears); returns how many."""
        count = self.view.set_mark(template_regex(template) if template else None)
        self.query_one(".panel-header", Static).update(
            header_text(self.evidence, f"pattern {template!r}: {count:,} lines marked ▌"
                        if template else ""))
        return count


def template_regex(template: str) -> re.Pattern[str]:
    """A pattern's template (``<*>`` for variables) as a regex over log messages.

    Multi-line events (tracebacks) are mined with their lines joined by `` | ``; a log
    row shows the event's first line, so the template's first line is what is matched.
    """
    first = template.split(" | ", 1)[0]
    pieces = [r"\s+".join(re.escape(w) for w in piece.split())
              for piece in first.split("<*>")]
    return re.compile(".*?".join(pieces))


class PatternsPanel(Panel):
    """Error patterns, most frequent first; the highlighted one is marked in log panels."""

    class Selected(Message):
        """The pattern under the cursor changed (``template`` None: no patterns)."""

        def __init__(self, template: str | None) -> None:
            super().__init__()
            self.template = template

    def body(self) -> ComposeResult:
        p = self.evidence.payload
        new, surging = set(p.get("new") or []), set(p.get("surging") or [])
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True,
                                          classes="patterns-table")
        table.add_columns("count", "", "services", "template")
        for pat in p.get("patterns") or []:
            pid = str(pat.get("id") or "")
            flag = "new" if pid in new else "surging" if pid in surging else ""
            table.add_row(f"{int(pat.get('count') or 0):,}", flag,
                          ", ".join(pat.get("services") or []),
                          str(pat.get("template") or ""), key=pid)
        yield table

    @property
    def current_template(self) -> str | None:
        patterns = self.evidence.payload.get("patterns") or []
        table = self.query_one(DataTable)
        row = table.cursor_row
        return str(patterns[row].get("template")) if 0 <= row < len(patterns) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self.current_template))


# -- traces --------------------------------------------------------------------------------------
def _ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"


class TracePanel(Panel):
    """A waterfall: duration bars on the trace's time axis, critical path highlighted,
    errors marked, repeated siblings (N calls of one operation) collapsed under one node."""

    def body(self) -> ComposeResult:
        p = self.evidence.payload
        spans: list[dict[str, Any]] = list(p.get("spans") or [])
        root_label = (f"{p.get('trace_id', '')} · {len(spans)} spans · "
                      f"{_ms(p.get('duration_ns', 0))}")
        tree: Tree[dict[str, Any]] = Tree(root_label, classes="span-tree")
        tree.show_root = True
        tree.guide_depth = 2
        if spans:
            self._fill(tree, spans)
        yield tree

    def _fill(self, tree: Tree[dict[str, Any]], spans: list[dict[str, Any]]) -> None:
        variables = self.app.get_css_variables() if self.is_attached else {}
        self._cp = variables.get("critical-path", "yellow")
        self._err = variables.get("error", "red")
        t0 = min(int(s["start_ns"]) for s in spans)
        t1 = max(int(s["start_ns"]) + int(s["duration_ns"]) for s in spans)
        self._t0, self._span = t0, max(t1 - t0, 1)
        ids = {s["span_id"] for s in spans}
        children: dict[str | None, list[dict[str, Any]]] = {}
        for s in spans:
            parent = s.get("parent_span_id")
            children.setdefault(parent if parent in ids else None, []).append(s)
        for kids in children.values():
            kids.sort(key=lambda s: int(s["start_ns"]))
        self._children = children
        tree.root.expand()
        self._add(tree.root, children.get(None, []))

    def _add(self, top: TreeNode[dict[str, Any]], kids: list[dict[str, Any]]) -> None:
        """Add ``kids`` under ``top`` and their subtrees; a repeated group's members are
        added only when the group is expanded (a 5,000-span trace stays quick to open)."""
        stack: list[tuple[TreeNode[dict[str, Any]], list[dict[str, Any]]]] = [(top, kids)]
        while stack:
            node, items = stack.pop()
            for item in self._groups(items):
                if isinstance(item, list):
                    node.add(self._group_label(item), data={"group": item})
                else:
                    has_kids = item["span_id"] in self._children
                    child = node.add(self._label(item), data=item, expand=has_kids,
                                     allow_expand=has_kids)
                    if has_kids:
                        stack.append((child, self._children[item["span_id"]]))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[dict[str, Any]]) -> None:
        data = event.node.data
        if isinstance(data, dict) and "group" in data and not event.node.children:
            self._add(event.node, [dict(s, _grouped=True) for s in data["group"]])

    @staticmethod
    def _groups(kids: list[dict[str, Any]]) -> list[Any]:
        """Siblings of one operation repeated REPEAT_MIN+ times become one collapsed group."""
        by_op: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if kids and kids[0].get("_grouped"):
            return list(kids)
        for s in kids:
            by_op.setdefault((s.get("service", ""), s.get("name", "")), []).append(s)
        out: list[Any] = []
        done: set[tuple[str, str]] = set()
        for s in kids:
            key = (s.get("service", ""), s.get("name", ""))
            if len(by_op[key]) >= REPEAT_MIN:
                if key not in done:
                    out.append(by_op[key])
                    done.add(key)
            else:
                out.append(s)
        return out

    def _bar(self, start: int, dur: int, style: str) -> Text:
        a = int((start - self._t0) / self._span * BAR_WIDTH)
        b = max(a + 1, int((start + dur - self._t0) / self._span * BAR_WIDTH))
        bar = Text(" " * a)
        bar.append("█" * (b - a), style=style)
        bar.append(" " * max(BAR_WIDTH - b, 0))
        return bar

    def _label(self, s: dict[str, Any]) -> Text:
        crit = bool(s.get("on_critical_path"))
        err = s.get("status") == "error"
        style = f"bold {self._cp}" if crit else "dim"
        label = self._bar(int(s["start_ns"]), int(s["duration_ns"]), style)
        label.append(f" {_ms(s['duration_ns']):>7} ")
        label.append(f"{s.get('service', '')} {s.get('name', '')}",
                     style=f"bold {self._cp}" if crit else "")
        if err:
            label.append(f" ✗ {s.get('status_message') or 'error'}"[:80], style=f"bold {self._err}")
        return label

    def _group_label(self, group: list[dict[str, Any]]) -> Text:
        start = min(int(s["start_ns"]) for s in group)
        end = max(int(s["start_ns"]) + int(s["duration_ns"]) for s in group)
        crit = any(s.get("on_critical_path") for s in group)
        errors = sum(1 for s in group if s.get("status") == "error")
        label = self._bar(start, end - start, f"{self._cp}" if crit else "dim")
        total = sum(int(s["duration_ns"]) for s in group)
        first = group[0]
        label.append(f" {_ms(total):>7} ")
        label.append(f"x{len(group)} {first.get('service', '')} {first.get('name', '')}",
                     style="bold")
        if errors:
            label.append(f" ✗ {errors} errors", style=f"bold {self._err}")
        return label


# -- alerts and changes --------------------------------------------------------------------------
class AlertsPanel(Panel):
    """Alerts (Alertmanager, Prometheus) or incidents (PagerDuty) as a table."""

    def body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        p = self.evidence.payload
        if p.get("incidents") is not None and not p.get("alerts"):
            table.add_columns("created", "title", "status", "urgency", "service")
            for i in p.get("incidents") or []:
                table.add_row(str(i.get("created_at") or "")[5:16].replace("T", " "),
                              str(i.get("title") or ""), str(i.get("status") or ""),
                              str(i.get("urgency") or ""), str(i.get("service") or ""))
        else:
            table.add_columns("since", "alert", "severity", "state", "service")
            for a in p.get("alerts") or []:
                labels = a.get("labels") or {}
                svc = labels.get("service") or labels.get("job") or labels.get("namespace", "")
                table.add_row(str(a.get("starts_at") or "")[5:16].replace("T", " "),
                              str(a.get("alertname") or ""), str(a.get("severity") or ""),
                              str(a.get("state") or ""), str(svc))
        yield table


def change_marks(payload: dict[str, Any]) -> list[tuple[float, str]]:
    """``(epoch s, "rollout user-api")`` per change of a changes payload, for chart markers."""
    out = []
    for c in payload.get("changes") or []:
        t = _epoch(c.get("time"))
        if t is not None:
            out.append((t, f"{c.get('kind') or 'change'} {c.get('workload') or ''}".strip()))
    return out


class ChangesPanel(Panel):
    """The session's changes timeline: every changes-like item merged, one lane per kind,
    on the metric charts' time axis (``set_timeline``); a table of the changes below, the
    selected one marked in its lane and detailed with the evidence it came from."""

    DEFAULT_CSS = """
    ChangesPanel .timeline-detail { height: auto; max-height: 4; padding: 0 1; }
    ChangesPanel .timeline-table { height: 1fr; }
    """

    class ShowSource(Message):
        """Enter on a change: show the evidence item it came from."""

        def __init__(self, ev_ids: tuple[str, ...]) -> None:
            super().__init__()
            self.ev_ids = ev_ids

    def __init__(self, evidence: Evidence, **kwargs: Any) -> None:
        from obsbench.tui.widgets.timeline import DEFAULT_GUTTER, Axis, changes_of  # noqa: PLC0415

        super().__init__(evidence, **kwargs)
        self.changes = changes_of(evidence)  # until the app gives the session's
        self.sources: dict[str, str] = {evidence.id: f"{evidence.server}.{evidence.tool}"}
        own = time_window(evidence.time_range)

        def own_axis(width: int, height: int) -> Axis | None:
            return Axis(own[0], own[1], DEFAULT_GUTTER, width - DEFAULT_GUTTER,
                        f"{evidence.id}'s time range") if own else None

        self.axis_for: Any = own_axis

    def body(self) -> ComposeResult:
        from obsbench.tui.widgets.timeline import TimelineLanes  # noqa: PLC0415

        yield TimelineLanes(classes="timeline-lanes")
        yield Static("", classes="timeline-detail")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True,
                                          classes="timeline-table")
        table.add_columns("time", "lane", "subject", "what", "from")
        yield table

    def on_mount(self) -> None:
        self._fill()

    def set_timeline(self, changes: list[Any], axis_for: Any,
                     sources: dict[str, str]) -> None:
        """Show the session's merged changes on the axis ``axis_for(width)`` gives."""
        same = list(changes) == self.changes and dict(sources) == self.sources
        self.changes, self.axis_for, self.sources = list(changes), axis_for, dict(sources)
        if not self.is_mounted:
            return
        if same:  # only the axis may have moved (a zoom): keep the table and its cursor
            self.lanes.axis_for = axis_for
            self.refresh_axis()
        else:
            self._fill()

    @property
    def lanes(self) -> Any:
        from obsbench.tui.widgets.timeline import TimelineLanes  # noqa: PLC0415

        return self.query_one(TimelineLanes)

    def _fill(self) -> None:
        from obsbench.tui.widgets.timeline import LANE_NAMES  # noqa: PLC0415

        lanes = self.lanes
        lanes.changes, lanes.axis_for = self.changes, self.axis_for
        table = self.query_one(".timeline-table", DataTable)
        table.clear()
        for n, c in enumerate(self.changes):
            table.add_row(datetime.fromtimestamp(c.t, UTC).strftime("%m-%d %H:%M:%S"),
                          LANE_NAMES[c.lane], c.subject[:40], c.what[:90],
                          ", ".join(c.sources), key=str(n))
        # Start on this item's newest change: what the person selected it for.
        own = [n for n, c in enumerate(self.changes) if self.evidence.id in c.sources]
        if own:
            table.move_cursor(row=own[-1], animate=False)
        self._select(table.cursor_row)
        self.refresh_axis()

    def refresh_axis(self) -> None:
        """Redraw the note and lanes (the charts zoomed, or the session's changes grew)."""
        self.lanes.refresh()

    def on_resize(self) -> None:
        # A chart here would fill the panel under its header and one note line: its height
        # sets its y labels, hence where its data columns start.
        header = self.query_one(".panel-header", Static)
        self.lanes.chart_height = max(self.size.height - header.outer_size.height - 1, 0)

    def _select(self, row: int) -> None:
        change = self.changes[row] if 0 <= row < len(self.changes) else None
        lanes = self.lanes
        lanes.selected = change
        lanes.refresh()
        self.query_one(".timeline-detail", Static).update(self._detail(change))

    def _detail(self, c: Any) -> Text:
        from obsbench.tui.widgets.timeline import LANE_NAMES  # noqa: PLC0415

        text = Text()
        if c is None:
            text.append("no changes in this session's changes items", style="dim")
            return text
        d = c.detail
        text.append(f"{datetime.fromtimestamp(c.t, UTC).strftime('%Y-%m-%d %H:%M:%S')} "
                    f"{LANE_NAMES[c.lane]} {c.subject}", style="bold")
        text.append(f"\n{c.what}")
        extra = [str(d[k]) for k in ("summary", "message") if d.get(k) and str(d[k]) != c.what]
        if d.get("who"):
            extra.append(f"by {d['who']}")
        if d.get("namespace"):
            extra.append(f"namespace {d['namespace']}")
        if extra:
            text.append("\n" + " · ".join(extra)[:300], style="dim")
        text.append("\nfrom: " + ", ".join(f"{i} {self.sources.get(i, '')}".strip()
                                           for i in c.sources))
        text.append("  (enter shows it)", style="dim")
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._select(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = event.cursor_row
        if 0 <= row < len(self.changes):
            # An archived session's panel (``panel-s1-E4``) points into that session.
            prefix = (self.id or "").removeprefix("panel-").removesuffix(self.evidence.id)
            self.post_message(self.ShowSource(tuple(prefix + i
                                                    for i in self.changes[row].sources)))


def build_panel(ev: Evidence, **kwargs: Any) -> Panel:
    """The panel for one evidence item (see the module docstring for the choice)."""
    p = ev.payload
    cls: type[Panel] = TextPanel
    if ev.is_error:
        cls = TextPanel
    elif ev.kind == "series" and is_chartable(p):
        cls = MetricPanel
    elif ev.kind == "logs" and isinstance(p.get("lines"), list):
        cls = LogPanel
    elif ev.kind == "trace" and isinstance(p.get("spans"), list):
        cls = TracePanel
    elif ev.kind == "alerts" and (isinstance(p.get("alerts"), list)
                                  or isinstance(p.get("incidents"), list)):
        cls = AlertsPanel
    elif ev.kind == "changes" and isinstance(p.get("changes"), list):
        cls = ChangesPanel
    elif ev.kind == "patterns" and isinstance(p.get("patterns"), list):
        cls = PatternsPanel
    return cls(ev, **kwargs)
