"""Jaeger query API JSON (``traces/*.jaeger.json``) into ``spans``.

Accepted: the v1 response ``{"data": [trace, ...], "errors": ...}`` (what
``GET /api/traces`` and ``GET /api/traces/{id}`` return), a bare trace object
(``{"traceID", "spans", "processes"}``) and a top-level array of traces. Each
trace is one streamed item, so memory is bounded by the largest trace.

Mapping: ``processes[processID].serviceName`` (or an embedded ``process``) is
the service; the parent is the first CHILD_OF reference within the same trace
(else the first FOLLOWS_FROM, as Jaeger's model does), other references go to
``links_json``; ``startTime``/``duration`` are microseconds; typed tags become
attributes, except the tags that hold span kind (``span.kind``), status
(``error``, ``otel.status_code``, ``otel.status_description``) and scope
(``otel.scope.name``/``otel.library.name``), which fill their columns; span
logs become events. Ids are padded like OTLP ids (32 and 16 hex digits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import (
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    BadIdError,
    dumps_or_none,
    first_json_byte,
    hex_id,
    load_small_json,
    stream_json,
)

_KINDS = {"server", "client", "producer", "consumer", "internal"}
_STATUS_TAGS = ("error", "otel.status_code", "otel.status_description")


def tag_value(tag: dict[str, Any]) -> Any:
    """A typed Jaeger tag's value; int64 above 2**53 arrives as a string and becomes an int."""
    value = tag.get("value")
    kind = str(tag.get("type") or tag.get("vType") or "string").lower()
    try:
        if kind == "int64" and isinstance(value, str):
            return int(value)
        if kind == "float64" and isinstance(value, str):
            return float(value)
        if kind == "bool" and isinstance(value, str):
            return value.lower() == "true"
    except ValueError:
        return value
    return value


def _tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in tags or ():
        if isinstance(t, dict) and "key" in t:
            out[t["key"]] = tag_value(t)
    return out


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class _JaegerFile:
    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self.writer = ctx.writer("spans")
        self.traces = 0

    def trace(self, trace: Any) -> None:
        ctx = self.ctx
        self.traces += 1
        where = f"trace #{self.traces}"
        if not isinstance(trace, dict):
            ctx.skip(0, f"not a trace: {where} is a {type(trace).__name__}")
            return
        processes = trace.get("processes") or {}
        for i, span in enumerate(trace.get("spans") or (), 1):
            if not isinstance(span, dict):
                ctx.skip(0, f"not a span: {where} span {i} is a {type(span).__name__}")
                continue
            try:
                self.span(span, trace, processes)
            except (BadIdError, ValueError, TypeError, AttributeError) as exc:
                ctx.skip(0, f"bad span: {where} span {i} ({span.get('spanID')}): {exc}")

    def span(self, span: dict[str, Any], trace: dict[str, Any],
             processes: dict[str, Any]) -> None:
        trace_id = hex_id(span.get("traceID") or trace.get("traceID"), TRACE_ID_HEX)
        span_id = hex_id(span.get("spanID"), SPAN_ID_HEX)
        if trace_id is None or span_id is None:
            raise ValueError("no traceID or spanID")
        process = span.get("process") or processes.get(str(span.get("processID"))) or {}
        service = process.get("serviceName")
        parent, links = _parent_and_links(span, trace_id)
        tags = _tags(span.get("tags"))
        kind = str(tags.pop("span.kind", "") or "").lower()
        error = _truthy(tags.pop("error", None))
        otel_code = str(tags.pop("otel.status_code", "") or "").upper()
        message = tags.pop("otel.status_description", None)
        status = ("error" if error or otel_code == "ERROR"
                  else "ok" if otel_code == "OK" else "unset")
        scope = tags.pop("otel.scope.name", None) or tags.pop("otel.library.name", None)
        start = int(span.get("startTime") or 0) * 1000
        end = start + int(span.get("duration") or 0) * 1000
        events = []
        for log in span.get("logs") or ():
            fields = _tags(log.get("fields"))
            name = fields.pop("event", "")
            events.append({"time_ns": int(log.get("timestamp") or 0) * 1000,
                           "name": name if isinstance(name, str) else str(name),
                           "attributes": fields})
        resource = {"service.name": service, **_tags(process.get("tags"))} if service else \
            _tags(process.get("tags"))
        self.writer.append(
            trace_id, span_id, parent, service, span.get("operationName") or "",
            kind if kind in _KINDS else "unspecified", start, end, status,
            str(message) if message else None, dumps_or_none(tags), dumps_or_none(resource),
            dumps_or_none(events), dumps_or_none(links), scope,
        )
        self.ctx.count("spans")


def _parent_and_links(span: dict[str, Any], trace_id: str
                      ) -> tuple[str | None, list[dict[str, Any]]]:
    """The parent reference (Jaeger's rule) and every other reference as a link."""
    refs = []
    for ref in span.get("references") or ():
        refs.append({
            "trace_id": hex_id(ref.get("traceID"), TRACE_ID_HEX) or trace_id,
            "span_id": hex_id(ref.get("spanID"), SPAN_ID_HEX),
            "ref_type": str(ref.get("refType") or "CHILD_OF").lower(),
        })
    chosen = None
    for wanted in ("child_of", "follows_from"):
        for r in refs:
            if r["ref_type"] == wanted and r["trace_id"] == trace_id and r["span_id"]:
                chosen = r
                break
        if chosen:
            break
    if chosen is None and span.get("parentSpanID"):  # the pre-1.0 JSON field
        return hex_id(span["parentSpanID"], SPAN_ID_HEX), refs
    links = [r for r in refs if r is not chosen]
    return (chosen["span_id"] if chosen else None), links


def import_jaeger(path: Path, ctx: ImportContext) -> None:
    """Stream the traces of a Jaeger response (or one bare trace) into ``spans``."""
    jf = _JaegerFile(ctx)
    lead = first_json_byte(path)
    if not lead:
        ctx.skip(0, "empty file: no Jaeger traces")
        return
    top: list[str] = []
    found = False
    for prefix, value in stream_json(path, frozenset({"data.item", "item", "errors.item"}), top):
        if prefix == "errors.item":
            msg = value.get("msg") if isinstance(value, dict) else value
            ctx.warn(0, f"Jaeger reported an error: {msg}")
            continue
        found = True
        jf.trace(value)
    if found or lead == b"[":
        return
    if "spans" in top:
        jf.trace(load_small_json(path))
    elif "data" not in top:
        ctx.skip(0, "not a Jaeger response: expected {\"data\": [trace, ...]} or a trace with "
                 f"\"spans\"; top-level keys are {', '.join(top[:8]) or 'none'}")
