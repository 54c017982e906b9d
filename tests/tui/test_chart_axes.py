"""Series of different units get their own stacked panes on one time axis."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual_plotext import PlotextPlot
from tui_support import bundle_scope, collected, make_app, wait_for

from obsbench.tui.widgets.chart_axes import (
    MAX_PANES,
    PANE_MIN_ROWS,
    max_panes,
    pad_labels,
    plan_panes,
    y_range,
    y_ticks,
)
from obsbench.tui.widgets.panels import MetricPanel

GOLDEN_UNITS = ["req/s", "ratio", "ratio", "s", "ratio"]


def test_one_pane_per_unit_in_order_of_first_appearance() -> None:
    panes = plan_panes(GOLDEN_UNITS, MAX_PANES)
    assert [p.unit for p in panes] == ["req/s", "ratio", "s"]
    assert [p.members for p in panes] == [(0,), (1, 2, 4), (3,)]


def test_units_past_the_limit_share_the_last_pane_which_then_has_no_unit() -> None:
    panes = plan_panes(GOLDEN_UNITS, 2)
    assert [p.units for p in panes] == [("req/s",), ("ratio", "s")]
    assert panes[1].unit == "" and panes[1].members == (1, 2, 3, 4)
    # Every series is drawn exactly once, whatever the limit.
    for limit in range(1, 6):
        members = [i for p in plan_panes(GOLDEN_UNITS, limit) for i in p.members]
        assert sorted(members) == list(range(len(GOLDEN_UNITS)))


def test_a_single_unit_or_a_single_pane_is_one_pane_with_every_series() -> None:
    assert [(p.unit, p.members) for p in plan_panes(["s", "s"], 4)] == [("s", (0, 1))]
    one = plan_panes(GOLDEN_UNITS, 1)
    assert len(one) == 1 and one[0].unit == "" and one[0].members == (0, 1, 2, 3, 4)
    assert plan_panes([], 4)[0].members == ()


def test_panes_need_rows() -> None:
    assert max_panes(0) == MAX_PANES  # not laid out yet
    assert max_panes(PANE_MIN_ROWS * 2 + 1) == 2
    assert max_panes(3) == 1
    assert max_panes(500) == MAX_PANES


def test_y_range_widens_a_flat_or_empty_series() -> None:
    assert y_range([0.2, 0.5, 0.3]) == (0.2, 0.5)
    lo, hi = y_range([0.0, 0.0])
    assert lo == 0.0 and hi > 0.0
    lo, hi = y_range([-4.0])
    assert lo < -4.0 < hi
    assert y_range([]) == (0.0, 1.0)


def test_tick_labels_carry_the_unit_and_share_one_width() -> None:
    ratio = y_ticks(0.0, 0.5, "ratio", 3)
    assert [label for _, label in ratio] == ["0%", "25%", "50%"]
    latency = y_ticks(0.1, 2.0, "s", 2)
    assert [label for _, label in latency] == ["100 ms", "2 s"]
    padded = pad_labels([ratio, latency, y_ticks(0, 12000, "req/s", 3)])
    widths = {len(label) for pane in padded for _, label in pane}
    assert widths == {len("1.2k req/s")}
    assert padded[0][0] == (0.0, "0%".rjust(len("1.2k req/s")))


@pytest.mark.asyncio
async def test_golden_signals_of_different_units_are_stacked_on_one_time_axis(
        demo_bundle: Path) -> None:
    plan = [("metrics_get_service_golden_signals", {"service": "user-api"})]
    app = make_app(bundle_scope(demo_bundle), plan=plan, question="why?")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: collected(app, 1))
        await app.show_evidence("E1", focus=False)
        chart = app.query_one("#panel-E1", MetricPanel)
        plot = chart.query_one(PlotextPlot)
        await wait_for(pilot, lambda: plot.size.height > 0)
        await pilot.pause()
        units = list(dict.fromkeys(chart.units))
        assert len(units) >= 3, "the golden signals mix units"
        assert [p.unit for p in chart.panes] == units[:len(chart.panes)]
        assert len(chart.panes) == min(len(units), max_panes(plot.size.height))
        note = str(chart.query_one(".panel-note").render())
        assert "one y axis per unit: " + ", ".join(units[:len(chart.panes) - 1]) in note
        rendered = plot.render()
        assert isinstance(rendered, Text)
        rows = rendered.plain.splitlines()
        # Every pane has its own frame, and all frames start in one column: one time axis.
        tops = [r for r in rows if "┌" in r]
        assert len(tops) == len(chart.panes)
        assert len({r.index("┌") for r in tops}) == 1
        # The bottom pane carries the time labels; the ratio pane's labels are percentages.
        assert sum("time (UTC)" in r for r in rows) == 1
        assert any(r.rstrip().endswith("%┤") or "%┤" in r for r in rows)
        # The chart's x axis (used by the changes timeline) is where the frames are.
        axis = chart.x_axis(plot.size.width)
        assert axis is not None and axis.col_start == tops[0].index("┌") + 1
        # A shorter panel stacks fewer panes; every series is still drawn.
        await pilot.resize_terminal(160, 24)
        await wait_for(pilot, lambda: len(chart.panes) < min(len(units), MAX_PANES))
        assert sorted(i for p in chart.panes for i in p.members) == list(
            range(len(chart.series)))
