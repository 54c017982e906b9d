"""The last step of progressive disclosure: a few spans of one trace, in full.

``get_trace_details`` shows a trace's shape (critical path, errors, collapsed
tree) without attributes, events or resources — they would swamp the budget
of a big trace. Once the LLM knows which spans matter, it asks for them here,
by span id (or a unique prefix) or by the label the tree shows
(``user-api SELECT user_preferences``, ``x24 ... [client -> postgres]`` copied
as is). A label that matches many spans (a fan of 24 identical queries)
yields the slowest few, and says how many matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from obsbench_servers.common.errors import BadInputError, NotFoundError
from obsbench_servers.common.suggest import close_names
from obsbench_servers.traces.critical_path import CriticalPath
from obsbench_servers.traces.tree import TraceTree

MAX_SPECS = 10
PER_LABEL = 3  # spans shown for a label that matches several
_SPAN_ID = re.compile(r"^(?:0x)?([0-9a-fA-F]{4,16})$")
_REPEAT = re.compile(r"^x\d+\s+")
_PEER = re.compile(r"->\s*([^\]]+?)\s*\]")


@dataclass
class Selected:
    """What one requested spec resolved to: the spans shown, out of how many matched."""

    spec: str
    spans: list[int]
    matched: int


def _label(tree: TraceTree, i: int) -> str:
    s = tree.spans[i]
    return f"{s.service} {s.name}"


def _by_label(tree: TraceTree, spec: str) -> list[int]:
    text = _REPEAT.sub("", spec.strip().lstrip("*").strip())
    peer = None
    if " [" in text:
        m = _PEER.search(text)
        peer = m.group(1).strip() if m else None
        text = text.split(" [", 1)[0]
    # "... : p50 12ms" copied from a collapsed line: keep the label part
    text = text.split("]: ", 1)[0].strip().lower()
    found = [i for i in range(len(tree.spans)) if _label(tree, i).lower() == text]
    if peer is not None:
        with_peer = [i for i in found if tree.attribution(i)[0] == peer]
        found = with_peer or found
    return found


def select(tree: TraceTree, specs: list[str]) -> list[Selected]:
    """Resolve each spec to span indices (slowest first); unknown specs are a clear error."""
    if not specs:
        raise BadInputError("no spans asked for",
                            "pass span ids or labels from get_trace_details, e.g. "
                            "spans=['user-api SELECT user_preferences']")
    if len(specs) > MAX_SPECS:
        raise BadInputError(f"at most {MAX_SPECS} spans at a time (got {len(specs)})",
                            "ask for the few spans that matter: those on the critical path "
                            "or the error origins")
    ids = {s.span_id: i for i, s in enumerate(tree.spans)}
    out: list[Selected] = []
    for raw in specs:
        spec = str(raw).strip()
        m = _SPAN_ID.fullmatch(spec)
        found: list[int] = []
        if m:
            hexid = m.group(1).lower()
            if len(hexid) == 16 or hexid.zfill(16) in ids:
                j = ids.get(hexid.zfill(16))
                found = [j] if j is not None else []
            else:
                found = [i for sid, i in ids.items() if sid.startswith(hexid)]
                if len(found) > 1:
                    raise BadInputError(
                        f"span id prefix {spec!r} matches {len(found)} spans of the trace",
                        "give more digits (span ids are 16 hex digits)")
        if not found:
            found = _by_label(tree, spec)
        if not found:
            labels = sorted({_label(tree, i) for i in range(len(tree.spans))})
            close = close_names(spec, labels)
            hint = (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + \
                "pass a span id (16 hex digits, from get_trace_details' errors or structured " \
                "content) or a 'service operation' label as its tree shows it"
            raise NotFoundError(f"no span {spec!r} in trace {tree.trace_id}", hint)
        found.sort(key=lambda i: (-tree.spans[i].duration_ns, tree.spans[i].start_ns))
        out.append(Selected(spec, found[:PER_LABEL], len(found)))
    return out


def span_record(tree: TraceTree, cp: CriticalPath, i: int) -> dict[str, Any]:
    """Everything known about one span, for the structured content (nothing clipped)."""
    s = tree.spans[i]
    p = tree.parent[i]
    t0 = tree.spans[tree.root].start_ns
    peer, attributed_to = tree.attribution(i)
    kids: dict[str, int] = {}
    for c in tree.children[i]:
        key = _label(tree, c)
        kids[key] = kids.get(key, 0) + 1
    return {
        "span_id": s.span_id, "service": s.service, "name": s.name, "kind": s.kind,
        "parent": ({"span_id": tree.spans[p].span_id, "service": tree.spans[p].service,
                    "name": tree.spans[p].name} if p >= 0 else None),
        "declared_parent": s.parent_id, "ref_type": s.ref_type,
        "start_ns": s.start_ns, "offset_ns": s.start_ns - t0, "duration_ns": s.duration_ns,
        "self_ns": tree.self_times()[i], "time_belongs_to": [peer, attributed_to],
        "on_critical_path": cp.contains(i), "critical_ns": cp.by_span.get(i, 0),
        "async": tree.is_async[i], "skew_shift_ns": tree.shift[i],
        "status": s.status, "status_message": s.status_message, "error": s.error_text()
        if s.is_error else None,
        "attributes": s.attributes, "events": s.events, "links": s.links,
        "resource": s.resource, "scope": s.scope,
        "children": [{"label": k, "count": n} for k, n in kids.items()],
    }
