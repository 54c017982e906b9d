"""Time parsing shared by every server and the CLI.

Operators type times in many shapes (RFC 3339, epoch seconds, epoch milliseconds
from a Grafana URL, ``now-2h``); tools and bundles must agree on one meaning, so
all of them go through here. Internally a point in time is an ``int`` of
nanoseconds since the epoch (UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "w": 7 * 86400 * NS_PER_S,
    "y": 365 * 86400 * NS_PER_S,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(.+))?$")
_FULL_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+")

# Epoch magnitudes: a value above these is read as the next finer unit. Seconds
# stay below 1e11 until the year 5138; milliseconds below 1e14 until 5138 too.
_EPOCH_MS_THRESHOLD = 1e11
_EPOCH_US_THRESHOLD = 1e14
_EPOCH_NS_THRESHOLD = 1e17


class TimeParseError(ValueError):
    """A time or duration the user typed could not be read; the message says what works."""


def parse_duration_ns(text: str) -> int:
    """Parse a Prometheus-style duration (``90s``, ``1h30m``, ``2d``) into nanoseconds."""
    raw = text.strip()
    if not raw:
        raise TimeParseError("empty duration; use a form like 30s, 5m, 1h30m or 7d")
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return int(float(raw) * NS_PER_S)
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS_NS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or pos == 0:
        raise TimeParseError(
            f"cannot read duration {text!r}; use a number with a unit such as 30s, 5m, 1h30m, 7d"
        )
    return int(total)


def format_duration_ns(ns: int) -> str:
    """Render nanoseconds as a compact duration (``1h30m``, ``250ms``)."""
    if ns < 0:
        return "-" + format_duration_ns(-ns)
    if ns == 0:
        return "0s"
    if ns < NS_PER_MS:
        return f"{ns / 1000:g}us"
    if ns < NS_PER_S:
        return f"{ns / NS_PER_MS:g}ms"
    seconds = ns / NS_PER_S
    if seconds < 60:
        return f"{seconds:.3g}s"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def epoch_to_ns(value: float | int) -> int:
    """Read an epoch number in s, ms, us or ns (decided by magnitude) as nanoseconds.

    Integers are converted exactly; floats keep the precision a double has.
    """
    mag = abs(value)
    if mag >= _EPOCH_NS_THRESHOLD:
        scale = 1
    elif mag >= _EPOCH_US_THRESHOLD:
        scale = 1_000
    elif mag >= _EPOCH_MS_THRESHOLD:
        scale = NS_PER_MS
    else:
        scale = NS_PER_S
    if isinstance(value, int):
        return value * scale
    return round(value * scale)


def parse_rfc3339_ns(text: str) -> int:
    """Parse RFC 3339 / ISO 8601 with nanosecond precision kept (Python keeps only µs)."""
    s = text.strip()
    frac_ns = 0
    m = re.match(r"^(.*?T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", s)
    if m and m.group(2):
        digits = m.group(2)[1:]
        frac_ns = int((digits + "000000000")[:9])
        s = m.group(1) + m.group(3)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise TimeParseError(
            f"cannot read time {text!r}; use RFC 3339 (2026-03-10T14:05:00Z), "
            "epoch seconds, or a relative time like now-2h"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_S + frac_ns


# Times a tool works with fit in int64 nanoseconds (1970 .. 2262), as in every backend.
_MAX_NS = 2**63 - 1


def parse_time_ns(text: str | float | int, now_ns: int | None = None) -> int:
    """Parse an absolute or relative time into epoch nanoseconds.

    Accepts RFC 3339, epoch numbers (s/ms/us/ns by magnitude), ``now``,
    ``now-2h``, ``now+5m``, and a bare duration like ``2h`` meaning ``now-2h``.
    A time outside 1970 .. 2262 (int64 nanoseconds) is refused.
    """
    ns = _parse_time_ns(text, now_ns)
    if not 0 <= ns <= _MAX_NS:
        raise TimeParseError(f"time {str(text)[:40]!r} is out of range; use a time between "
                             "1970 and 2262 (RFC 3339, epoch seconds, or now-2h)")
    return ns


def _parse_time_ns(text: str | float | int, now_ns: int | None) -> int:
    if isinstance(text, (int, float)):
        return epoch_to_ns(text)
    raw = text.strip()
    if not raw:
        raise TimeParseError("empty time; use RFC 3339, epoch seconds, or now-2h")
    if re.fullmatch(r"-?\d+(?:\.\d+)?", raw):
        return epoch_to_ns(float(raw) if "." in raw else int(raw))
    now = now_ns if now_ns is not None else now_ns_utc()
    m = _RELATIVE.match(raw)
    if m:
        if not m.group(1):
            return now
        delta = parse_duration_ns(m.group(2))
        return now - delta if m.group(1) == "-" else now + delta
    if _FULL_DURATION.fullmatch(raw):
        return now - parse_duration_ns(raw)
    return parse_rfc3339_ns(raw)


def now_ns_utc() -> int:
    """The wall clock as epoch nanoseconds."""
    return int(datetime.now(tz=UTC).timestamp() * NS_PER_S)


def ns_to_rfc3339(ns: int, *, precision: str = "seconds") -> str:
    """Format epoch nanoseconds as RFC 3339 UTC (``...Z``); ``precision`` as in isoformat."""
    dt = datetime.fromtimestamp(ns // NS_PER_S, tz=UTC)
    if precision == "seconds":
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frac = ns % NS_PER_S
    if precision == "milliseconds":
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac // NS_PER_MS:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A resolved, absolute, half-open time range ``[start_ns, end_ns)``."""

    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns < self.start_ns:
            raise TimeParseError(
                f"time range ends ({ns_to_rfc3339(self.end_ns)}) before it starts "
                f"({ns_to_rfc3339(self.start_ns)}); swap --start and --end"
            )

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def contains(self, ns: int) -> bool:
        return self.start_ns <= ns < self.end_ns

    def to_dict(self) -> dict[str, str]:
        return {"start": ns_to_rfc3339(self.start_ns), "end": ns_to_rfc3339(self.end_ns)}

    @classmethod
    def resolve(
        cls,
        *,
        start: str | None = None,
        end: str | None = None,
        since: str | None = None,
        now_ns: int | None = None,
        default_since: str = "1h",
    ) -> TimeRange:
        """Resolve CLI/tool arguments into an absolute range.

        ``since`` is a duration back from ``end`` (or ``now``); ``start`` and
        ``since`` together are ambiguous and refused.
        """
        if start and since:
            raise TimeParseError("give either --start or --since, not both")
        now = now_ns if now_ns is not None else now_ns_utc()
        end_ns = parse_time_ns(end, now) if end else now
        if start:
            start_ns = parse_time_ns(start, now)
        else:
            start_ns = end_ns - parse_duration_ns(since or default_since)
        return cls(start_ns, end_ns)
