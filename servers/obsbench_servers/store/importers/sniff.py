"""Tell a telemetry file's format from its content, for ``obsbench import FILES...``.

Exported files arrive with any name (``export.json``, ``alerts.txt.gz``), so
the bundle place of each is decided by what it holds: the first 64 KB after
decompression are read, JSON is tokenised as far as those bytes go, and the
keys seen (top-level ones and those of the first items) decide. Nothing here
reads a whole file.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import ijson
import orjson

from obsbench_servers.store.reader import peek_bytes, strip_gz

PEEK_BYTES = 64 << 10

_OM_LINE = re.compile(
    rb"^\s*(?:[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^\n]*\})?|\{[^\n]*\})[ \t]+"
    rb"[-+0-9.eEaINnfi]+(?:[ \t]+[-+0-9.eE]+)?(?:[ \t]+#.*)?\s*$"
)
_OM_COMMENT = re.compile(rb"^# (?:HELP|TYPE|UNIT) [^\s]+|^# EOF\s*$")
_RESOURCES = {"resourceSpans": "otlp-traces", "resource_spans": "otlp-traces",
              "batches": "otlp-traces",
              "resourceLogs": "otlp-logs", "resource_logs": "otlp-logs",
              "resourceMetrics": "otlp-metrics", "resource_metrics": "otlp-metrics"}
_LOG_TIME = {"ts", "timestamp", "time", "@timestamp", "datetime"}
_LOG_TEXT = {"message", "msg", "log", "body", "level", "severity", "lvl"}


def _json_shape(data: bytes) -> dict[str, set[str]]:
    """Keys seen per ijson prefix (depth <= 4) in a possibly cut JSON prefix.

    The top-level ``type`` value is kept under the pseudo-prefix ``=type``.
    """
    keys: dict[str, set[str]] = {}
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(data), multiple_values=True):
            if prefix == "type" and event == "string":
                keys["=type"] = {value}
            elif event == "map_key" and prefix.count(".") < 4:
                keys.setdefault(prefix, set()).add(value)
            elif event in ("start_map", "start_array") and prefix.count(".") < 4:
                keys.setdefault(prefix + ("[]" if event == "start_array" else "{}"), set())
    except (ijson.JSONError, ijson.IncompleteJSONError):
        pass
    return keys


def _first_line_object(data: bytes) -> dict[str, Any] | None:
    line, newline, _ = data.lstrip().partition(b"\n")
    if not newline:
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _from_json(data: bytes) -> str | None:
    lines_obj = _first_line_object(data)
    if lines_obj is not None and len(data.lstrip().split(b"\n", 2)) > 1:
        doc = lines_obj
        for wrapper in ("result", "trace"):
            if isinstance(lines_obj.get(wrapper), dict) and len(lines_obj) <= 4:
                doc = lines_obj[wrapper]
        for key, fmt in _RESOURCES.items():
            if key in doc:
                return fmt
        if _LOG_TIME & lines_obj.keys() and _LOG_TEXT & lines_obj.keys():
            return "jsonl-logs"
    shape = _json_shape(data)
    top = shape.get("", set())
    for key, fmt in _RESOURCES.items():
        if key in top or key in shape.get("result", set()) or key in shape.get("trace", set()):
            return fmt
    item = shape.get("item", set())
    data_item = shape.get("data.item", set())
    if {"traceID", "spans"} & data_item or ("spans" in top and {"traceID", "processes"} & top) \
            or {"traceID", "spans"} <= item:
        return "jaeger"
    if "alerts" in shape.get("data", set()) or (
            "alerts" in top and {"status", "groupLabels", "receiver"} & top):
        return "alertmanager"
    if item and (("labels" in item and {"fingerprint", "startsAt", "status"} & item) or
                 ("alerts" in item and "receiver" in item)):
        return "alertmanager"
    kind = next(iter(shape.get("=type", {""})))
    if {"incidents", "log_entries"} & top or "incident_number" in top or (
            {"incident", "log_entry"} & top and "id" not in top):
        return "pagerduty"
    if "id" in top and (kind == "incident" or kind.endswith("log_entry")):
        return "pagerduty"
    if ("apiVersion" in top and ("kind" in top or "items" in top)) or (
            "apiVersion" in item and "kind" in item and "metadata" in item):
        return "kubernetes"
    if "kind" in top and "metadata" in top:
        return "kubernetes"
    return None


def sniff_format(path: Path) -> str | None:
    """The importer format of ``path`` by its content, or None when it is not telemetry we read.

    Formats are the keys of ``store.ingest.IMPORTERS``.
    """
    data = peek_bytes(path, PEEK_BYTES)
    name = strip_gz(path.name).lower()
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        return None
    if stripped[:1] in (b"{", b"["):
        return _from_json(stripped)
    if name.endswith((".md", ".markdown")) or stripped.startswith((b"---\n", b"+++\n",
                                                                   b"---\r\n", b"+++\r\n")):
        return "runbook"
    lines = [ln for ln in stripped.split(b"\n")[:50] if ln.strip()]
    if lines and not stripped.endswith(b"\n") and len(stripped) >= PEEK_BYTES:
        lines = lines[:-1]  # the last line may be cut by the peek
    if not lines:
        return None
    samples = sum(1 for ln in lines if _OM_LINE.match(ln))
    comments = sum(1 for ln in lines if _OM_COMMENT.match(ln))
    if samples and samples + comments >= 0.8 * len(lines):
        return "openmetrics"
    if lines[0].startswith(b"# ") and not _OM_COMMENT.match(lines[0]):
        return "runbook"
    return None


def openmetrics_time_unit(path: Path) -> str | None:
    """``seconds`` (OpenMetrics) or ``milliseconds`` (Prometheus text) by the first timestamps."""
    data = peek_bytes(path, PEEK_BYTES)
    for line in data.split(b"\n")[:200]:
        if not line.strip() or line.startswith(b"#"):
            continue
        parts = line.rsplit(None, 2)
        if len(parts) == 3 and b"#" not in line:
            try:
                ts = float(parts[2])
            except ValueError:
                continue
            return "seconds" if abs(ts) < 1e11 else "milliseconds"
    return None
