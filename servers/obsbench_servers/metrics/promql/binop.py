"""Binary operators: arithmetic, comparison (filter or ``bool``) and set operators, with
``on`` / ``ignoring`` / ``group_left`` / ``group_right`` vector matching.

Matching follows Prometheus's VectorBinop: the "one" side must be unique per
match group at every step, one-to-one matching must be unique on both sides,
and the result labels come from the "many" side (arithmetic drops the metric
name; ``group_x(labels)`` copies labels from the "one" side).
"""

from __future__ import annotations

import numpy as np

from obsbench_servers.metrics.promql.ast import COMPARISON, DROPS_NAME, Binary
from obsbench_servers.metrics.promql.values import (
    NAME,
    EvalError,
    Labels,
    RowCollector,
    Scalar,
    Vector,
    drop_name,
    get,
    keep_only,
    labels_text,
    without,
)


def apply_op(op: str, lhs: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise ``lhs op rhs``: (value, keep). Comparisons return lhs as the value."""
    with np.errstate(all="ignore"):
        if op == "+":
            return lhs + rhs, np.ones(lhs.shape, dtype=bool)
        if op == "-":
            return lhs - rhs, np.ones(lhs.shape, dtype=bool)
        if op == "*":
            return lhs * rhs, np.ones(lhs.shape, dtype=bool)
        if op == "/":
            return np.true_divide(lhs, rhs), np.ones(lhs.shape, dtype=bool)
        if op == "%":
            return np.fmod(lhs, rhs), np.ones(lhs.shape, dtype=bool)
        if op == "^":
            return np.power(lhs, rhs), np.ones(lhs.shape, dtype=bool)
        if op == "atan2":
            return np.arctan2(lhs, rhs), np.ones(lhs.shape, dtype=bool)
        if op == "==":
            return lhs, lhs == rhs
        if op == "!=":
            return lhs, lhs != rhs
        if op == ">":
            return lhs, lhs > rhs
        if op == "<":
            return lhs, lhs < rhs
        if op == ">=":
            return lhs, lhs >= rhs
        if op == "<=":
            return lhs, lhs <= rhs
    raise EvalError(f"operator {op!r} is not supported by the embedded engine")


def scalar_scalar(node: Binary, lhs: Scalar, rhs: Scalar) -> Scalar:
    value, keep = apply_op(node.op, lhs.vals, rhs.vals)
    if node.op in COMPARISON:
        return Scalar(keep.astype(float))
    return Scalar(value)


def vector_scalar(node: Binary, vec: Vector, sc: Scalar, scalar_left: bool) -> Vector:
    out = RowCollector(vec.steps)
    comparison = node.op in COMPARISON
    drop = node.op in DROPS_NAME or node.return_bool
    for lb, v, m in zip(vec.labels, vec.vals, vec.mask, strict=True):
        lv, rv = (sc.vals, v) if scalar_left else (v, sc.vals)
        value, keep = apply_op(node.op, lv, rv)
        if comparison:
            value = v  # the vector element's value, whichever side it is on
            if node.return_bool:
                value, keep = keep.astype(float), np.ones(len(keep), dtype=bool)
        out.add(drop_name(lb) if drop else lb, value, m & keep)
    return out.vector()


def _signature(lb: Labels, on: bool, names: tuple[str, ...]) -> Labels:
    if on:
        return keep_only(lb, set(names))
    return without(lb, {*names, NAME})


def _result_labels(node: Binary, many: Labels, one: Labels) -> Labels:
    lb = many
    if node.op in DROPS_NAME:
        lb = drop_name(lb)
    if node.card == "one-to-one":
        lb = keep_only(lb, set(node.matching)) if node.on else without(lb, set(node.matching))
    if node.include:
        d = dict(lb)
        for name in node.include:
            value = get(one, name)
            if value:
                d[name] = value
            else:
                d.pop(name, None)
        lb = tuple(sorted(d.items()))
    if node.return_bool:
        lb = drop_name(lb)
    return lb


def vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    if node.op in ("and", "or", "unless"):
        return _set_op(node, lhs, rhs)
    if node.card == "many-to-many":
        raise EvalError("many-to-many matching is only allowed for and, or and unless")
    steps = lhs.steps
    swap = node.card == "one-to-many"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    one_sigs: dict[Labels, list[int]] = {}
    for j, lb in enumerate(one.labels):
        one_sigs.setdefault(_signature(lb, node.on, node.matching), []).append(j)
    # The "one" side must be unique per match group at every step where both sides have
    # samples (Prometheus short-circuits a step where either side is empty).
    both = many.mask.any(axis=0) & one.mask.any(axis=0) if len(many) and len(one) else None
    for sig, rows in one_sigs.items():
        if both is not None and len(rows) > 1 and (
                (one.mask[rows].sum(axis=0) > 1) & both).any():
            side = "left" if swap else "right"
            a, b = (labels_text(one.labels[r]) for r in rows[:2])
            raise EvalError(
                f"found duplicate series for the match group {labels_text(sig)} on the {side} "
                f"hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: "
                "matching labels must be unique on one side",
                "add on(...)/ignoring(...) labels that make each side unique, or aggregate first",
            )
    comparison = node.op in COMPARISON
    out = RowCollector(steps)
    matched: dict[Labels, np.ndarray] = {}
    inserted: dict[tuple[Labels, Labels], np.ndarray] = {}
    for i, lb in enumerate(many.labels):
        sig = _signature(lb, node.on, node.matching)
        for j in one_sigs.get(sig, ()):
            m = many.mask[i] & one.mask[j]
            if not m.any():
                continue
            vl, vr = (one.vals[j], many.vals[i]) if swap else (many.vals[i], one.vals[j])
            value, keep = apply_op(node.op, vl, vr)
            if node.return_bool:
                value = keep.astype(float)
            elif comparison:
                m = m & keep
            res = _result_labels(node, lb, one.labels[j])
            if node.card == "one-to-one":
                seen = matched.get(sig)
                if seen is not None and (seen & m).any():
                    raise EvalError(
                        "multiple matches for labels: many-to-one matching must be explicit "
                        "(group_left/group_right)",
                        "add group_left or group_right, or match on labels that are unique",
                    )
                matched[sig] = m if seen is None else (seen | m)
            else:
                key = (sig, res)
                seen = inserted.get(key)
                if seen is not None and (seen & m).any():
                    raise EvalError(
                        "multiple matches for labels: grouping labels must ensure unique results",
                        "add the distinguishing labels to group_left(...)/group_right(...)",
                    )
                inserted[key] = m if seen is None else (seen | m)
            out.add(res, value, m)
    return out.vector()


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    steps = lhs.steps
    out = RowCollector(steps)

    def presence(vec: Vector) -> dict[Labels, np.ndarray]:
        acc: dict[Labels, np.ndarray] = {}
        for lb, m in zip(vec.labels, vec.mask, strict=True):
            sig = _signature(lb, node.on, node.matching)
            acc[sig] = acc[sig] | m if sig in acc else m.copy()
        return acc

    if node.op in ("and", "unless"):
        right = presence(rhs)
        none = np.zeros(steps, dtype=bool)
        for lb, v, m in zip(lhs.labels, lhs.vals, lhs.mask, strict=True):
            there = right.get(_signature(lb, node.on, node.matching), none)
            out.add(lb, v, m & there if node.op == "and" else m & ~there)
        return out.vector()
    left = presence(lhs)
    none = np.zeros(steps, dtype=bool)
    for lb, v, m in zip(lhs.labels, lhs.vals, lhs.mask, strict=True):
        out.add(lb, v, m)
    for lb, v, m in zip(rhs.labels, rhs.vals, rhs.mask, strict=True):
        out.add(lb, v, m & ~left.get(_signature(lb, node.on, node.matching), none))
    return out.vector()
