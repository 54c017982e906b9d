"""The backend-neutral span and the small facts every analysis module needs about one.

Jaeger (v1 JSON and api_v3 OTLP), Tempo (OTLP JSON) and the embedded store
all become ``Span`` objects with the store's conventions: ids in lower-case
hex (trace 32 digits, span 16), times in integer epoch nanoseconds, kind one
of server/client/producer/consumer/internal/unspecified, status
unset/ok/error. The analysis never sees a wire format.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.common.errors import BadInputError

KINDS = ("server", "client", "producer", "consumer", "internal", "unspecified")
# Where a request enters a service: the span whose time the service is answerable for.
ENTRY_KINDS = frozenset({"server", "consumer"})
# Spans that wait on someone else: their self-time belongs to the peer they call.
OUTGOING_KINDS = frozenset({"client", "producer"})

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(slots=True)
class Span:
    """One span, normalised. ``ref_type`` is how it relates to its parent."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str = "unspecified"
    start_ns: int = 0
    end_ns: int = 0
    status: str = "unset"
    status_message: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    ref_type: str = "child_of"  # child_of | follows_from (Jaeger's reference types)
    scope: str | None = None
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_error(self) -> bool:
        return self.status == "error"

    def error_text(self) -> str:
        """What went wrong, in one line: the exception type and message, else the status."""
        for ev in self.events:
            if ev.get("name") == "exception":
                attrs = ev.get("attributes") or {}
                etype = attrs.get("exception.type") or ""
                msg = attrs.get("exception.message") or ""
                text = f"{etype}: {msg}" if etype and msg else str(etype or msg)
                if text:
                    return " ".join(text.split())
        if self.status_message:
            return " ".join(str(self.status_message).split())
        code = self.attributes.get("http.response.status_code") or self.attributes.get(
            "http.status_code")
        return f"HTTP {code}" if code else "error"

    def exception_type(self) -> str | None:
        for ev in self.events:
            if ev.get("name") == "exception":
                value = (ev.get("attributes") or {}).get("exception.type")
                if value:
                    return str(value)
        return None


def normalize_trace_id(text: str) -> str:
    """A trace id as 32 lower-case hex digits; Jaeger's shorter ids are left-padded.

    Base64 (what protobuf JSON writes) is accepted too. Anything else is a
    clear ``BadInputError``, never a lookup that silently finds nothing.
    """
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        raw = raw[2:]
    if raw and _HEX.fullmatch(raw) and len(raw) <= 32:
        if raw.count("0") == len(raw):
            raise BadInputError("trace id is all zeros, which means 'no trace' in W3C/OTel",
                                "pass a real trace id from find_slow_traces or find_error_traces")
        return raw.lower().zfill(32)
    from obsbench_servers.store.importers._common import (  # noqa: PLC0415 - rare path
        BadIdError,
        hex_id,
    )
    try:
        converted = hex_id(raw, 32) if raw and not _HEX.fullmatch(raw) else None
    except BadIdError:
        converted = None
    if converted:
        return converted
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    raise BadInputError(
        f"{shown!r} is not a trace id: expected up to 32 hex digits "
        f"(W3C/OpenTelemetry use 32, Jaeger 16){f', got {len(raw)}' if raw else ''}",
        "copy a trace id from find_slow_traces or find_error_traces, or from a log line's "
        "trace_id field",
    )


# -- who a span waits on -------------------------------------------------------------------

_ROLE_SUFFIXES = ("-master", "-primary", "-leader", "-headless")
_HOST_KEYS = ("server.address", "net.peer.name", "peer.hostname", "net.sock.peer.name",
              "db.connection_string", "http.host")


@functools.lru_cache(maxsize=4096)
def host_service(host: str) -> str:
    """A service name from a host: ``postgres.data.svc.cluster.local`` -> ``postgres``.

    Cluster-internal names (no dot, or a ``.svc``/``.cluster.local``/``.internal``
    suffix) give their first label without a role suffix (``redis-master`` ->
    ``redis``); an external name is kept whole (``api.paygw.example.com``).
    """
    h = host.strip().lower()
    if "://" in h:
        h = h.split("://", 1)[1]
    h = h.split("/", 1)[0].split("@")[-1]
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    internal = "." not in h or any(s in h for s in (".svc", ".cluster.local", ".internal"))
    if not internal or h.replace(".", "").isdigit():
        return h
    first = h.split(".", 1)[0]
    for suffix in _ROLE_SUFFIXES:
        if first.endswith(suffix) and len(first) > len(suffix):
            return first[: -len(suffix)]
    return first


def peer_of(span: Span) -> str | None:
    """The peer an outgoing span talks to, from its attributes (None when unknown).

    ``peer.service`` first (what instrumentation sets for uninstrumented
    peers), then the host the call went to, then ``db.system``/``messaging.system``.
    """
    a = span.attributes
    peer = a.get("peer.service")
    if peer:
        return str(peer)
    for key in _HOST_KEYS:
        value = a.get(key)
        if value:
            return host_service(str(value))
    url = a.get("url.full") or a.get("http.url")
    if url:
        return host_service(str(url))
    for key in ("db.system", "messaging.destination.name", "messaging.system"):
        value = a.get(key)
        if value:
            return str(value)
    return None


def fmt_ns(ns: float) -> str:
    """A duration for people and models: ``850µs``, ``12ms``, ``1.23s``."""
    if ns < 0:
        return "-" + fmt_ns(-ns)
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 10_000_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.0f}ms"
    if ns < 100_000_000_000:
        return f"{ns / 1e9:.2f}s"
    return f"{ns / 1e9:.0f}s"


def percentile(sorted_values: list[int] | list[float], q: float) -> float:
    """Linear-interpolated percentile of an ascending list (``q`` in 0..1)."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac
