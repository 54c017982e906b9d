"""OTLP/JSON traces, logs and metrics (``*.otlp.json``) into ``spans``, ``logs`` and samples.

Two shapes are accepted: one ``Export*ServiceRequest`` document (also wrapped
in ``{"result": ...}`` as Jaeger's api_v3 answers), or newline-delimited
documents, which is what the OpenTelemetry Collector's file exporter writes.
JSON lines are parsed one by one with orjson (a bad line is skipped with its
number); a single document is streamed with ijson, remembering the current
resource and scope and building one span, log record or metric at a time, so
memory is bounded by the largest single item, not the file.

Encoding rules followed (OTLP spec, "JSON Protobuf Encoding"): ids are hex
(base64 accepted when clearly not hex), 64-bit integers may be strings, enums
may be integers or names, and field names may be lowerCamelCase or the proto
snake_case.

Metrics become Prometheus series exactly as Prometheus's OTLP receiver names
them (otlptranslator, "UnderscoreEscapingWithSuffixes"): sanitized names with
unit and ``_total``/``_ratio`` suffixes, ``job``/``instance`` from the
resource, histograms as cumulative ``_bucket{le}``/``_sum``/``_count``,
summaries with ``quantile``. Delta temporality is summed into cumulative (what
the Collector's deltatocumulative processor does) with a warning; exponential
histograms are converted to classic buckets at their own bucket bounds.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson
import orjson
from ijson.common import ObjectBuilder

from obsbench_servers.store.context import ImportContext, canonical_labels
from obsbench_servers.store.importers._common import (
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    BadIdError,
    any_value,
    attributes,
    describe_json_error,
    dumps,
    dumps_or_none,
    first,
    first_json_byte,
    hex_id,
    ijson_error_text,
    nanos,
    normalize_level,
    otel_severity_level,
)
from obsbench_servers.store.reader import TruncatedInput, iter_line_blocks, open_binary
from obsbench_servers.store.schema import STALE_NAN_BITS

STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

# signal -> (resource list keys, scope list keys, item list keys, singular item name)
_SHAPES = {
    "traces": (("resourceSpans", "resource_spans", "batches"),
               ("scopeSpans", "scope_spans", "instrumentationLibrarySpans",
                "instrumentation_library_spans"),
               ("spans",), "span"),
    "logs": (("resourceLogs", "resource_logs"),
             ("scopeLogs", "scope_logs", "instrumentationLibraryLogs",
              "instrumentation_library_logs"),
             ("logRecords", "log_records"), "log record"),
    "metrics": (("resourceMetrics", "resource_metrics"),
                ("scopeMetrics", "scope_metrics", "instrumentationLibraryMetrics",
                 "instrumentation_library_metrics"),
                ("metrics",), "metric"),
}
_SCOPE_OBJ = ("scope", "instrumentationLibrary", "instrumentation_library")
_WRAPPERS = ("", "result.", "trace.")  # Jaeger api_v3 {"result"}, Tempo v2 {"trace"}
_PEEK_LIMIT = 8 << 20

Item = tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]  # resource, scope, item, line


# -- reading both shapes ---------------------------------------------------------------------


def _is_json_lines(path: Path) -> bool:
    """True when the first line (within 8 MB) is a whole JSON object: newline-delimited mode."""
    buf = b""
    try:
        with open_binary(path) as f:
            while len(buf) < _PEEK_LIMIT:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                if b"\n" in buf.lstrip():
                    break
    except (EOFError, OSError):
        pass
    stripped = buf.lstrip()
    line, newline, _ = stripped.partition(b"\n")
    if not newline:
        return False
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _unwrap(doc: dict[str, Any]) -> dict[str, Any]:
    for wrapper in ("result", "trace"):
        inner = doc.get(wrapper)
        if isinstance(inner, dict):
            return inner
    return doc


def _doc_items(doc: dict[str, Any], signal: str, line: int) -> Iterator[Item]:
    res_keys, scope_keys, item_keys, _ = _SHAPES[signal]
    doc = _unwrap(doc)
    for rs in first(doc, *res_keys) or ():
        resource = rs.get("resource") or {}
        for ss in first(rs, *scope_keys) or ():
            scope = first(ss, *_SCOPE_OBJ) or {}
            for item in first(ss, *item_keys) or ():
                yield resource, scope, item, line


def _lines_items(path: Path, signal: str, ctx: ImportContext) -> Iterator[Item]:
    for first_no, lines in iter_line_blocks(path):
        for n, line in enumerate(lines, first_no):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                ctx.skip(n, f"invalid JSON: {describe_json_error(exc)}")
                continue
            if not isinstance(doc, dict):
                ctx.skip(n, f"not an OTLP document: the line holds a {type(doc).__name__}")
                continue
            yield from _doc_items(doc, signal, n)


_PENDING_MAX = 10_000


def _stream_items(path: Path, signal: str) -> Iterator[Item]:
    """Items of one (or several concatenated) documents, streamed event by event.

    Resource and scope usually precede their items. When a document names them
    after the items (valid JSON, rare), up to 10,000 items wait for them; past
    that, or at a break in the file, waiting items go out with what is known.
    """
    res_keys, scope_keys, item_keys, _ = _SHAPES[signal]
    res_item = {f"{w}{r}.item" for w in _WRAPPERS for r in res_keys}
    scope_item = {f"{p}.{s}.item" for p in res_item for s in scope_keys}
    res_obj = {f"{p}.resource" for p in res_item}
    scope_obj = {f"{p}.{o}" for p in scope_item for o in _SCOPE_OBJ}
    item_pfx = {f"{p}.{i}.item" for p in scope_item for i in item_keys}
    opening = ("start_map", "start_array")
    closing = ("end_map", "end_array")
    resource: dict[str, Any] = {}
    scope: dict[str, Any] = {}
    res_known = scope_known = True
    pending: list[Item] = []
    builder: ObjectBuilder | None = None
    depth = 0
    target = ""
    broken: TruncatedInput | None = None
    try:
        with open_binary(path) as f:
            for prefix, event, value in ijson.parse(f, use_float=True, multiple_values=True):
                if builder is not None:
                    builder.event(event, value)
                    if event in opening:
                        depth += 1
                        continue
                    if event not in closing:
                        continue
                    depth -= 1
                    if depth:
                        continue
                    obj = builder.value
                    builder = None
                    if target == "item":
                        if res_known and scope_known:
                            yield resource, scope, obj, 0
                            continue
                        pending.append((resource, scope, obj, 0))
                        if len(pending) < _PENDING_MAX:
                            continue
                        res_known = scope_known = True  # waited long enough
                    elif target == "resource":
                        resource.update(obj)
                        res_known = True
                    else:
                        scope.update(obj)
                        scope_known = True
                    if pending and res_known and scope_known:
                        yield from pending
                        pending.clear()
                    continue
                if event == "start_map":
                    if prefix in item_pfx:
                        target = "item"
                    elif prefix in res_obj:
                        target = "resource"
                    elif prefix in scope_obj:
                        target = "scope"
                    else:
                        if prefix in res_item:
                            resource, res_known = {}, False
                        elif prefix in scope_item:
                            scope, scope_known = {}, False
                        continue
                    builder = ObjectBuilder()
                    builder.event(event, value)
                    depth = 1
                elif event == "end_map" and (prefix in res_item or prefix in scope_item):
                    # The container ended without naming its resource or scope: it has none.
                    scope_known = True
                    if prefix in res_item:
                        res_known = True
                    if pending and res_known and scope_known:
                        yield from pending
                        pending.clear()
    except ijson.JSONError as exc:
        broken = TruncatedInput(f"invalid JSON: {ijson_error_text(exc)}")
    except (EOFError, OSError) as exc:
        broken = TruncatedInput(f"compressed stream broken: {exc}")
    yield from pending
    if broken is not None:
        raise broken


def _items(path: Path, signal: str, ctx: ImportContext) -> Iterator[Item]:
    if not first_json_byte(path):
        ctx.skip(0, f"empty file: no OTLP {signal}")
        return iter(())
    if _is_json_lines(path):
        return _lines_items(path, signal, ctx)
    return _stream_items(path, signal)


class _ResourceCache:
    """Flattened resource attributes, computed once per resource object."""

    def __init__(self) -> None:
        self._obj: dict[str, Any] | None = None
        self.attrs: dict[str, Any] = {}
        self.json: str | None = None

    def get(self, resource: dict[str, Any]) -> dict[str, Any]:
        if resource is not self._obj:
            self._obj = resource
            self.attrs = attributes(resource.get("attributes"))
            self.json = dumps_or_none(self.attrs)
        return self.attrs


# -- traces ------------------------------------------------------------------------------------

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _enum(value: Any, names: dict[int, str], prefix: str) -> str | None:
    """An OTLP enum given as int, digit string, or name (``SPAN_KIND_SERVER``)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return names.get(int(value))
    text = str(value)
    if text.isdigit():
        return names.get(int(text))
    text = text.upper()
    if text.startswith(prefix):
        text = text[len(prefix):]
    low = text.lower()
    return low if low in names.values() else None


