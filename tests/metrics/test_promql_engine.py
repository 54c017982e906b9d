"""The embedded PromQL engine on hand-made series, against values computed by hand from
Prometheus's documented semantics (the differential test checks the same against a real
Prometheus; these pin the rules themselves and run without one)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from obsbench_servers.common.errors import BadInputError, GuardError
from obsbench_servers.metrics.promql.engine import Engine, EngineLimits
from obsbench_servers.metrics.promql.parse import PromQLSyntaxError, parse
from obsbench_servers.metrics.promql.storage import MemorySource
from obsbench_servers.metrics.promql.values import (
    EvalError,
    RawSeries,
    UnsupportedError,
    format_value,
    labels_of,
)
from obsbench_servers.store.schema import STALE_NAN_BITS

STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
T0 = 1_000_000  # seconds


def series(name: str, labels: dict[str, str], points: list[tuple[float, float]]) -> RawSeries:
    ts = np.array([round(t * 1000) for t, _ in points], dtype=np.int64)
    vals = np.array([v for _, v in points], dtype=float)
    stale = vals.view(np.uint64) == np.uint64(STALE_NAN_BITS)
    return RawSeries(labels_of({"__name__": name, **labels}), ts, vals, stale)


def engine(*ss: RawSeries, **kw: object) -> Engine:
    return Engine(MemorySource(ss), **kw)  # type: ignore[arg-type]


def values(data: dict[str, object]) -> dict[str, float]:
    """{label text: value} of an instant vector result."""
    out = {}
    for r in data["result"]:  # type: ignore[attr-defined]
        key = ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()))
        out[key] = float(r["value"][1])
    return out


def at(e: Engine, expr: str, t: float) -> dict[str, float]:
    return values(e.instant(expr, round(t * 1000)))


# --------------------------------------------------------------------------- selection


def test_lookback_is_five_minutes_inclusive_and_takes_the_newest_sample() -> None:
    e = engine(series("g", {}, [(T0, 1.0), (T0 + 60, 2.0)]))
    assert at(e, "g", T0 + 60 + 300) == {"__name__=g": 2.0}  # exactly 5 m: still there
    assert at(e, "g", T0 + 60 + 300.001) == {}  # beyond the lookback
    assert at(e, "g", T0 + 30) == {"__name__=g": 1.0}
    assert at(e, "g", T0 - 1) == {}


def test_stale_marker_ends_the_series_until_the_next_sample() -> None:
    e = engine(series("g", {}, [(T0, 1.0), (T0 + 60, STALE), (T0 + 120, 3.0)]))
    assert at(e, "g", T0 + 90) == {}
    assert at(e, "g", T0 + 120) == {"__name__=g": 3.0}
    # range vectors drop the marker: two real samples in the window
    assert at(e, "count_over_time(g[3m])", T0 + 120) == {"": 2.0}


def test_ordinary_nan_is_a_value_not_staleness() -> None:
    e = engine(series("g", {}, [(T0, math.nan)]))
    got = e.instant("g", T0 * 1000)["result"]
    assert got[0]["value"][1] == "NaN"


def test_range_selector_is_inclusive_at_both_ends() -> None:
    e = engine(series("c", {}, [(T0 + i * 60, float(i)) for i in range(6)]))
    assert at(e, "count_over_time(c[2m])", T0 + 180) == {"": 3.0}  # T0+60, +120, +180


def test_matchers_all_four_kinds_and_empty_value_means_absent() -> None:
    e = engine(series("m", {"a": "x"}, [(T0, 1)]), series("m", {"a": "y"}, [(T0, 2)]),
               series("m", {}, [(T0, 3)]))
    assert set(at(e, 'm{a="x"}', T0)) == {"__name__=m,a=x"}
    assert set(at(e, 'm{a!="x"}', T0)) == {"__name__=m,a=y", "__name__=m"}
    assert set(at(e, 'm{a=~"x|y"}', T0)) == {"__name__=m,a=x", "__name__=m,a=y"}
    assert set(at(e, 'm{a!~"x.*"}', T0)) == {"__name__=m,a=y", "__name__=m"}
    assert set(at(e, 'm{a=""}', T0)) == {"__name__=m"}
    assert set(at(e, 'm{a=~"x"}', T0)) == {"__name__=m,a=x"}  # anchored: no partial match
    assert set(at(e, '{__name__=~"m|n", a="y"}', T0)) == {"__name__=m,a=y"}


def test_offset_and_at_modifiers() -> None:
    e = engine(series("g", {}, [(T0 + i * 60, float(i)) for i in range(11)]))
    assert at(e, "g offset 2m", T0 + 300) == {"__name__=g": 3.0}
    assert at(e, f"g @ {T0 + 120}", T0 + 600) == {"__name__=g": 2.0}
    assert at(e, f"g @ {T0 + 240} offset 1m", T0) == {"__name__=g": 3.0}
    data = e.range("g @ start()", (T0 + 60) * 1000, (T0 + 300) * 1000, 60_000)
    assert {v for _, v in data["result"][0]["values"]} == {"1"}
    data = e.range("g @ end()", (T0 + 60) * 1000, (T0 + 300) * 1000, 60_000)
    assert {v for _, v in data["result"][0]["values"]} == {"5"}


# --------------------------------------------------------------------------- rates


def test_rate_extrapolates_to_the_window_edges_like_prometheus() -> None:
    # samples at 15 s, 30 s ... 285 s (19 samples) of a counter growing 1/s, window [0, 300]:
    # duration to start 15 s and to end 15 s are below 1.1 x 15 s, so both extrapolate:
    # increase = 270 * (270 + 15 + 15) / 270 = 300; rate = 1.
    pts = [(T0 + 15 * i, 100.0 + 15 * i) for i in range(1, 20)]
    e = engine(series("c_total", {}, pts))
    assert at(e, "increase(c_total[5m])", T0 + 300)[""] == pytest.approx(300.0, rel=1e-12)
    assert at(e, "rate(c_total[5m])", T0 + 300)[""] == pytest.approx(1.0, rel=1e-12)


def test_rate_extrapolation_stops_at_half_an_interval_and_at_zero() -> None:
    # samples only in the middle of the window: extrapolate by half an interval each side
    pts = [(T0 + 100 + 10 * i, 50.0 + 10 * i) for i in range(11)]  # 100..200 s, +1/s
    e = engine(series("c_total", {}, pts))
    # sampled 100 s, avg interval 10 s: 100 + 5 + 5 = 110 s of increase 100 -> 110
    assert at(e, "increase(c_total[5m])", T0 + 300)[""] == pytest.approx(110.0, rel=1e-12)
    # a counter starting at 2 cannot be extrapolated below zero: 2 s to zero, not 5 s
    pts = [(T0 + 100 + 10 * i, 2.0 + 10 * i) for i in range(11)]
    e = engine(series("c_total", {}, pts))
    assert at(e, "increase(c_total[5m])", T0 + 300)[""] == pytest.approx(
        100 * (100 + 2 + 5) / 100, rel=1e-12)


def test_counter_resets_add_the_value_before_the_reset() -> None:
    pts = [(T0 + 60 * i, v) for i, v in enumerate([10, 20, 30, 5, 15, 25])]
    e = engine(series("c_total", {}, pts))
    # raw increase 25 - 10 + 30 (the reset) = 45 over 300 s sampled, window 5m at T0+300:
    # start gap 0 -> extrapolate 0; end gap 0 -> factor 1
    assert at(e, "increase(c_total[5m])", T0 + 300)[""] == pytest.approx(45.0, rel=1e-12)
    assert at(e, "resets(c_total[5m])", T0 + 300)[""] == 1.0
    # delta() is for gauges: no reset handling
    assert at(e, "delta(c_total[5m])", T0 + 300)[""] == pytest.approx(15.0, rel=1e-12)
    # irate after a reset is the new value over the interval
    assert at(e, "irate(c_total[2m])", T0 + 180)[""] == pytest.approx(5 / 60, rel=1e-12)


def test_rate_needs_two_samples_and_drops_the_metric_name() -> None:
    e = engine(series("c_total", {"a": "1"}, [(T0, 1.0)]))
    assert at(e, "rate(c_total[5m])", T0 + 10) == {}
    e = engine(series("c_total", {"a": "1"}, [(T0, 1.0), (T0 + 10, 2.0)]))
    assert set(at(e, "rate(c_total[5m])", T0 + 10)) == {"a=1"}
    assert set(at(e, "last_over_time(c_total[5m])", T0 + 10)) == {"__name__=c_total,a=1"}


def test_deriv_and_predict_linear_are_least_squares() -> None:
    pts = [(T0 + 60 * i, 3.0 + 0.5 * 60 * i) for i in range(6)]  # slope 0.5/s
    e = engine(series("g", {}, pts))
    assert at(e, "deriv(g[5m])", T0 + 300)[""] == pytest.approx(0.5, rel=1e-12)
    # value at T0+300 is 153; in 100 s: 203
    assert at(e, "predict_linear(g[5m], 100)", T0 + 300)[""] == pytest.approx(203.0, rel=1e-12)


def test_subquery_evaluates_at_absolute_multiples_of_its_step() -> None:
    e = engine(series("g", {}, [(T0 + 10 * i, float(i)) for i in range(100)]))
    # T0 = 1,000,000 s is a multiple of 60 s (and of 40 s): inner points at T0+520, +560,
    # +600 inside [T0+600-90, T0+600] -> values 52, 56, 60
    assert at(e, "count_over_time(g[90s:40s])", T0 + 600)[""] == 3.0
    assert at(e, "sum_over_time(g[90s:40s])", T0 + 600)[""] == 52 + 56 + 60


# --------------------------------------------------------------------------- operators


def test_aggregations_with_by_and_without() -> None:
    ss = [series("m", {"a": a, "b": b}, [(T0, v)])
          for (a, b, v) in [("x", "1", 1), ("x", "2", 2), ("y", "1", 4)]]
    e = engine(*ss)
    assert at(e, "sum by (a) (m)", T0) == {"a=x": 3.0, "a=y": 4.0}
    assert at(e, "sum without (b) (m)", T0) == {"a=x": 3.0, "a=y": 4.0}
    assert at(e, "avg(m)", T0) == {"": pytest.approx(7 / 3)}
    assert at(e, "count(m)", T0) == {"": 3.0}
    assert at(e, "stddev(m)", T0)[""] == pytest.approx(np.std([1, 2, 4]))
    assert at(e, "quantile(0.5, m)", T0) == {"": 2.0}
    assert at(e, "max by (b) (m)", T0) == {"b=1": 4.0, "b=2": 2.0}
    assert set(at(e, "topk(2, m)", T0)) == {"__name__=m,a=x,b=2", "__name__=m,a=y,b=1"}
    assert set(at(e, "bottomk by (a) (1, m)", T0)) == {"__name__=m,a=x,b=1",
                                                       "__name__=m,a=y,b=1"}
    assert at(e, 'count_values("v", m)', T0) == {"v=1": 1.0, "v=2": 1.0, "v=4": 1.0}


def test_topk_ties_keep_the_first_series_in_input_order() -> None:
    ss = [series("m", {"i": str(i)}, [(T0, 5.0)]) for i in range(4)]
    e = engine(*ss)
    assert set(at(e, "topk(2, m)", T0)) == {"__name__=m,i=0", "__name__=m,i=1"}


def test_one_to_one_and_group_left_matching() -> None:
    ss = [series("errors", {"svc": "a", "code": "500"}, [(T0, 5)]),
          series("errors", {"svc": "a", "code": "503"}, [(T0, 1)]),
          series("total", {"svc": "a"}, [(T0, 100)]),
          series("info", {"svc": "a", "team": "t1"}, [(T0, 1)])]
    e = engine(*ss)
    assert at(e, "errors / ignoring(code) group_left total", T0) == {
        "code=500,svc=a": 0.05, "code=503,svc=a": 0.01}
    assert at(e, "total * on(svc) group_left(team) info", T0) == {"svc=a,team=t1": 100.0}
    with pytest.raises(EvalError, match="multiple matches for labels"):
        e.instant("errors / ignoring(code) total", T0 * 1000)
    with pytest.raises(EvalError, match="duplicate series for the match group"):
        e.instant("total / on(svc) errors", T0 * 1000)


def test_comparison_filters_and_bool_returns_zero_or_one() -> None:
    e = engine(series("m", {"a": "1"}, [(T0, 3)]), series("m", {"a": "2"}, [(T0, 7)]))
    assert at(e, "m > 5", T0) == {"__name__=m,a=2": 7.0}
    assert at(e, "5 < m", T0) == {"__name__=m,a=2": 7.0}  # the vector's value, not 5
    assert at(e, "m > bool 5", T0) == {"a=1": 0.0, "a=2": 1.0}
    assert e.instant("1 < bool 2", T0 * 1000)["result"][1] == "1"


def test_set_operators() -> None:
    e = engine(series("a", {"k": "1"}, [(T0, 1)]), series("a", {"k": "2"}, [(T0, 2)]),
               series("b", {"k": "2"}, [(T0, 20)]), series("b", {"k": "3"}, [(T0, 30)]))
    assert at(e, "a and b", T0) == {"__name__=a,k=2": 2.0}
    assert at(e, "a unless b", T0) == {"__name__=a,k=1": 1.0}
    assert at(e, "a or b", T0) == {"__name__=a,k=1": 1.0, "__name__=a,k=2": 2.0,
                                   "__name__=b,k=3": 30.0}


def test_functions() -> None:
    e = engine(series("g", {"pod": "web-1"}, [(T0, -2.5)]))
    assert at(e, "abs(g)", T0) == {"pod=web-1": 2.5}
    assert at(e, "round(g)", T0) == {"pod=web-1": -2.0}  # Go: floor(x + 0.5)
    assert at(e, "round(g, 2)", T0) == {"pod=web-1": -2.0}
    assert at(e, "clamp(g, -1, 1)", T0) == {"pod=web-1": -1.0}
    assert at(e, "clamp(g, 1, -1)", T0) == {}  # min > max: no result
    assert at(e, "clamp_min(g, 0)", T0) == {"pod=web-1": 0.0}
    assert at(e, "clamp_max(g, -3)", T0) == {"pod=web-1": -3.0}
    assert at(e, 'label_replace(g, "app", "$1", "pod", "(.*)-[0-9]+")', T0) == {
        "__name__=g,app=web,pod=web-1": -2.5}
    # Go's template expansion: $1x names a group "1x", which does not exist -> ""
    assert at(e, 'label_replace(g, "app", "$1x", "pod", "(.*)-[0-9]+")', T0) == {
        "__name__=g,pod=web-1": -2.5}
    assert at(e, 'absent(nothing{job="j", env=~"p.*"})', T0) == {"job=j": 1.0}
    assert at(e, "absent(g)", T0) == {}
    assert e.instant("scalar(g)", T0 * 1000)["result"][1] == "-2.5"
    assert e.instant("time()", T0 * 1000)["result"] == [T0, str(T0)]
    assert at(e, "vector(2) * 3", T0) == {"": 6.0}
    assert at(e, "timestamp(g)", T0 + 30) == {"pod=web-1": float(T0)}


def test_histogram_quantile_on_classic_buckets() -> None:
    # Prometheus's bucketQuantile: 100 observations, 60 <= 0.1, 90 <= 0.5, all <= +Inf
    ss = [series("h_bucket", {"le": le}, [(T0, v)])
          for le, v in [("0.1", 60), ("0.5", 90), ("+Inf", 100)]]
    e = engine(*ss)
    assert at(e, "histogram_quantile(0.5, h_bucket)", T0)[""] == pytest.approx(0.1 * 50 / 60)
    assert at(e, "histogram_quantile(0.75, h_bucket)", T0)[""] == pytest.approx(
        0.1 + 0.4 * (75 - 60) / 30)
    assert at(e, "histogram_quantile(0.99, h_bucket)", T0)[""] == 0.5  # in +Inf: lower bound
    assert at(e, "histogram_quantile(1.5, h_bucket)", T0)[""] == math.inf


def test_range_query_steps_and_shapes() -> None:
    e = engine(series("g", {}, [(T0 + 60 * i, float(i)) for i in range(10)]))
    data = e.range("g * 2", T0 * 1000, (T0 + 540) * 1000, 180_000)
    assert data["resultType"] == "matrix"
    assert data["result"][0]["values"] == [[T0, "0"], [T0 + 180, "6"], [T0 + 360, "12"],
                                           [T0 + 540, "18"]]
    scalar = e.range("time()", T0 * 1000, (T0 + 60) * 1000, 60_000)
    assert scalar["result"] == [{"metric": {}, "values": [[T0, str(T0)],
                                                          [T0 + 60, str(T0 + 60)]]}]
    with pytest.raises(EvalError, match="range vector"):
        e.range("g[5m]", T0 * 1000, (T0 + 60) * 1000, 60_000)
    matrix = e.instant("g[2m]", (T0 + 120) * 1000)
    assert matrix["resultType"] == "matrix"
    assert [v for _, v in matrix["result"][0]["values"]] == ["0", "1", "2"]


# --------------------------------------------------------------------------- limits & errors


def test_unsupported_constructs_are_named_errors() -> None:
    e = engine(series("g", {}, [(T0, 1.0)]))
    with pytest.raises(UnsupportedError, match=r"mad_over_time\(\) is not supported"):
        e.instant("mad_over_time(g[5m])", T0 * 1000)
    with pytest.raises(UnsupportedError, match=r"limitk\(\) is not supported"):
        e.instant("limitk(1, g)", T0 * 1000)
    with pytest.raises(UnsupportedError, match=r"sort_by_label\(\) is not supported"):
        e.instant('sort_by_label(g, "a")', T0 * 1000)
    # Prometheus 2's name (the parser follows Prometheus 3's): named as written
    with pytest.raises(UnsupportedError, match=r"holt_winters\(\) is not supported"):
        e.instant("holt_winters(g[5m], 0.5, 0.5)", T0 * 1000)


def test_selector_and_sample_limits_refuse_instead_of_answering() -> None:
    ss = [series("m", {"i": str(i)}, [(T0, 1.0)]) for i in range(50)]
    e = engine(*ss, limits=EngineLimits(max_series_selected=10))
    with pytest.raises(GuardError, match="matches 50 series"):
        e.instant("sum(m)", T0 * 1000)
    e = engine(*ss, limits=EngineLimits(max_samples=20))
    with pytest.raises(GuardError, match="too many samples"):
        e.instant("sum(m)", T0 * 1000)


def test_parse_errors_name_the_position() -> None:
    with pytest.raises(PromQLSyntaxError) as exc:
        parse("sum(rate(http_requests_total[5m]) by (job)")
    assert exc.value.position == 35  # the "by" that comes before the closing parenthesis
    assert "unclosed left parenthesis" in exc.value.message
    assert "^" in exc.value.message
    with pytest.raises(PromQLSyntaxError, match="expected type matrix"):
        parse("rate(http_requests_total)")
    with pytest.raises(BadInputError, match="before 1970"):
        parse("up @ -100")


@pytest.mark.parametrize(("value", "text"), [
    # what Prometheus 2.42 printed for vector(<value>) (checked live in the differential test)
    (1e-5, "0.00001"), (1e-7, "1e-07"), (1e16, "10000000000000000"), (1e21, "1e+21"),
    (0.1, "0.1"), (-0.0, "-0"), (5e-324, "5e-324"), (2.5e-6, "0.0000025"),
    (1.2345678901234568e18, "1234567890123456800"), (math.inf, "+Inf"), (math.nan, "NaN"),
])
def test_values_are_formatted_like_prometheus(value: float, text: str) -> None:
    assert format_value(value) == text


def test_regex_matchers_run_in_linear_time() -> None:
    # RE2, as in Prometheus: a pattern that backtracks exponentially in Python's re
    e = engine(series("m", {"a": "x" * 5000}, [(T0, 1.0)]),
               series("m", {"a": "xy"}, [(T0, 2.0)]))
    import time

    t0 = time.perf_counter()
    assert at(e, 'm{a=~"(x+)+y"}', T0) == {"__name__=m,a=xy": 2.0}
    assert time.perf_counter() - t0 < 1.0
