"""Where errors in a trace come from: the deepest erroring span of each failing chain.

An error propagates up: a database timeout makes the repository span fail,
then the handler, then the gateway. Every one of them has error status, but
only the deepest — an erroring span with no erroring descendant — is where
the error *originated*; the others only report it. Errors are grouped by
(service, operation, message) so that 400 identical failures are one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from obsbench_servers.traces.tree import TraceTree

_SALIENT = ("http.response.status_code", "http.status_code", "rpc.grpc.status_code",
            "db.statement", "db.query.text", "peer.service", "server.address", "url.full",
            "http.url", "messaging.destination.name")
_NUMBERS = re.compile(r"\b(?:0x)?[0-9a-f]*\d[0-9a-f]*\b", re.IGNORECASE)


def origins(tree: TraceTree) -> list[int]:
    """Erroring spans with no erroring descendant, deepest first."""
    spans = tree.spans
    n = len(spans)
    below = [False] * n  # some descendant errs
    for i in reversed(tree.order):
        p = tree.parent[i]
        if p >= 0 and (below[i] or spans[i].is_error):
            below[p] = True
    found = [i for i in range(n) if spans[i].is_error and not below[i]]
    found.sort(key=lambda i: (-tree.depth[i], spans[i].start_ns))
    return found


def salient_attributes(attrs: dict[str, Any], limit: int = 3) -> dict[str, Any]:
    """The few attributes that explain an error (status code, statement, peer)."""
    out: dict[str, Any] = {}
    for key in _SALIENT:
        if key in attrs and attrs[key] not in (None, ""):
            out[key] = attrs[key]
            if len(out) >= limit:
                break
    return out


def message_key(text: str) -> str:
    """The message with numbers and hex ids masked, so retries of one error group together."""
    return _NUMBERS.sub("#", text)[:160]


@dataclass
class ErrorGroup:
    """Errors of one (service, operation, message) in a trace."""

    service: str
    operation: str
    message: str
    peer: str | None = None
    spans: list[int] = field(default_factory=list)
    origin_spans: list[int] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.spans)

    @property
    def is_origin(self) -> bool:
        return bool(self.origin_spans)

    def to_dict(self, tree: TraceTree) -> dict[str, Any]:
        return {
            "service": self.service, "operation": self.operation, "message": self.message,
            "peer": self.peer, "count": self.count, "origin_count": len(self.origin_spans),
            "span_ids": [tree.spans[i].span_id for i in self.spans[:20]],
            "attributes": self.attributes,
        }


def error_groups(tree: TraceTree) -> list[ErrorGroup]:
    """Every error of the trace, grouped; groups holding an origin come first."""
    spans = tree.spans
    origin_set = set(origins(tree))
    groups: dict[tuple[str, str, str], ErrorGroup] = {}
    for i in tree.order:
        s = spans[i]
        if not s.is_error:
            continue
        text = s.error_text()
        key = (s.service, s.name, message_key(text))
        g = groups.get(key)
        if g is None:
            svc, _ = tree.attribution(i)
            g = groups[key] = ErrorGroup(s.service, s.name, text,
                                         peer=svc if svc != s.service else None,
                                         attributes=salient_attributes(s.attributes))
        g.spans.append(i)
        if i in origin_set:
            g.origin_spans.append(i)
    return sorted(groups.values(),
                  key=lambda g: (not g.is_origin, -max(tree.depth[i] for i in g.spans),
                                 -g.count))