def import_otlp_traces(path: Path, ctx: ImportContext) -> None:
    """OTLP/JSON spans into ``spans``; a span without valid ids is skipped and said why."""
    writer = ctx.writer("spans")
    res = _ResourceCache()
    index = 0
    no_start = 0
    for resource, scope, span, line in _items(path, "traces", ctx):
        index += 1
        where = f"span #{index}" if not line else "span"
        try:
            trace_id = hex_id(first(span, "traceId", "trace_id"), TRACE_ID_HEX)
            span_id = hex_id(first(span, "spanId", "span_id"), SPAN_ID_HEX)
            parent = hex_id(first(span, "parentSpanId", "parent_span_id"), SPAN_ID_HEX)
        except BadIdError as exc:
            ctx.skip(line, f"bad id: {where}: {exc}")
            continue
        if trace_id is None or span_id is None:
            ctx.skip(line, f"missing id: {where} has no valid traceId/spanId")
            continue
        try:
            start = nanos(first(span, "startTimeUnixNano", "start_time_unix_nano"))
            end = nanos(first(span, "endTimeUnixNano", "end_time_unix_nano"))
            attrs = attributes(span.get("attributes"))
            events = [
                {"time_ns": nanos(first(e, "timeUnixNano", "time_unix_nano")),
                 "name": e.get("name") or "",
                 "attributes": attributes(e.get("attributes"))}
                for e in span.get("events") or ()
            ]
            links = []
            for link in span.get("links") or ():
                links.append({
                    "trace_id": hex_id(first(link, "traceId", "trace_id"), TRACE_ID_HEX),
                    "span_id": hex_id(first(link, "spanId", "span_id"), SPAN_ID_HEX),
                    "attributes": attributes(link.get("attributes")),
                })
        except (ValueError, TypeError, AttributeError, BadIdError) as exc:
            ctx.skip(line, f"bad span: {where} ({trace_id}/{span_id}): {exc}")
            continue
        if start is None:
            no_start += 1  # proto3 JSON omits zero: the span says it started at the epoch
            start = 0
        status = span.get("status") or {}
        resource_attrs = res.get(resource)
        writer.append(
            trace_id, span_id, parent,
            resource_attrs.get("service.name"),
            span.get("name") or "",
            _enum(span.get("kind"), _KINDS, "SPAN_KIND_") or "unspecified",
            start, end if end is not None else start,
            _enum(status.get("code"), _STATUS, "STATUS_CODE_") or "unset",
            status.get("message") or None,
            dumps_or_none(attrs), res.json,
            dumps_or_none(events), dumps_or_none(links),
            scope.get("name") or None,
        )
        ctx.count("spans")
    if no_start:
        ctx.warn(0, f"no start time: {no_start} spans had no startTimeUnixNano (0 in proto3 "
                 "JSON); imported as starting at the epoch")


