"""Time in a scenario: the window, its sampling grid, and the shapes faults follow.

A scenario is simulated on a regular grid (the scrape interval of its scale).
Faults are described as ``Shape``s over wall time (onset, ramp, plateau,
recovery) so that the same scenario reads the same at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 UTC with a ``Z`` (seconds precision)."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SECONDS: dict[int, str] = {}


def rfc3339_ms(ts: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds (Alertmanager, logs)."""
    ms = round(ts * 1000)
    sec = ms // 1000
    base = _SECONDS.get(sec)
    if base is None:
        base = _SECONDS[sec] = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms % 1000:03d}Z"


def rfc3339_us(ts_ns: int) -> str:
    """Epoch nanoseconds as RFC 3339 UTC with microseconds (log lines; seconds cached)."""
    sec = ts_ns // 1_000_000_000
    base = _SECONDS.get(sec)
    if base is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        base = _SECONDS[sec] = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{(ts_ns // 1000) % 1_000_000:06d}Z"


def parse_time(text: str) -> int:
    """RFC 3339 (or epoch seconds) to epoch seconds."""
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    dt = datetime.fromisoformat(raw)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


@dataclass(frozen=True, slots=True)
class Frame:
    """The simulated window ``[start, end]`` sampled every ``step`` seconds (both ends in)."""

    start: int
    end: int
    step: int

    @property
    def n(self) -> int:
        return (self.end - self.start) // self.step + 1

    def t(self, i: int) -> int:
        return self.start + i * self.step

    @property
    def times(self) -> list[int]:
        return [self.start + i * self.step for i in range(self.n)]

    def index(self, ts: float) -> int:
        """The grid index at or before ``ts`` (clamped to the window)."""
        return max(0, min(self.n - 1, int((ts - self.start) // self.step)))


@dataclass(frozen=True, slots=True)
class Shape:
    """0 before ``start``, linear ramp to 1, plateau, linear fall after ``end``."""

    start: float
    ramp: float = 60.0
    end: float | None = None
    fall: float = 60.0

    def at(self, ts: float) -> float:
        if ts < self.start:
            return 0.0
        up = 1.0 if self.ramp <= 0 else min(1.0, (ts - self.start) / self.ramp)
        if self.end is None or ts <= self.end:
            return up
        if self.fall <= 0:
            return 0.0
        return up * max(0.0, 1.0 - (ts - self.end) / self.fall)


def diurnal(ts: float) -> float:
    """Relative traffic of a European web shop by time of day (UTC): trough 04:00, peak ~19:30.

    Returns roughly 0.22 at night to 1.0 at the evening peak, with a lunchtime
    shoulder and a slightly quieter weekend.
    """
    dt = datetime.fromtimestamp(ts, tz=UTC)
    h = dt.hour + dt.minute / 60.0 + dt.second / 3600.0
    base = 0.5 - 0.5 * math.cos(2 * math.pi * (h - 4.0) / 24.0)  # 0 at 04:00, 1 at 16:00
    evening = math.exp(-((h - 19.5) ** 2) / 6.0) * 0.35
    lunch = math.exp(-((h - 12.5) ** 2) / 2.0) * 0.12
    value = 0.22 + 0.62 * base**1.2 + evening + lunch
    if dt.weekday() >= 5:
        value *= 0.88
    return min(1.0, value / 1.12)
