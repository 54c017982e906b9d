"""Time parsing: every shape an operator types resolves to the same instant."""

from __future__ import annotations

import pytest

from obsbench_servers.common.timeutil import (
    NS_PER_S,
    TimeParseError,
    TimeRange,
    epoch_to_ns,
    format_duration_ns,
    ns_to_rfc3339,
    parse_duration_ns,
    parse_rfc3339_ns,
    parse_time_ns,
)

T0 = 1_773_151_500 * NS_PER_S  # 2026-03-10T14:05:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-10T14:05:00Z", T0),
        ("2026-03-10T15:05:00+01:00", T0),
        ("2026-03-10T14:05:00.123456789Z", T0 + 123_456_789),
        ("2026-03-10T14:05:00", T0),  # naive means UTC
        ("1773151500", T0),
        ("1773151500000", T0),
        ("1773151500000000", T0),
        ("1773151500000000000", T0),
        ("1773151500.5", T0 + NS_PER_S // 2),
        ("now", T0),
        ("now-2h", T0 - 7200 * NS_PER_S),
        ("now+5m", T0 + 300 * NS_PER_S),
        ("2h", T0 - 7200 * NS_PER_S),
    ],
)
def test_parse_time_shapes(text: str, expected: int) -> None:
    assert parse_time_ns(text, now_ns=T0) == expected


def test_epoch_magnitudes_are_not_confused() -> None:
    assert epoch_to_ns(1_773_151_500) == T0
    assert epoch_to_ns(1_773_151_500_000) == T0
    assert epoch_to_ns(0) == 0


@pytest.mark.parametrize(
    ("text", "ns"),
    [("30s", 30 * NS_PER_S), ("1h30m", 5400 * NS_PER_S), ("250ms", 250_000_000),
     ("7d", 7 * 86400 * NS_PER_S), ("1.5h", 5400 * NS_PER_S), ("90", 90 * NS_PER_S)],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("bad", ["", "5x", "h", "1h-2m", "yesterday", "2026-13-45T00:00:00Z"])
def test_bad_times_say_what_works(bad: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_time_ns(bad, now_ns=T0)
    assert "now-2h" in str(info.value) or "30s" in str(info.value)


def test_format_round_trip() -> None:
    assert ns_to_rfc3339(T0) == "2026-03-10T14:05:00Z"
    assert ns_to_rfc3339(T0 + 5_000_000, precision="milliseconds") == "2026-03-10T14:05:00.005Z"
    assert parse_rfc3339_ns(ns_to_rfc3339(T0 + 7, precision="nanoseconds")) == T0 + 7
    assert format_duration_ns(5400 * NS_PER_S) == "1h30m"
    assert format_duration_ns(250_000_000) == "250ms"


def test_range_resolution() -> None:
    r = TimeRange.resolve(since="1h", now_ns=T0)
    assert (r.start_ns, r.end_ns) == (T0 - 3600 * NS_PER_S, T0)
    r = TimeRange.resolve(start="now-2h", end="now-1h", now_ns=T0)
    assert r.duration_ns == 3600 * NS_PER_S
    with pytest.raises(TimeParseError, match="not both"):
        TimeRange.resolve(start="now-2h", since="1h", now_ns=T0)
    with pytest.raises(TimeParseError, match="swap"):
        TimeRange.resolve(start="now", end="now-1h", now_ns=T0)


@pytest.mark.parametrize("text", ["9999999999999999999999999999999999999999", "-5",
                                  "now-300y"])
def test_times_outside_int64_nanoseconds_are_refused(text: str) -> None:
    """A fuzzed or mistyped time is a clear error, not an overflow deep in a query."""
    with pytest.raises(TimeParseError, match="out of range"):
        parse_time_ns(text, 1_773_144_000 * NS_PER_S)