# -- logs --------------------------------------------------------------------------------------

_SEVERITY_NAMES = {
    f"SEVERITY_NUMBER_{name}{'' if i == 0 else i + 1}": base + i
    for base, name in ((1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"),
                       (21, "FATAL"))
    for i in range(4)
}


def _severity_number(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value)
    if text.isdigit():
        return int(text)
    return _SEVERITY_NAMES.get(text.upper(), 0)


def import_otlp_logs(path: Path, ctx: ImportContext) -> None:
    """OTLP/JSON log records into ``logs``: level from severity, message from the body."""
    writer = ctx.writer("logs")
    res = _ResourceCache()
    source = ctx.current.path
    bad_ids = 0
    index = 0
    for resource, _scope, rec, line in _items(path, "logs", ctx):
        index += 1
        where = f"log record #{index}" if not line else "log record"
        try:
            ts = nanos(first(rec, "timeUnixNano", "time_unix_nano")) or nanos(
                first(rec, "observedTimeUnixNano", "observed_time_unix_nano"))
        except (ValueError, TypeError) as exc:
            ctx.skip(line, f"bad timestamp: {where}: {exc}")
            continue
        if ts is None:
            ctx.skip(line, f"no timestamp: {where} has neither timeUnixNano nor "
                     "observedTimeUnixNano")
            continue
        resource_attrs = res.get(resource)
        try:
            attrs = attributes(rec.get("attributes"))
            body = any_value(rec.get("body"))
        except (ValueError, TypeError, AttributeError) as exc:
            ctx.skip(line, f"bad log record: {where}: {exc}")
            continue
        level = otel_severity_level(_severity_number(
            first(rec, "severityNumber", "severity_number")))
        if level is None:
            text = first(rec, "severityText", "severity_text")
            level = normalize_level(text)[0] if text else None
        try:
            trace_id = hex_id(first(rec, "traceId", "trace_id"), TRACE_ID_HEX)
            span_id = hex_id(first(rec, "spanId", "span_id"), SPAN_ID_HEX)
        except BadIdError:
            trace_id = span_id = None
            bad_ids += 1
        labels = {k: v for k, v in resource_attrs.items()
                  if k not in ("service.name", "k8s.pod.name") and v is not None}
        labels.update((k, v) for k, v in attrs.items() if v is not None)
        event_name = first(rec, "eventName", "event_name")
        if event_name:
            labels["event.name"] = event_name
        pod = attrs.get("k8s.pod.name") or resource_attrs.get("k8s.pod.name")
        message = body if isinstance(body, str) else ("" if body is None else dumps(body))
        writer.append(ts, resource_attrs.get("service.name"), level, message, trace_id, span_id,
                      pod, dumps_or_none(labels), source)
        ctx.count("logs")
    if bad_ids:
        ctx.warn(0, f"bad trace or span id: {bad_ids} log records had ids that are neither hex "
                 "nor base64; imported without them")


# -- metrics -----------------------------------------------------------------------------------

_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
              "y": "year"}
