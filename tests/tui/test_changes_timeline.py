"""The changes timeline: every changes-like item merged into lanes on the charts' time axis."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import ContentSwitcher, DataTable, Input, Tabs
from textual_plotext import PlotextPlot
from tui_support import answered, bundle_scope, collected, make_app, wait_for

from obsbench.evidence import Evidence
from obsbench.tui.widgets.panels import ChangesPanel, MetricPanel, _epoch
from obsbench.tui.widgets.timeline import (
    MARK,
    Axis,
    TimelineLanes,
    changes_of,
    merge_changes,
    render_lanes,
)
from obsbench_servers.common.timeutil import ns_to_rfc3339

WIDE = (160, 48)
CHART = ("metrics_query_range", {"expr": "sum by (service) (rate(db_client_connection_timeouts"
                                         "_total[5m]))", "start": "now-2h"})


def _ev(ev_id: str, tool: str, kind: str, payload: dict[str, Any]) -> Evidence:
    return Evidence(ev_id, "infra" if tool != "get_incident_timeline" else "alerts", tool, {},
                    kind=kind, summary="", text="", payload=payload)


ROLLOUT = {"time": "2026-03-10T13:46:18Z", "namespace": "shop", "workload": "user-api",
           "kind": "rollout", "change_kinds": ["image"], "revision": 22,
           "change_cause": "deploy 2.3.1", "summary": "image user-api: 2.3.0 -> 2.3.1"}


def test_changes_of_every_tool_are_merged_one_lane_per_kind() -> None:
    deploys = _ev("E1", "get_recent_deployments", "changes", {"changes": [
        ROLLOUT, {"time": "2026-03-10T12:00:00Z", "kind": "configmap", "name": "user-api-cfg",
                  "summary": "ConfigMap shop/user-api-cfg edited"}]})
    scaling = _ev("E2", "get_autoscaling_events", "table", {"events": [
        {"reason": "ScalingReplicaSet", "object_kind": "Deployment", "object_name": "user-api",
         "message": "Scaled up replica set user-api-5 to 1", "count": 1,
         "first": "2026-03-10T13:46:22Z"}]})
    events = _ev("E3", "get_events", "table", {"events": [
        {"reason": "BackOff", "type": "Warning", "object_kind": "Pod", "object_name": "p-1",
         "message": "Back-off restarting", "count": 4, "first": "2026-03-10T13:50:00Z"},
        {"reason": "ScalingReplicaSet", "object_kind": "Deployment", "object_name": "user-api",
         "message": "Scaled up replica set user-api-5 to 1", "count": 1,
         "first": "2026-03-10T13:46:22Z"}]})
    timeline = _ev("E4", "get_incident_timeline", "changes", {"entries": [
        {"time": "2026-03-10T13:46:18Z", "source": "change", "kind": "rollout", "detail": ROLLOUT},
        {"time": "2026-03-10T13:56:24Z", "source": "incident", "kind": "opened",
         "detail": {"id": "P1"}},
        {"time": "2026-03-10T13:52:00Z", "source": "kubernetes", "kind": "OOMKilling",
         "detail": {"reason": "OOMKilling", "object": "Node/n1", "count": 2, "message": "oom"}}]})
    error = Evidence("E5", "infra", "get_events", {}, kind="error", summary="boom", text="",
                     is_error=True,
                     payload={"events": [{"reason": "X", "first": "2026-03-10T13:00:00Z"}]})
    merged = merge_changes([deploys, scaling, events, timeline, error])
    assert [(c.lane, c.subject) for c in merged] == [
        ("config", "user-api-cfg"), ("deploy", "user-api"), ("scaling", "Deployment/user-api"),
        ("k8s", "Pod/p-1"), ("k8s", "Node/n1")]
    deploy = merged[1]
    # One rollout seen by two tools is one change with both sources, in call order.
    assert deploy.sources == ("E1", "E4") and deploy.what == "deploy 2.3.1"
    assert deploy.t == _epoch("2026-03-10T13:46:18Z")
    assert merged[2].sources == ("E2", "E3")  # the same scaling event from two tools
    assert merged[3].what == "BackOff x4: Back-off restarting"
    assert changes_of(error) == []  # an error item holds no changes
    assert not any(c.subject == "P1" for c in merged)  # incident entries are not changes


def test_axis_columns_are_plotexts_own() -> None:
    """A vline plotext draws at T is in the column Axis.column(T) says (same layout)."""
    from textual_plotext.plotext_plot import Plot

    plt = Plot()
    xs = [1000.0 + 60 * i for i in range(61)]
    plt.plot(xs, [math.sin(i / 5) * 1000 for i in range(61)])
    plt.xlim(xs[0], xs[-1])
    t = 1000.0 + 60 * 37.3
    plt.vline(t, "blue")
    plt.plotsize(90, 20)
    text = Text.from_ansi(plt.build())
    cols = plt._active.monitor.matrix.Cols_canvas  # type: ignore[attr-defined]
    axis = Axis(xs[0], xs[-1], cols.start, len(cols))
    col = axis.column(t)
    assert col is not None and col > cols.start
    rows = text.plain.splitlines()
    assert sum(1 for r in rows if len(r) > col and r[col] == "│") >= 10  # the vline is there
    assert axis.column(xs[0] - 1) is None and axis.column(xs[-1] + 1) is None


def test_lanes_count_what_falls_outside_and_mark_the_selection() -> None:
    deploys = _ev("E1", "get_recent_deployments", "changes", {"changes": [
        ROLLOUT, dict(ROLLOUT, time="2026-03-10T10:00:00Z", workload="early"),
        dict(ROLLOUT, time="2026-03-10T16:00:00Z", workload="late")]})
    changes = merge_changes([deploys])
    axis = Axis(_epoch("2026-03-10T13:00:00Z") or 0, _epoch("2026-03-10T15:00:00Z") or 0, 6, 80)
    inside, earlier, later = axis.split(changes)
    assert [c.subject for c in inside] == ["user-api"] and (earlier, later) == (1, 1)
    text = render_lanes(changes, axis, 86, selected=inside[0])
    lines = text.plain.splitlines()
    assert lines[0].startswith("  dep│") and lines[0].count(MARK) == 1
    assert lines[0].index(MARK) == axis.column(inside[0].t)
    assert all(MARK not in line for line in lines[1:4])  # other lanes are empty
    # Tick labels are centred on the tick columns (the chart's), as far as they fit.
    assert lines[5].index("13:00") + 2 == axis.column(axis.lo) and lines[5].endswith("15:00")
    assert lines[5].index("14:00") + 2 == axis.column(axis.ticks()[2])
    assert lines[4][axis.column(axis.ticks()[2]) or 0] == "┴"
    assert lines[4][axis.col_start - 1] == "└"
    # The selected change is drawn reversed.
    marked = [s for s in text.spans if "reverse" in str(s.style)]
    assert len(marked) == 1 and text.plain[marked[0].start:marked[0].end] == MARK


def _chart_column(chart: MetricPanel, t: float) -> int:
    """The screen column of the blue marker plotext drew at ``t`` on ``chart``'s plot."""
    plot = chart.query_one(PlotextPlot)
    rendered = plot.render()
    assert isinstance(rendered, Text)
    rows = rendered.plain.splitlines()
    cols = plot.plt._active.monitor.matrix.Cols_canvas  # type: ignore[attr-defined]
    lo, hi = chart.zoomed or chart.span  # type: ignore[misc]
    col = cols.start + math.floor(round(0.5 + (len(cols) - 1) * (t - lo) / (hi - lo), 8))
    # The rendered plot has a vertical line there, drawn in blue (a change marker).
    hits = [n for n, r in enumerate(rows) if len(r) > col and r[col] == "│"]
    assert len(hits) >= 5, "plotext drew the change marker in this column"
    return plot.region.x + col


