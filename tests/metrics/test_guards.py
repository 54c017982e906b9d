"""Guards refuse before the backend is asked, and say what narrower request would pass."""

from __future__ import annotations

import pytest

from obsbench_servers.common.backend import Limits
from obsbench_servers.common.errors import GuardError
from obsbench_servers.common.guards import (
    PROMETHEUS_MAX_POINTS,
    cap_series,
    check_points,
    check_range,
    check_series,
    choose_step,
    points_for,
)
from obsbench_servers.common.timeutil import NS_PER_S, TimeRange

H = 3600 * NS_PER_S


def test_ten_years_at_one_second_is_refused_with_a_narrower_query() -> None:
    limits = Limits(max_range="20y")  # let the range pass: the point budget must catch it
    tr = TimeRange(0, 10 * 365 * 24 * H)
    with pytest.raises(GuardError) as exc:
        check_points(tr, 1, limits)
    assert "11,000 points" in exc.value.message
    hint = exc.value.hint or ""
    step = int(hint.split("step=")[1].split("s")[0])
    assert points_for(tr.duration_ns, step) <= PROMETHEUS_MAX_POINTS  # the suggestion passes
    assert "narrow the range to at most 3h3m19s" in hint  # 10,999 steps of 1 s


def test_range_beyond_the_backend_limit_is_refused() -> None:
    with pytest.raises(GuardError, match="more than this backend's limit of 31d"):
        check_range(TimeRange(0, 40 * 24 * H), Limits())
    check_range(TimeRange(0, 31 * 24 * H), Limits())  # exactly the limit passes


def test_configured_point_limit_below_prometheus_wins() -> None:
    limits = Limits(max_points_per_series=500)
    with pytest.raises(GuardError, match="max_points_per_series = 500"):
        check_points(TimeRange(0, H), 1, limits)
    assert check_points(TimeRange(0, H), 10, limits) == 361


def test_chosen_step_is_a_nice_step_within_budget() -> None:
    choice = choose_step(4 * H, Limits(), budget=1000)
    assert choice.step_s == 15 and choice.points == 961
    choice = choose_step(30 * 24 * H, Limits(), budget=1000)
    assert choice.points <= 1000 and choice.step_s == 3600
    assert choose_step(60 * NS_PER_S, Limits(), budget=1000, min_step_s=15).step_s == 15


def test_series_caps() -> None:
    with pytest.raises(GuardError, match="matches 600 series"):
        check_series(600, Limits())
    keep, note = cap_series(600, Limits(max_series=100))
    assert keep == 100 and note is not None and "100 of 600" in note
    assert cap_series(10, Limits()) == (10, None)
    with pytest.raises(GuardError, match="step must be positive"):
        check_points(TimeRange(0, H), 0, Limits())
