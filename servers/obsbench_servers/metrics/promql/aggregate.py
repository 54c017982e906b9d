"""Aggregation operators (sum, avg, min, max, count, group, stddev, stdvar, quantile,
topk, bottomk, count_values) with ``by`` / ``without``, as Prometheus 2.x computes them.

Groups are formed once (labels do not change across steps); each group's rows
are folded in input order with the same per-element updates Prometheus uses
(incremental mean, Welford's variance, NaN-replacing min/max).
"""

from __future__ import annotations

import math

import numpy as np

from obsbench_servers.metrics.promql.functions import quantile
from obsbench_servers.metrics.promql.values import (
    NAME,
    EvalError,
    Labels,
    RowCollector,
    Vector,
    format_value,
    keep_only,
    with_label,
    without,
)


def group_key(lb: Labels, grouping: tuple[str, ...], drop: bool) -> Labels:
    """The result labels of a group: ``by`` keeps the listed labels, ``without`` drops them."""
    if drop:
        return without(lb, {*grouping, NAME})
    return keep_only(lb, set(grouping))


def _groups(vec: Vector, grouping: tuple[str, ...], drop: bool) -> dict[Labels, list[int]]:
    groups: dict[Labels, list[int]] = {}
    for i, lb in enumerate(vec.labels):
        groups.setdefault(group_key(lb, grouping, drop), []).append(i)
    return groups


def aggregate(  # noqa: PLR0917 - mirrors the PromQL node
    op: str, vec: Vector, grouping: tuple[str, ...], drop: bool,
    param: np.ndarray | None, label: str | None,
) -> Vector:
    steps = vec.steps
    out = RowCollector(steps)
    if op == "count_values":
        assert label is not None
        return _count_values(vec, grouping, drop, label)
    for key, rows in _groups(vec, grouping, drop).items():
        vals = vec.vals[rows]
        mask = vec.mask[rows]
        present = np.asarray(mask.any(axis=0), dtype=bool)
        if not present.any():
            continue
        if op in ("topk", "bottomk"):
            assert param is not None
            _top(op, vec, rows, param, out)
            continue
        with np.errstate(all="ignore"):
            res = _fold(op, vals, mask, param)
        out.add(key, res, present)
    return out.vector()


def _fold(op: str, vals: np.ndarray, mask: np.ndarray, param: np.ndarray | None) -> np.ndarray:
    steps = vals.shape[1]
    if op == "count":
        return mask.sum(axis=0).astype(float)
    if op == "group":
        return np.ones(steps)
    if op == "sum":
        acc = np.zeros(steps)
        for v, m in zip(vals, mask, strict=True):
            acc = np.where(m, acc + v, acc)
        return acc
    if op in ("min", "max"):
        acc = np.full(steps, np.nan)
        seen = np.zeros(steps, dtype=bool)
        for v, m in zip(vals, mask, strict=True):
            better = (v < acc) if op == "min" else (v > acc)
            take = m & (~seen | better | np.isnan(acc))
            acc = np.where(take, v, acc)
            seen |= m
        return acc
    if op == "avg":
        mean = np.zeros(steps)
        count = np.zeros(steps)
        seen = np.zeros(steps, dtype=bool)
        for v, m in zip(vals, mask, strict=True):
            first = m & ~seen
            count = np.where(m, count + 1, count)
            inf_mean = np.isinf(mean)
            skip = inf_mean & ((np.isinf(v) & ((mean > 0) == (v > 0)))
                               | (~np.isinf(v) & ~np.isnan(v)))
            upd = mean + (v / count - mean / count)
            mean = np.where(first, v, np.where(m & ~skip, upd, mean))
            seen |= m
        return mean
    if op in ("stddev", "stdvar"):
        mean = np.zeros(steps)
        acc = np.zeros(steps)
        count = np.zeros(steps)
        seen = np.zeros(steps, dtype=bool)
        for v, m in zip(vals, mask, strict=True):
            first = m & ~seen
            count = np.where(m, count + 1, count)
            delta = v - mean
            new_mean = mean + delta / count
            acc = np.where(first, 0.0, np.where(m, acc + delta * (v - new_mean), acc))
            mean = np.where(first, v, np.where(m, new_mean, mean))
            seen |= m
        var = acc / count
        return np.sqrt(var) if op == "stddev" else var
    if op == "quantile":
        assert param is not None
        res = np.full(steps, np.nan)
        for t in range(steps):
            col = vals[:, t][mask[:, t]]
            if len(col):
                res[t] = quantile(float(param[t]), col.tolist())
        return res
    raise EvalError(f"aggregation {op!r} is not supported by the embedded engine",
                    "use sum, avg, min, max, count, group, stddev, stdvar, quantile, topk, "
                    "bottomk or count_values")


