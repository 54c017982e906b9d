"""The session's changes timeline: one lane per kind on the metric charts' time axis.

Every changes-like evidence item (rollouts and config edits of
``get_recent_deployments``, scaling events of ``get_autoscaling_events``,
Kubernetes events of ``get_events``, the change and Kubernetes entries of an
incident timeline) is merged into one list of ``Change``; the same change seen
by two tools is one change with two sources. ``Axis`` is the x axis of a
metric chart as plotext draws it (the first data column and how many there
are), so a change at time T is drawn in the same terminal column as T on the
chart. Changes outside the axis are counted, never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.widget import Widget

from obsbench.evidence import Evidence

LANES: tuple[str, ...] = ("deploy", "config", "scaling", "k8s")
LANE_NAMES = {"deploy": "deploys", "config": "config", "scaling": "scaling", "k8s": "events"}
LANE_SHORT = {"deploy": "dep", "config": "cfg", "scaling": "scl", "k8s": "k8s"}
CHANGE_TOOLS = frozenset({"get_recent_deployments", "get_autoscaling_events", "get_events",
                          "get_incident_timeline"})
SCALING_REASONS = frozenset({"ScalingReplicaSet", "SuccessfulRescale", "FailedRescale",
                             "FailedGetScale", "FailedComputeMetricsReplicas"})
DEFAULT_GUTTER = 8  # lane names when no chart gives the axis ("events │")
MARK = "◆"


def _epoch(value: Any) -> float | None:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def hhmm(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M")


@dataclass(frozen=True)
class Change:
    """One change on the timeline; ``sources`` are the evidence ids it came from."""

    t: float
    lane: str
    subject: str  # the workload, object or config it is about
    what: str  # one line
    sources: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[float, str, str, str]:
        return (self.t, self.lane, self.subject, self.what)


def is_changes_like(ev: Evidence) -> bool:
    """Items whose payload holds changes: deploys, scaling, Kubernetes events, timelines."""
    return not ev.is_error and (ev.kind == "changes" or ev.tool in CHANGE_TOOLS)


def _from_change(c: dict[str, Any], ev_id: str) -> Change | None:
    t = _epoch(c.get("time"))
    if t is None:
        return None
    if c.get("kind") == "rollout":
        images = ", ".join(str(i.get("to", "")).rsplit("/", 1)[-1] for i in c.get("images") or [])
        what = str(c.get("change_cause") or images or c.get("summary") or "rollout")
        subject = str(c.get("workload") or "")
        return Change(t, "deploy", subject, what, (ev_id,), c)
    subject = str(c.get("name") or c.get("workload") or "")
    return Change(t, "config", subject, str(c.get("summary") or c.get("kind") or "config edit"),
                  (ev_id,), c)


def _from_event(e: dict[str, Any], ev_id: str) -> Change | None:
    t = _epoch(e.get("first")) or _epoch(e.get("last"))
    if t is None:
        return None
    reason = str(e.get("reason") or "")
    if e.get("object_name"):
        subject = f"{e.get('object_kind') or ''}/{e['object_name']}".lstrip("/")
    else:
        subject = ", ".join(e.get("objects") or [])[:60] or str(e.get("object") or "")
    count = int(e.get("count") or 1)
    what = f"{reason}{f' x{count}' if count > 1 else ''}: {e.get('message') or ''}".strip()
    lane = "scaling" if reason in SCALING_REASONS else "k8s"
    return Change(t, lane, subject, what, (ev_id,), e)


def changes_of(ev: Evidence) -> list[Change]:
    """The changes one evidence item holds (empty for anything else)."""
    if not is_changes_like(ev):
        return []
    p = ev.payload
    out: list[Change | None] = []
    out += [_from_change(c, ev.id) for c in p.get("changes") or [] if isinstance(c, dict)]
    out += [_from_event(e, ev.id) for e in p.get("events") or [] if isinstance(e, dict)]
    for entry in p.get("entries") or []:  # an incident timeline: its change and k8s entries
        detail = entry.get("detail") if isinstance(entry, dict) else None
        if not isinstance(detail, dict):
            continue
        if entry.get("source") == "change":
            out.append(_from_change(dict(detail, time=detail.get("time") or entry.get("time")),
                                    ev.id))
        elif entry.get("source") == "kubernetes":
            ev_like = dict(detail, first=entry.get("time"))
            ev_like.setdefault("objects", [detail.get("object")] if detail.get("object") else [])
            out.append(_from_event(ev_like, ev.id))
    return [c for c in out if c is not None]


def merge_changes(items: Iterable[Evidence]) -> list[Change]:
    """Every change of every item, oldest first; one change seen twice keeps both sources."""
    merged: dict[tuple[float, str, str, str], Change] = {}
    for ev in items:
        for c in changes_of(ev):
            seen = merged.get(c.key)
            if seen is None:
                merged[c.key] = c
            elif c.sources[0] not in seen.sources:
                merged[c.key] = Change(seen.t, seen.lane, seen.subject, seen.what,
                                       seen.sources + c.sources, seen.detail)
    return sorted(merged.values(), key=lambda c: (c.t, LANES.index(c.lane), c.subject))


@dataclass(frozen=True)
class Axis:
    """An x axis as plotext lays it out: [lo, hi] over ``width`` columns from ``col_start``."""

    lo: float
    hi: float
    col_start: int
    width: int
    source: str = ""  # what the axis follows, for the panel's note

    def column(self, t: float) -> int | None:
        """The column of ``t`` (plotext's own mapping), None outside the axis."""
        if not (self.lo <= t <= self.hi) or self.hi <= self.lo or self.width <= 0:
            return None
        rel = 0.5 + (self.width - 1) * (t - self.lo) / (self.hi - self.lo)
        return self.col_start + math.floor(round(rel, 8))

    def ticks(self) -> list[float]:
        """Five ticks, as the metric charts place theirs."""
        return [self.lo + (self.hi - self.lo) * i / 4 for i in range(5)]

    def split(self, changes: list[Change]) -> tuple[list[Change], int, int]:
        """(inside, earlier, later): what the axis shows and what it does not."""
        inside = [c for c in changes if self.lo <= c.t <= self.hi]
        earlier = sum(1 for c in changes if c.t < self.lo)
        return inside, earlier, len(changes) - len(inside) - earlier


def render_lanes(changes: list[Change], axis: Axis | None, total_width: int,
                 selected: Change | None = None, *, accent: str = "bold") -> Text:
    """One row per lane, then the axis line and its time ticks (aligned with the chart's)."""
    text = Text(no_wrap=True, overflow="crop")
    if axis is None or total_width <= axis.col_start + 1:
        text.append("no time axis yet", style="dim")
        return text
    gutter = max(axis.col_start - 1, 0)
    full = all(len(name) <= gutter for name in LANE_NAMES.values())  # else all short
    for n, lane in enumerate(LANES):
        row: dict[int, list[Change]] = {}
        for c in changes:
            col = axis.column(c.t) if c.lane == lane else None
            if col is not None:
                row.setdefault(col, []).append(c)
        name = (LANE_NAMES if full else LANE_SHORT)[lane]
        text.append(name[:gutter].rjust(gutter) + "│", style="dim")
        pos = axis.col_start
        for col in sorted(row):
            if col >= total_width:
                break
            text.append(" " * (col - pos))
            here = row[col]
            mark = MARK if len(here) == 1 else (str(len(here)) if len(here) < 10 else "+")
            text.append(mark, style=f"reverse {accent}" if selected in here else accent)
            pos = col + 1
        text.append(" " * max(min(total_width, axis.col_start + axis.width) - pos, 0))
        if n < len(LANES) - 1:
            text.append("\n")
    ticks = [axis.column(t) for t in axis.ticks()]
    line = [" "] * gutter + ["└"] + ["─"] * axis.width
    for col in ticks:
        if col is not None and col < len(line):
            line[col] = "┴"
    text.append("\n" + "".join(line)[:total_width], style="dim")
    labels = [" "] * total_width
    free = 0
    for t, col in zip(axis.ticks(), ticks, strict=True):
        if col is None:
            continue
        label = hhmm(t)
        start = min(max(col - len(label) // 2, free), total_width - len(label))
        if start < free or start < 0:
            continue
        labels[start:start + len(label)] = list(label)
        free = start + len(label) + 1
    text.append("\n" + "".join(labels).rstrip(), style="dim")
    return text


# (width, height of a chart in this place) -> the axis to draw on.
AxisSource = Callable[[int, int], Axis | None]


def axis_note(changes: list[Change], axis: Axis | None) -> str:
    """``59 of 60 changes on 13:00..15:00 (axis of E1 query_range); 1 earlier``."""
    if axis is None:
        return f"{len(changes)} changes; no time axis yet"
    inside, earlier, later = axis.split(changes)
    out = ", ".join(p for p in (f"{earlier} earlier" if earlier else "",
                                f"{later} later" if later else "") if p)
    fmt = "%m-%d %H:%M" if axis.hi - axis.lo > 20 * 3600 else "%H:%M"
    lo, hi = (datetime.fromtimestamp(t, UTC).strftime(fmt) for t in (axis.lo, axis.hi))
    return (f"{len(inside)} of {len(changes)} changes on {lo}..{hi} (axis of {axis.source})"
            + (f"; {out}" if out else ""))


class TimelineLanes(Widget):
    """The note and the lanes, drawn at render time for the widget's width on the axis
    ``axis_for`` gives (so they follow a zoom or a resize with no bookkeeping)."""

    DEFAULT_CSS = """
    TimelineLanes { height: 7; width: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.changes: list[Change] = []
        self.axis_for: AxisSource = lambda width, height: None
        self.chart_height = 0  # how tall a chart in this place would be (for its y labels)
        self.selected: Change | None = None
        self.axis: Axis | None = None  # the axis of the last render

    def render(self) -> Text:
        self.axis = self.axis_for(self.size.width, self.chart_height)
        accent = self.app.get_css_variables().get("accent", "bold") if self.is_attached \
            else "bold"
        text = Text(axis_note(self.changes, self.axis) + "\n", style="dim", no_wrap=True,
                    overflow="ellipsis")
        text.append_text(render_lanes(self.changes, self.axis, self.size.width, self.selected,
                                      accent=f"bold {accent}"))
        return text
