"""Stack traces: multi-line reassembly and parsing for Java, Python, Go, Node.js and .NET.

Collectors ship stack traces two ways. Some keep one record per exception
(Spring/logback, zap, .NET console and OTLP ``exception.*`` attributes); a
line-by-line collector of container stdout makes one record per line, and the
continuation lines carry no level (Python tracebacks, Node.js ``at`` frames,
Go panics). ``reassemble`` joins such continuation records back onto the record
they belong to (same service and pod, within ``JOIN_WINDOW_NS``), and
``parse_trace`` reads an event's text into exception type, message and frames,
so that ``group_traces`` can count failures by type and top frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.logs.backend import LogRecord

JOIN_WINDOW_NS = 2_000_000_000
MAX_LINES = 400
MAX_LINE_CHARS = 2_000
TOP_FRAMES = 3

_CONTINUATION = re.compile(
    r"^(?:\s|Traceback \(most recent call last\)|Caused by:|goroutine \d+|panic:|"
    r"\[signal |During handling|The above exception|[\w.$]+(?:Error|Exception|Exit|"
    r"Interrupt|Warning|Fault|Shutdown)\b[^\s]*:?|[\w.]+/[\w./]+\.go:\d+|\.\.\. \d+ more)"
)
# Inside a trace, a line "SomeName: message" is its exception (any class name).
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.$]*(?::\s|$)")
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_PY_EXC = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_JAVA_FRAME = re.compile(r"^\s*at ([\w$.<>/]+)\(([^)]*)\)\s*$")
_JAVA_EXC = re.compile(
    r"^(?:Caused by:\s*)?([\w$.]*(?:Exception|Error|Throwable)[\w$]*)(?::\s*(.*))?$")
_DOTNET_FRAME = re.compile(r"^\s*at ([\w.`<>\[\]+]+)\(([^)]*)\)(?: in (.+):line (\d+))?\s*$")
_DOTNET_EXC = re.compile(r"^([\w.]+(?:Exception|Error))(?::\s*(.*))?$")
_NODE_FRAME = re.compile(r"^\s*at (?:(?:async )?(.+?) \()?(.+?):(\d+):(\d+)\)?\s*$")
_NODE_EXC = re.compile(r"^([A-Z][\w]*(?:Error|Exception)?|[A-Z]\w+)(?::\s?(.*))?$")
_GO_FUNC = re.compile(r"^([\w\-./]+(?:\.\(\*?[\w]+\))?\.[\w]+)(?:\(.*\))?$")
_GO_FILE = re.compile(r"^\t(/\S+\.go):(\d+)")
_JAVA_HINT = re.compile(r"\.java:\d+\)|\(Native Method\)|\(Unknown Source\)|\(<generated>\)")


@dataclass
class Event:
    """One logical log event: a record plus the continuation lines joined onto it."""

    record: LogRecord
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if not self.lines:
            return self.record.message
        return "\n".join([self.record.message, *self.lines])


@dataclass
class StackTrace:
    """A parsed stack trace."""

    language: str
    exc_type: str
    message: str
    frames: list[str]
    root_cause: str | None = None

    def signature(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.language, self.exc_type, tuple(self.frames[:TOP_FRAMES]))

    def summary(self) -> str:
        return f"{self.exc_type}: {self.message}" if self.message else self.exc_type


def is_continuation(record: LogRecord) -> bool:
    """A record without a level whose text looks like a stack-trace line."""
    return not record.level and bool(_CONTINUATION.match(record.message[:MAX_LINE_CHARS]))


def reassemble(records: Iterable[LogRecord]) -> list[Event]:
    """Join continuation records onto the event before them (same service and pod).

    ``records`` must be in time order. A continuation with nothing to join (its
    head is outside the window) becomes an event of its own.
    """
    events: list[Event] = []
    last: dict[tuple[str, str], Event] = {}
    for rec in records:
        key = (rec.service or "", rec.pod or "")
        prev = last.get(key)
        if (prev is not None and rec.ts_ns - prev.record.ts_ns <= JOIN_WINDOW_NS
                and (is_continuation(rec) or (prev.lines and not rec.level
                                              and _EXC_LINE.match(rec.message)))):
            prev.lines.append(rec.message)
            continue
        ev = Event(rec)
        events.append(ev)
        last[key] = ev
    return events


def _python(lines: list[str]) -> StackTrace | None:
    start = next((i for i, ln in enumerate(lines)
                  if ln.startswith("Traceback (most recent call last)")), None)
    if start is None:
        return None
    frames: list[str] = []
    exc_type, message = "Exception", ""
    for ln in lines[start + 1:]:
        m = _PY_FRAME.match(ln)
        if m:
            frames.append(f"{m.group(3)} ({m.group(1)}:{m.group(2)})")
            continue
        if ln[:1].isspace() or not ln.strip():
            continue
        m2 = _PY_EXC.match(ln.strip())
        if m2:
            exc_type, message = m2.group(1), m2.group(2) or ""
    frames.reverse()  # innermost first, like every other language
    return StackTrace("python", exc_type, message, frames)


def _java(lines: list[str]) -> StackTrace | None:
    frames = [ln for ln in lines if _JAVA_FRAME.match(ln)]
    if not frames or not any(_JAVA_HINT.search(f) for f in frames):
        return None
    exc_type, message, root = "Throwable", "", None
    for i, ln in enumerate(lines):
        if _JAVA_FRAME.match(ln):
            break
        m = _JAVA_EXC.match(ln.strip())
        if m and i + 1 < len(lines):
            exc_type, message = m.group(1), m.group(2) or ""
    for ln in lines:
        if ln.startswith("Caused by:"):
            root = ln[len("Caused by:"):].strip()
    first = [_JAVA_FRAME.match(f) for f in frames]
    return StackTrace("java", exc_type, message,
                      [m.group(1) for m in first if m], root_cause=root)


def _dotnet(lines: list[str]) -> StackTrace | None:
    frames = [_DOTNET_FRAME.match(ln) for ln in lines]
    found = [m for m in frames if m]
    if not found:
        return None
    exc_type, message = "Exception", ""
    for ln in lines:
        m = _DOTNET_EXC.match(ln.strip())
        if m:
            exc_type, message = m.group(1), m.group(2) or ""
            break
    return StackTrace("dotnet", exc_type, message, [m.group(1) for m in found])


def _node(lines: list[str]) -> StackTrace | None:
    frames = [_NODE_FRAME.match(ln) for ln in lines if ln.lstrip().startswith("at ")]
    found = [m for m in frames if m]
    if not found:
        return None
    exc_type, message = "Error", ""
    for ln in lines:
        if ln.lstrip().startswith("at "):
            break
        m = _NODE_EXC.match(ln.strip())
        if m and (m.group(2) is not None):
            exc_type, message = m.group(1), m.group(2) or ""
    return StackTrace("nodejs", exc_type, message,
                      [m.group(1) or m.group(2) for m in found])


def _go(lines: list[str], error: str | None) -> StackTrace | None:
    frames: list[str] = []
    for i, ln in enumerate(lines[:-1]):
        if _GO_FILE.match(lines[i + 1]) and not ln.startswith("\t"):
            m = _GO_FUNC.match(ln.strip())
            frames.append(m.group(1) if m else ln.strip())
    if not frames:
        return None
    panic = next((ln for ln in lines if ln.startswith("panic: ")), None)
    if panic:
        return StackTrace("go", "panic", panic[len("panic: "):], frames)
    return StackTrace("go", "error", error or lines[0].strip(), frames)


def parse_trace(text: str, labels: dict[str, Any] | None = None) -> StackTrace | None:
    """Read a stack trace out of an event's text (or its OTLP ``exception.*`` attributes)."""
    labels = labels or {}
    if labels.get("exception.type"):
        stack = str(labels.get("exception.stacktrace") or "")
        parsed = parse_trace(stack) if stack else None
        lang = str(labels.get("telemetry.sdk.language") or (parsed.language if parsed else ""))
        return StackTrace(lang or "unknown", str(labels["exception.type"]),
                          str(labels.get("exception.message") or ""),
                          parsed.frames if parsed else [])
    if "\n" not in text:
        return None
    # Bounded work per event: a trace is read from its first lines, each clipped.
    lines = [ln[:MAX_LINE_CHARS] for ln in text.split("\n", MAX_LINES)[:MAX_LINES]]
    error = labels.get("error") or labels.get("err")
    for parser in (_python, _java, _dotnet, _node):
        st = parser(lines)
        if st is not None:
            return st
    return _go(lines, str(error) if error else None)


