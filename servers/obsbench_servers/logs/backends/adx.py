"""Azure Data Explorer (Kusto): the REST v2 query endpoint with an Azure AD token.

The tool owns the shape of every query: ``['Table'] | where <time filter> |
<structured filters> | where <user predicate> | order by ... | take N``.
Identifiers are quoted (``['name']``), values are string literals with
escapes, the user's KQL may only be a predicate or ``where``/pipe stages on
that table: management commands (a leading ``.``) and several statements
(``;``) are refused before anything is sent, and every request carries the
``request_readonly`` property so the service itself refuses writes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from obsbench_servers.common.backend import ADXBackend
from obsbench_servers.common.errors import BackendError, BadInputError
from obsbench_servers.common.saferegex import check_regex
from obsbench_servers.common.timeutil import TimeParseError, TimeRange, parse_rfc3339_ns
from obsbench_servers.logs.backend import (
    Direction,
    LogFilter,
    LogRecord,
    SearchResult,
    VolumeResult,
)
from obsbench_servers.logs.backends._http import HttpBackend

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|@"(?:[^"]|"")*"')


def ident(name: str) -> str:
    """A quoted Kusto identifier: ``['name']``."""
    return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"


def literal(value: str) -> str:
    """A Kusto string literal with escapes."""
    return json.dumps(value, ensure_ascii=False)


def kql_datetime(ns: int) -> str:
    from obsbench_servers.common.timeutil import ns_to_rfc3339  # noqa: PLC0415

    return f"datetime({ns_to_rfc3339(ns, precision='nanoseconds')})"


def check_user_kql(text: str) -> str:
    """Refuse management commands and multiple statements; return the filter stages."""
    q = text.strip()
    if not q:
        raise BadInputError("empty KQL filter", "e.g. Message has 'timeout'")
    if q.startswith("."):
        raise BadInputError("management commands (starting with '.') are not allowed",
                            "give a filter such as: where Level == 'error'")
    bare = _STRINGS.sub('""', q)
    if ";" in bare:
        raise BadInputError("several statements (';') are not allowed",
                            "give one filter; the tool adds the table, time filter and take")
    if bare.count("(") != bare.count(")") or bare.count("[") != bare.count("]"):
        raise BadInputError(f"unbalanced brackets in KQL filter {text!r}",
                            "check parentheses and brackets")
    if q.startswith("|"):
        return q
    if re.match(r"^(where|search|project|extend|parse|filter)\b", q):
        return "| " + q
    return "| where " + q


class ADXLogs(HttpBackend):
    kind = "adx"

    def __init__(self, backend: ADXBackend, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(backend, transport)
        self.adx = backend
        self.f = backend.fields

    def describe(self) -> str:
        return f"adx {self.adx.cluster} db={self.adx.database} table={self.adx.table}"

    def _on_error(self, resp: httpx.Response) -> None:
        try:
            err = resp.json().get("error", {})
        except (ValueError, AttributeError):
            return
        if isinstance(err, dict) and resp.status_code == 400:
            msg = str(err.get("@message") or err.get("message") or err.get("code"))
            raise BadInputError(f"ADX refused the query: {msg[:300]}",
                                "check the KQL filter (column names are case-sensitive)")

    def base(self, flt: LogFilter, rng: TimeRange) -> str:
        f = self.f
        parts = [ident(self.adx.table),
                 f"| where {ident(f.timestamp)} >= {kql_datetime(rng.start_ns)} and "
                 f"{ident(f.timestamp)} < {kql_datetime(rng.end_ns)}"]
        if flt.service:
            parts.append(f"| where {ident(f.service)} == {literal(flt.service)}")
        if flt.levels:
            words = list(flt.levels) + (["warning"] if "warn" in flt.levels else [])
            parts.append(f"| where tolower({ident(f.level)}) in "
                         f"({', '.join(literal(w) for w in words)})")
        if flt.contains:
            parts.append(f"| where {ident(f.message)} contains {literal(flt.contains)}")
        if flt.regex:
            parts.append(f"| where {ident(f.message)} matches regex "
                         f"{literal(check_regex(flt.regex))}")
        if flt.query:
            parts.append(check_user_kql(flt.query))
        return "\n".join(parts)

    def run(self, csl: str) -> list[dict[str, Any]]:
        body = {"db": self.adx.database, "csl": csl, "properties": {"Options": {
            "request_readonly": True, "servertimeout": f"{int(self.adx.timeouts.total)}s",
            "query_take_max_records": self.adx.limits.max_log_lines + 1}}}
        frames = self.request("POST", "/v2/rest/query", json=body, on_error=self._on_error)
        return parse_frames(frames)

    def _records(self, rows: list[dict[str, Any]]) -> list[LogRecord]:
        f = self.f
        out = []
        for r in rows:
            ts = r.get(f.timestamp)
            try:
                ts_ns = parse_rfc3339_ns(str(ts)) if ts else 0
            except TimeParseError:
                ts_ns = 0
            level = r.get(f.level)
            out.append(LogRecord(ts_ns, r.get(f.service), str(level).lower() if level else None,
                                 str(r.get(f.message) or ""), r.get(f.trace_id),
                                 r.get(f.span_id), None,
                                 {k: v for k, v in r.items() if k not in (
                                     f.timestamp, f.service, f.level, f.message)}))
        return out

    def _select(self, flt: LogFilter, rng: TimeRange, limit: int, order: str) -> SearchResult:
        base = self.base(flt, rng)
        count_rows = self.run(base + "\n| count")
        total = int(next(iter(count_rows[0].values()))) if count_rows else 0
        csl = f"{base}\n| order by {ident(self.f.timestamp)} {order}\n| take {limit}"
        return SearchResult(self._records(self.run(csl)), total, True, f"adx {csl}")

    def search(self, flt: LogFilter, rng: TimeRange, *, limit: int,
               direction: Direction) -> SearchResult:
        return self._select(flt, rng, limit, "desc" if direction == "backward" else "asc")

    def scan(self, flt: LogFilter, rng: TimeRange, *, max_records: int) -> SearchResult:
        return self._select(flt, rng, min(max_records, self.adx.limits.max_log_lines), "asc")

    def volume(self, flt: LogFilter, rng: TimeRange, *, step_ns: int) -> VolumeResult:
        f = self.f
        step_s = max(1, step_ns // 10**9)
        csl = (f"{self.base(flt, rng)}\n| summarize n=count() by b=bin_at({ident(f.timestamp)}, "
               f"{step_s}s, {kql_datetime(rng.start_ns)}), s={ident(f.service)}, "
               f"l=tolower({ident(f.level)})")
        buckets = max(1, -(-rng.duration_ns // step_ns))
        series: dict[tuple[str, str], list[int]] = {}
        for r in self.run(csl):
            try:
                b = (parse_rfc3339_ns(str(r["b"])) - rng.start_ns) // step_ns
            except (TimeParseError, KeyError):
                continue
            if 0 <= b < buckets:
                key = (str(r.get("s") or ""), str(r.get("l") or "none"))
                series.setdefault(key, [0] * buckets)[b] += int(r.get("n") or 0)
        return VolumeResult(rng.start_ns, step_ns, buckets, series, f"adx {csl}")

    def services(self) -> list[str]:
        rows = self.run(f"{ident(self.adx.table)}\n| distinct {ident(self.f.service)}\n"
                        "| take 500")
        return [str(v) for r in rows for v in r.values() if v]

    def data_range(self) -> TimeRange | None:
        return None


def parse_frames(frames: Any) -> list[dict[str, Any]]:
    """Rows of the PrimaryResult of a REST v2 answer (also progressive), as dicts.

    Errors inside the answer (a partial failure in the rows, or a DataSetCompletion
    with HasErrors) become a ``BackendError``: a half answer is never shown as whole.
    """
    if not isinstance(frames, list):
        raise BackendError("ADX answered something that is not a v2 frame list",
                           "is cluster the engine URL (https://NAME.REGION.kusto.windows.net)?")
    columns: list[str] = []
    rows: list[list[Any]] = []
    primary_ids: set[Any] = set()
    for fr in frames:
        if not isinstance(fr, dict):
            continue
        kind = fr.get("FrameType")
        if kind == "DataTable" and fr.get("TableKind") == "PrimaryResult":
            columns = [c["ColumnName"] for c in fr.get("Columns") or []]
            rows.extend(fr.get("Rows") or [])
        elif kind == "TableHeader" and fr.get("TableKind") == "PrimaryResult":
            primary_ids.add(fr.get("TableId"))
            columns = [c["ColumnName"] for c in fr.get("Columns") or []]
        elif kind == "TableFragment" and fr.get("TableId") in primary_ids:
            rows.extend(fr.get("Rows") or [])
        elif kind == "DataSetCompletion" and fr.get("HasErrors"):
            errs = fr.get("OneApiErrors") or []
            msg = str(errs[0].get("error", {}).get("@message") if errs else "unknown error")
            raise BackendError(f"ADX reported an error in the answer: {msg[:300]}",
                               "narrow the query (time range, take) or check the cluster")
    out = []
    for row in rows:
        if isinstance(row, dict):  # a partial-failure object among the rows
            msg = str((row.get("OneApiErrors") or [{}])[0].get("error", {}).get("@message", row))
            raise BackendError(f"ADX stopped part-way: {msg[:300]}",
                               "narrow the time range or the filter")
        out.append(dict(zip(columns, row, strict=False)))
    return out
