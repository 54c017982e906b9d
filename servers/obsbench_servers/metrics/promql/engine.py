"""The embedded PromQL evaluator: Prometheus 2.x semantics over a ``SeriesSource``.

``Engine.instant(expr, t_ms)`` and ``Engine.range(expr, start_ms, end_ms,
step_ms)`` return the same shapes the Prometheus HTTP API returns. Every node
is evaluated once for all steps (see ``values.py``). Semantics kept from
Prometheus 2.x (the version the differential test runs against):

- instant selectors take the newest sample in ``[t - lookback, t]`` (5 minutes
  by default) and nothing when that sample is a stale marker;
- range selectors take the samples in ``[t - range, t]``, stale markers dropped;
- ``offset`` and ``@`` move the reference time; ``@ start()``/``@ end()`` are
  the query's start and end;
- subqueries evaluate their expression at the absolute multiples of their step
  (or the default evaluation interval) inside ``[t - offset - range, t - offset]``.

Unsupported constructs raise ``UnsupportedError`` naming them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obsbench_servers.common.errors import BackendError, GuardError
from obsbench_servers.common.saferegex import compile_regex
from obsbench_servers.metrics.promql import functions as fn
from obsbench_servers.metrics.promql.aggregate import aggregate
from obsbench_servers.metrics.promql.ast import (
    Aggregate,
    At,
    Binary,
    Call,
    MatrixSel,
    Node,
    NumberLit,
    Paren,
    StringLit,
    Subquery,
    Unary,
    VectorSel,
)
from obsbench_servers.metrics.promql.binop import scalar_scalar, vector_scalar, vector_vector
from obsbench_servers.metrics.promql.parse import parse
from obsbench_servers.metrics.promql.storage import SeriesSource
from obsbench_servers.metrics.promql.values import (
    NAME,
    EvalError,
    Labels,
    Matrix,
    RawSeries,
    RowCollector,
    Scalar,
    String,
    UnsupportedError,
    Value,
    Vector,
    drop_name,
    format_ts,
    format_value,
    labels_of,
    with_label,
)

DEFAULT_LOOKBACK_MS = 5 * 60 * 1000
DEFAULT_EVAL_INTERVAL_MS = 60 * 1000

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass
class EngineLimits:
    """Work bounds of one query (Prometheus has --query.max-samples and a timeout)."""

    max_samples: int = 50_000_000
    max_series_selected: int = 20_000
    timeout_s: float = 60.0


@dataclass
class _Ctx:
    start_ms: int
    end_ms: int
    deadline: float
    samples: int = 0
    cache: dict[Any, list[RawSeries]] = field(default_factory=dict)


class Engine:
    """Evaluates PromQL over one ``SeriesSource``."""

    def __init__(
        self,
        source: SeriesSource,
        *,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        eval_interval_ms: int = DEFAULT_EVAL_INTERVAL_MS,
        limits: EngineLimits | None = None,
    ) -> None:
        self.source = source
        self.lookback_ms = lookback_ms
        self.eval_interval_ms = eval_interval_ms
        self.limits = limits or EngineLimits()
        self._ctx = _Ctx(0, 0, 0.0)

    # ------------------------------------------------------------------ public API

    def instant(self, expr: str | Node, t_ms: int) -> dict[str, Any]:
        """A Prometheus ``/api/v1/query`` ``data`` object."""
        node = parse(expr) if isinstance(expr, str) else expr
        self._ctx = _Ctx(t_ms, t_ms, time.monotonic() + self.limits.timeout_s)
        steps = np.array([t_ms], dtype=np.int64)
        if isinstance(_unwrap(node), (MatrixSel, Subquery)):
            mat = self._matrix_value(_unwrap(node), steps)
            return {"resultType": "matrix", "result": [
                {"metric": dict(s.labels),
                 "values": [[format_ts(t), format_value(v)]
                            for t, v in zip(s.ts.tolist(), s.vals.tolist(), strict=True)]}
                for s in mat if len(s.ts)]}
        val = self.eval(node, steps)
        if isinstance(val, Scalar):
            return {"resultType": "scalar",
                    "result": [format_ts(t_ms), format_value(float(val.vals[0]))]}
        if isinstance(val, String):
            return {"resultType": "string", "result": [format_ts(t_ms), val.value]}
        assert isinstance(val, Vector)
        result: list[dict[str, Any]] = []
        for lb, v, m in zip(val.labels, val.vals, val.mask, strict=True):
            if m[0]:
                result.append({"metric": dict(lb),
                               "value": [format_ts(t_ms), format_value(float(v[0]))]})
        return {"resultType": "vector", "result": result}

    def range(self, expr: str | Node, start_ms: int, end_ms: int, step_ms: int) -> dict[str, Any]:
        """A Prometheus ``/api/v1/query_range`` ``data`` object."""
        node = parse(expr) if isinstance(expr, str) else expr
        if step_ms <= 0:
            raise EvalError("zero or negative query resolution step widths are not accepted",
                            "give a positive step such as 60s")
        if end_ms < start_ms:
            raise EvalError("end timestamp must not be before start time")
        inner = _unwrap(node)
        if isinstance(inner, (MatrixSel, Subquery)):
            raise EvalError('invalid expression type "range vector" for range query, must be '
                            "Scalar or instant Vector",
                            "wrap it in a function such as rate(...) or max_over_time(...)")
        if isinstance(inner, StringLit):
            raise EvalError('invalid expression type "string" for range query, must be Scalar '
                            "or instant Vector")
        steps = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        self._ctx = _Ctx(start_ms, end_ms, time.monotonic() + self.limits.timeout_s)
        val = self.eval(node, steps)
        result: list[dict[str, Any]] = []
        times = [format_ts(t) for t in steps.tolist()]
        if isinstance(val, Scalar):
            result.append({"metric": {}, "values": [
                [t, format_value(v)] for t, v in zip(times, val.vals.tolist(), strict=True)]})
        elif isinstance(val, Vector):
            for lb, v, m in zip(val.labels, val.vals, val.mask, strict=True):
                idx = np.nonzero(m)[0].tolist()
                if idx:
                    vs = v.tolist()
                    result.append({"metric": dict(lb),
                                   "values": [[times[k], format_value(vs[k])] for k in idx]})
        return {"resultType": "matrix", "result": result}

    def evaluate(self, expr: str | Node, steps: np.ndarray, start_ms: int | None = None,
                 end_ms: int | None = None) -> Value:
        """The raw value (for analyses that want arrays, not JSON)."""
        node = parse(expr) if isinstance(expr, str) else expr
        s = int(steps[0]) if start_ms is None else start_ms
        e = int(steps[-1]) if end_ms is None else end_ms
        self._ctx = _Ctx(s, e, time.monotonic() + self.limits.timeout_s)
        return self.eval(node, steps)

    @property
    def samples_read(self) -> int:
        return self._ctx.samples

    # ------------------------------------------------------------------ evaluation

    def _check_deadline(self) -> None:
        if time.monotonic() > self._ctx.deadline:
            raise BackendError(
                f"query timed out after {self.limits.timeout_s:g}s in the embedded engine",
                "narrow the time range, use a larger step, or select fewer series",
            )

    def _ref_times(self, at: At | None, offset_ms: int, steps: np.ndarray) -> np.ndarray:
        if at is None:
            base = steps
        elif at.kind == "start":
            base = np.full(len(steps), self._ctx.start_ms, dtype=np.int64)
        elif at.kind == "end":
            base = np.full(len(steps), self._ctx.end_ms, dtype=np.int64)
        else:
            base = np.full(len(steps), at.ms, dtype=np.int64)
        return base - offset_ms

    def _select(self, vs: VectorSel, mint: int, maxt: int) -> list[RawSeries]:
        key = (vs.matcher_sets, mint, maxt)
        hit = self._ctx.cache.get(key)
        if hit is not None:
            return hit
        labels = self.source.series_labels(vs.matcher_sets)
        if len(labels) > self.limits.max_series_selected:
            raise GuardError(
                f"{vs.selector_text()} matches {len(labels):,} series, more than the embedded "
                f"engine reads in one query ({self.limits.max_series_selected:,})",
                "add label matchers (service, pod, route) or aggregate a narrower selector",
            )
        series = self.source.select(vs.matcher_sets, mint, maxt)
        self._ctx.samples += sum(len(s.ts) for s in series)
        if self._ctx.samples > self.limits.max_samples:
            raise GuardError(
                f"query processing would load too many samples into memory "
                f"(more than {self.limits.max_samples:,})",
                "narrow the time range or the selector, or use a larger step",
            )
        self._check_deadline()
        self._ctx.cache[key] = series
        return series

    def eval(self, node: Node, steps: np.ndarray) -> Value:
        self._check_deadline()
        if isinstance(node, NumberLit):
            return Scalar(np.full(len(steps), node.value))
        if isinstance(node, StringLit):
            return String(node.value)
        if isinstance(node, Paren):
            return self.eval(node.expr, steps)
        if isinstance(node, Unary):
            val = self.eval(node.expr, steps)
            if isinstance(val, Scalar):
                return Scalar(-val.vals)
            if isinstance(val, Vector):
                out = RowCollector(len(steps))
                for lb, v, m in zip(val.labels, val.vals, val.mask, strict=True):
                    out.add(drop_name(lb), -v, m)
                return out.vector()
            raise EvalError("unary minus applies to scalars and instant vectors only")
        if isinstance(node, VectorSel):
            return self._vector_selector(node, steps)
        if isinstance(node, (MatrixSel, Subquery)):
            raise EvalError("a range vector is only valid as a function argument here",
                            "wrap it in rate(...), avg_over_time(...) or similar")
        if isinstance(node, Call):
            return self._call(node, steps)
        if isinstance(node, Aggregate):
            return self._aggregate(node, steps)
        if isinstance(node, Binary):
            return self._binary(node, steps)
        raise UnsupportedError(f"PromQL construct {type(node).__name__} is not supported by the "
                               "embedded engine")

    def _vector_selector(self, vs: VectorSel, steps: np.ndarray) -> Vector:
        return self._select_vector(vs, steps)[0]

    def _select_vector(self, vs: VectorSel, steps: np.ndarray) -> tuple[Vector, np.ndarray]:
        refs = self._ref_times(vs.at, vs.offset_ms, steps)
        series = self._select(vs, int(refs.min()) - self.lookback_ms, int(refs.max()))
        n, t = len(series), len(steps)
        lens = np.array([len(s.ts) for s in series], dtype=np.int64)
        if n == 0 or lens.sum() == 0:
            return (Vector([s.labels for s in series], np.zeros((n, t)),
                           np.zeros((n, t), dtype=bool)), np.zeros((n, t), dtype=np.int64))
        # All series end to end in one sorted key space: one searchsorted for every step of
        # every series (the newest sample at or before each reference time).
        ts_all = np.concatenate([s.ts for s in series])
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        tmin = min(int(ts_all.min()), int(refs.min()))
        span = max(int(ts_all.max()), int(refs.max())) - tmin + 2
        keys = np.repeat(np.arange(n, dtype=np.int64), lens) * span + (ts_all - tmin)
        base = (np.arange(n, dtype=np.int64) * span)[:, None]
        idx = np.searchsorted(keys, base + (refs - tmin)[None, :], "right") - 1
        ok = idx >= starts[:, None]
        idx = np.maximum(idx, 0)
        tss = ts_all[idx]
        ok &= tss >= (refs - self.lookback_ms)[None, :]
        ok &= ~np.concatenate([s.stale for s in series])[idx]
        vals = np.concatenate([s.vals for s in series])[idx]
        mask = ok
        return Vector([s.labels for s in series], vals, mask), tss

    # ------------------------------------------------------------------ range vectors

    def _range_input(self, node: Node, steps: np.ndarray) -> tuple[list[RawSeries], np.ndarray,
                                                                    int, VectorSel | None]:
        """A range argument as raw series plus each step's reference time and range."""
        node = _unwrap(node)
        if isinstance(node, MatrixSel):
            vs = node.vs
            refs = self._ref_times(vs.at, vs.offset_ms, steps)
            series = self._select(vs, int(refs.min()) - node.range_ms, int(refs.max()))
            return [s.fresh() for s in series], refs, node.range_ms, vs
        if isinstance(node, Subquery):
            refs = self._ref_times(node.at, node.offset_ms, steps)
            return self._subquery_series(node, refs), refs, node.range_ms, None
        raise EvalError("expected a range vector (selector[range] or a subquery)")

    def _subquery_series(self, node: Subquery, refs: np.ndarray) -> list[RawSeries]:
        step = node.step_ms or self.eval_interval_ms
        lo = int(refs.min()) - node.range_ms
        first = (lo // step) * step
        if first < lo:
            first += step
        grid = np.arange(first, int(refs.max()) + 1, step, dtype=np.int64)
        if len(grid) == 0:
            return []
        if len(grid) > 1_000_000:
            raise EvalError(f"subquery needs {len(grid):,} evaluation steps",
                            "use a larger subquery step")
        val = self.eval(node.expr, grid)
        if isinstance(val, Scalar):
            raise EvalError("subquery expression must be an instant vector")
        if not isinstance(val, Vector):
            raise EvalError("subquery expression must be an instant vector")
        out = []
        for lb, v, m in zip(val.labels, val.vals, val.mask, strict=True):
            out.append(RawSeries(lb, grid[m], v[m], np.zeros(int(m.sum()), dtype=bool)))
        return out

    def _matrix_value(self, node: Node, steps: np.ndarray) -> list[RawSeries]:
        series, refs, rng, _ = self._range_input(node, steps)
        out = []
        for s in series:
            lo, hi = fn.windows(s, refs, rng)
            a, b = int(lo[0]), int(hi[0])
            out.append(RawSeries(s.labels, s.ts[a:b], s.vals[a:b], s.stale[a:b]))
        return out

    # ------------------------------------------------------------------ functions

    def _scalar_arg(self, node: Node, steps: np.ndarray, what: str) -> np.ndarray:
        val = self.eval(node, steps)
        if not isinstance(val, Scalar):
            raise EvalError(f"{what} must be a scalar")
        return val.vals

    def _string_arg(self, node: Node) -> str:
        node = _unwrap(node)
        if not isinstance(node, StringLit):
            raise EvalError("expected a string argument")
        return node.value

    def _vector_arg(self, node: Node, steps: np.ndarray) -> Vector:
        val = self.eval(node, steps)
        if not isinstance(val, Vector):
            raise EvalError("expected an instant vector argument")
        return val

    def _call(self, node: Call, steps: np.ndarray) -> Value:
        name = node.func
        t = len(steps)
        if name in fn.RATE_LIKE or name in fn.OVER_TIME:
            return self._range_call(node, steps)
        if name == "absent_over_time":
            series, refs, rng, vs = self._range_input(node.args[0], steps)
            any_present = np.zeros(t, dtype=bool)
            for s in series:
                lo, hi = fn.windows(s, refs, rng)
                any_present |= hi > lo
            return self._absent(vs, ~any_present, t)
        if name == "absent":
            vec = self._vector_arg(node.args[0], steps)
            arg = node.args[0]
            sel = arg if isinstance(arg, VectorSel) else None
            missing = (~vec.mask.any(axis=0)) if len(vec) else np.ones(t, dtype=bool)
            return self._absent(sel, np.asarray(missing, dtype=bool), t)
        if name == "time":
            return Scalar(steps / 1000.0)
        if name == "pi":
            return Scalar(np.full(t, np.pi))
        if name == "vector":
            sc = self._scalar_arg(node.args[0], steps, "vector()'s argument")
            return Vector([()], sc[None, :].copy(), np.ones((1, t), dtype=bool))
        if name == "scalar":
            vec = self._vector_arg(node.args[0], steps)
            out = np.full(t, np.nan)
            if len(vec):
                counts = vec.mask.sum(axis=0)
                first = np.argmax(vec.mask, axis=0)
                one = counts == 1
                out[one] = vec.vals[first[one], np.nonzero(one)[0]]
            return Scalar(out)
        if name in ("sort", "sort_desc"):
            return self._vector_arg(node.args[0], steps)
        if name == "timestamp":
            arg = _unwrap(node.args[0])
            if isinstance(arg, VectorSel):
                vec, tss = self._select_vector(arg, steps)
                vals = tss / 1000.0
            else:
                vec = self._vector_arg(arg, steps)
                vals = np.broadcast_to(steps / 1000.0, vec.vals.shape)
            return self._map(vec, vals)
        if name in fn.SIMPLE:
            vec = self._vector_arg(node.args[0], steps)
            with np.errstate(all="ignore"):
                return self._map(vec, fn.SIMPLE[name](vec.vals))
        if name in fn.DATE_FUNCS:
            if node.args:
                vec = self._vector_arg(node.args[0], steps)
                return self._map(vec, fn.date_func(name, vec.vals) if len(vec) else vec.vals)
            return Vector([()], fn.date_func(name, steps / 1000.0)[None, :],
                          np.ones((1, t), dtype=bool))
        if name == "round":
            vec = self._vector_arg(node.args[0], steps)
            to = (self._scalar_arg(node.args[1], steps, "round()'s to_nearest")
                  if len(node.args) > 1 else np.ones(t))
            return self._map(vec, fn.round_values(vec.vals, to[None, :]))
        if name in ("clamp", "clamp_min", "clamp_max"):
            return self._clamp(node, steps)
        if name == "histogram_quantile":
            q = self._scalar_arg(node.args[0], steps, "histogram_quantile's quantile")
            return self._histogram_quantile(q, self._vector_arg(node.args[1], steps))
        if name == "label_replace":
            return self._label_replace(node, steps)
        if name == "label_join":
            return self._label_join(node, steps)
        raise UnsupportedError(
            f"function {name}() is not supported by the embedded engine",
            "rewrite the query without it, or query a Prometheus backend",
        )

    def _map(self, vec: Vector, vals: np.ndarray, *, keep_name: bool = False) -> Vector:
        out = RowCollector(vec.steps)
        for i, lb in enumerate(vec.labels):
            out.add(lb if keep_name else drop_name(lb), vals[i], vec.mask[i])
        return out.vector()

    def _absent(self, vs: VectorSel | None, present: np.ndarray, t: int) -> Vector:
        labels: Labels = ()
        if vs is not None:
            d: dict[str, str] = {}
            has: set[str] = set()
            for m in vs.matchers:
                if m.name == NAME:
                    continue
                if m.op == "=" and m.name not in has:
                    d[m.name] = m.value
                    has.add(m.name)
                else:
                    d.pop(m.name, None)
            labels = labels_of(d)
        if not present.any():
            return Vector.empty(t)
        return Vector([labels], np.ones((1, t)), present[None, :].copy())

    def _range_call(self, node: Call, steps: np.ndarray) -> Vector:
        name = node.func
        range_pos = 1 if name == "quantile_over_time" else 0
        series, refs, rng, _ = self._range_input(node.args[range_pos], steps)
        param = None
        if name == "quantile_over_time":
            param = self._scalar_arg(node.args[0], steps, "quantile_over_time's quantile")
        if name == "predict_linear":
            param = self._scalar_arg(node.args[1], steps, "predict_linear's duration")
        out = RowCollector(len(steps))
        keep_name = name == "last_over_time"
        if name in ("rate", "increase", "delta"):
            series = [s for s in series if len(s.ts)]
            vals_all, ok_all = fn.extrapolated_rate_batch(
                series, refs, rng, is_counter=name != "delta", is_rate=name == "rate")
            self._check_deadline()
            for s, vals, ok in zip(series, vals_all, ok_all, strict=True):
                out.add(drop_name(s.labels), vals, ok)
            return out.vector()
        for s in series:
            self._check_deadline()
            if not len(s.ts):
                continue
            if name in ("rate", "increase", "delta"):
                vals, ok = fn.extrapolated_rate(s, refs, rng, is_counter=name != "delta",
                                                is_rate=name == "rate")
            elif name in ("irate", "idelta"):
                vals, ok = fn.instant_value(s, refs, rng, is_rate=name == "irate")
            elif name == "deriv":
                vals, ok = fn.deriv(s, refs, rng)
            elif name == "predict_linear":
                assert param is not None
                vals, ok = fn.predict_linear(s, refs, rng, steps, param)
            else:
                vals, ok = fn.over_time(name, s, refs, rng, param)
            out.add(s.labels if keep_name else drop_name(s.labels), vals, ok)
        return out.vector()

    def _clamp(self, node: Call, steps: np.ndarray) -> Vector:
        vec = self._vector_arg(node.args[0], steps)
        t = len(steps)
        lo = hi = None
        if node.func == "clamp":
            lo = self._scalar_arg(node.args[1], steps, "clamp's min")
            hi = self._scalar_arg(node.args[2], steps, "clamp's max")
        elif node.func == "clamp_min":
            lo = self._scalar_arg(node.args[1], steps, "clamp_min's min")
        else:
            hi = self._scalar_arg(node.args[1], steps, "clamp_max's max")
        vals = vec.vals
        ok = np.ones(t, dtype=bool)
        with np.errstate(all="ignore"):
            if hi is not None:
                vals = np.where(np.isnan(vals) | np.isnan(hi), np.nan, np.minimum(vals, hi))
            if lo is not None:
                vals = np.where(np.isnan(vals) | np.isnan(lo), np.nan, np.maximum(vals, lo))
        if lo is not None and hi is not None:
            ok = ~(hi < lo)
        out = self._map(vec, vals)
        out.mask &= ok[None, :]
        return out

    def _histogram_quantile(self, q: np.ndarray, vec: Vector) -> Vector:
        t = vec.steps
        groups: dict[Labels, list[tuple[float, int]]] = {}
        for i, lb in enumerate(vec.labels):
            le = dict(lb).get("le")
            if le is None:
                continue
            try:
                bound = float(le.replace("Inf", "inf"))
            except ValueError:
                continue
            key = tuple(p for p in lb if p[0] not in ("le", NAME))
            groups.setdefault(key, []).append((bound, i))
        out = RowCollector(t)
        for key, items in groups.items():
            items.sort(key=lambda x: x[0])
            bounds = [b for b, _ in items]
            rows = [r for _, r in items]
            vals = vec.vals[rows]
            mask = vec.mask[rows]
            res = np.full(t, np.nan)
            present = np.asarray(mask.any(axis=0), dtype=bool)
            for k in np.nonzero(present)[0]:
                m = mask[:, k]
                bs = [b for b, keep in zip(bounds, m, strict=True) if keep]
                cs = vals[m, k].tolist()
                res[k] = fn.bucket_quantile(float(q[k]), bs, cs)
            out.add(key, res, present)
        return out.vector()

    def _label_replace(self, node: Call, steps: np.ndarray) -> Vector:
        vec = self._vector_arg(node.args[0], steps)
        dst, repl, src, regex = (self._string_arg(a) for a in node.args[1:5])
        # RE2 (Go's regexp syntax, linear time), anchored as Prometheus anchors it
        pattern = compile_regex(f"^(?:{regex})$", what="label_replace() regex")._compiled
        if not _LABEL_NAME.match(dst):
            raise EvalError(f"invalid destination label name in label_replace(): {dst}")
        out = RowCollector(vec.steps)
        for i, lb in enumerate(vec.labels):
            value = dict(lb).get(src, "")
            m = pattern.match(value)
            new = lb
            if m is not None:
                new = with_label(lb, dst, _expand(repl, m))
            out.add(new, vec.vals[i], vec.mask[i])
        return out.vector()

    def _label_join(self, node: Call, steps: np.ndarray) -> Vector:
        vec = self._vector_arg(node.args[0], steps)
        dst = self._string_arg(node.args[1])
        sep = self._string_arg(node.args[2])
        srcs = [self._string_arg(a) for a in node.args[3:]]
        if not _LABEL_NAME.match(dst):
            raise EvalError(f"invalid destination label name in label_join(): {dst}")
        out = RowCollector(vec.steps)
        for i, lb in enumerate(vec.labels):
            d = dict(lb)
            out.add(with_label(lb, dst, sep.join(d.get(s, "") for s in srcs)),
                    vec.vals[i], vec.mask[i])
        return out.vector()

    # ------------------------------------------------------------------ operators

    def _aggregate(self, node: Aggregate, steps: np.ndarray) -> Vector:
        vec = self._vector_arg(node.expr, steps)
        param = None
        label = None
        if node.op in ("topk", "bottomk", "quantile"):
            assert node.param is not None
            param = self._scalar_arg(node.param, steps, f"{node.op}'s parameter")
        elif node.op == "count_values":
            assert node.param is not None
            label = self._string_arg(node.param)
            if not _LABEL_NAME.match(label):
                raise EvalError(f"invalid label name {label!r} in count_values")
        elif node.op not in ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"):
            raise UnsupportedError(f"aggregation {node.op}() is not supported by the embedded "
                                   "engine")
        return aggregate(node.op, vec, node.grouping, node.without, param, label)

    def _binary(self, node: Binary, steps: np.ndarray) -> Value:
        lhs = self.eval(node.lhs, steps)
        rhs = self.eval(node.rhs, steps)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return scalar_scalar(node, lhs, rhs)
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return vector_scalar(node, lhs, rhs, scalar_left=False)
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return vector_scalar(node, rhs, lhs, scalar_left=True)
        if isinstance(lhs, Vector) and isinstance(rhs, Vector):
            return vector_vector(node, lhs, rhs)
        raise EvalError("binary operators apply to scalars and instant vectors only")


def _unwrap(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.expr
    return node


def _expand(template: str, m: Any) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown groups expand to ""."""
    out = []
    i = 0
    groups = m.re.groupindex
    while i < len(template):
        ch = template[i]
        if ch != "$" or i + 1 >= len(template):
            out.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            if end < 0:
                out.append(ch)
                i += 1
                continue
            name = template[i + 2:end]
            i = end + 1
        else:
            j = i + 1
            while j < len(template) and (template[j].isalnum() or template[j] == "_"):
                j += 1
            if j == i + 1:
                out.append(ch)
                i += 1
                continue
            name = template[i + 1:j]
            i = j
        if name.isdigit():
            k = int(name)
            if k <= m.re.groups:
                out.append(m.group(k) or "")
        elif name in groups:
            out.append(m.group(name) or "")
    return "".join(out)


__all__ = ["Engine", "EngineLimits", "Matrix"]
