"""Series summaries for the LLM: statistics, change points with their times, the shape."""

from __future__ import annotations

import numpy as np

from obsbench_servers.metrics.summaries import change_points, lttb, sparkline, summarize

T = np.arange(0, 240 * 60, 60, dtype=float) + 1_773_140_400.0


def test_a_level_shift_is_found_at_its_time_with_both_levels() -> None:
    rng = np.random.default_rng(1)
    v = np.where(np.arange(240) < 166, 0.1, 2.0) + rng.normal(0, 0.005, 240)
    cps = change_points(T, v)
    assert len(cps) == 1
    assert cps[0].t == T[166]
    assert abs(cps[0].before - 0.1) < 0.01 and abs(cps[0].after - 2.0) < 0.01


def test_noise_alone_has_no_change_points() -> None:
    rng = np.random.default_rng(2)
    v = 100 + rng.normal(0, 5, 240)
    assert change_points(T, v) == []


def test_a_ramp_through_a_rate_window_is_one_transition() -> None:
    v = np.concatenate([np.full(100, 1.0), np.linspace(1, 10, 6), np.full(134, 10.0)])
    cps = change_points(T, v)
    assert len(cps) == 1
    assert T[99] <= cps[0].t <= T[106]
    assert cps[0].before < 1.5 and cps[0].after > 9


def test_two_shifts_are_both_reported_in_time_order() -> None:
    v = np.concatenate([np.full(80, 5.0), np.full(80, 50.0), np.full(80, 5.0)])
    cps = change_points(T, v)
    assert [c.t for c in cps] == [T[80], T[160]]


def test_summary_statistics_and_trend() -> None:
    v = np.linspace(10, 20, 240)
    s = summarize(T, v)
    assert s.min == 10 and s.max == 20 and s.last == 20
    assert abs(s.mean - 15) < 1e-9
    assert s.trend.startswith("rising")
    assert summarize(T, np.full(240, 3.0)).trend == "flat"
    nan = summarize(T, np.full(240, np.nan))
    assert nan.trend == "no finite values"


def test_lttb_keeps_a_single_spike_that_uniform_sampling_would_miss() -> None:
    v = np.zeros(240)
    v[123] = 50.0
    idx = lttb(T, v, 24)
    assert len(idx) == 24 and idx[0] == 0 and idx[-1] == 239
    assert 123 in idx
    assert 123 not in np.linspace(0, 239, 24).astype(int)  # what a uniform pick would miss
    assert "█" in sparkline(T, v, 24)
