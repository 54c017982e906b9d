"""The embedded logs backend: the store's ``logs`` table, queried with DuckDB.

Structured filters and the LogQL subset (``logql.py``) become one SQL query:
selector matchers and the line filters before any parser run in DuckDB (its
``regexp_*`` functions are RE2, linear-time, like LogQL's own); ``| json``,
``| logfmt`` and label filters run in Python on the rows SQL let through, with
the scan bounded (``MAX_SCAN_ROWS``) and the total reported as a lower bound
when the bound is hit, never silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.saferegex import SafeRegex, check_regex, compile_regex
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.logs import logql
from obsbench_servers.logs.backend import (
    Direction,
    LogFilter,
    LogRecord,
    SearchResult,
    VolumeResult,
)

COLUMNS = {"service", "level", "pod", "trace_id", "span_id", "source"}
MAX_SCAN_ROWS = 2_000_000
_BATCH = 10_000
_SAFE_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_SELECT = "ts_ns, service, level, message, trace_id, span_id, pod, labels_json"


def _label_sql(label: str) -> tuple[str, list[Any]]:
    if label in COLUMNS:
        return label, []
    if not _SAFE_LABEL.match(label):
        raise BadInputError(f"label name {label!r} is not valid",
                            "label names are letters, digits, _ . - (not starting with a digit)")
    return "json_extract_string(labels_json, ?)", [f'$."{label}"']


def _row(row: tuple[Any, ...]) -> LogRecord:
    labels: dict[str, Any] = {}
    if row[7]:
        try:
            loaded = orjson.loads(row[7])
            if isinstance(loaded, dict):
                labels = loaded
        except orjson.JSONDecodeError:
            labels = {"_labels_json": row[7]}
    return LogRecord(int(row[0]), row[1], row[2], row[3] or "", row[4], row[5], row[6], labels)


class _Where:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []
        self.text: list[str] = []

    def add(self, sql: str, params: list[Any], text: str) -> None:
        self.parts.append(sql)
        self.params.extend(params)
        self.text.append(text)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "TRUE"


class LocalLogs:
    """LogsBackend over a bundle's embedded store."""

    kind = "local"

    def __init__(self, ctx: ServerContext, backend: LocalBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        self._services: list[str] | None = None

    def describe(self) -> str:
        return f"local bundle {self.backend.bundle}"

    def _cur(self) -> Any:
        return self.ctx.store(self.backend).cursor()

    # -- query building ------------------------------------------------------------------

    def _build(self, flt: LogFilter, rng: TimeRange) -> tuple[_Where, list[logql.Stage]]:
        w = _Where()
        w.add("ts_ns >= ? AND ts_ns < ?", [rng.start_ns, rng.end_ns], "")
        stages: list[logql.Stage] = []
        if flt.query:
            q = logql.parse(flt.query)
            for m in q.matchers:
                col, params = _label_sql(m.label)
                if m.op == "=":
                    sql = f"coalesce({col}, '') = ?"
                elif m.op == "!=":
                    sql = f"coalesce({col}, '') <> ?"
                elif m.op == "=~":
                    sql = f"regexp_full_match(coalesce({col}, ''), ?)"
                else:
                    sql = f"NOT regexp_full_match(coalesce({col}, ''), ?)"
                w.add(sql, [*params, m.value], "")
            for lf in q.pushdown_filters:
                w.add(*self._line_filter(lf.op, lf.value), "")
            stages = q.python_stages
        if flt.service:
            w.add("service = ?", [flt.service], "")
        if flt.levels:
            marks = ", ".join("?" for _ in flt.levels)
            cond = f"level IN ({marks})"
            if flt.with_unleveled:
                cond = f"({cond} OR level IS NULL)"
            w.add(cond, list(flt.levels), "")
        if flt.contains:
            w.add("strpos(lower(message), lower(?)) > 0", [flt.contains], "")
        if flt.regex:
            check_regex(flt.regex)
            w.add("regexp_matches(message, ?)", [flt.regex], "")
        return w, stages

    @staticmethod
    def _line_filter(op: str, value: str) -> tuple[str, list[Any]]:
        if op == "|=":
            return "strpos(message, ?) > 0", [value]
        if op == "!=":
            return "strpos(message, ?) = 0", [value]
        if op == "|~":
            return "regexp_matches(message, ?)", [value]
        return "NOT regexp_matches(message, ?)", [value]

    @staticmethod
    def _query_text(flt: LogFilter, rng: TimeRange) -> str:
        parts = [flt.query] if flt.query else []
        structured = LogFilter(None, flt.service, flt.levels, flt.contains, flt.regex).describe()
        if structured != "all logs" or not parts:
            parts.append(structured)
        return f"embedded store: {' + '.join(parts)}"

    # -- python-side stages ----------------------------------------------------------------

    @staticmethod
    def _stage_fn(stages: list[logql.Stage]) -> Callable[[LogRecord], bool] | None:
        if not stages:
            return None
        compiled: list[tuple[logql.Stage, SafeRegex | None]] = []
        for st in stages:
            rx = None
            if isinstance(st, logql.LineFilter) and st.op in ("|~", "!~"):
                rx = compile_regex(st.value)
            if isinstance(st, logql.LabelFilter) and st.op in ("=~", "!~"):
                rx = compile_regex(st.value)
            compiled.append((st, rx))

        def keep(rec: LogRecord) -> bool:
            labels: dict[str, Any] = {**{k: v for k, v in rec.labels.items()},
                                      "service": rec.service, "level": rec.level,
                                      "pod": rec.pod, "trace_id": rec.trace_id,
                                      "span_id": rec.span_id}
            for st, rx in compiled:
                if isinstance(st, logql.LineFilter):
                    hit = (st.value in rec.message) if rx is None else rx.search(rec.message)
                    if hit != (st.op in ("|=", "|~")):
                        return False
                elif isinstance(st, logql.Parser):
                    labels.update(_parse_fields(rec.message, st.kind))
                elif not _label_ok(labels.get(st.label), st, rx):
                    return False
            return True

        return keep

    # -- LogsBackend -----------------------------------------------------------------------

    def _rows(self, w: _Where, order: str) -> Iterator[LogRecord]:
        cur = self._cur().execute(
            f"SELECT {_SELECT} FROM logs WHERE {w.sql()} ORDER BY ts_ns {order}", w.params)
        while True:
            rows = cur.fetchmany(_BATCH)
            if not rows:
                return
            for row in rows:
                yield _row(row)

    def _select(self, flt: LogFilter, rng: TimeRange, limit: int, order: str) -> SearchResult:
        w, stages = self._build(flt, rng)
        keep = self._stage_fn(stages)
        text = self._query_text(flt, rng)
        if keep is None:
            total_row = self._cur().execute(
                f"SELECT count(*) FROM logs WHERE {w.sql()}", w.params).fetchone()
            total = int(total_row[0]) if total_row else 0
            cur = self._cur().execute(
                f"SELECT {_SELECT} FROM logs WHERE {w.sql()} ORDER BY ts_ns {order} LIMIT ?",
                [*w.params, limit])
            return SearchResult([_row(r) for r in cur.fetchall()], total, True, text)
        records: list[LogRecord] = []
        total = 0
        exact = True
        for scanned, rec in enumerate(self._rows(w, order), start=1):
            if scanned > MAX_SCAN_ROWS:
                exact = False
                break
            if keep(rec):
                total += 1
                if len(records) < limit:
                    records.append(rec)
        warnings = [] if exact else [
            f"stopped counting after scanning {MAX_SCAN_ROWS:,} lines for the parser/label "
            "stages: the total is a lower bound; narrow the selector or the time range"]
        return SearchResult(records, total, exact, text, warnings)

    def search(
        self, flt: LogFilter, rng: TimeRange, *, limit: int, direction: Direction
    ) -> SearchResult:
        return self._select(flt, rng, limit, "DESC" if direction == "backward" else "ASC")

    def scan(self, flt: LogFilter, rng: TimeRange, *, max_records: int) -> SearchResult:
        return self._select(flt, rng, max_records, "ASC")

    def volume(self, flt: LogFilter, rng: TimeRange, *, step_ns: int) -> VolumeResult:
        w, stages = self._build(flt, rng)
        buckets = max(1, -(-rng.duration_ns // step_ns))
        series: dict[tuple[str, str], list[int]] = {}
        text = self._query_text(flt, rng)
        if stages:
            keep = self._stage_fn(stages)
            assert keep is not None
            for rec in self._rows(w, "ASC"):
                if keep(rec):
                    key = (rec.service or "", rec.level or "none")
                    arr = series.setdefault(key, [0] * buckets)
                    arr[min(buckets - 1, (rec.ts_ns - rng.start_ns) // step_ns)] += 1
            return VolumeResult(rng.start_ns, step_ns, buckets, series, text)
        rows = self._cur().execute(
            f"SELECT coalesce(service, ''), coalesce(level, 'none'), "
            f"(ts_ns - ?) // ? AS b, count(*) FROM logs WHERE {w.sql()} GROUP BY ALL",
            [rng.start_ns, step_ns, *w.params]).fetchall()
        for svc, lvl, b, n in rows:
            arr = series.setdefault((svc, lvl), [0] * buckets)
            arr[min(buckets - 1, int(b))] += int(n)
        return VolumeResult(rng.start_ns, step_ns, buckets, series,
                            f"{text} | count by service, level, {step_ns // 10**9}s")

    def services(self) -> list[str]:
        if self._services is None:
            rows = self._cur().execute(
                "SELECT DISTINCT service FROM logs WHERE service IS NOT NULL ORDER BY 1"
            ).fetchall()
            self._services = [r[0] for r in rows]
        return self._services

    def data_range(self) -> TimeRange | None:
        row = self._cur().execute("SELECT min(ts_ns), max(ts_ns) FROM logs").fetchone()
        if not row or row[0] is None:
            return None
        return TimeRange(int(row[0]), int(row[1]) + 1)


def _parse_fields(message: str, kind: str) -> dict[str, Any]:
    if kind == "logfmt":
        return logql.parse_logfmt(message)
    try:
        data = orjson.loads(message)
    except orjson.JSONDecodeError:
        return {"__error__": "JSONParserErr"}
    if not isinstance(data, dict):
        return {"__error__": "JSONParserErr"}
    out: dict[str, Any] = {}

    def flat(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                flat(f"{prefix}_{k}" if prefix else str(k), v)
        else:
            out[prefix] = value if isinstance(value, str) else orjson.dumps(value).decode()

    flat("", data)
    return out


def _label_ok(value: Any, st: logql.LabelFilter, rx: SafeRegex | None) -> bool:
    text = "" if value is None else str(value)
    if st.op == "=":
        return text == st.value
    if st.op == "!=":
        return text != st.value
    if st.op in ("=~", "!~"):
        assert rx is not None
        return rx.fullmatch(text) == (st.op == "=~")
    try:
        num = float(re.match(r"-?\d+(?:\.\d+)?", text).group(0))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return False
    ref = st.numeric if st.numeric is not None else 0.0
    return {">": num > ref, ">=": num >= ref, "<": num < ref, "<=": num <= ref}[st.op]