@dataclass
class TraceGroup:
    """Stack traces with one exception type and the same top frames."""

    language: str
    exc_type: str
    top_frames: list[str]
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    services: dict[str, int] = field(default_factory=dict)
    message: str = ""
    example: str = ""
    trace_ids: list[str] = field(default_factory=list)
    root_cause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language, "exception": self.exc_type, "message": self.message,
            "top_frames": self.top_frames, "count": self.count, "first_ns": self.first_ns,
            "last_ns": self.last_ns, "services": self.services, "example": self.example,
            "trace_ids": self.trace_ids, "root_cause": self.root_cause,
        }


def group_traces(events: Iterable[Event]) -> tuple[list[TraceGroup], int]:
    """Group parsed traces by (language, type, top frames); returns groups and events seen."""
    groups: dict[tuple[str, str, tuple[str, ...]], TraceGroup] = {}
    seen = 0
    for ev in events:
        seen += 1
        st = parse_trace(ev.text, ev.record.labels)
        if st is None:
            continue
        key = st.signature()
        g = groups.get(key)
        rec = ev.record
        if g is None:
            g = groups[key] = TraceGroup(st.language, st.exc_type, list(key[2]),
                                         first_ns=rec.ts_ns, last_ns=rec.ts_ns,
                                         message=st.message, example=ev.text,
                                         root_cause=st.root_cause)
        g.count += 1
        g.first_ns = min(g.first_ns, rec.ts_ns)
        g.last_ns = max(g.last_ns, rec.ts_ns)
        if rec.service:
            g.services[rec.service] = g.services.get(rec.service, 0) + 1
        if rec.trace_id and len(g.trace_ids) < 5 and rec.trace_id not in g.trace_ids:
            g.trace_ids.append(rec.trace_id)
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.first_ns, g.exc_type))
    return ordered, seen
