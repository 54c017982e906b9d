"""PromQL functions with Prometheus's (2.x) arithmetic, vectorised over the steps of a query.

Range-vector functions receive one series (stale markers already removed) and
the reference time of every step; the window of a step is ``[ref - range, ref]``
(both ends included, as Prometheus 2.x selects). Where Prometheus's result
depends on the order of floating-point operations (rate's extrapolation, the
incremental means), the same operations are done in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from obsbench_servers.metrics.promql.values import RawSeries

RangeResult = tuple[np.ndarray, np.ndarray]  # values (T,), present (T,)


def windows(s: RawSeries, refs: np.ndarray, range_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``lo, hi`` sample indices per step: the window is ``s.ts[lo:hi]``."""
    lo = np.searchsorted(s.ts, refs - range_ms, "left")
    hi = np.searchsorted(s.ts, refs, "right")
    return lo, hi


def _gather(v: np.ndarray, lo: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window values as a ``(T, W)`` matrix plus validity, W the widest window."""
    width = int(n.max()) if len(n) else 0
    cols = np.arange(max(width, 1))
    idx = lo[:, None] + cols[None, :]
    valid = cols[None, :] < n[:, None]
    idx = np.minimum(idx, max(len(v) - 1, 0))
    mat = v[idx] if len(v) else np.zeros(idx.shape)
    return mat, valid


# --------------------------------------------------------------------------- rate family


def extrapolated_rate(
    s: RawSeries, refs: np.ndarray, range_ms: int, *, is_counter: bool, is_rate: bool
) -> RangeResult:
    """rate, increase and delta: Prometheus's extrapolatedRate."""
    lo, hi = windows(s, refs, range_ms)
    n = hi - lo
    ok = n >= 2
    out = np.full(len(refs), np.nan)
    if not ok.any():
        return out, ok
    last = len(s.ts) - 1
    f = np.minimum(lo, last)
    la = np.clip(hi - 1, 0, last)
    first_v, last_v = s.vals[f], s.vals[la]
    result = last_v - first_v
    if is_counter and len(s.vals) > 1:
        resets = np.concatenate([[0], np.cumsum(s.vals[1:] < s.vals[:-1])])
        with_resets = np.nonzero(ok & (resets[la] - resets[f] > 0))[0]
        for k in with_resets:  # exact, in Prometheus's order of additions
            r = float(last_v[k] - first_v[k])
            prev = float(s.vals[f[k]])
            for cur in s.vals[f[k] + 1: la[k] + 1].tolist():
                if cur < prev:
                    r += prev
                prev = cur
            result[k] = r
    first_t, last_t = s.ts[f], s.ts[la]
    range_start = refs - range_ms
    dur_start = (first_t - range_start) / 1000
    dur_end = (refs - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    with np.errstate(all="ignore"):
        avg = sampled / (n - 1)
        if is_counter:
            cond = (result > 0) & (first_v >= 0)
            dz = sampled * (first_v / result)
            dur_start = np.where(cond & (dz < dur_start), dz, dur_start)
        thr = avg * 1.1
        ext = (sampled + np.where(dur_start < thr, dur_start, avg / 2)
               + np.where(dur_end < thr, dur_end, avg / 2))
        factor = ext / sampled
        if is_rate:
            factor = factor / (range_ms / 1000)
        out = result * factor
    return out, ok


def instant_value(s: RawSeries, refs: np.ndarray, range_ms: int, *, is_rate: bool) -> RangeResult:
    """irate and idelta: the last two samples of the window."""
    lo, hi = windows(s, refs, range_ms)
    ok = (hi - lo) >= 2
    out = np.full(len(refs), np.nan)
    if not ok.any():
        return out, ok
    la = np.clip(hi - 1, 0, len(s.ts) - 1)
    pr = np.clip(hi - 2, 0, len(s.ts) - 1)
    lv, pv = s.vals[la], s.vals[pr]
    res = np.where(lv < pv, lv, lv - pv) if is_rate else lv - pv
    interval = s.ts[la] - s.ts[pr]
    ok = ok & (interval != 0)
    if is_rate:
        with np.errstate(all="ignore"):
            res = res / (interval / 1000)
    return res, ok


# --------------------------------------------------------------------------- regressions


def _kahan_inc(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def linear_regression(ts: list[int], vs: list[float], intercept_ms: int) -> tuple[float, float]:
    """Prometheus's linearRegression (Kahan sums, constant-series shortcut)."""
    n = 0.0
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    init = vs[0]
    const = True
    for i, (t, v) in enumerate(zip(ts, vs, strict=True)):
        if const and i > 0 and v != init:
            const = False
        n += 1.0
        x = (t - intercept_ms) / 1e3
        sx, cx = _kahan_inc(x, sx, cx)
        sy, cy = _kahan_inc(v, sy, cy)
        sxy, cxy = _kahan_inc(x * v, sxy, cxy)
        sx2, cx2 = _kahan_inc(x * x, sx2, cx2)
    if const:
        if math.isinf(init):
            return math.nan, math.nan
        return 0.0, init
    sx += cx
    sy += cy
    sxy += cxy
    sx2 += cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = cov / var if var != 0 else (math.nan if cov == 0 else math.copysign(math.inf, cov))
    intercept = sy / n - slope * sx / n
    return slope, intercept


def deriv(s: RawSeries, refs: np.ndarray, range_ms: int) -> RangeResult:
    lo, hi = windows(s, refs, range_ms)
    ok = (hi - lo) >= 2
    out = np.full(len(refs), np.nan)
    ts, vs = s.ts.tolist(), s.vals.tolist()
    for k in np.nonzero(ok)[0]:
        a, b = int(lo[k]), int(hi[k])
        out[k] = linear_regression(ts[a:b], vs[a:b], ts[a])[0]
    return out, ok


def predict_linear(
    s: RawSeries, refs: np.ndarray, range_ms: int, eval_ts: np.ndarray, duration: np.ndarray
) -> RangeResult:
    lo, hi = windows(s, refs, range_ms)
    ok = (hi - lo) >= 2
    out = np.full(len(refs), np.nan)
    ts, vs = s.ts.tolist(), s.vals.tolist()
    for k in np.nonzero(ok)[0]:
        a, b = int(lo[k]), int(hi[k])
        slope, intercept = linear_regression(ts[a:b], vs[a:b], int(eval_ts[k]))
        out[k] = intercept + slope * float(duration[k])
    return out, ok


# --------------------------------------------------------------------------- *_over_time


def quantile(q: float, values: list[float]) -> float:
    """Prometheus's quantile: NaN sorts first, linear interpolation between ranks."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan
    vals = sorted(values, key=lambda x: (not math.isnan(x), x if not math.isnan(x) else 0.0))
    n = float(len(vals))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return vals[int(lower)] * (1 - weight) + vals[int(upper)] * weight


def over_time(
    name: str, s: RawSeries, refs: np.ndarray, range_ms: int, param: np.ndarray | None = None
) -> RangeResult:
    """The ``*_over_time`` family, ``changes`` and ``resets``."""
    lo, hi = windows(s, refs, range_ms)
    n = hi - lo
    ok = n >= 1
    out = np.full(len(refs), np.nan)
    if not ok.any():
        return out, ok
    if name == "count_over_time":
        return n.astype(float), ok
    if name == "present_over_time":
        return np.ones(len(refs)), ok
    if name == "last_over_time":
        return s.vals[np.clip(hi - 1, 0, len(s.vals) - 1)], ok
    if name in ("changes", "resets"):
        v = s.vals
        if name == "changes":
            ind = (v[1:] != v[:-1]) & ~(np.isnan(v[1:]) & np.isnan(v[:-1]))
        else:
            ind = v[1:] < v[:-1]
        cum = np.concatenate([[0], np.cumsum(ind)])
        first = np.minimum(lo, len(v) - 1)
        last = np.clip(hi - 1, 0, len(v) - 1)
        return (cum[last] - cum[first]).astype(float), ok
    if name == "quantile_over_time":
        assert param is not None
        vs = s.vals.tolist()
        for k in np.nonzero(ok)[0]:
            out[k] = quantile(float(param[k]), vs[int(lo[k]):int(hi[k])])
        return out, ok
    mat, valid = _gather(s.vals, lo, n)
    width = mat.shape[1]
    with np.errstate(all="ignore"):
        if name == "sum_over_time":
            acc = np.zeros(len(refs))
            for j in range(width):
                acc = np.where(valid[:, j], acc + mat[:, j], acc)
            return acc, ok
        if name in ("min_over_time", "max_over_time"):
            acc = mat[:, 0].copy()
            for j in range(1, width):
                col, use = mat[:, j], valid[:, j]
                better = (col < acc) if name == "min_over_time" else (col > acc)
                acc = np.where(use & (better | np.isnan(acc)), col, acc)
            return acc, ok
        if name == "avg_over_time":
            mean = np.zeros(len(refs))
            count = np.zeros(len(refs))
            for j in range(width):
                use = valid[:, j]
                col = mat[:, j]
                count = np.where(use, count + 1, count)
                inf_mean = np.isinf(mean)
                skip = inf_mean & (
                    (np.isinf(col) & ((mean > 0) == (col > 0)))
                    | (~np.isinf(col) & ~np.isnan(col))
                )
                step = col / count - mean / count
                mean = np.where(use & ~skip, mean + step, mean)
            return mean, ok
        if name in ("stddev_over_time", "stdvar_over_time"):
            mean = np.zeros(len(refs))
            aux = np.zeros(len(refs))
            count = np.zeros(len(refs))
            for j in range(width):
                use = valid[:, j]
                col = mat[:, j]
                count = np.where(use, count + 1, count)
                delta = col - mean
                new_mean = mean + delta / count
                aux = np.where(use, aux + delta * (col - new_mean), aux)
                mean = np.where(use, new_mean, mean)
            var = aux / count
            return (np.sqrt(var) if name == "stddev_over_time" else var), ok
    raise KeyError(name)


OVER_TIME = frozenset({
    "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "count_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
    "quantile_over_time", "changes", "resets",
})
RATE_LIKE = frozenset({"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear"})


# --------------------------------------------------------------------------- elementwise


def _round(v: np.ndarray, to_nearest: np.ndarray) -> np.ndarray:
    inv = 1.0 / to_nearest
    return np.floor(v * inv + 0.5) / inv


def _sgn(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0, 1.0, np.where(v < 0, -1.0, v))


def _time_parts(v: np.ndarray) -> dict[str, np.ndarray]:
    secs = np.where(np.isfinite(v), np.trunc(v), 0).astype(np.int64)
    days = np.floor_divide(secs, 86400)
    sec_of_day = secs - days * 86400
    dt = days.astype("datetime64[D]")
    months = dt.astype("datetime64[M]")
    years = dt.astype("datetime64[Y]")
    next_month = (months + 1).astype("datetime64[D]")
    return {
        "minute": (sec_of_day // 60 % 60).astype(float),
        "hour": (sec_of_day // 3600).astype(float),
        "day_of_week": ((days + 4) % 7).astype(float),
        "day_of_month": ((dt - months.astype("datetime64[D]")).astype(int) + 1).astype(float),
        "day_of_year": ((dt - years.astype("datetime64[D]")).astype(int) + 1).astype(float),
        "days_in_month": (next_month - months.astype("datetime64[D]")).astype(int).astype(float),
        "month": (months.astype(int) % 12 + 1).astype(float),
        "year": (years.astype(int) + 1970).astype(float),
    }


# Go's math.Exp on amd64 (assembly) returns +Inf from this argument on, below the true
# overflow point (709.78); Prometheus inherits it, so the engine does too.
GO_EXP_OVERFLOW = 709.436139303104


def _exp(v: np.ndarray) -> np.ndarray:
    return np.where(v >= GO_EXP_OVERFLOW, np.inf, np.exp(np.minimum(v, GO_EXP_OVERFLOW)))


SIMPLE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "exp": _exp, "sqrt": np.sqrt,
    "ln": np.log, "log2": np.log2, "log10": np.log10, "sgn": _sgn,
    "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "cos": np.cos, "sin": np.sin,
    "tan": np.tan, "cosh": np.cosh, "sinh": np.sinh, "tanh": np.tanh, "acosh": np.arccosh,
    "asinh": np.arcsinh, "atanh": np.arctanh, "deg": np.degrees, "rad": np.radians,
}
DATE_FUNCS = frozenset({"minute", "hour", "day_of_week", "day_of_month", "day_of_year",
                        "days_in_month", "month", "year"})


def date_func(name: str, v: np.ndarray) -> np.ndarray:
    return _time_parts(v)[name]


def round_values(v: np.ndarray, to_nearest: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return _round(v, to_nearest)


# --------------------------------------------------------------------------- histograms


def bucket_quantile(q: float, bounds: list[float], counts: list[float]) -> float:
    """Prometheus's bucketQuantile on classic buckets (sorted by upper bound)."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan
    if not bounds or not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return math.nan
    # coalesce equal bounds
    cb: list[float] = []
    cc: list[float] = []
    for b, c in zip(bounds, counts, strict=True):
        if cb and cb[-1] == b:
            cc[-1] += c
        else:
            cb.append(b)
            cc.append(c)
    # ensure monotonic
    top = -math.inf
    for i, c in enumerate(cc):
        if c > top:
            top = c
        elif c < top:
            cc[i] = top
    if len(cb) < 2:
        return math.nan
    observations = cc[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = len(cb) - 1
    for i in range(len(cb) - 1):
        if cc[i] >= rank:
            b = i
            break
    if b == len(cb) - 1:
        return cb[-2]
    if b == 0 and cb[0] <= 0:
        return cb[0]
    start = 0.0
    end = cb[b]
    count = cc[b]
    if b > 0:
        start = cb[b - 1]
        count -= cc[b - 1]
        rank -= cc[b - 1]
    return start + (end - start) * (rank / count)


# --------------------------------------------------------------------------- batched rate


def extrapolated_rate_batch(
    series: list[RawSeries], refs: np.ndarray, range_ms: int, *, is_counter: bool,
    is_rate: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``extrapolated_rate`` for many series at once: ``(n, T)`` values and presence.

    The series are laid end to end; a per-series offset makes their timestamps one sorted
    key space, so one ``searchsorted`` finds every window of every series. The arithmetic
    is the same, in the same order, as the one-series version (the differential test holds
    both to Prometheus).
    """
    n, t = len(series), len(refs)
    lens = np.array([len(s.ts) for s in series], dtype=np.int64)
    out = np.full((n, t), np.nan)
    if n == 0 or lens.sum() == 0:
        return out, np.zeros((n, t), dtype=bool)
    ts_all = np.concatenate([s.ts for s in series])
    v_all = np.concatenate([s.vals for s in series])
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    tmin = int(min(int(ts_all.min()), int(refs.min()) - range_ms))
    span = int(max(int(ts_all.max()), int(refs.max()))) - tmin + 2
    owner = np.repeat(np.arange(n, dtype=np.int64), lens)
    keys = owner * span + (ts_all - tmin)
    base = (np.arange(n, dtype=np.int64) * span)[:, None]
    lo = np.searchsorted(keys, base + (refs - range_ms - tmin)[None, :], "left")
    hi = np.searchsorted(keys, base + (refs - tmin)[None, :], "right")
    count = hi - lo
    ok = count >= 2
    if not ok.any():
        return out, ok
    last_idx = len(ts_all) - 1
    f = np.minimum(lo, last_idx)
    la = np.clip(hi - 1, 0, last_idx)
    first_v, last_v = v_all[f], v_all[la]
    result = last_v - first_v
    if is_counter:
        drop = np.concatenate([[False], v_all[1:] < v_all[:-1]])
        drop[starts] = False  # no reset across the boundary between two series
        cum = np.cumsum(drop)
        with_resets = np.argwhere(ok & (cum[la] - cum[f] > 0))
        for i, k in with_resets:  # exact, in Prometheus's order of additions
            a, b = int(f[i, k]), int(la[i, k])
            r = float(last_v[i, k] - first_v[i, k])
            prev = float(v_all[a])
            for cur in v_all[a + 1: b + 1].tolist():
                if cur < prev:
                    r += prev
                prev = cur
            result[i, k] = r
    first_t, last_t = ts_all[f], ts_all[la]
    range_start = (refs - range_ms)[None, :]
    dur_start = (first_t - range_start) / 1000
    dur_end = (refs[None, :] - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    with np.errstate(all="ignore"):
        avg = sampled / (count - 1)
        if is_counter:
            cond = (result > 0) & (first_v >= 0)
            dz = sampled * (first_v / result)
            dur_start = np.where(cond & (dz < dur_start), dz, dur_start)
        thr = avg * 1.1
        ext = (sampled + np.where(dur_start < thr, dur_start, avg / 2)
               + np.where(dur_end < thr, dur_end, avg / 2))
        factor = ext / sampled
        if is_rate:
            factor = factor / (range_ms / 1000)
        out = np.where(ok, result * factor, np.nan)
    return out, ok
