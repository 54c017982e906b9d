"""Wire formats to ``Span``: Jaeger's v1 JSON trace and OTLP JSON (Jaeger api_v3, Tempo).

The same reading rules as the store's importers (``store/importers``): ids as
lower-case hex, padded (base64 accepted, as Tempo writes them); Jaeger's
parent is the first CHILD_OF reference in the trace, else the first
FOLLOWS_FROM; ``span.kind``/``error``/``otel.status_*`` tags fill kind and
status; OTLP enums as numbers or names; 64-bit integers as strings. A span
that cannot be read is skipped and counted, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.store.importers._common import (
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    BadIdError,
    attributes,
    first,
    hex_id,
    nanos,
)
from obsbench_servers.store.importers.jaeger import tag_value
from obsbench_servers.traces.model import Span

_KIND_NAMES = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer",
               5: "consumer"}
_STATUS_NAMES = {0: "unset", 1: "ok", 2: "error"}
_JAEGER_KINDS = {"server", "client", "producer", "consumer", "internal"}


@dataclass
class Decoded:
    """Spans read from a payload, and why any were skipped."""

    spans: list[Span] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        if not self.skipped:
            return []
        return [f"{len(self.skipped)} span(s) could not be read and were skipped "
                f"(first: {self.skipped[0]})"]


def _enum(value: Any, names: dict[int, str], prefix: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return names.get(int(value))
    text = str(value)
    if text.isdigit():
        return names.get(int(text))
    text = text.upper().removeprefix(prefix).lower()
    return text if text in names.values() else None


# -- OTLP --------------------------------------------------------------------------------------


def _unwrap(doc: Any) -> Any:
    if isinstance(doc, dict):
        for key in ("result", "trace"):
            inner = doc.get(key)
            if isinstance(inner, dict):
                return inner
    return doc


def spans_from_otlp(doc: Any, out: Decoded | None = None) -> Decoded:
    """Spans of an OTLP ``TracesData`` (``resourceSpans`` or Tempo's ``batches``), any wrapper."""
    out = out or Decoded()
    doc = _unwrap(doc)
    if not isinstance(doc, dict):
        return out
    for rs in first(doc, "resourceSpans", "resource_spans", "batches") or ():
        if not isinstance(rs, dict):
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        service = resource.get("service.name")
        for ss in first(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans") or ():
            if not isinstance(ss, dict):
                continue
            scope = first(ss, "scope", "instrumentationLibrary") or {}
            for sp in ss.get("spans") or ():
                try:
                    out.spans.append(_otlp_span(sp, service, resource, scope))
                except (BadIdError, ValueError, TypeError, AttributeError) as exc:
                    out.skipped.append(f"{str(sp)[:60]}: {exc}")
    return out


def _otlp_span(sp: dict[str, Any], service: Any, resource: dict[str, Any],
               scope: dict[str, Any]) -> Span:
    trace_id = hex_id(first(sp, "traceId", "trace_id"), TRACE_ID_HEX)
    span_id = hex_id(first(sp, "spanId", "span_id"), SPAN_ID_HEX)
    if trace_id is None or span_id is None:
        raise ValueError("no traceId or spanId")
    parent = hex_id(first(sp, "parentSpanId", "parent_span_id"), SPAN_ID_HEX)
    start = nanos(first(sp, "startTimeUnixNano", "start_time_unix_nano")) or 0
    end = nanos(first(sp, "endTimeUnixNano", "end_time_unix_nano"))
    status = sp.get("status") or {}
    links = []
    for link in sp.get("links") or ():
        links.append({"trace_id": hex_id(first(link, "traceId", "trace_id"), TRACE_ID_HEX),
                      "span_id": hex_id(first(link, "spanId", "span_id"), SPAN_ID_HEX),
                      "attributes": attributes(link.get("attributes"))})
    return Span(
        trace_id=trace_id, span_id=span_id, parent_id=parent,
        service=str(service) if service else "", name=str(sp.get("name") or ""),
        kind=_enum(sp.get("kind"), _KIND_NAMES, "SPAN_KIND_") or "unspecified",
        start_ns=start, end_ns=end if end is not None else start,
        status=_enum(status.get("code"), _STATUS_NAMES, "STATUS_CODE_") or "unset",
        status_message=status.get("message") or None,
        attributes=attributes(sp.get("attributes")),
        events=[{"time_ns": nanos(first(e, "timeUnixNano", "time_unix_nano")),
                 "name": e.get("name") or "", "attributes": attributes(e.get("attributes"))}
                for e in sp.get("events") or ()],
        links=links, scope=scope.get("name") or None, resource=resource,
    )


# -- Jaeger v1 ---------------------------------------------------------------------------------


def _tags(tags: Any) -> dict[str, Any]:
    return {t["key"]: tag_value(t) for t in tags or () if isinstance(t, dict) and "key" in t}


def spans_from_jaeger(trace: Any, out: Decoded | None = None) -> Decoded:
    """Spans of one Jaeger v1 ``ui.Trace`` (``{"traceID", "spans", "processes"}``)."""
    out = out or Decoded()
    if not isinstance(trace, dict):
        out.skipped.append(f"not a trace: {type(trace).__name__}")
        return out
    processes = trace.get("processes") or {}
    for sp in trace.get("spans") or ():
        try:
            out.spans.append(_jaeger_span(sp, trace, processes))
        except (BadIdError, ValueError, TypeError, AttributeError) as exc:
            out.skipped.append(f"{str(sp)[:60]}: {exc}")
    return out


def _jaeger_span(sp: dict[str, Any], trace: dict[str, Any], processes: dict[str, Any]) -> Span:
    trace_id = hex_id(sp.get("traceID") or trace.get("traceID"), TRACE_ID_HEX)
    span_id = hex_id(sp.get("spanID"), SPAN_ID_HEX)
    if trace_id is None or span_id is None:
        raise ValueError("no traceID or spanID")
    process = sp.get("process") or processes.get(str(sp.get("processID"))) or {}
    refs = [{"trace_id": hex_id(r.get("traceID"), TRACE_ID_HEX) or trace_id,
             "span_id": hex_id(r.get("spanID"), SPAN_ID_HEX),
             "ref_type": str(r.get("refType") or "CHILD_OF").lower()}
            for r in sp.get("references") or () if isinstance(r, dict)]
    chosen = next((r for want in ("child_of", "follows_from") for r in refs
                   if r["ref_type"] == want and r["trace_id"] == trace_id and r["span_id"]),
                  None)
    parent = chosen["span_id"] if chosen else hex_id(sp.get("parentSpanID"), SPAN_ID_HEX)
    tags = _tags(sp.get("tags"))
    kind = str(tags.pop("span.kind", "") or "").lower()
    err = tags.pop("error", None)
    code = str(tags.pop("otel.status_code", "") or "").upper()
    message = tags.pop("otel.status_description", None)
    error = err is True or (isinstance(err, str) and err.lower() == "true") or code == "ERROR"
    scope = tags.pop("otel.scope.name", None) or tags.pop("otel.library.name", None)
    start = int(sp.get("startTime") or 0) * 1000
    events = []
    for log in sp.get("logs") or ():
        fields = _tags(log.get("fields"))
        name = fields.pop("event", "")
        events.append({"time_ns": int(log.get("timestamp") or 0) * 1000,
                       "name": str(name), "attributes": fields})
    service = process.get("serviceName") or ""
    return Span(
        trace_id=trace_id, span_id=span_id, parent_id=parent, service=str(service),
        name=str(sp.get("operationName") or ""),
        kind=kind if kind in _JAEGER_KINDS else "unspecified",
        start_ns=start, end_ns=start + int(sp.get("duration") or 0) * 1000,
        status="error" if error else ("ok" if code == "OK" else "unset"),
        status_message=str(message) if message else None, attributes=tags, events=events,
        links=[r for r in refs if r is not chosen],
        ref_type=str(chosen["ref_type"]) if chosen else "child_of",
        scope=str(scope) if scope else None,
        resource={"service.name": service, **_tags(process.get("tags"))},
    )


def group_by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    """Spans of several traces (an api_v3 search answer) split per trace, in arrival order."""
    out: dict[str, list[Span]] = {}
    for s in spans:
        out.setdefault(s.trace_id, []).append(s)
    return out
