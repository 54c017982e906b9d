"""The logs backend contract: what every adapter (Loki, Elasticsearch/OpenSearch, ADX,
the embedded store) answers, in one shape the tools can analyse.

A tool knows what the LLM needs; an adapter knows its wire API. Between them
sit ``LogFilter`` (a native query or structured filters, which every backend
must honour), ``LogRecord`` (one line, normalised: ns time, service, level,
message, ids, labels), ``SearchResult`` (records plus the total matched, exact
or a lower bound, and the query actually run) and ``VolumeResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.timeutil import TimeRange, ns_to_rfc3339

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_LEVEL_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal",
                  "panic": "fatal", "information": "info", "notice": "info", "dbg": "debug"}
Direction = Literal["backward", "forward"]


def parse_levels(text: str | None) -> tuple[str, ...] | None:
    """``"error"``, ``"warn,error"`` or ``"warn+"`` (this level and above) -> levels."""
    if text is None or not str(text).strip():
        return None
    out: list[str] = []
    for raw in str(text).lower().replace(" ", "").split(","):
        if not raw:
            continue
        plus = raw.endswith("+")
        word = _LEVEL_ALIASES.get(raw.rstrip("+"), raw.rstrip("+"))
        if word not in LEVELS:
            raise BadInputError(
                f"unknown level {raw!r}",
                f"use one of {', '.join(LEVELS)}, a list like 'warn,error', or 'warn+' "
                "for warn and above",
            )
        out.extend(LEVELS[LEVELS.index(word):] if plus else [word])
    return tuple(dict.fromkeys(out))


@dataclass
class LogFilter:
    """What to select: a backend-native ``query``, or structured filters (or both)."""

    query: str | None = None
    service: str | None = None
    levels: tuple[str, ...] | None = None
    contains: str | None = None
    regex: str | None = None
    # With a level filter, also return records that have no level at all (stack-trace
    # continuation lines collected one per record), so events can be reassembled.
    with_unleveled: bool = False

    def describe(self) -> str:
        parts = []
        if self.query:
            parts.append(f"query={self.query!r}")
        if self.service:
            parts.append(f"service={self.service}")
        if self.levels:
            parts.append(f"level={','.join(self.levels)}")
        if self.contains:
            parts.append(f"contains={self.contains!r}")
        if self.regex:
            parts.append(f"regex={self.regex!r}")
        return " ".join(parts) or "all logs"


@dataclass
class LogRecord:
    """One log line, normalised across backends."""

    ts_ns: int
    service: str | None
    level: str | None
    message: str
    trace_id: str | None = None
    span_id: str | None = None
    pod: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, max_message: int | None = None) -> dict[str, Any]:
        msg = self.message
        clipped = max_message is not None and len(msg) > max_message
        data: dict[str, Any] = {
            "ts": ns_to_rfc3339(self.ts_ns, precision="milliseconds"), "ts_ns": self.ts_ns,
            "service": self.service, "level": self.level,
            "message": msg[:max_message] if clipped else msg,
            "trace_id": self.trace_id, "span_id": self.span_id, "pod": self.pod,
            "labels": self.labels,
        }
        if clipped:
            data["message_chars"] = len(msg)
        return data


@dataclass
class SearchResult:
    """Records plus how many matched in total (``total_exact`` False: a lower bound)."""

    records: list[LogRecord]
    total: int
    total_exact: bool
    query: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class VolumeResult:
    """Line counts per (service, level) and time bucket."""

    start_ns: int
    step_ns: int
    buckets: int
    series: dict[tuple[str, str], list[int]]
    query: str
    warnings: list[str] = field(default_factory=list)


class LogsBackend(Protocol):
    """What the logs server needs from a backend; every adapter implements all of it."""

    kind: str

    def describe(self) -> str:
        """A short name of the backend for result footers (type and target)."""

    def search(
        self, flt: LogFilter, rng: TimeRange, *, limit: int, direction: Direction
    ) -> SearchResult:
        """Up to ``limit`` matching records (newest first for backward) and the total matched."""

    def scan(self, flt: LogFilter, rng: TimeRange, *, max_records: int) -> SearchResult:
        """Up to ``max_records`` matching records in time order, for analysis (patterns,
        stack traces, correlation); ``total`` says how many matched in all."""

    def volume(self, flt: LogFilter, rng: TimeRange, *, step_ns: int) -> VolumeResult:
        """Counts per service and level in ``step_ns`` buckets (aggregated by the backend)."""

    def services(self) -> list[str]:
        """Known service names (for close-name suggestions); may be empty."""

    def data_range(self) -> TimeRange | None:
        """The span of time the backend holds, when it can tell (the embedded store can)."""
