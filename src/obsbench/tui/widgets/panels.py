"""One panel per evidence kind; each shows the backend query and resolved time range.

``build_panel(evidence)`` picks the panel: a metric chart for range-query series,
the virtualised log view for log lines, a span-tree waterfall for a trace, a table
for alerts and incidents, a timeline for changes, and the text the model saw for
anything else (golden signals, patterns, errors...). ``y`` shows the raw JSON.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static, Tree
from textual.widgets.tree import TreeNode

from obsbench.evidence import Evidence
from obsbench.tui.widgets.logview import LogRow, LogView

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


def change_times(payload: dict[str, Any]) -> list[float]:
    """Change points of every series summary (epoch s), for the chart's markers."""
    times: list[float] = []
    for s in payload.get("summaries") or []:
        for c in s.get("change_points") or []:
            t = _epoch(c.get("t", c.get("time")))
            if t is not None:
                times.append(t)
    return sorted(set(times))


class MetricPanel(Panel):
    """Several series on a real time axis, change points marked, with a legend."""

    def body(self) -> ComposeResult:
        from textual_plotext import PlotextPlot  # noqa: PLC0415 - heavy, only when charted

        series = matrix_series(self.evidence.payload)
        shown = series[:MAX_SERIES]
        note = f"{len(shown)} of {len(series)} series plotted" if len(series) > len(shown) else ""
        marks = change_times(self.evidence.payload)
        if marks:
            note = "; ".join(filter(None, [note, "change points: " +
                                           ", ".join(_hhmm(t) for t in marks[:6])]))
        if note:
            yield Static(note, classes="panel-note")
        plot = PlotextPlot(classes="metric-plot")
        plt = plot.plt
        xs_all = [t for _, ts, _ in shown for t in ts]
        for label, ts, vs in shown:
            if ts:
                plt.plot(ts, vs, label=label[:40], marker="braille")
        if xs_all:
            lo, hi = min(xs_all), max(xs_all)
            ticks = [lo + (hi - lo) * i / 4 for i in range(5)]
            plt.xticks(ticks, [_hhmm(t) for t in ticks])
            for t in marks:
                if lo <= t <= hi:
                    plt.vline(t, "red")
        plt.xlabel("time (UTC)")
        yield plot


# -- logs ----------------------------------------------------------------------------------------
def log_rows(payload: dict[str, Any]) -> list[LogRow]:
    """Rows oldest first from a logs payload (``lines`` with ts, level, service, message)."""
    rows = [LogRow(str(line.get("ts", ""))[11:23], str(line.get("level") or "info"),
                   str(line.get("service") or ""), str(line.get("message") or ""))
            for line in payload.get("lines") or []]
    if payload.get("direction", "backward") == "backward":
        rows.reverse()
    return rows


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


def timeline_mark(t: float | None, lo: float, hi: float, width: int = 24) -> str:
    """Where ``t`` falls on the axis [lo, hi]: ``····▲·····``."""
    if t is None or hi <= lo:
        return ""
    pos = min(max(int((t - lo) / (hi - lo) * (width - 1)), 0), width - 1)
    return "·" * pos + "▲" + "·" * (width - 1 - pos)


class ChangesPanel(Panel):
    """Deploys, config edits, scaling and events on the evidence's time axis, newest first."""

    def body(self) -> ComposeResult:
        tr = self.evidence.time_range or {}
        lo, hi = _epoch(tr.get("start")) or 0.0, _epoch(tr.get("end")) or 0.0
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("time", f"{_hhmm(lo) if lo else ''} … {_hhmm(hi) if hi else ''}",
                          "kind", "workload", "what")
        for c in self.evidence.payload.get("changes") or []:
            t = _epoch(c.get("time"))
            images = ", ".join(str(i.get("to", "")).rsplit(":", 1)[-1]
                               for i in c.get("images") or [])
            what = c.get("change_cause") or images or ", ".join(c.get("change_kinds") or [])
            table.add_row(str(c.get("time") or "")[5:16].replace("T", " "),
                          timeline_mark(t, lo, hi), str(c.get("kind") or ""),
                          str(c.get("workload") or ""), str(what))
        yield table


def build_panel(ev: Evidence, **kwargs: Any) -> Panel:
    """The panel for one evidence item (see the module docstring for the choice)."""
    p = ev.payload
    cls: type[Panel] = TextPanel
    if ev.is_error:
        cls = TextPanel
    elif ev.kind == "series" and (p.get("prometheus") or {}).get("resultType") == "matrix":
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
    return cls(ev, **kwargs)
