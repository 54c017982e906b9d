"""Elasticsearch and OpenSearch ``_search``: query_string or DSL, search_after paging,
aggregations for volume and services, per-profile field mapping.

The profile's ``fields`` map timestamp, service, level, message and trace id to
the index's fields (ECS names by default) and ``index`` names the index
pattern. A native query is a Lucene ``query_string`` or, when it starts with
``{``, a query DSL object; structured filters are added as ``bool`` filters.
``regex`` is applied here with RE2 on the fetched pages (Elasticsearch's
``regexp`` works on terms, not whole lines), so with a regex the total is
what the scanned pages held, said as a lower bound.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from obsbench_servers.common.backend import ElasticsearchBackend
from obsbench_servers.common.errors import BadInputError, NotFoundError
from obsbench_servers.common.saferegex import compile_regex
from obsbench_servers.common.timeutil import (
    TimeParseError,
    TimeRange,
    epoch_to_ns,
    parse_rfc3339_ns,
)
from obsbench_servers.logs.backend import (
    Direction,
    LogFilter,
    LogRecord,
    SearchResult,
    VolumeResult,
)
from obsbench_servers.logs.backends._http import HttpBackend

PAGE = 1_000
MAX_REGEX_PAGES = 20


def _get(doc: dict[str, Any], path: str) -> Any:
    """A field by dotted path, in nested objects or flat dotted keys (both exist)."""
    if path in doc:
        return doc[path]
    cur: Any = doc
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(cur, dict):
            return None
        rest = ".".join(parts[i:])
        if rest in cur:
            return cur[rest]
        cur = cur.get(part)
    return cur


def _ts(value: Any) -> int:
    if isinstance(value, (int, float)):
        return epoch_to_ns(value)
    if isinstance(value, list) and value:
        return _ts(value[0])
    try:
        return parse_rfc3339_ns(str(value))
    except TimeParseError:
        return 0


class ElasticsearchLogs(HttpBackend):
    kind = "elasticsearch"

    def __init__(self, backend: ElasticsearchBackend, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(backend, transport)
        self.es = backend
        self.f = backend.fields

    def describe(self) -> str:
        return f"{self.es.type} {self.es.url} index={self.es.index}"

    def _on_error(self, resp: httpx.Response) -> None:
        try:
            err = resp.json().get("error", {})
        except (ValueError, AttributeError):
            return
        if not isinstance(err, dict):
            return
        etype = str(err.get("type", ""))
        causes = err.get("root_cause") or []
        reason = str((causes[0].get("reason") if causes and isinstance(causes[0], dict)
                      else None) or err.get("reason") or etype)
        if resp.status_code == 404 or etype == "index_not_found_exception":
            raise NotFoundError(f"{self.es.type}: {reason}",
                                f"check index (now {self.es.index!r}) in the profile")
        if resp.status_code == 400:
            raise BadInputError(f"{self.es.type} refused the query: {reason[:300]}",
                                "check the Lucene query_string syntax (field:value AND ...), "
                                "or give a JSON query DSL object starting with {")

    # -- request bodies ------------------------------------------------------------------------

    def query(self, flt: LogFilter, rng: TimeRange) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"range": {self.f.timestamp: {
            "gte": rng.start_ns // 1_000_000, "lt": rng.end_ns // 1_000_000,
            "format": "epoch_millis"}}}]
        must: list[dict[str, Any]] = []
        if flt.query:
            q = flt.query.strip()
            if q.startswith("{"):
                try:
                    dsl = orjson.loads(q)
                except orjson.JSONDecodeError as exc:
                    raise BadInputError(f"the query DSL is not valid JSON: {exc}",
                                        'e.g. {"match": {"message": "timeout"}}') from None
                if not isinstance(dsl, dict):
                    raise BadInputError("the query DSL must be a JSON object")
                must.append(dsl.get("query", dsl))
            else:
                must.append({"query_string": {"query": q, "default_field": self.f.message}})
        if flt.service:
            filters.append({"term": {self.f.service: flt.service}})
        if flt.levels:
            words = list(flt.levels) + [w.upper() for w in flt.levels] + (
                ["warning", "WARNING"] if "warn" in flt.levels else [])
            filters.append({"terms": {self.f.level: words}})
        if flt.contains:
            must.append({"match_phrase": {self.f.message: flt.contains}})
        return {"bool": {"filter": filters, "must": must}}

    def _record(self, hit: dict[str, Any]) -> LogRecord:
        src = hit.get("_source") or {}
        level = _get(src, self.f.level)
        msg = _get(src, self.f.message)
        return LogRecord(
            _ts(_get(src, self.f.timestamp) or (hit.get("sort") or [0])[0]),
            _get(src, self.f.service), str(level).lower() if level else None,
            msg if isinstance(msg, str) else orjson.dumps(msg).decode() if msg else "",
            _get(src, self.f.trace_id), _get(src, self.f.span_id), None,
            {"_index": hit.get("_index"), "_id": hit.get("_id")})

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        res = self.request("POST", f"/{self.es.index}/_search", json=body,
                           on_error=self._on_error)
        if not isinstance(res, dict) or "hits" not in res:
            raise BadInputError(f"{self.es.type} answered without hits: {str(res)[:200]}")
        return res

    @staticmethod
    def _total(res: dict[str, Any]) -> tuple[int, bool]:
        total = res["hits"].get("total")
        if isinstance(total, dict):
            return int(total.get("value", 0)), total.get("relation", "eq") == "eq"
        return int(total or 0), True

    def _page(self, flt: LogFilter, rng: TimeRange, size: int, order: str,
              after: list[Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "size": size, "query": self.query(flt, rng), "track_total_hits": True,
            "sort": [{self.f.timestamp: {"order": order}}, {"_doc": {"order": order}}]}
        if after is not None:
            body["search_after"] = after
        return self._search(body)

    def _collect(self, flt: LogFilter, rng: TimeRange, limit: int,
                 order: str) -> SearchResult:
        desc = f"{self.es.type} _search {orjson.dumps(self.query(flt, rng)).decode()}"
        rx = compile_regex(flt.regex) if flt.regex else None
        records: list[LogRecord] = []
        after: list[Any] | None = None
        total, exact = 0, True
        pages = 0
        while True:
            size = min(PAGE, limit + 1) if rx is None else PAGE
            res = self._page(flt, rng, size, order, after)
            pages += 1
            hits = res["hits"].get("hits") or []
            if pages == 1:
                total, exact = self._total(res)
            if rx is None:
                records.extend(self._record(h) for h in hits)
                if len(records) >= limit or len(hits) < size:
                    return SearchResult(records[:limit], max(total, len(records[:limit])),
                                        exact, desc)
            else:
                for h in hits:
                    rec = self._record(h)
                    if rx.search(rec.message):
                        records.append(rec)
                if len(hits) < size or pages >= MAX_REGEX_PAGES:
                    done = len(hits) < size
                    warn = [] if done else [
                        f"regex applied to the first {pages * PAGE:,} lines only; the total "
                        "is a lower bound"]
                    return SearchResult(records[:limit], len(records), done, desc + " + regex "
                                        f"{flt.regex!r} (RE2, client side)", warn)
            if not hits:
                return SearchResult(records[:limit], total, exact, desc)
            after = hits[-1].get("sort")

    def search(self, flt: LogFilter, rng: TimeRange, *, limit: int,
               direction: Direction) -> SearchResult:
        return self._collect(flt, rng, limit, "desc" if direction == "backward" else "asc")

    def scan(self, flt: LogFilter, rng: TimeRange, *, max_records: int) -> SearchResult:
        return self._collect(flt, rng, min(max_records, self.es.limits.max_log_lines), "asc")

    def volume(self, flt: LogFilter, rng: TimeRange, *, step_ns: int) -> VolumeResult:
        step_s = max(1, step_ns // 10**9)
        body = {"size": 0, "query": self.query(flt, rng), "aggs": {"t": {
            "date_histogram": {"field": self.f.timestamp, "fixed_interval": f"{step_s}s",
                               "min_doc_count": 0},
            "aggs": {"s": {"terms": {"field": self.f.service, "size": 100, "missing": ""},
                           "aggs": {"l": {"terms": {"field": self.f.level, "size": 10,
                                                    "missing": "none"}}}}}}}}
        res = self._search(body)
        buckets = max(1, -(-rng.duration_ns // step_ns))
        series: dict[tuple[str, str], list[int]] = {}
        for tb in ((res.get("aggregations") or {}).get("t") or {}).get("buckets") or []:
            b = (epoch_to_ns(int(tb["key"])) - rng.start_ns) // step_ns
            if not 0 <= b < buckets:
                continue
            for sb in (tb.get("s") or {}).get("buckets") or []:
                for lb in (sb.get("l") or {}).get("buckets") or []:
                    key = (str(sb["key"]), str(lb["key"]).lower())
                    series.setdefault(key, [0] * buckets)[b] += int(lb["doc_count"])
        return VolumeResult(rng.start_ns, step_ns, buckets, series,
                            f"{self.es.type} _search aggs date_histogram {step_s}s > terms "
                            f"{self.f.service} > terms {self.f.level}")

    def services(self) -> list[str]:
        res = self._search({"size": 0, "aggs": {"s": {"terms": {"field": self.f.service,
                                                                 "size": 500}}}})
        return [str(b["key"]) for b in
                ((res.get("aggregations") or {}).get("s") or {}).get("buckets") or []]

    def data_range(self) -> TimeRange | None:
        return None
