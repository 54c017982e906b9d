"""The Azure Data Explorer adapter against recorded REST v2 payloads (../shared/fixtures/
kusto, the azure-kusto-python SDK's test inputs, MIT) through httpx.MockTransport; the
``| count`` answer is written here from the documented v2 shape (tests/logs/data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.logs.conftest import call, text

from obsbench_servers.common.backend import ADXBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.errors import BackendError, BadInputError
from obsbench_servers.common.timeutil import TimeRange
from obsbench_servers.logs.backend import LogFilter
from obsbench_servers.logs.backends.adx import ADXLogs, check_user_kql, ident, parse_frames

DATA = Path(__file__).parent / "data"
RNG = TimeRange(1_767_607_200 * 10**9, 1_767_610_800 * 10**9)
# The SDK's "Deft" table has no log columns; the profile's field mapping points at its own.
DEFT_FIELDS = {"timestamp": "xdate", "service": "xsmalltext", "level": "xtextWithNulls",
               "message": "xtext", "trace_id": "rowguid", "span_id": "xnumberAsText"}


def _cfg(**kw: Any) -> ADXBackend:
    return ADXBackend(type="adx", cluster="https://somecluster.kusto.windows.net",
                      database="Observability", table="App Logs", fields=DEFT_FIELDS,
                      azure_tenant_id="tenant-1",
                      auth={"kind": "azure_ad", "username": "app-id", "secret": "env:ADX"},
                      **kw).with_secret("client-secret")


def _handler(fixtures: Path, seen: list[httpx.Request], rows: str = "deft.json") -> Any:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.host == "login.microsoftonline.com":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})
        csl = orjson.loads(req.content)["csl"]
        if csl.endswith("| count"):
            return httpx.Response(200, content=(DATA / "kusto_count.json").read_bytes())
        return httpx.Response(200, content=(fixtures / "kusto" / rows).read_bytes())
    return handler


def test_recorded_payload_query_with_token_readonly_quoting_and_take(fixtures: Path) -> None:
    seen: list[httpx.Request] = []
    be = ADXLogs(_cfg(), transport=httpx.MockTransport(_handler(fixtures, seen)))
    res = be.search(LogFilter(service='pay"ment', levels=("error",), contains="time out",
                              regex="conn(ection)? reset", query="xint32 > 2"),
                    RNG, limit=6, direction="backward")
    token = seen[0]
    assert token.url.path == "/tenant-1/oauth2/v2.0/token"
    assert b"grant_type=client_credentials" in token.content
    assert b"scope=https%3A%2F%2Fsomecluster.kusto.windows.net%2F.default" in token.content
    queries = [r for r in seen if r.url.path == "/v2/rest/query"]
    assert len(queries) == 2  # the count, then the rows
    body = orjson.loads(queries[1].content)
    assert queries[1].headers["Authorization"] == "Bearer tok-1"
    assert body["db"] == "Observability"
    assert body["properties"]["Options"]["request_readonly"] is True
    csl = body["csl"]
    assert csl.startswith("['App Logs']\n| where ['xdate'] >= datetime(2026-01-05T10:00:00")
    assert '| where [\'xsmalltext\'] == "pay\\"ment"' in csl
    assert "| where tolower(['xtextWithNulls']) in (\"error\")" in csl
    assert "| where ['xtext'] contains \"time out\"" in csl
    assert "matches regex \"conn(ection)? reset\"" in csl
    assert "| where xint32 > 2" in csl
    assert csl.endswith("| order by ['xdate'] desc\n| take 6")
    assert res.total == 7 and res.total_exact
    assert len(res.records) == 11  # the canned answer ignores take: parsing keeps all rows
    rec = res.records[1]
    assert rec.ts_ns == 1_388_538_061 * 10**9  # 2014-01-01T01:01:01Z
    assert rec.service == "Zero" and rec.message == "Zero"
    assert rec.trace_id == "00000000-0000-0000-0001-020304050607"
    assert "xint64" in rec.labels


def test_recorded_payload_progressive_frames(fixtures: Path) -> None:
    rows = parse_frames(orjson.loads((fixtures / "kusto" / "progressive_result.json")
                                     .read_bytes()))
    assert rows and rows[0]["State"] == "NORTH CAROLINA"
    assert rows[0]["EventType"] == "Thunderstorm Wind"
    zero = parse_frames(orjson.loads((fixtures / "kusto" / "zero_results.json").read_bytes()))
    assert zero == []


def test_recorded_payload_partial_failure_is_an_error_not_half_an_answer(fixtures: Path) -> None:
    frames = orjson.loads((fixtures / "kusto" / "query_partial_results_defer_is_false.json")
                          .read_bytes())
    with pytest.raises(BackendError, match="ADX"):
        parse_frames(frames)


def test_recorded_payload_400_oneapi_error_is_bad_input(fixtures: Path) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.host == "login.microsoftonline.com":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(400, content=(fixtures / "kusto" /
                                            "error_400_oneapi_wrong_endpoint.json").read_bytes())

    be = ADXLogs(_cfg(), transport=httpx.MockTransport(handler))
    with pytest.raises(BadInputError, match="Cannot get ingestion resources"):
        be.search(LogFilter(), RNG, limit=5, direction="backward")


@pytest.mark.parametrize(("kql", "needle"), [
    (".show tables", "management commands"),
    (".drop table Logs", "management commands"),
    ("Level == 'error'; Logs | take 1", "several statements"),
    ("(Level == 'error'", "unbalanced"),
])
def test_management_commands_and_multiple_statements_are_refused_before_sending(
        kql: str, needle: str) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    be = ADXLogs(_cfg(), transport=httpx.MockTransport(handler))
    with pytest.raises(BadInputError, match=needle):
        be.search(LogFilter(query=kql), RNG, limit=5, direction="backward")


def test_user_kql_forms_and_identifier_quoting() -> None:
    assert check_user_kql("Level == 'a;b'") == "| where Level == 'a;b'"  # ';' inside a string
    assert check_user_kql("where Message has 'x'") == "| where Message has 'x'"
    assert check_user_kql("| project Message") == "| project Message"
    assert ident("it's") == "['it\\'s']"


def test_management_command_through_the_tool(fixtures: Path) -> None:
    ctx = ServerContext("logs", [_cfg()], options={
        "transport": httpx.MockTransport(_handler(fixtures, []))})
    res = call(ctx, "search_logs", {"query": ".set-or-append Logs <| print 1",
                                    "start": "2026-01-05T10:00:00Z",
                                    "end": "2026-01-05T11:00:00Z"})
    assert res.is_error and "management commands" in text(res)
