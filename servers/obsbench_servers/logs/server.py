"""The logs MCP server: five tools over one LogsBackend (Loki, Elasticsearch/OpenSearch,
Azure Data Explorer, or the embedded store).

Logs are the biggest flood an investigation meets, so every tool answers with
counts first (how many matched, how many patterns, what is new), a budgeted
excerpt, the resolved absolute time range, the backend query actually run, and
a coverage line naming what the text did not show. Full data goes to
``structured_content`` for panels and ``--json``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from obsbench_servers.common.backend import (
    ADXBackend,
    ElasticsearchBackend,
    LocalBackend,
    LokiBackend,
)
from obsbench_servers.common.budget import TextBudget, clip
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError, GuardError, NotFoundError
from obsbench_servers.common.result import Coverage, ToolOutput
from obsbench_servers.common.suggest import did_you_mean
from obsbench_servers.common.timeutil import (
    TimeParseError,
    TimeRange,
    format_duration_ns,
    ns_to_rfc3339,
    parse_duration_ns,
    parse_time_ns,
)
from obsbench_servers.common.toolkit import register_tool
from obsbench_servers.logs.analysis import error_patterns, event_text, volume_anomalies
from obsbench_servers.logs.backend import LogFilter, LogRecord, LogsBackend, parse_levels
from obsbench_servers.logs.patterns import TemplateMiner
from obsbench_servers.logs.stacktraces import group_traces, reassemble

MAX_ANALYSIS_LINES = 200_000
MESSAGE_CHARS = 400
NS_PER_MIN = 60 * 10**9


def make_backend(ctx: ServerContext) -> LogsBackend:
    """The adapter for the context's logs backend."""
    be = ctx.backend
    transport = ctx.options.get("transport")
    if isinstance(be, LocalBackend):
        from obsbench_servers.logs.backends.local import LocalLogs  # noqa: PLC0415

        return LocalLogs(ctx, be)
    if isinstance(be, LokiBackend):
        from obsbench_servers.logs.backends.loki import LokiLogs  # noqa: PLC0415

        return LokiLogs(be, transport=transport,
                        service_label=str(ctx.options.get("loki_service_label", be.service_label)),
                        level_label=str(ctx.options.get("loki_level_label", be.level_label)))
    if isinstance(be, ElasticsearchBackend):
        from obsbench_servers.logs.backends.elasticsearch import ElasticsearchLogs  # noqa: PLC0415

        return ElasticsearchLogs(be, transport=transport)
    if isinstance(be, ADXBackend):
        from obsbench_servers.logs.backends.adx import ADXLogs  # noqa: PLC0415

        return ADXLogs(be, transport=transport)
    raise BadInputError(f"{be.type} is not a logs backend",
                        "set [profiles.NAME.logs] type to loki, elasticsearch, opensearch, "
                        "adx or local")