def _less(op: str, a: float, b: float) -> bool:
    """Go's vectorByValueHeap (topk) / vectorByReverseValueHeap (bottomk) Less."""
    if math.isnan(a):
        return True
    return a < b if op == "topk" else a > b


class _GoHeap:
    """Go's container/heap over (value, row) with Prometheus's Less, replayed exactly."""

    def __init__(self, op: str) -> None:
        self.op = op
        self.items: list[tuple[float, int]] = []

    def less(self, i: int, j: int) -> bool:
        return _less(self.op, self.items[i][0], self.items[j][0])

    def swap(self, i: int, j: int) -> None:
        self.items[i], self.items[j] = self.items[j], self.items[i]

    def up(self, j: int) -> None:
        while True:
            i = (j - 1) // 2 if j > 0 else 0
            if i == j or not self.less(j, i):
                break
            self.swap(i, j)
            j = i

    def down(self, i0: int) -> bool:
        n = len(self.items)
        i = i0
        while True:
            j1 = 2 * i + 1
            if j1 >= n:
                break
            j = j1
            if j1 + 1 < n and self.less(j1 + 1, j1):
                j = j1 + 1
            if not self.less(j, i):
                break
            self.swap(i, j)
            i = j
        return i > i0

    def push(self, item: tuple[float, int]) -> None:
        self.items.append(item)
        self.up(len(self.items) - 1)

    def replace_root(self, item: tuple[float, int], k: int) -> None:
        self.items[0] = item
        if k > 1 and not self.down(0):
            self.up(0)


def _top(op: str, vec: Vector, rows: list[int], param: np.ndarray, out: RowCollector) -> None:
    """topk/bottomk per step, replaying Prometheus's heap so ties resolve the same way."""
    sel = np.zeros((len(rows), vec.steps), dtype=bool)
    for t in range(vec.steps):
        k_raw = float(param[t])
        if math.isnan(k_raw) or math.isinf(k_raw):
            raise EvalError(f"Scalar value {format_value(k_raw)} overflows int64",
                            "give topk/bottomk a finite number")
        k = int(k_raw)
        present = [j for j, r in enumerate(rows) if vec.mask[r, t]]
        if k < 1 or not present:
            continue
        heap = _GoHeap(op)
        for n_seen, j in enumerate(present):
            v = float(vec.vals[rows[j], t])
            if n_seen == 0 or len(heap.items) < k:
                heap.push((v, j))
                continue
            root = heap.items[0][0]
            bigger = (root < v) if op == "topk" else (root > v)
            if bigger or (math.isnan(root) and not math.isnan(v)):
                heap.replace_root((v, j), k)
        for _, j in heap.items:
            sel[j, t] = True
    for j, r in enumerate(rows):
        out.add(vec.labels[r], vec.vals[r], sel[j])


def _count_values(vec: Vector, grouping: tuple[str, ...], drop: bool, label: str) -> Vector:
    steps = vec.steps
    counts: dict[Labels, np.ndarray] = {}
    group = (*grouping, label) if not drop else grouping
    for i, lb in enumerate(vec.labels):
        for t in np.nonzero(vec.mask[i])[0]:
            relabeled = with_label(lb, label, format_value(float(vec.vals[i, t])))
            key = group_key(relabeled, group, drop)
            arr = counts.get(key)
            if arr is None:
                arr = counts[key] = np.zeros(steps)
            arr[t] += 1
    out = RowCollector(steps)
    for key, arr in counts.items():
        out.add(key, arr, arr > 0)
    return out.vector()