@pytest.mark.asyncio
async def test_a_change_is_drawn_in_the_column_of_its_time_on_the_chart(
        demo_bundle: Path) -> None:
    plan = [CHART, ("infra_get_recent_deployments", {}), ("infra_get_events", {"window": "6h"})]
    app = make_app(bundle_scope(demo_bundle), plan=plan, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: collected(app, 3))
        app.action_reset_zoom()
        await app.show_evidence("E1", focus=False)
        chart = app.query_one("#panel-E1", MetricPanel)
        await wait_for(pilot, lambda: chart.query_one(PlotextPlot).size.height > 0)
        assert chart.span is not None
        rollout = next(c for c in merge_changes(app.hub.evidence)  # type: ignore[union-attr]
                       if c.lane == "deploy" and c.subject == "user-api")
        assert chart.span[0] <= rollout.t <= chart.span[1]
        chart_x = _chart_column(chart, rollout.t)
        # The changes panel: the same change, in the same screen column.
        await app.show_evidence("E2", focus=False)
        panel = app.query_one("#panel-E2", ChangesPanel)
        lanes = panel.query_one(TimelineLanes)
        await wait_for(pilot, lambda: lanes.region.width > 0 and lanes.axis is not None)
        lanes.render()
        assert lanes.axis is not None and lanes.axis.source.startswith("E1")
        assert lanes.selected == rollout  # this item's newest change is selected
        rendered = lanes.render()
        note, deploy_row = rendered.plain.splitlines()[:2]
        assert deploy_row.split("│")[0].strip() in ("deploys", "dep")
        assert deploy_row.index("│") == lanes.axis.col_start - 1  # where the chart's y axis is
        marks = [i for i, ch in enumerate(deploy_row) if ch != " " and i >= lanes.axis.col_start]
        assert lanes.region.x + lanes.axis.column(rollout.t) == chart_x  # type: ignore[operator]
        assert lanes.axis.column(rollout.t) in marks
        # Events and scaling from get_events are merged in (their own lanes).
        lanes_text = rendered.plain.splitlines()
        assert any(ch not in " │" for ch in lanes_text[3][lanes.axis.col_start:])  # scaling
        assert panel.query_one(".timeline-table", DataTable).row_count == len(panel.changes) > 2
        assert {s for c in panel.changes for s in c.sources} == {"E2", "E3"}
        inside, earlier, later = lanes.axis.split(panel.changes)
        assert f"{len(inside)} of {len(panel.changes)} changes" in note
        for count, word in ((earlier, "earlier"), (later, "later")):
            assert (f"{count} {word}" in note) == bool(count)
        # Selecting a narrower item (a log search around the rollout) zooms the charts; the
        # timeline follows them, and counts what the zoom leaves out.
        lo, hi = (ns_to_rfc3339(int((rollout.t + d) * 1e9)) for d in (-600, 600))
        app.query_one("#prompt", Input).value = f":logs user-api start={lo} end={hi}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E4")
        assert chart.zoomed is not None
        await app.show_evidence("E1", focus=False)
        await wait_for(pilot, lambda: chart.query_one(PlotextPlot).region.width > 0)
        await pilot.pause()
        zoomed_x = _chart_column(chart, rollout.t)
        await app.show_evidence("E2", focus=False)
        await wait_for(pilot, lambda: app.query_one("#panels", ContentSwitcher).current
                       == "panel-E2" and lanes.region.width > 0)
        await pilot.pause()
        assert chart.zoomed is not None  # showing the changes item kept the zoom
        lanes.render()
        assert (lanes.axis.lo, lanes.axis.hi) == chart.zoomed
        assert lanes.region.x + lanes.axis.column(rollout.t) == zoomed_x  # type: ignore[operator]
        inside, earlier, _ = lanes.axis.split(panel.changes)
        assert earlier and len(inside) < len(panel.changes)
        note = lanes.render().plain.splitlines()[0]
        assert f"{len(inside)} of {len(panel.changes)} changes" in note
        assert f"{earlier} earlier" in note and "zoomed" in note
        # `z` resets both.
        table = panel.query_one(".timeline-table", DataTable)
        table.focus()
        await pilot.press("z")
        await pilot.pause()
        lanes.render()
        assert (lanes.axis.lo, lanes.axis.hi) == chart.span
        # Selecting a change details it with the evidence it came from; enter shows that item.
        scaling_row = next(n for n, c in enumerate(panel.changes) if c.lane == "scaling")
        table.move_cursor(row=scaling_row)
        await pilot.pause()
        detail = str(panel.query_one(".timeline-detail").render())
        assert "from: E3 infra.get_events" in detail
        assert lanes.selected == panel.changes[scaling_row]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E3")


