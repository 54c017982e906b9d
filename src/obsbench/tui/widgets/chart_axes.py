"""How a metric chart gives series of different units their own y axes.

Golden signals mix requests/s, error ratios, seconds and saturation: on one y axis
the small ones lie flat on zero. The chart stacks one pane per unit instead (as
dashboards give each signal its own panel), all on the same time axis: every pane's
y labels are padded to one width, so a time is in the same column in every pane and
in the changes timeline drawn under the chart. Pure functions, no Textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_PANES = 4
PANE_MIN_ROWS = 6  # a pane's frame, 3+ rows of canvas and its share of the x labels


@dataclass(frozen=True)
class Pane:
    """One stacked plot: the series it draws and the unit of its y axis."""

    units: tuple[str, ...]  # more than one only in the last pane, when units outnumber panes
    members: tuple[int, ...]  # indexes into the chart's series

    @property
    def unit(self) -> str:
        """The y axis unit ("" when the pane mixes units or they are unknown)."""
        return self.units[0] if len(self.units) == 1 else ""


def max_panes(rows: int) -> int:
    """How many panes fit ``rows`` terminal rows (0: not laid out yet, assume they all do)."""
    return MAX_PANES if rows <= 0 else max(1, min(MAX_PANES, rows // PANE_MIN_ROWS))


def plan_panes(units: Sequence[str], limit: int) -> list[Pane]:
    """One pane per unit, in order of first appearance; units past ``limit`` share the last."""
    order = list(dict.fromkeys(units))
    if len(order) <= 1 or limit <= 1:
        return [Pane(tuple(order), tuple(range(len(units))))]
    groups: list[tuple[str, ...]] = [(u,) for u in order]
    if len(groups) > limit:
        groups = [*groups[:limit - 1], tuple(order[limit - 1:])]
    return [Pane(group, tuple(i for i, u in enumerate(units) if u in group))
            for group in groups]


def y_range(values: Sequence[float]) -> tuple[float, float]:
    """The y limits for ``values``: their min and max, widened when flat or empty."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.1 or 1.0
    return (lo - pad, hi + pad) if lo < 0 else (max(0.0, lo - pad), hi + pad)


def y_ticks(lo: float, hi: float, unit: str, count: int) -> list[tuple[float, str]]:
    """``count`` evenly spaced ticks from ``lo`` to ``hi``, labelled in ``unit``."""
    from obsbench_servers.metrics.units import fmt, fmt_unit  # noqa: PLC0415 - chart only

    count = max(2, count)
    values = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    return [(v, fmt_unit(v, unit) if unit else fmt(v)) for v in values]


def pad_labels(ticks: Sequence[list[tuple[float, str]]]) -> list[list[tuple[float, str]]]:
    """Right-justify every pane's labels to the widest: the panes' canvases then start in
    the same column, so one x axis serves them all."""
    width = max((len(label) for pane in ticks for _, label in pane), default=0)
    return [[(v, label.rjust(width)) for v, label in pane] for pane in ticks]
