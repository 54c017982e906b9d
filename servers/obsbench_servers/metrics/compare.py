"""Comparing two time windows: "now vs the same time last week", per series.

Both windows are queried with the same step; series are matched by labels. A
series is *outside normal variation* when its median in the window falls
outside the 5th-95th percentile band of the baseline and its robust z-score
(against the baseline's median and MAD, floored at 5% of the level) exceeds 3:
a shift that a normal day would not produce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from obsbench_servers.metrics.backend import SeriesData


@dataclass
class Delta:
    labels: dict[str, str]
    window_median: float
    baseline_median: float
    window_mean: float
    baseline_mean: float
    window_p95: float
    baseline_p95: float
    z: float
    outside: bool
    present: str = "both"  # both | window only | baseline only

    @property
    def ratio(self) -> float:
        if self.baseline_median == 0 or not math.isfinite(self.baseline_median):
            return math.nan
        return self.window_median / self.baseline_median

    def to_dict(self) -> dict[str, Any]:
        def n(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"labels": self.labels, "window": {"median": n(self.window_median),
                                                  "mean": n(self.window_mean),
                                                  "p95": n(self.window_p95)},
                "baseline": {"median": n(self.baseline_median), "mean": n(self.baseline_mean),
                             "p95": n(self.baseline_p95)},
                "delta": n(self.window_median - self.baseline_median),
                "ratio": n(self.ratio), "z": n(self.z), "outside_normal_variation": self.outside,
                "present": self.present}


def _stats(v: np.ndarray) -> tuple[float, float, float]:
    f = v[np.isfinite(v)]
    if not len(f):
        return math.nan, math.nan, math.nan
    return float(np.median(f)), float(np.mean(f)), float(np.percentile(f, 95))


def compare_series(window: list[SeriesData], baseline: list[SeriesData]) -> list[Delta]:
    def key(s: SeriesData) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(s.labels.items()))

    base = {key(s): s for s in baseline}
    win = {key(s): s for s in window}
    out = []
    for k in list(win) + [k for k in base if k not in win]:
        w, b = win.get(k), base.get(k)
        wm, wmean, wp = _stats(w.values) if w is not None else (math.nan,) * 3
        bm, bmean, bp = _stats(b.values) if b is not None else (math.nan,) * 3
        z = math.nan
        outside = False
        if w is not None and b is not None:
            bv = b.values[np.isfinite(b.values)]
            if len(bv) >= 3 and math.isfinite(wm):
                mad = 1.4826 * float(np.median(np.abs(bv - bm)))
                scale = max(mad, 0.05 * abs(bm), 0.01 * max(abs(wm), abs(bm)), 1e-9)
                z = (wm - bm) / scale
                lo, hi = float(np.percentile(bv, 5)), float(np.percentile(bv, 95))
                outside = (wm < lo or wm > hi) and abs(z) > 3
        present = "both" if (w is not None and b is not None) else (
            "window only" if w is not None else "baseline only")
        out.append(Delta(dict(k), wm, bm, wmean, bmean, wp, bp, z, outside or present != "both",
                         present))
    out.sort(key=lambda d: (not d.outside, -abs(d.z) if math.isfinite(d.z) else 0.0))
    return out
