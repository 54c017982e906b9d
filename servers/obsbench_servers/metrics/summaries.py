"""What an LLM needs from a time series, in a few dozen tokens: statistics, change points, shape.

- ``summarize``: min, max, mean, p95, first, last, a trend (least-squares slope
  per hour and its size relative to the level) and the change points;
- ``change_points``: binary segmentation on mean shifts, each accepted only when
  the shift is large against the series' own noise (a robust estimate from the
  first differences) and against its level; returns the times and levels before
  and after, so "latency went 0.1 s -> 2.1 s at 13:47" reaches the model exactly;
- ``lttb``: Largest-Triangle-Three-Buckets downsampling, which keeps the peaks
  and dips a uniform resampling would drop;
- ``sparkline``: the downsampled shape as one line of block characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obsbench_servers.common.timeutil import NS_PER_S, ns_to_rfc3339

BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass
class ChangePoint:
    """A level shift at ``t`` (epoch s): mean ``before`` -> mean ``after``."""

    t: float
    before: float
    after: float
    score: float

    @property
    def ratio(self) -> float:
        if self.before == 0:
            return math.inf if self.after != 0 else 1.0
        return self.after / self.before

    def to_dict(self) -> dict[str, Any]:
        return {"time": ns_to_rfc3339(int(self.t * NS_PER_S)), "before": self.before,
                "after": self.after, "score": round(self.score, 2)}


@dataclass
class Summary:
    n: int
    min: float
    max: float
    mean: float
    p95: float
    first: float
    last: float
    slope_per_h: float
    trend: str
    change_points: list[ChangePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.n, "min": self.min, "max": self.max, "mean": self.mean,
                "p95": self.p95, "first": self.first, "last": self.last,
                "slope_per_hour": self.slope_per_h, "trend": self.trend,
                "change_points": [c.to_dict() for c in self.change_points]}


def noise_sigma(v: np.ndarray) -> float:
    """Robust noise level: MAD of first differences (insensitive to level shifts)."""
    if len(v) < 3:
        return 0.0
    d = np.diff(v)
    mad = float(np.median(np.abs(d - np.median(d))))
    return 1.4826 * mad / math.sqrt(2)


def change_points(  # noqa: PLR0917 - tuning knobs with defaults
    ts: np.ndarray, v: np.ndarray, max_points: int = 6, min_size: int = 3,
    threshold: float = 6.0, min_rel: float = 0.1,
) -> list[ChangePoint]:
    """Mean-shift change points by binary segmentation, strongest splits first."""
    finite = np.isfinite(v)
    ts, v = ts[finite], v[finite]
    n = len(v)
    if n < 2 * min_size:
        return []
    sigma = noise_sigma(v)
    spread = float(np.max(v) - np.min(v))
    level = float(np.median(np.abs(v)))
    floor = max(sigma, 1e-3 * spread, 1e-12)
    found: list[tuple[int, float]] = []
    segments = [(0, n)]
    while segments and len(found) < max_points:
        best: tuple[float, int, int, int] | None = None
        for a, b in segments:
            k, score = _best_split(v[a:b], min_size, floor)
            if k is not None and (best is None or score > best[0]):
                best = (score, a + k, a, b)
        if best is None:
            break
        score, k, a, b = best
        left, right = float(np.mean(v[a:k])), float(np.mean(v[k:b]))
        rel = abs(right - left) / max(abs(left), abs(right), 1e-12)
        segments.remove((a, b))
        if score < threshold or (rel < min_rel and abs(right - left) < 0.1 * max(level, 1e-12)):
            continue
        found.append((k, score))
        segments += [(a, k), (k, b)]
    found.sort()
    out = []
    bounds = [0, *[k for k, _ in found], n]
    for i, (k, score) in enumerate(found):
        before = float(np.mean(v[bounds[i]:k]))
        after = float(np.mean(v[k:bounds[i + 2]]))
        out.append(ChangePoint(float(ts[k]), before, after, score))
    return merge_transitions(out, gap_s=max(300.0, 0.05 * float(ts[-1] - ts[0])))


def merge_transitions(cps: list[ChangePoint], gap_s: float) -> list[ChangePoint]:
    """Join consecutive shifts in the same direction close in time into one transition.

    A step seen through ``rate(...[5m])`` becomes a ramp that segmentation cuts into
    several small steps; a person reads it as one change from the first level to the last.
    """
    merged: list[ChangePoint] = []
    for c in cps:
        prev = merged[-1] if merged else None
        if (prev is not None and c.t - prev.t <= gap_s
                and (c.after - c.before) * (prev.after - prev.before) > 0):
            merged[-1] = ChangePoint(prev.t, prev.before, c.after, max(prev.score, c.score))
        else:
            merged.append(c)
    return merged


def _best_split(v: np.ndarray, min_size: int, floor: float) -> tuple[int | None, float]:
    n = len(v)
    if n < 2 * min_size:
        return None, 0.0
    cs = np.cumsum(v)
    total = cs[-1]
    ks = np.arange(min_size, n - min_size + 1)
    left_mean = cs[ks - 1] / ks
    right_mean = (total - cs[ks - 1]) / (n - ks)
    t = np.abs(right_mean - left_mean) / (floor * np.sqrt(1 / ks + 1 / (n - ks)))
    i = int(np.argmax(t))
    return int(ks[i]), float(t[i])


def summarize(ts: np.ndarray, v: np.ndarray, *, with_change_points: bool = True) -> Summary:
    finite = np.isfinite(v)
    fv = v[finite]
    if len(fv) == 0:
        nan = math.nan
        return Summary(len(v), nan, nan, nan, nan, nan, nan, 0.0, "no finite values")
    slope = 0.0
    if len(fv) >= 3 and float(ts[finite][-1] - ts[finite][0]) > 0:
        x = ts[finite] - ts[finite][0]
        slope = float(np.polyfit(x, fv, 1)[0]) * 3600
    span_h = float(ts[-1] - ts[0]) / 3600 if len(ts) > 1 else 0.0
    level = max(float(np.mean(np.abs(fv))), 1e-12)
    moved = slope * span_h / level
    if abs(moved) < 0.1:
        trend = "flat"
    else:
        trend = f"{'rising' if moved > 0 else 'falling'} ({moved * 100:+.0f}% over the range)"
    cps = change_points(ts, v) if with_change_points else []
    return Summary(
        n=len(v), min=float(np.min(fv)), max=float(np.max(fv)), mean=float(np.mean(fv)),
        p95=float(np.percentile(fv, 95)), first=float(fv[0]), last=float(fv[-1]),
        slope_per_h=slope, trend=trend, change_points=cps,
    )


def lttb(ts: np.ndarray, v: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of the LTTB downsampling of (ts, v) to ``n_out`` points (first and last kept)."""
    n = len(v)
    if n_out >= n or n_out < 3:
        return np.arange(n)
    finite_v = np.where(np.isfinite(v), v, 0.0)
    out = [0]
    bucket = (n - 2) / (n_out - 2)
    a = 0
    for i in range(n_out - 2):
        start = math.floor(i * bucket) + 1
        end = math.floor((i + 1) * bucket) + 1
        nxt_start = end
        nxt_end = min(math.floor((i + 2) * bucket) + 1, n)
        avg_t = float(np.mean(ts[nxt_start:nxt_end])) if nxt_end > nxt_start else float(ts[-1])
        avg_v = (float(np.mean(finite_v[nxt_start:nxt_end])) if nxt_end > nxt_start
                 else float(finite_v[-1]))
        seg_t = ts[start:end]
        seg_v = finite_v[start:end]
        area = np.abs((ts[a] - avg_t) * (seg_v - finite_v[a])
                      - (ts[a] - seg_t) * (avg_v - finite_v[a]))
        a = start + int(np.argmax(area))
        out.append(a)
    out.append(n - 1)
    return np.array(out)


def sparkline(ts: np.ndarray, v: np.ndarray, width: int = 32) -> str:
    """The LTTB shape of a series as block characters (NaN as a space)."""
    if len(v) == 0:
        return ""
    idx = lttb(ts, v, width)
    pts = v[idx]
    finite = pts[np.isfinite(pts)]
    if len(finite) == 0:
        return " " * len(pts)
    lo, hi = float(np.min(finite)), float(np.max(finite))
    span = hi - lo
    chars = []
    for x in pts:
        if not math.isfinite(x):
            chars.append(" ")
        elif span <= 0:
            chars.append(BLOCKS[3])
        else:
            chars.append(BLOCKS[min(7, int((x - lo) / span * 7.999))])
    return "".join(chars)


def hhmm(t: float) -> str:
    """Epoch seconds as ``HH:MM`` UTC (with seconds when not on a minute)."""
    text = ns_to_rfc3339(int(t * NS_PER_S))
    return text[11:16] if text[17:19] == "00" else text[11:19]