class LogsTools:
    """The tool bodies, sharing one backend, limits and time resolution."""

    def __init__(self, ctx: ServerContext, backend: LogsBackend | None = None) -> None:
        self.ctx = ctx
        self._backend = backend
        self.max_tokens = int(ctx.options.get("max_tokens", 2000))

    @property
    def backend(self) -> LogsBackend:
        if self._backend is None:
            self._backend = make_backend(self.ctx)
        return self._backend

    @property
    def limits(self) -> Any:
        return self.ctx.backend.limits

    # -- shared helpers ----------------------------------------------------------------------

    def resolve(self, start: str | None, end: str | None, default_since: str = "1h") -> TimeRange:
        try:
            rng = self.ctx.time_range(start, end, default_since=default_since)
        except TimeParseError as exc:
            raise BadInputError(str(exc), "use RFC 3339 (2026-03-10T14:05:00Z), epoch "
                                "seconds, or relative times like now-2h") from None
        if rng.duration_ns == 0:
            raise BadInputError("the time range is empty (start == end)",
                                "give an earlier start or a later end")
        if rng.duration_ns > self.limits.max_range_ns:
            raise GuardError(
                f"the range {format_duration_ns(rng.duration_ns)} is wider than this backend's "
                f"limit of {self.limits.max_range}",
                "narrow start/end, or raise limits.max_range in the profile",
            )
        return rng

    def check_service(self, service: str | None) -> str | None:
        if not service:
            return None
        known = self.backend.services()
        if known and service not in known:
            raise NotFoundError(f"no logs from service {service!r}",
                                did_you_mean(service, known, "service"))
        return service

    def why_empty(self, flt: LogFilter, rng: TimeRange) -> str:
        """An honest empty answer: what was searched, and the likely reasons."""
        reasons = []
        data = self.backend.data_range()
        if data is not None and (rng.end_ns <= data.start_ns or rng.start_ns >= data.end_ns):
            reasons.append(
                f"the window is outside the data, which covers {ns_to_rfc3339(data.start_ns)}"
                f" .. {ns_to_rfc3339(data.end_ns)}: move start/end into it")
        if flt.service:
            reasons.append(f"service {flt.service!r} may not log in this window "
                           "(try without service, or another service)")
        if flt.levels:
            reasons.append(f"no lines at level {','.join(flt.levels)} (try without level)")
        if flt.contains or flt.regex or flt.query:
            reasons.append("the text filter or query matched nothing (loosen it)")
        if not reasons:
            reasons.append("no logs in this window: widen the range")
        return "; ".join(reasons)

    def _output(self, **kw: Any) -> ToolOutput:
        return ToolOutput(backend=self.backend.describe(), **kw)

    # -- search_logs -------------------------------------------------------------------------

    def search_logs(  # noqa: PLR0917
        self,
        query: str | None = None,
        service: str | None = None,
        level: str | None = None,
        contains: str | None = None,
        regex: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 50,
        direction: Literal["backward", "forward"] = "backward",
    ) -> ToolOutput:
        if limit < 1:
            raise BadInputError(f"limit must be at least 1 (got {limit})", "e.g. limit=50")
        max_lines = self.limits.max_log_lines
        if limit > max_lines:
            raise GuardError(f"limit {limit} is above this backend's max_log_lines {max_lines}",
                             "ask for fewer lines, or use get_error_patterns to summarise")
        rng = self.resolve(start, end)
        flt = LogFilter(query=query, service=self.check_service(service),
                        levels=parse_levels(level), contains=contains or None,
                        regex=regex or None)
        res = self.backend.search(flt, rng, limit=limit, direction=direction)
        shown = res.records[:limit]
        total_txt = f"{res.total:,}" if res.total_exact else f"at least {res.total:,}"
        budget = TextBudget(self.max_tokens, unit="lines")
        for r in shown:
            budget.add(_line(r))
        if not shown:
            summary = f"no log lines matched {flt.describe()}: {self.why_empty(flt, rng)}"
        else:
            summary = (f"{total_txt} lines matched {flt.describe()}; {len(shown):,} returned "
                       f"({direction}, {'newest' if direction == 'backward' else 'oldest'} "
                       "first)")
        notes = []
        if res.total > len(shown):
            notes.append(f"{res.total - len(shown):,} more matched and were not returned "
                         f"(limit {limit})")
        if budget.omitted:
            notes.append(f"{budget.omitted:,} returned lines not in the text (token budget); "
                         "all are in the structured data")
        return self._output(
            kind="logs", summary=summary, text=budget.render(), query=res.query,
            time_range=rng,
            coverage=Coverage(shown=len(budget.lines), total=res.total, unit="lines",
                              notes=notes),
            warnings=res.warnings,
            data={"total": res.total, "total_exact": res.total_exact, "returned": len(shown),
                  "direction": direction, "filter": flt.describe(),
                  "lines": [r.to_dict(max_message=20_000) for r in shown]},
        )

    # -- get_error_patterns ------------------------------------------------------------------

    def baseline_range(self, baseline: str, rng: TimeRange) -> TimeRange | None:
        b = (baseline or "previous").strip()
        if b == "none":
            return None
        if b == "previous":
            return TimeRange(rng.start_ns - rng.duration_ns, rng.start_ns)
        if ".." in b:
            s, _, e = b.partition("..")
            try:
                now = self.ctx.now_ns()
                return TimeRange(parse_time_ns(s, now), parse_time_ns(e, now))
            except TimeParseError as exc:
                raise BadInputError(f"bad baseline {baseline!r}: {exc}",
                                    "use START..END (RFC 3339 or now-3h..now-2h)") from None
        try:
            shift = parse_duration_ns(b)
        except TimeParseError:
            raise BadInputError(
                f"bad baseline {baseline!r}",
                "use 'previous' (the equal window before start), 'none', an offset like '1d' "
                "(the same window a day earlier), or START..END",
            ) from None
        return TimeRange(rng.start_ns - shift, rng.end_ns - shift)

    def get_error_patterns(  # noqa: PLR0917
        self,
        service: str | None = None,
        start: str | None = None,
        end: str | None = None,
        baseline: str = "previous",
        level: str = "warn+",
        all_lines: bool = False,
        top: int = 15,
    ) -> ToolOutput:
        rng = self.resolve(start, end)
        brng = self.baseline_range(baseline, rng)
        levels = None if all_lines else parse_levels(level)
        flt = LogFilter(service=self.check_service(service), levels=levels,
                        with_unleveled=levels is not None)
        win = self.backend.scan(flt, rng, max_records=MAX_ANALYSIS_LINES)
        base = self.backend.scan(flt, brng, max_records=MAX_ANALYSIS_LINES) if brng else None
        rep = error_patterns(win.records, base.records if base else None, rng, brng)
        what = "lines" if all_lines else f"{','.join(levels or ())} lines"
        if not win.records:
            summary = f"no {what} to mine: {self.why_empty(flt, rng)}"
        else:
            summary = (f"{win.total:,} {what} -> {len(rep.patterns)} patterns"
                       + (f", {len(rep.new)} new and {len(rep.surging)} surging since baseline"
                          if brng else ""))
        budget = TextBudget(self.max_tokens, unit="patterns")
        for i, p in enumerate(rep.patterns[:top]):
            tag = p.status.upper()
            base_txt = f" (baseline {p.baseline_count})" if brng and p.baseline_count else ""
            svc = ",".join(list(p.services)[:3])
            traces = f" traces={','.join(p.trace_ids[:2])}" if p.trace_ids else ""
            first = ns_to_rfc3339(p.first_ns) if p.first_ns else "-"
            last = ns_to_rfc3339(p.last_ns) if p.last_ns else "-"
            budget.add(f"{i + 1}. [{tag}] {p.count:,}x{base_txt} {svc} {first}..{last} "
                       f"{p.id}: {clip(p.template, 300)}{traces}\n"
                       f"   e.g. {clip(p.example.split(chr(10))[0], 240)}", max_chars=900)
        why = ""
        if len(rep.patterns) > top:
            budget.skip(len(rep.patterns) - top)
            why = f"top={top}; every pattern is in the structured data"
        notes = []
        if not win.total_exact or win.total > len(win.records):
            notes.append(f"mined the first {len(win.records):,} of {win.total:,} lines "
                         f"(analysis cap {MAX_ANALYSIS_LINES:,})")
        if rep.events != rep.lines:
            notes.append(f"{rep.lines:,} lines reassembled into {rep.events:,} events "
                         "(stack-trace continuation lines joined)")
        btxt = f"{ns_to_rfc3339(brng.start_ns)}..{ns_to_rfc3339(brng.end_ns)}" if brng \
            else "none"
        return self._output(
            kind="patterns", summary=summary, text=budget.render(why), query=win.query,
            time_range=rng,
            coverage=Coverage(shown=min(top, len(rep.patterns)), total=len(rep.patterns),
                              unit="patterns", notes=notes),
            warnings=win.warnings + (base.warnings if base else []),
            data={"lines": win.total, "mined_lines": rep.lines, "events": rep.events,
                  "baseline": {"range": btxt, "lines": rep.baseline_lines,
                               "events": rep.baseline_events} if brng else None,
                  "new": [p.id for p in rep.new], "surging": [p.id for p in rep.surging],
                  "patterns": [p.to_dict() for p in rep.patterns]},
        )

    # -- correlate_logs_with_time -------------------------------------------------------------

    def correlate_logs_with_time(
        self, timestamp: str, delta_minutes: float = 5.0, service: str | None = None,
    ) -> ToolOutput:
        if not 0 < delta_minutes <= 24 * 60:
            raise BadInputError(f"delta_minutes must be in (0, 1440] (got {delta_minutes})",
                                "e.g. delta_minutes=5")
        try:
            at = parse_time_ns(timestamp, self.ctx.now_ns())
        except TimeParseError as exc:
            raise BadInputError(str(exc), "give the moment as RFC 3339 or epoch") from None
        delta = int(delta_minutes * NS_PER_MIN)
        rng = TimeRange(at - delta, at + delta)
        flt = LogFilter(service=self.check_service(service))
        res = self.backend.scan(flt, rng, max_records=MAX_ANALYSIS_LINES)
        per_service: dict[str, TemplateMiner] = defaultdict(TemplateMiner)
        levels: dict[str, Counter[str]] = defaultdict(Counter)
        before: Counter[str] = Counter()
        for ev in reassemble(res.records):
            rec = ev.record
            svc = rec.service or "(none)"
            per_service[svc].add(event_text(ev), ts_ns=rec.ts_ns, trace_id=rec.trace_id,
                                 level=rec.level)
            levels[svc][rec.level or "none"] += 1
            if rec.ts_ns < at:
                before[svc] += 1
        services: list[dict[str, Any]] = []
        for svc, miner in per_service.items():
            pats = miner.patterns()
            services.append({"service": svc, "events": miner.lines, "before": before[svc],
                             "after": miner.lines - before[svc], "levels": dict(levels[svc]),
                             "patterns": [p.to_dict() for p in pats[:20]],
                             "pattern_count": len(pats)})
        sev = {"fatal": 0, "error": 1, "warn": 2}
        services.sort(key=lambda s: (-sum(v for k, v in s["levels"].items() if k in sev),
                                     -s["events"], s["service"]))
        budget = TextBudget(self.max_tokens, unit="lines")
        for s in services:
            lv = " ".join(f"{k}={v}" for k, v in sorted(s["levels"].items()))
            budget.add(f"{s['service']}: {s['events']:,} events ({s['before']:,} before, "
                       f"{s['after']:,} after) {lv}; {s['pattern_count']} patterns")
            for p in s["patterns"][:5]:
                budget.add(f"  {p['count']:,}x {clip(p['template'], 200)}")
        summary = (f"{res.total:,} lines from {len(services)} services within "
                   f"±{delta_minutes:g} min of {ns_to_rfc3339(at)}")
        if not res.records:
            summary = f"no logs within ±{delta_minutes:g} min: {self.why_empty(flt, rng)}"
        notes = [] if res.total <= len(res.records) else [
            f"grouped the first {len(res.records):,} of {res.total:,} lines"]
        return self._output(
            kind="patterns", summary=summary, text=budget.render(), query=res.query,
            time_range=rng,
            coverage=Coverage(shown=len(budget.lines), total=None, unit="lines", notes=notes),
            warnings=res.warnings,
            data={"at": ns_to_rfc3339(at), "delta_minutes": delta_minutes, "lines": res.total,
                  "services": services},
        )

    # -- get_log_volume_anomalies ------------------------------------------------------------

    def get_log_volume_anomalies(
        self,
        service: str | None = None,
        start: str | None = None,
        end: str | None = None,
        step: str | None = None,
    ) -> ToolOutput:
        rng = self.resolve(start, end)
        if step:
            try:
                step_ns = parse_duration_ns(step)
            except TimeParseError as exc:
                raise BadInputError(str(exc), "e.g. step=1m") from None
        else:
            step_ns = max(60 * 10**9, rng.duration_ns // 30 // (60 * 10**9) * 60 * 10**9)
        if step_ns <= 0 or rng.duration_ns // step_ns > 2_000:
            raise BadInputError(f"step {step} gives too many buckets for the range",
                                "use a larger step (at most 2,000 buckets per window)")
        whole = TimeRange(rng.start_ns - rng.duration_ns, rng.end_ns)
        flt = LogFilter(service=self.check_service(service))
        vol = self.backend.volume(flt, whole, step_ns=step_ns)
        anomalies = volume_anomalies(vol, rng.start_ns)
        split = (rng.start_ns - whole.start_ns) // step_ns
        totals = {f"{s}/{lvl}": {"window": sum(c[split:]), "baseline": sum(c[:split])}
                  for (s, lvl), c in sorted(vol.series.items())}
        budget = TextBudget(self.max_tokens, unit="anomalies")
        for a in anomalies:
            budget.add(f"{a.kind.upper()} {a.service} {a.level} at {ns_to_rfc3339(a.at_ns)}: "
                       f"{a.value:,} per {format_duration_ns(step_ns)} vs baseline mean "
                       f"{a.baseline_mean:.1f} (window {a.window_total:,}, baseline "
                       f"{a.baseline_total:,})")
        if not vol.series:
            summary = f"no logs in the window or its baseline: {self.why_empty(flt, whole)}"
        else:
            summary = (f"{len(anomalies)} volume anomalies in {len(vol.series)} service/level "
                       f"series (window vs the {format_duration_ns(rng.duration_ns)} before it, "
                       f"{format_duration_ns(step_ns)} buckets)")
        return self._output(
            kind="series", summary=summary, text=budget.render(), query=vol.query,
            time_range=rng,
            coverage=Coverage(shown=len(budget.lines), total=len(anomalies), unit="anomalies",
                              notes=[f"baseline {ns_to_rfc3339(whole.start_ns)}.."
                                     f"{ns_to_rfc3339(rng.start_ns)}"]),
            warnings=vol.warnings,
            data={"step_s": step_ns / 1e9, "start": ns_to_rfc3339(whole.start_ns),
                  "window_start": ns_to_rfc3339(rng.start_ns),
                  "series": [{"service": s, "level": lvl, "counts": c}
                             for (s, lvl), c in sorted(vol.series.items())],
                  "totals": totals, "anomalies": [a.to_dict() for a in anomalies]},
        )

    # -- extract_stack_traces ----------------------------------------------------------------

    def extract_stack_traces(
        self,
        service: str | None = None,
        query: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> ToolOutput:
        rng = self.resolve(start, end)
        flt = LogFilter(query=query, service=self.check_service(service),
                        levels=None if query else ("warn", "error", "fatal"),
                        with_unleveled=not query)
        res = self.backend.scan(flt, rng, max_records=MAX_ANALYSIS_LINES)
        groups, events = group_traces(reassemble(res.records))
        total = sum(g.count for g in groups)
        budget = TextBudget(self.max_tokens, unit="groups")
        for g in groups:
            svc = ",".join(sorted(g.services))
            frames = " <- ".join(g.top_frames)
            budget.add(f"{g.count:,}x {g.language} {g.exc_type}: {clip(g.message, 160)} "
                       f"[{svc}] first {ns_to_rfc3339(g.first_ns)}\n   at {clip(frames, 300)}",
                       max_chars=800)
        summary = (f"{total:,} stack traces in {len(groups)} groups (by exception type and top "
                   f"{3} frames) among {events:,} events")
        if not res.records:
            summary = f"no lines to search for stack traces: {self.why_empty(flt, rng)}"
        notes = [] if res.total <= len(res.records) else [
            f"searched the first {len(res.records):,} of {res.total:,} lines"]
        return self._output(
            kind="table", summary=summary, text=budget.render(), query=res.query,
            time_range=rng,
            coverage=Coverage(shown=len(budget.lines), total=len(groups), unit="groups",
                              notes=notes),
            warnings=res.warnings,
            data={"traces": total, "events": events, "groups": [g.to_dict() for g in groups]},
        )


def _line(r: LogRecord) -> str:
    head = r.message.split("\n", 1)
    more = f" [+{r.message.count(chr(10))} lines]" if len(head) > 1 else ""
    tid = f" trace={r.trace_id}" if r.trace_id else ""
    return (f"{ns_to_rfc3339(r.ts_ns, precision='milliseconds')} {r.service or '-'} "
            f"{(r.level or '-').upper()} {clip(head[0], MESSAGE_CHARS)}{more}{tid}")


TimeArg = Annotated[str | None, Field(description="RFC 3339, epoch, or relative (now-2h); "
                                      "default: the last hour before end/now")]
ServiceArg = Annotated[str | None, Field(description="Only this service (exact name).")]


def create_server(ctx: ServerContext) -> MCPServer:
    """The logs MCP server for one context (a profile's logs backend or a bundle)."""
    server = MCPServer("obsbench-logs")
    tools = LogsTools(ctx)

    def search_logs(  # noqa: PLR0917
        query: Annotated[str | None, Field(description=(
            "Backend-native query: LogQL for Loki and the embedded store "
            '({service="x"} |= "timeout" | json | status >= 500), Lucene query_string or '
            "a JSON query DSL object for Elasticsearch/OpenSearch, a KQL filter for ADX "
            "(where ... without the table).")) ] = None,
        service: ServiceArg = None,
        level: Annotated[str | None, Field(description=(
            "'error', 'warn,error', or 'warn+' for warn and above."))] = None,
        contains: Annotated[str | None, Field(description="Case-insensitive substring.")] = None,
        regex: Annotated[str | None, Field(description="RE2 regex on the message.")] = None,
        start: TimeArg = None,
        end: TimeArg = None,
        limit: Annotated[int, Field(description="Lines to return (1..max_log_lines).")] = 50,
        direction: Annotated[Literal["backward", "forward"], Field(
            description="backward: newest first; forward: oldest first")] = "backward",
    ) -> ToolOutput:
        """Search log lines with a native query or structured filters (service, level,
        contains, regex), which work on every backend. Use it to read the exact lines
        behind a pattern, to follow a trace id, or to check a hypothesis ("are there
        'connection refused' lines in payment?"). Always reports how many lines matched
        in total versus how many it returned, and the absolute time range searched.
        For summaries of many lines use get_error_patterns instead."""
        return tools.search_logs(query, service, level, contains, regex, start, end, limit,
                                 direction)

    def get_error_patterns(  # noqa: PLR0917
        service: ServiceArg = None,
        start: TimeArg = None,
        end: TimeArg = None,
        baseline: Annotated[str, Field(description=(
            "'previous' (the equal-length window before start, default), 'none', an offset "
            "such as '1d' (the same window one day earlier), or START..END."))] = "previous",
        level: Annotated[str, Field(description="Levels to mine (default warn+).")] = "warn+",
        all_lines: Annotated[bool, Field(description="Mine every line, not only "
                                         "warnings and errors.")] = False,
        top: Annotated[int, Field(description="Patterns in the text (all are in the data).")
                       ] = 15,
    ) -> ToolOutput:
        """Summarise a window's warning and error lines into templates (our own
        deterministic miner; stack traces reassembled, their exception included), with
        counts, first/last seen, an example line, linked trace ids, and which patterns
        are NEW or SURGING versus a baseline window. Use it first on an incident window:
        "1.2M lines -> 37 patterns, 3 new since baseline" shows what changed. New
        patterns rank first (fatal lines, then size; errors that only blame a dependency
        rank lower)."""
        return tools.get_error_patterns(service, start, end, baseline, level, all_lines, top)

    def correlate_logs_with_time(
        timestamp: Annotated[str, Field(description="The moment (RFC 3339, epoch, now-30m).")],
        delta_minutes: Annotated[float, Field(description="Minutes before and after.")] = 5.0,
        service: ServiceArg = None,
    ) -> ToolOutput:
        """What every service logged around one moment (an alert's start, a deploy, a
        spike), grouped by service and pattern, with counts before and after the moment.
        Use it to see which services reacted first and how."""
        return tools.correlate_logs_with_time(timestamp, delta_minutes, service)

    def get_log_volume_anomalies(
        service: ServiceArg = None,
        start: TimeArg = None,
        end: TimeArg = None,
        step: Annotated[str | None, Field(description="Bucket size, e.g. 1m (default: "
                                          "about 30 buckets).")] = None,
    ) -> ToolOutput:
        """Log volume per service and level over time, compared with the window before:
        spikes (an error flood), drops, and services that went silent (a crashed or
        partitioned service stops logging - a symptom too). Use it to find which
        services changed behaviour and when."""
        return tools.get_log_volume_anomalies(service, start, end, step)

    def extract_stack_traces(
        service: ServiceArg = None,
        query: Annotated[str | None, Field(description="Optional native query to select "
                                           "lines (default: warn and above)." )] = None,
        start: TimeArg = None,
        end: TimeArg = None,
    ) -> ToolOutput:
        """Reassemble multi-line stack traces (Java, Python, Go, Node.js, .NET), group
        them by exception type and top frames, with counts, first occurrence and trace
        ids. Use it to see which exceptions a service throws and where in the code."""
        return tools.extract_stack_traces(service, query, start, end)

    for fn in (search_logs, get_error_patterns, correlate_logs_with_time,
               get_log_volume_anomalies, extract_stack_traces):
        register_tool(server, fn, timeout_s=float(ctx.options.get("tool_timeout_s", 60.0)))
    return server