def test_changes_timeline_screen(demo_bundle: Path, snap_compare: Any) -> None:
    """The demo investigated by the offline investigator, its rollouts on the chart's axis.

    At 110 columns the panels are a tab of their own: the screen shows the changes panel
    alone. (The offline answer's wording varies with how many error patterns the miner
    finds on a loaded machine, "and 2 more" or "and 3 more": not this test's subject.)
    """
    from obsbench.agent.select import AgentChoice, build_investigator
    from obsbench.config import AgentConfig

    app = make_app(bundle_scope(demo_bundle), question="What is wrong?")
    app.investigator_factory = lambda hub: build_investigator(AgentChoice("offline"), hub,
                                                              AgentConfig())

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: answered(app), timeout_s=90)
        assert app.hub is not None
        items = list(app.hub.evidence)
        chart = next(e.id for e in items if e.tool == "find_anomalies")
        deploys = next(e.id for e in items if e.tool == "get_recent_deployments")
        app.action_reset_zoom()
        await app.show_evidence(chart, focus=False)
        plot = app.query_one(f"#panel-{chart}").query_one(PlotextPlot)
        await wait_for(pilot, lambda: plot.size.height > 0)  # laid out: its y labels are known
        await app.show_evidence(deploys, focus=False)
        lanes = app.query_one(f"#panel-{deploys}", ChangesPanel).lanes
        await wait_for(pilot, lambda: lanes.axis is not None
                       and lanes.axis.source.startswith(chart))
        assert app.query_one("#tabs", Tabs).active == "tab-panel"  # the panel, not the chat
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 40), run_before=run_before)
