"""Query guards shared by every server: refuse what would hurt a backend, before asking it.

A model can ask for ten years at one-second resolution, or a selector that
matches every series of a cluster. Guards check the request against the
backend's ``Limits`` (``common/backend.py``) and refuse with ``GuardError``:
the reason, and a narrower request that would pass (a step, a range, a limit).
They run before the backend is contacted, so a refused query costs nothing.

- ``check_range``: the time range is not wider than ``limits.max_range``.
- ``choose_step``: the step that keeps every series within a point budget.
- ``check_points``: a given step stays within ``limits.max_points_per_series``
  and Prometheus's own 11,000 points per series.
- ``check_series``: how many series a result may carry (``limits.max_series``).
- ``timeout_s``: the deadline of one query for a backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from obsbench_servers.common.backend import Limits
from obsbench_servers.common.errors import GuardError
from obsbench_servers.common.timeutil import NS_PER_S, TimeRange, format_duration_ns

PROMETHEUS_MAX_POINTS = 11_000  # Prometheus refuses range queries above this per series
DEFAULT_POINT_BUDGET = 1_000  # what a panel and a summary need; the LLM sees far fewer
# Steps a person would pick (seconds): the chosen step is rounded up to one of them.
NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400)


@dataclass(frozen=True)
class StepChoice:
    """A step and how many points per series it yields over the range."""

    step_s: int
    points: int


def points_for(range_ns: int, step_s: float) -> int:
    """Points per series of a range query (both ends included, as Prometheus counts)."""
    return int(range_ns // int(step_s * NS_PER_S)) + 1 if step_s > 0 else 0


def max_points(limits: Limits) -> int:
    return min(limits.max_points_per_series, PROMETHEUS_MAX_POINTS)


def check_range(tr: TimeRange, limits: Limits, *, what: str = "query") -> None:
    """Refuse a range wider than ``limits.max_range``, suggesting the widest allowed one."""
    if tr.duration_ns > limits.max_range_ns:
        raise GuardError(
            f"the {what} covers {format_duration_ns(tr.duration_ns)}, more than this backend's "
            f"limit of {limits.max_range} (limits.max_range)",
            f"ask for at most {limits.max_range}: e.g. start = end - {limits.max_range}, or "
            "look at the incident window only",
        )


def choose_step(range_ns: int, limits: Limits, budget: int = DEFAULT_POINT_BUDGET,
                min_step_s: float = 1.0) -> StepChoice:
    """The smallest nice step that keeps each series within ``budget`` points (and the limits)."""
    cap = min(budget, max_points(limits))
    raw = range_ns / NS_PER_S / max(cap - 1, 1)
    step = next((s for s in NICE_STEPS_S if s >= max(raw, min_step_s)), None)
    if step is None:
        step = int(math.ceil(max(raw, min_step_s) / 86400) * 86400)
    return StepChoice(step, points_for(range_ns, step))


def check_points(tr: TimeRange, step_s: float, limits: Limits) -> int:
    """Refuse a step that gives a series more points than allowed; return the point count."""
    if step_s <= 0:
        raise GuardError(f"step must be positive (got {step_s:g}s)",
                         "give a step such as 30s, 1m or 5m, or leave it out to have one chosen")
    points = points_for(tr.duration_ns, step_s)
    cap = max_points(limits)
    if points > cap:
        better = choose_step(tr.duration_ns, limits, budget=cap)
        widest = format_duration_ns(int(step_s * NS_PER_S) * (cap - 1))
        why = ("Prometheus's limit of 11,000 points per series"
               if cap == PROMETHEUS_MAX_POINTS else
               f"limits.max_points_per_series = {limits.max_points_per_series:,}")
        raise GuardError(
            f"{format_duration_ns(tr.duration_ns)} at a {step_s:g}s step is {points:,} points "
            f"per series, over {why}",
            f"use step={better.step_s}s ({better.points:,} points), or keep step={step_s:g}s "
            f"and narrow the range to at most {widest}; leaving step out chooses one",
        )
    return points


def check_series(count: int, limits: Limits, *, what: str = "the selector",
                 limit: int | None = None, setting: str = "limits.max_series") -> None:
    """Refuse a request known in advance to return more series than ``limits.max_series``
    (or than ``limit``, named ``setting``: e.g. how many series one selector may read)."""
    cap = limits.max_series if limit is None else limit
    if count > cap:
        raise GuardError(
            f"{what} matches {count:,} series, more than {setting} ({cap:,})",
            "add label matchers (service, pod, route, status) or aggregate, e.g. "
            "sum by (service) (...) or topk(10, ...)",
        )


def cap_series(count: int, limits: Limits) -> tuple[int, str | None]:
    """How many of ``count`` result series to keep, and the note saying what was cut."""
    if count <= limits.max_series:
        return count, None
    return limits.max_series, (
        f"result capped at {limits.max_series:,} of {count:,} series (limits.max_series); "
        "aggregate or add matchers to see the rest"
    )


def timeout_s(limits: Limits, total: float | None = None, default: float = 60.0) -> float:
    """The deadline of one query: the backend's total timeout, else ``default``."""
    del limits  # kept in the signature: per-backend query timeouts may move into Limits
    return float(total) if total else default
