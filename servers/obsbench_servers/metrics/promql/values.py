"""Values of the embedded PromQL engine, evaluated for all steps of a query at once.

Prometheus evaluates a range query step by step; the engine evaluates each node
once for every step (numpy arrays over the step axis): an instant vector is a
list of label sets with a ``(series, steps)`` matrix of values and a presence
mask, a scalar is one value per step. Labels never depend on the step, so every
label operation runs once per series, and the arithmetic runs vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from obsbench_servers.common.errors import BadInputError

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, __name__ included
NAME = "__name__"


class EvalError(BadInputError):
    """A query that parses but cannot be evaluated (Prometheus's ``execution`` errors)."""


class UnsupportedError(BadInputError):
    """A construct the embedded engine does not implement: never a wrong answer instead."""


def labels_of(d: dict[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in d.items() if v != ""))


def drop_name(lb: Labels) -> Labels:
    return tuple(p for p in lb if p[0] != NAME)


def get(lb: Labels, name: str) -> str:
    for k, v in lb:
        if k == name:
            return v
    return ""


def keep_only(lb: Labels, names: set[str] | frozenset[str]) -> Labels:
    return tuple(p for p in lb if p[0] in names)


def without(lb: Labels, names: set[str] | frozenset[str]) -> Labels:
    return tuple(p for p in lb if p[0] not in names)


def with_label(lb: Labels, name: str, value: str) -> Labels:
    d = dict(lb)
    if value == "":
        d.pop(name, None)
    else:
        d[name] = value
    return tuple(sorted(d.items()))


def labels_text(lb: Labels) -> str:
    d = dict(lb)
    name = d.pop(NAME, "")
    inner = ", ".join(f'{k}="{v}"' for k, v in d.items())
    return f"{name}{{{inner}}}"


@dataclass
class Vector:
    """An instant vector over T steps: ``vals[i, t]`` counts only where ``mask[i, t]``."""

    labels: list[Labels]
    vals: np.ndarray
    mask: np.ndarray

    @classmethod
    def empty(cls, steps: int) -> Vector:
        return cls([], np.zeros((0, steps)), np.zeros((0, steps), dtype=bool))

    @property
    def steps(self) -> int:
        return int(self.vals.shape[1])

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Scalar:
    vals: np.ndarray  # (T,)


@dataclass
class String:
    value: str


@dataclass
class RawSeries:
    """One stored series: sorted millisecond timestamps, values and stale markers."""

    labels: Labels
    ts: np.ndarray  # int64 ms
    vals: np.ndarray  # float64
    stale: np.ndarray  # bool

    def fresh(self) -> RawSeries:
        """Without stale markers (what range vectors see)."""
        if not self.stale.any():
            return self
        keep = ~self.stale
        return RawSeries(self.labels, self.ts[keep], self.vals[keep], self.stale[keep])


@dataclass
class Matrix:
    """A range vector as a query result (``foo[5m]`` at the top of an instant query)."""

    series: list[RawSeries] = field(default_factory=list)


Value = Vector | Scalar | String | Matrix


class RowCollector:
    """Builds a Vector from rows, merging rows with the same labels.

    Two rows with the same label set present at the same step is Prometheus's
    "vector cannot contain metrics with the same labelset" error.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.index: dict[Labels, int] = {}
        self.labels: list[Labels] = []
        self.vals: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []

    def add(self, lb: Labels, vals: np.ndarray, mask: np.ndarray) -> None:
        if not mask.any():
            return
        i = self.index.get(lb)
        if i is None:
            self.index[lb] = len(self.labels)
            self.labels.append(lb)
            self.vals.append(np.array(vals, dtype=float, copy=True))
            self.masks.append(np.array(mask, dtype=bool, copy=True))
            return
        if (self.masks[i] & mask).any():
            raise EvalError(
                f"vector cannot contain metrics with the same labelset: {labels_text(lb)}",
                "aggregate (sum by (...)) or keep distinguishing labels before this operation",
            )
        self.vals[i] = np.where(mask, vals, self.vals[i])
        self.masks[i] = self.masks[i] | mask

    def vector(self) -> Vector:
        if not self.labels:
            return Vector.empty(self.steps)
        return Vector(self.labels, np.vstack(self.vals), np.vstack(self.masks))


def format_value(v: float) -> str:
    """A float as Prometheus writes it in JSON (jsonutil.MarshalFloat: Go's shortest 'f'
    format, or 'e' below 1e-6 and from 1e21)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    a = abs(v)
    if a < 1e-6 or a >= 1e21:
        return repr(v)  # Python's shortest repr uses the same e-notation (1e-07, 1.5e+300)
    if v == int(v) and a < 1e15:
        return str(int(v))
    text = repr(v)
    if "e" not in text:
        return text
    return np.format_float_positional(v, unique=True, trim="-")


def format_ts(ms: int) -> float | int:
    """A millisecond timestamp as Prometheus's JSON number of seconds."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000
