"""What each traces tool shows: compact text in priority order, full data alongside.

Text is written for an LLM deciding its next step, most important first, and
always through a ``TextBudget`` so that what did not fit is counted, never
dropped silently. The structured payload carries everything (the whole span
tree for ``get_trace_details``) for panels and ``--json``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from obsbench_servers.common.budget import TextBudget, clip
from obsbench_servers.common.timeutil import ns_to_rfc3339
from obsbench_servers.traces.backend import LatencyStats, TraceHit
from obsbench_servers.traces.breakdown import Breakdown
from obsbench_servers.traces.compare import Comparison
from obsbench_servers.traces.compress import Compressed, self_time_by_service
from obsbench_servers.traces.critical_path import CriticalPath, by_attribution
from obsbench_servers.traces.dependencies import Edge
from obsbench_servers.traces.failures import ErrorGroup
from obsbench_servers.traces.model import fmt_ns
from obsbench_servers.traces.span_details import Selected
from obsbench_servers.traces.tree import TraceTree

DETAILS_TOKENS = 3_000
CP_LINES = 12
ERROR_LINES = 15


def at(ns: int) -> str:
    return ns_to_rfc3339(ns, precision="milliseconds")


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "-"


def latency_line(stats: LatencyStats, what: str) -> str:
    if not stats.count:
        return f"latency of {what}: no requests in the window"
    source = "all requests" if stats.exact else f"a sample of {stats.count:,} requests"
    return (f"latency of {what} ({source}): n={stats.count:,}, p50 {fmt_ns(stats.p50_ns)}, "
            f"p90 {fmt_ns(stats.p90_ns)}, p95 {fmt_ns(stats.p95_ns)}, "
            f"p99 {fmt_ns(stats.p99_ns)}, max {fmt_ns(stats.max_ns)}")


def hit_line(h: TraceHit, *, origin: str | None = None) -> str:
    parts = [h.trace_id, at(h.start_ns)]
    if h.matched is not None:
        failed = "failed: " if h.matched.error else ""
        parts.append(f"{failed}{h.matched.name} {fmt_ns(h.matched.duration_ns)}")
    root = f"{h.root_service} {h.root_name}" if h.root_service else "root ?"
    parts.append(f"trace {fmt_ns(h.duration_ns)} ({root})")
    if h.span_count is not None:
        parts.append(f"{h.span_count} spans")
    if h.error_count:
        parts.append(f"{h.error_count} errors")
    if origin:
        parts.append(f"origin: {clip(origin, 110)}")
    return " | ".join(parts)


# -- get_trace_details -------------------------------------------------------------------------


def cp_groups(tree: TraceTree, cp: CriticalPath) -> list[tuple[str, str, int, int]]:
    """(service, operation, ns on path, spans) on the critical path, most time first."""
    counts: Counter[tuple[str, str]] = Counter(tree.attribution(i)
                                               for i, ns in cp.by_span.items() if ns > 0)
    return sorted(((svc, op, ns, counts[(svc, op)])
                   for (svc, op), ns in by_attribution(tree, cp).items() if ns > 0),
                  key=lambda t: -t[2])


def cp_spine(tree: TraceTree, cp: CriticalPath) -> list[int]:
    """The nesting of the critical path: from the root, always into the child on the path
    whose subtree holds the most critical-path time."""
    sub = dict(cp.by_span)
    for i in reversed(tree.order):
        p = tree.parent[i]
        if i in sub and p in sub:
            sub[p] += sub[i]
    chain = [cp.root]
    cur = cp.root
    while True:
        kids = [c for c in tree.children[cur] if c in cp.by_span]
        if not kids:
            return chain
        cur = max(kids, key=lambda c: sub[c])
        chain.append(cur)


def cp_chain(tree: TraceTree, cp: CriticalPath, limit: int = 40) -> str:
    """The spine as ``a > b > x3 c``: consecutive spans of one operation collapsed."""
    labels: list[list[Any]] = []
    for i in cp_spine(tree, cp):
        s = tree.spans[i]
        label = f"{s.service} {s.name}"
        if labels and labels[-1][0] == label:
            labels[-1][1] += 1
        else:
            labels.append([label, 1])
    parts = [f"x{n} {lab}" if n > 1 else str(lab) for lab, n in labels]
    if len(parts) > limit:
        parts = [*parts[: limit // 2], f"... {len(parts) - limit} more ...",
                 *parts[-(limit // 2):]]
    return " > ".join(parts)


def error_lines(tree: TraceTree, groups: list[ErrorGroup]) -> list[str]:
    out = []
    for g in groups[:ERROR_LINES]:
        where = f"{g.service} {g.operation}" + (f" [-> {g.peer}]" if g.peer else "")
        attrs = ", ".join(f"{k}={clip(str(v), 80)}" for k, v in g.attributes.items())
        mark = "ORIGIN " if g.is_origin else ""
        ids = ",".join(tree.spans[i].span_id for i in g.spans[:2])
        out.append(f"{mark}x{g.count} {where}: {clip(g.message, 160)}"
                   + (f" ({attrs})" if attrs else "") + f" span {ids}")
    rest = groups[ERROR_LINES:]
    if rest:
        out.append("also: " + "; ".join(f"x{g.count} {g.service} {g.operation}: "
                                        f"{clip(g.message, 40)}" for g in rest))
    return out


def span_dicts(tree: TraceTree, cp: CriticalPath) -> tuple[list[dict[str, Any]],
                                                              dict[str, dict[str, Any]]]:
    """Every span in display order (the full tree, flat, with depth and parent), and the
    resources they share (``resource`` is a key of the second; one per pod, not per span).

    Keys at their default are left out to keep a 10,000-span tree small: ``status``
    (unset), ``status_message``, ``attributes``/``events``/``links`` (empty),
    ``critical_ns`` (0 and off the path), ``async`` (false), ``declared_parent`` (equal to
    ``parent_span_id``), ``skew_shift_ns`` (0). ``end_ns`` is ``start_ns + duration_ns``.
    """
    spans = tree.spans
    selfs = tree.self_times()
    by_span = cp.by_span
    parents, depths, is_async, shifts = tree.parent, tree.depth, tree.is_async, tree.shift
    resources: dict[str, dict[str, Any]] = {}
    res_ids: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    append = out.append
    for i in tree.dfs_order():
        s = spans[i]
        p = parents[i]
        parent = spans[p].span_id if p >= 0 else None
        d: dict[str, Any] = {
            "span_id": s.span_id, "parent_span_id": parent, "depth": depths[i],
            "service": s.service, "name": s.name, "kind": s.kind, "start_ns": s.start_ns,
            "duration_ns": s.end_ns - s.start_ns, "self_ns": selfs[i],
        }
        if s.parent_id != parent:
            d["declared_parent"] = s.parent_id
        if s.status != "unset":
            d["status"] = s.status
        if s.status_message:
            d["status_message"] = s.status_message
        crit = by_span.get(i)
        if crit is not None:
            d["on_critical_path"] = True
            d["critical_ns"] = crit
        if is_async[i]:
            d["async"] = True
        if s.attributes:
            d["attributes"] = s.attributes
        if s.events:
            d["events"] = s.events
        if s.links:
            d["links"] = s.links
        if shifts[i]:
            d["skew_shift_ns"] = shifts[i]
        if s.resource:
            rid = res_ids.get(id(s.resource))
            if rid is None:
                rid = res_ids[id(s.resource)] = f"r{len(resources)}"
                resources[rid] = s.resource
            d["resource"] = rid
        append(d)
    return out, resources


def trace_details(tree: TraceTree, cp: CriticalPath, comp: Compressed,
                  groups: list[ErrorGroup], *, total_spans: int, total_errors: int | None,
                  notes: list[str], max_tokens: int = DETAILS_TOKENS
                  ) -> tuple[str, str, dict[str, Any], int]:
    """Summary, text, data and the number of tree lines shown."""
    spans = tree.spans
    root = spans[tree.root]
    dur = root.duration_ns
    services = sorted({s.service for s in spans})
    errors = sum(1 for s in spans if s.is_error)
    summary = (f"trace {tree.trace_id}: {root.service} {root.name} {fmt_ns(dur)}, "
               f"{len(spans):,} spans"
               + (f" (of {total_spans:,})" if total_spans > len(spans) else "")
               + f", {len(services)} services, {errors} error spans"
               + (f" (of {total_errors} in the whole trace)"
                  if total_errors is not None and total_errors > errors else "")
               + f", started {at(root.start_ns)}")
    b = TextBudget(max_tokens=max_tokens, unit="lines")
    for n in notes:
        b.add(f"note: {n}")
    groups_cp = cp_groups(tree, cp)
    b.add(f"critical path ({fmt_ns(cp.total_ns)} of {fmt_ns(dur)}), by where the time went:")
    for svc, op, ns, count in groups_cp[:CP_LINES]:
        times = f"x{count} " if count > 1 else ""
        b.add(f"  {pct(ns, dur):>4} {fmt_ns(ns)} {times}{svc} {op}")
    if len(groups_cp) > CP_LINES:
        rest = groups_cp[CP_LINES:]
        b.add(f"  ... {len(rest)} more on the path ({fmt_ns(sum(t[2] for t in rest))}): "
              + ", ".join(f"{t[0]} {t[1]} {fmt_ns(t[2])}" for t in rest), max_chars=1500)
    b.add(f"path (nesting): {cp_chain(tree, cp)}", max_chars=2000)
    if groups:
        b.add(f"errors ({errors} spans in {len(groups)} groups; ORIGIN = deepest erroring span):")
        for line in error_lines(tree, groups):
            b.add("  " + line, max_chars=900)
    else:
        b.add("errors: none")
    svc_times = self_time_by_service(tree)
    total_self = sum(t[1] for t in svc_times) or 1
    b.add("self-time by service: " + ", ".join(
        f"{svc} {fmt_ns(ns)} ({pct(ns, total_self)})" for svc, ns, _ in svc_times[:10]),
        max_chars=900)
    if tree.issues.skew or tree.issues.missing_parents or tree.issues.cycles_broken:
        for n in tree.issues.notes():
            b.add(f"repaired: {n}")
    b.add("tree (* on critical path; xN = N siblings collapsed):")
    shown = 0
    for ln in comp.lines:
        mark = "*" if ln.on_path else " "
        if not b.add(f"{mark}{'  ' * ln.depth}{comp.text(ln)}"):
            b.skip(len(comp.lines) - shown - 1)
            break
        shown += 1
    text = b.render("token budget of the tree view; the full tree is in structured_content")
    data: dict[str, Any] = {
        "trace_id": tree.trace_id,
        "root": {"span_id": root.span_id, "service": root.service, "name": root.name},
        "start": at(tree.start_ns), "duration_ns": dur,
        "span_count": len(spans), "total_spans": total_spans, "sampled": total_spans > len(spans),
        "error_spans": errors, "total_error_spans": total_errors, "services": services,
        "critical_path": {
            "total_ns": cp.total_ns,
            "segments": [{"span_id": spans[i].span_id, "start_ns": s, "end_ns": e}
                         for i, s, e in cp.segments],
            "by_operation": [{"service": svc, "operation": op, "ns": ns, "spans": c}
                             for svc, op, ns, c in groups_cp],
            "chain": cp_chain(tree, cp, limit=10_000),
        },
        "errors": [g.to_dict(tree) for g in groups],
        "self_time_by_service": [{"service": s, "self_ns": ns, "spans": n}
                                 for s, ns, n in svc_times],
        "repeats": [r.to_dict(tree) for r in comp.repeats],
        "repairs": tree.issues.to_dict(),
    }
    data["spans"], data["resources"] = span_dicts(tree, cp)
    return summary, text, data, shown


# -- get_span_details --------------------------------------------------------------------------

SPAN_EVENTS = 5


def _kv(d: dict[str, Any], limit: int = 200) -> str:
    return ", ".join(f"{k}={clip(str(v), limit)}" for k, v in d.items())


def span_details(tree: TraceTree, records: list[tuple[Selected, list[dict[str, Any]]]]
                 ) -> tuple[str, str, int]:
    """Summary, text (each span in full, values clipped) and the number of spans shown."""
    b = TextBudget(unit="spans")
    shown = 0
    resources_seen: dict[str, str] = {}  # one pod's resource is written once
    for sel, recs in records:
        many = (f" (the slowest {len(sel.spans)} of {sel.matched} spans matching {sel.spec!r})"
                if sel.matched > 1 else "")
        for r in recs:
            owner, op = r["time_belongs_to"]
            kind = r["kind"] + (f" -> {owner}" if owner != r["service"] and r["kind"] in
                                ("client", "producer") else "")
            lines = [f"span {r['span_id']}: {r['service']} {r['name']} [{kind}]{many}"]
            parent = r["parent"]
            where = (f"parent {parent['service']} {parent['name']} (span {parent['span_id']})"
                     if parent else "a root" + (f" (declared parent {r['declared_parent']} is "
                                                 "not in the trace)"
                                                 if r["declared_parent"] else ""))
            timing = (f"  {where}; starts +{fmt_ns(r['offset_ns'])}, duration "
                      f"{fmt_ns(r['duration_ns'])}, self {fmt_ns(r['self_ns'])}")
            if r["on_critical_path"]:
                timing += f"; on the critical path {fmt_ns(r['critical_ns'])}"
            if r["async"]:
                timing += "; asynchronous (nobody waited on it)"
            if owner != r["service"]:
                timing += f"; its self-time belongs to {owner} ({op})"
            if r["skew_shift_ns"]:
                timing += f"; clock skew corrected by {fmt_ns(r['skew_shift_ns'])}"
            lines.append(timing)
            status = r["status"] + (f": {r['error']}" if r["error"] else
                                    f": {r['status_message']}" if r["status_message"] else "")
            lines.append(f"  status: {status}")
            if r["attributes"]:
                lines.append(f"  attributes: {_kv(r['attributes'])}")
            for ev in r["events"][:SPAN_EVENTS]:
                at_ns = ev.get("time_ns")
                when = f" +{fmt_ns(int(at_ns) - tree.spans[tree.root].start_ns)}" \
                    if isinstance(at_ns, int) else ""
                lines.append(f"  event{when} {ev.get('name')}: {_kv(ev.get('attributes') or {})}")
            if len(r["events"]) > SPAN_EVENTS:
                lines.append(f"  ... {len(r['events']) - SPAN_EVENTS} more events "
                             "(all in structured_content)")
            if r["links"]:
                lines.append("  links: " + "; ".join(_kv(link, 40) for link in r["links"][:5]))
            if r["resource"]:
                res = _kv(r["resource"], 120)
                first = resources_seen.setdefault(res, r["span_id"])
                lines.append(f"  resource: {res}" if first == r["span_id"] else
                             f"  resource: as for span {first}")
            if r["children"]:
                lines.append("  children: " + ", ".join(
                    f"x{c['count']} {c['label']}" if c["count"] > 1 else c["label"]
                    for c in r["children"][:12])
                    + (f", ... {len(r['children']) - 12} more" if len(r["children"]) > 12
                       else ""))
            if not b.add("\n".join(lines), max_chars=6000):
                break
            shown += 1
    total = sum(len(recs) for _, recs in records)
    names = ", ".join(f"{r['service']} {r['name']}" for _, recs in records for r in recs[:1])
    summary = f"{total} span(s) of trace {tree.trace_id}: {clip(names, 200)}"
    return summary, b.render(), shown


# -- compare -----------------------------------------------------------------------------------


def comparison(cmp: Comparison, id_a: str, id_b: str, tree_a: TraceTree, tree_b: TraceTree
               ) -> tuple[str, str, dict[str, Any]]:
    ra, rb = tree_a.spans[tree_a.root], tree_b.spans[tree_b.root]
    sign = "+" if cmp.delta >= 0 else ""
    summary = (f"trace B {id_b} took {fmt_ns(cmp.duration_b)} vs A {id_a} "
               f"{fmt_ns(cmp.duration_a)} ({sign}{fmt_ns(cmp.delta)})")
    b = TextBudget(unit="lines")
    if not cmp.same_root:
        b.add(f"warning: the roots differ (A: {ra.service} {ra.name}; B: {rb.service} {rb.name}):"
              " paths only line up below a shared prefix; compare requests of one operation")
    b.add("self-time by service (A -> B): " + "; ".join(
        f"{s} {fmt_ns(a)} -> {fmt_ns(bb)} ({'+' if bb >= a else ''}{fmt_ns(bb - a)})"
        for s, a, bb in cmp.services[:8]), max_chars=900)
    b.add("where time moved (self-time per service/operation path, B - A):")
    for r in cmp.rows[:25]:
        if r.self_delta == 0 and r.a.count == r.b.count:
            continue
        counts = f"x{r.a.count} -> x{r.b.count}" if r.a.count != r.b.count else f"x{r.b.count}"
        tail = " > ".join(r.path[-2:])
        sign = "+" if r.self_delta >= 0 else ""
        line = (f"  {sign}{fmt_ns(r.self_delta)} {tail} ({counts}; self {fmt_ns(r.a.self_ns)}"
                f" -> {fmt_ns(r.b.self_ns)}; critical path {fmt_ns(r.a.critical_ns)} -> "
                f"{fmt_ns(r.b.critical_ns)})")
        if r.b.errors != r.a.errors:
            line += f"; errors {r.a.errors} -> {r.b.errors}"
        b.add(line, max_chars=700)
    only_b = [r for r in cmp.rows if r.a.count == 0]
    only_a = [r for r in cmp.rows if r.b.count == 0]
    if only_b:
        b.add("only in B: " + "; ".join(f"x{r.b.count} {r.path[-1]}" for r in only_b[:10]))
    if only_a:
        b.add("only in A: " + "; ".join(f"x{r.a.count} {r.path[-1]}" for r in only_a[:10]))
    data = {
        "a": {"trace_id": id_a, "duration_ns": cmp.duration_a, "root": f"{ra.service} {ra.name}",
              "spans": len(tree_a.spans)},
        "b": {"trace_id": id_b, "duration_ns": cmp.duration_b, "root": f"{rb.service} {rb.name}",
              "spans": len(tree_b.spans)},
        "delta_ns": cmp.delta, "same_root": cmp.same_root,
        "services": [{"service": s, "self_ns_a": a, "self_ns_b": bb, "delta_ns": bb - a}
                     for s, a, bb in cmp.services],
        "paths": [r.to_dict() for r in cmp.rows],
    }
    return summary, b.render(), data


# -- dependencies ------------------------------------------------------------------------------


def dependencies(edges: list[Edge], service: str | None, traces: int
                 ) -> tuple[str, str, dict[str, Any]]:
    what = f"{service} and its downstream" if service else "all services"
    summary = f"call graph of {what}: {len(edges)} edges from {traces:,} traces"
    b = TextBudget(unit="edges")
    worst = sorted((e for e in edges if e.errors), key=lambda e: -e.error_ratio)[:3]
    if worst:
        b.add("highest error ratios: " + "; ".join(
            f"{e.caller} -> {e.callee} {e.error_ratio:.1%}" for e in worst))
    for e in edges:
        b.add(e.line())
    data = {"service": service, "traces": traces, "edges": [e.to_dict() for e in edges]}
    return summary, b.render(), data


# -- breakdown ---------------------------------------------------------------------------------


def breakdown(bd: Breakdown, service: str, operation: str | None, cur: tuple[int, int],
              base: tuple[int, int] | None) -> tuple[str, str, dict[str, Any]]:
    c = bd.current
    what = f"{service} {operation}" if operation else service
    lat_now = c.per_request(c.latency_ns)
    b = TextBudget(unit="lines")
    if bd.has_baseline and bd.baseline is not None:
        bl = bd.baseline
        summary = (f"{what}: {c.requests:,} requests, mean {fmt_ns(lat_now)} vs "
                   f"{fmt_ns(bd.baseline_latency)} in the baseline ({bl.requests:,} requests, "
                   f"same operation mix); most growth in {bd.top_service}")
        growth = [(s, now - before) for s, now, before in bd.services if now - before > 0]
        total_growth = sum(g for _, g in growth)
        b.add("critical-path time per request by service, growth vs baseline: " + "; ".join(
            f"{s} +{fmt_ns(g)} ({pct(g, total_growth)})" for s, g in growth[:6]) if growth
              else "no service's critical-path time per request grew vs the baseline")
    else:
        summary = (f"{what}: {c.requests:,} requests, mean {fmt_ns(lat_now)}; "
                   f"no baseline requests to compare with; most time in {bd.top_service}")
        b.add("critical-path time per request by service: " + "; ".join(
            f"{s} {fmt_ns(now)}" for s, now, _ in bd.services[:6]))
    fan = [r for r in bd.rows if r.calls_now >= 2 and r.calls_now >= 3 * max(r.calls_before,
                                                                            0.01)
           and bd.has_baseline]
    for r in fan[:3]:
        b.add(f"fan-out grew: {r.caller} now calls {r.service} {r.operation} "
              f"{r.calls_now:.1f}x per request (baseline {r.calls_before:.2g}x) — "
              "an N+1 or retry pattern")
    b.add("by operation (largest growth first):" if bd.has_baseline else "by operation:")
    for r in bd.rows[:20]:
        b.add("  " + r.line(bd.has_baseline))
    data = {
        "service": service, "operation": operation,
        "window": {"start": at(cur[0]), "end": at(cur[1])},
        "baseline_window": {"start": at(base[0]), "end": at(base[1])} if base else None,
        "requests": c.requests, "traces": c.traces, "mean_latency_ns": round(lat_now),
        "baseline_requests": bd.baseline.requests if bd.baseline else 0,
        "baseline_mean_latency_ns": round(bd.baseline_latency) if bd.has_baseline else None,
        "baseline_is_mix_adjusted": True,
        "top_service": bd.top_service,
        "services": [{"service": s, "critical_ns_per_request": round(now),
                      "baseline_critical_ns_per_request": round(before),
                      "delta_ns_per_request": round(now - before)}
                     for s, now, before in bd.services],
        "fan_out": [r.to_dict() for r in fan],
        "rows": [r.to_dict() for r in bd.rows],
    }
    return summary, b.render(), data
