"""The Elasticsearch/OpenSearch adapter against recorded payloads (../shared/fixtures/
opensearch: OpenSearch docs and opensearch-py test data) through httpx.MockTransport, and
ECS log documents and nested aggregations written here from the documented shapes
(tests/logs/data/README.md) where upstream has none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.logs.conftest import call, text

from obsbench_servers.common.backend import ElasticsearchBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BadInputError, NotFoundError
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.logs.backend import LogFilter
from obsbench_servers.logs.backends import elasticsearch as es_mod
from obsbench_servers.logs.backends.elasticsearch import ElasticsearchLogs

DATA = Path(__file__).parent / "data"
RNG = TimeRange(1_767_607_200 * 10**9, 1_767_610_800 * 10**9)


def _es(handler: Any, kind: str = "elasticsearch", **kw: Any) -> ElasticsearchLogs:
    auth = kw.pop("auth", {"kind": "api_key", "secret": "env:ES_KEY"})
    cfg = ElasticsearchBackend(type=kind, url="https://es.test:9200", index="logs-*",
                               auth=auth, **kw).with_secret("s3cret")
    return ElasticsearchLogs(cfg, transport=httpx.MockTransport(handler))


def _body(req: httpx.Request) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(req.content)
    return data


def test_recorded_payload_query_string_search_with_filters_and_api_key(fixtures: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=(fixtures / "opensearch" /
                                            "docs_search_logs_regexp_hits.json").read_bytes())

    res = _es(handler).search(LogFilter(query="error* AND NOT debug", service="checkout",
                                        levels=("error",), contains="refused"),
                              RNG, limit=10, direction="backward")
    req = seen[0]
    assert req.url.path == "/logs-*/_search" and req.method == "POST"
    assert req.headers["Authorization"] == "ApiKey s3cret"
    body = _body(req)
    flt = body["query"]["bool"]["filter"]
    assert flt[0] == {"range": {"@timestamp": {"gte": 1767607200000, "lt": 1767610800000,
                                               "format": "epoch_millis"}}}
    assert {"term": {"service.name": "checkout"}} in flt
    assert {"terms": {"log.level": ["error", "ERROR"]}} in flt
    must = body["query"]["bool"]["must"]
    assert {"query_string": {"query": "error* AND NOT debug", "default_field": "message"}} in must
    assert {"match_phrase": {"message": "refused"}} in must
    assert body["sort"][0] == {"@timestamp": {"order": "desc"}}
    assert body["track_total_hits"] is True and body["size"] == 11
    assert [r.message for r in res.records] == ["error404", "error500"]
    assert res.total == 2 and res.total_exact


def test_recorded_payload_total_relation_gte_is_a_lower_bound(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=(
            fixtures / "opensearch" / "docs_search_logs_date_histogram_bucket_sort.json"
        ).read_bytes())

    res = _es(handler, "opensearch").search(LogFilter(), RNG, limit=5, direction="forward")
    assert res.total == 10000 and res.total_exact is False
    assert res.records == []


def test_recorded_payload_legacy_integer_total_and_dsl_query(fixtures: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=(fixtures / "opensearch" /
                                            "opensearchpy_dummy_response.json").read_bytes())

    be = _es(handler, "opensearch", auth={"kind": "basic", "username": "reader",
                                          "secret": "env:X"})
    res = be.search(LogFilter(query='{"match": {"message": "timeout"}}'), RNG, limit=50,
                    direction="backward")
    assert _body(seen[0])["query"]["bool"]["must"] == [{"match": {"message": "timeout"}}]
    assert seen[0].headers["Authorization"].startswith("Basic ")
    assert res.total == 123 and res.total_exact and len(res.records) == 4  # legacy int total


def test_ecs_documents_and_search_after_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written fixtures (documented ECS and search_after shapes), page size forced to 2."""
    monkeypatch.setattr(es_mod, "PAGE", 2)
    bodies: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        body = _body(req)
        bodies.append(body)
        page = "page2" if body.get("search_after") else "page1"
        return httpx.Response(200, content=(DATA / f"es_search_ecs_logs_{page}.json").read_bytes())

    res = _es(handler).scan(LogFilter(service="checkout"), RNG, max_records=100)
    assert [b.get("search_after") for b in bodies] == [None, [1767607202000, 18]]
    assert [r.message for r in res.records] == ["payment failed: connection refused",
                                                "retrying payment",
                                                "payment failed: connection refused"]
    first, second, third = res.records
    assert first.service == "checkout" and first.level == "error"
    assert first.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first.ts_ns == 1_767_607_201_250_000_000
    assert second.service == "checkout" and second.level == "warn"  # flat dotted keys
    assert third.ts_ns == 1_767_607_203 * 10**9  # epoch millis timestamp
    assert res.total == 3


def test_regex_is_applied_with_re2_and_total_stays_honest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(es_mod, "PAGE", 2)

    def handler(req: httpx.Request) -> httpx.Response:
        page = "page2" if _body(req).get("search_after") else "page1"
        return httpx.Response(200, content=(DATA / f"es_search_ecs_logs_{page}.json").read_bytes())

    res = _es(handler).search(LogFilter(regex="conn(ection)? (refused|reset)"), RNG, limit=10,
                              direction="forward")
    assert res.total == 2 and res.total_exact
    assert "regex" in res.query


def test_volume_aggregations_written_from_the_documented_shape() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        body = _body(req)
        assert body["size"] == 0
        hist = body["aggs"]["t"]["date_histogram"]
        assert hist == {"field": "@timestamp", "fixed_interval": "60s", "min_doc_count": 0}
        return httpx.Response(200, content=(DATA / "es_volume_aggs.json").read_bytes())

    vol = _es(handler).volume(LogFilter(), RNG, step_ns=60 * 10**9)
    assert vol.series[("checkout", "error")][:2] == [2, 30]
    assert vol.series[("checkout", "info")][:2] == [18, 7]


def test_recorded_payload_400_and_404_errors(fixtures: Path) -> None:
    def bad(req: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=(fixtures / "opensearch" /
                              "docs_error_400_search_phase_execution_exception.json").read_bytes())

    with pytest.raises(BadInputError, match="Cannot search on field"):
        _es(bad).search(LogFilter(query="description:x"), RNG, limit=5, direction="backward")

    def missing(req: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=(fixtures / "opensearch" /
                              "docs_error_404_index_not_found.json").read_bytes())

    with pytest.raises(NotFoundError) as info:
        _es(missing).search(LogFilter(), RNG, limit=5, direction="backward")
    assert "logs-*" in str(info.value.hint)


def test_invalid_dsl_is_refused_before_sending() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be sent")

    with pytest.raises(BadInputError, match="not valid JSON"):
        _es(handler).search(LogFilter(query='{"match": '), RNG, limit=5, direction="backward")


def test_429_through_the_tool_is_a_clear_error() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "rejected"}, headers={"Retry-After": "3"})

    cfg = ElasticsearchBackend(type="opensearch", url="https://os.test:9200")
    ctx = ServerContext("logs", [cfg], options={"transport": httpx.MockTransport(handler)})
    res = call(ctx, "search_logs", {"contains": "x", "start": "2026-01-05T10:00:00Z",
                                    "end": "2026-01-05T11:00:00Z"})
    assert res.is_error and "Retry-After: 3" in text(res)