_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9]+")


def _unit_suffixes(unit: str) -> tuple[str, str]:
    parts = unit.split("/", 1)
    main = per = ""
    head = parts[0].strip()
    if head and "{" not in head and "}" not in head:
        main = _UNITS.get(head, head)
    if len(parts) > 1 and parts[1]:
        tail = parts[1].strip()
        if tail and "{" not in tail and "}" not in tail:
            per = _PER_UNITS.get(tail, tail)
        if per:
            per = "per_" + per
    return main, per


def _clean_unit(unit: str) -> str:
    """Invalid characters to '_', runs collapsed, one leading '_' dropped (cleanUpUnit)."""
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).removeprefix("_")


def prometheus_metric_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name of an OTLP metric (otlptranslator's normalizeName).

    ``kind`` is counter (monotonic sum), gauge, histogram or summary.
    """
    tokens = [t for t in _INVALID_METRIC_CHARS.split(name) if t]
    main, per = _unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


def prometheus_label_name(key: str) -> str | None:
    """An attribute key as a Prometheus label name (otlptranslator's LabelNamer); None if empty."""
    if not key:
        return None
    reserved = len(key) >= 4 and key.startswith("__") and key.endswith("__")
    inner = key[2:-2] if reserved else key
    out = _INVALID_LABEL_CHARS.sub("_", inner)
    # Runs of underscores collapse, as invalid characters do.
    out = re.sub(r"_+", "_", out)
    if reserved:
        out = f"__{out}__"
    if out[:1].isdigit():
        out = "key_" + out
    if not out.strip("_"):
        return None
    return out


def unit_name(unit: str) -> str:
    """The unit as Prometheus metadata spells it (``By/s`` -> ``bytes_per_second``)."""
    main, per = _unit_suffixes(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    out = f"{main}_{per}" if main and per else (main or per)
    return out.strip("_")


def format_float(x: float) -> str:
    """Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: shortest, never exponent; ``+Inf``."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    text = format(Decimal(repr(float(x))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _label_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    return dumps(v)


def _point_labels(attrs: dict[str, Any], job: str | None, instance: str | None
                  ) -> dict[str, str]:
    """Data point attributes as labels: sanitized names, colliding values joined with ';'."""
    labels: dict[str, str] = {}
    for key in sorted(attrs):
        value = attrs[key]
        if value is None:
            continue
        name = prometheus_label_name(key)
        if name is None:
            continue
        text = _label_value(value)
        labels[name] = f"{labels[name]};{text}" if name in labels else text
    if job:
        labels["job"] = job
    if instance:
        labels["instance"] = instance
    return {k: v for k, v in labels.items() if v != ""}


class _Point:
    """One data point on its way to samples: name, labels, time, and how to read values."""

    __slots__ = ("data", "delta", "labels", "prom", "stale", "ts_ms")

    def __init__(self, prom: str, labels: dict[str, str], ts_ms: int, data: dict[str, Any],
                 *, stale: bool, delta: bool) -> None:
        self.prom = prom
        self.labels = labels
        self.ts_ms = ts_ms
        self.data = data
        self.stale = stale
        self.delta = delta

    def value(self, v: float) -> float:
        return STALE_NAN if self.stale else v


class _MetricsFile:
    """Per-file state: series writer, delta accumulators, counts for warnings."""

    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.writer = ctx.writer("samples")
        self.delta_sum: dict[tuple[str, str], float] = {}
        self.delta_points = 0
        self.delta_metrics: set[str] = set()
        self.stale = 0

    def emit(self, pt: _Point, name: str, labels: dict[str, str], value: float) -> None:
        labels_json = canonical_labels(labels)
        if pt.delta and not math.isnan(value):
            key = (name, labels_json)
            value = self.delta_sum[key] = self.delta_sum.get(key, 0.0) + value
        sid = self.ctx.series_id(name, labels_json)
        self.writer.append(sid, pt.ts_ms, value)
        self.ctx.count("samples")

    def metric(self, metric: dict[str, Any], job: str | None, instance: str | None,
               where: tuple[int, int]) -> None:
        """One OTLP metric: every data point to the series Prometheus would make of it."""
        ctx = self.ctx
        line, index = where
        name = metric.get("name") or ""
        unit = metric.get("unit") or ""
        for kind_key in ("gauge", "sum", "histogram", "exponentialHistogram",
                         "exponential_histogram", "summary"):
            data = metric.get(kind_key)
            if data is not None:
                break
        else:
            ctx.skip(line, f"no data: metric #{index} {name!r} has no gauge, sum, histogram, "
                     "exponentialHistogram or summary")
            return
        temporality = first(data, "aggregationTemporality", "aggregation_temporality")
        delta = _enum(temporality, {0: "unspecified", 1: "delta", 2: "cumulative"},
                      "AGGREGATION_TEMPORALITY_") == "delta"
        if kind_key == "sum":
            kind = "counter" if first(data, "isMonotonic", "is_monotonic") else "gauge"
        elif kind_key in ("gauge", "summary"):
            kind = kind_key
        else:
            kind = "histogram"
        prom = prometheus_metric_name(name, unit, kind)
        if not prom:
            ctx.skip(line, f"bad metric name: {name!r} is empty once sanitized")
            return
        ctx.metadata(prom, kind, metric.get("description") or "", unit_name(unit))
        if delta:
            self.delta_metrics.add(prom)
        for p in first(data, "dataPoints", "data_points") or ():
            ts = nanos(first(p, "timeUnixNano", "time_unix_nano"))
            if ts is None:
                ctx.skip(line, f"no timestamp: a data point of {name!r} has no timeUnixNano")
                continue
            pt = _Point(prom, _point_labels(attributes(p.get("attributes")), job, instance),
                        ts // 1_000_000, p, stale=bool(int(p.get("flags") or 0) & 1),
                        delta=delta)
            self.stale += pt.stale
            self.delta_points += delta
            if kind_key in ("gauge", "sum"):
                raw = first(p, "asDouble", "as_double")
                value = float(raw) if raw is not None else float(first(p, "asInt", "as_int") or 0)
                self.emit(pt, prom, pt.labels, pt.value(value))
            elif kind_key == "summary":
                self.summary(pt)
            elif kind_key == "histogram":
                self.histogram(pt, name, line)
            else:
                self.exponential(pt)

    def summary(self, pt: _Point) -> None:
        p = pt.data
        for q in first(p, "quantileValues", "quantile_values") or ():
            ql = {**pt.labels, "quantile": format_float(float(q.get("quantile") or 0.0))}
            self.emit(pt, pt.prom, ql, pt.value(float(q.get("value") or 0.0)))
        self.emit(pt, pt.prom + "_sum", pt.labels, pt.value(float(p.get("sum") or 0.0)))
        self.emit(pt, pt.prom + "_count", pt.labels, pt.value(float(p.get("count") or 0)))

    def buckets(self, pt: _Point, buckets: list[tuple[float, int]]) -> None:
        """Cumulative ``_bucket{le}`` series, ``+Inf`` = count, then ``_sum`` and ``_count``."""
        p = pt.data
        total = int(p.get("count") or 0)
        cumulative = 0
        for upper, c in buckets:
            cumulative += c
            self.emit(pt, pt.prom + "_bucket", {**pt.labels, "le": format_float(upper)},
                      pt.value(float(cumulative)))
        self.emit(pt, pt.prom + "_bucket", {**pt.labels, "le": "+Inf"}, pt.value(float(total)))
        if p.get("sum") is not None:
            self.emit(pt, pt.prom + "_sum", pt.labels, pt.value(float(p["sum"])))
        self.emit(pt, pt.prom + "_count", pt.labels, pt.value(float(total)))

    def histogram(self, pt: _Point, name: str, line: int) -> None:
        p = pt.data
        bounds = [float(b) for b in first(p, "explicitBounds", "explicit_bounds") or ()]
        counts = [int(c) for c in first(p, "bucketCounts", "bucket_counts") or ()]
        if counts and len(counts) != len(bounds) + 1:
            self.ctx.skip(line, f"bad histogram: {name!r} has {len(counts)} bucket counts for "
                          f"{len(bounds)} bounds (expected bounds + 1)")
            return
        self.buckets(pt, list(zip(bounds, counts, strict=False)))

    def exponential(self, pt: _Point) -> None:
        """Classic buckets at the exponential histogram's own bounds (base = 2**(2**-scale))."""
        p = pt.data
        scale = int(p.get("scale") or 0)

        def bound(index: int) -> float:
            return float(2.0 ** (index * (2.0 ** -scale)))

        buckets: list[tuple[float, int]] = []  # (upper bound, count), ascending
        neg = p.get("negative") or {}
        neg_counts = [int(c) for c in first(neg, "bucketCounts", "bucket_counts") or ()]
        neg_off = int(neg.get("offset") or 0)
        for k in range(len(neg_counts) - 1, -1, -1):
            buckets.append((-bound(neg_off + k), neg_counts[k]))
        zero = int(first(p, "zeroCount", "zero_count") or 0)
        zt = float(first(p, "zeroThreshold", "zero_threshold") or 0.0)
        if zero or zt:
            buckets.append((zt, zero))
        pos = p.get("positive") or {}
        pos_counts = [int(c) for c in first(pos, "bucketCounts", "bucket_counts") or ()]
        pos_off = int(pos.get("offset") or 0)
        for k, c in enumerate(pos_counts):
            buckets.append((bound(pos_off + k + 1), c))
        self.buckets(pt, buckets)


def import_otlp_metrics(path: Path, ctx: ImportContext) -> None:
    """OTLP/JSON metrics into Prometheus series (see the module docstring for the rules)."""
    mf = _MetricsFile(ctx)
    res = _ResourceCache()
    for index, (resource, _scope, metric, line) in enumerate(_items(path, "metrics", ctx), 1):
        resource_attrs = res.get(resource)
        service = resource_attrs.get("service.name")
        namespace = resource_attrs.get("service.namespace")
        job = f"{namespace}/{service}" if service and namespace else service
        instance = resource_attrs.get("service.instance.id")
        try:
            mf.metric(metric, job, instance, (line, index))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            ctx.skip(line, f"bad metric: #{index} {metric.get('name')!r}: {exc}")
    if mf.delta_points:
        ctx.warn(0, f"delta temporality: {mf.delta_points} points of "
                 f"{len(mf.delta_metrics)} metrics ({', '.join(sorted(mf.delta_metrics)[:5])}) "
                 "summed in file order into cumulative values, as Prometheus stores them")
    if mf.stale:
        ctx.warn(0, f"no recorded value: {mf.stale} points flagged NoRecordedValue became "
                 "Prometheus stale markers")
