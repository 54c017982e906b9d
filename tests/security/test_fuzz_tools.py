"""Property-based fuzzing of every tool's arguments: no input makes a tool crash.

For each tool of the five servers (on a scenario bundle), hypothesis draws
arguments from the tool's own input schema — right types, wrong types, empty,
huge, unicode, nonsense times and queries — and calls it over MCP. A tool may
refuse (a clear error result), but it may never fail "unexpectedly" (the
toolkit's catch-all for an unhandled exception), and the server must still
answer afterwards.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client, types

from obsbench_servers.common.audit import AuditTrail
from obsbench_servers.common.backend import AlertmanagerBackend, Auth, PagerDutyBackend
from obsbench_servers.common.context import ServerContext
from obsbench_servers.registry import SERVER_NAMES, build_server

SCENARIO = "bad-deploy-db-pool"
_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "now", "now-1h", "-5m", "1h", "2026-03-10T14:00:00Z", "1773154800",
                     "user-api", "checkout", "{", '{service="x"', "rate(x[5m])", "sum by (",
                     ".*", "(a+)+$", "\x00", "9" * 40, "ab" * 16, "Z" * 2000]),
)
_ANY = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
                 st.floats(allow_nan=True, allow_infinity=True), _TEXT,
                 st.lists(_TEXT, max_size=3))


def _value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    options: list[st.SearchStrategy[Any]] = [_ANY]  # sometimes the wrong type on purpose
    if "string" in kinds:
        options.append(_TEXT)
    if "integer" in kinds:
        options.append(st.integers(min_value=-10**6, max_value=10**9))
    if "number" in kinds:
        options.append(st.floats(min_value=-1e6, max_value=1e12))
    if "array" in kinds:
        options.append(st.lists(_TEXT, max_size=4))
    return st.one_of(options)


@st.composite
def arguments(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    out = {}
    for name, prop in props.items():
        if name in required or draw(st.booleans()):
            out[name] = draw(_value(prop))
    return out


@pytest.fixture(scope="module")
def servers(bundle: Callable[..., Any]) -> Any:
    path = bundle(SCENARIO).out_dir
    ctxs = {n: ServerContext.for_bundle(n, path) for n in SERVER_NAMES}
    yield {n: build_server(n, c) for n, c in ctxs.items()}
    for c in ctxs.values():
        c.close()


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_fuzzed_arguments_never_crash_a_tool(name: str, servers: dict[str, Any]) -> None:
    server = servers[name]

    async def tools() -> list[Any]:
        async with Client(server) as c:
            return list((await c.list_tools()).tools)

    listed = asyncio.run(tools())
    read_only = [t for t in listed if not (t.annotations and t.annotations.destructive_hint)]
    assert read_only

    @settings(max_examples=6 * len(read_only), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.sampled_from(read_only).flatmap(
        lambda t: st.tuples(st.just(t.name), arguments(t.input_schema))))
    def check(call: tuple[str, dict[str, Any]]) -> None:
        tool, args = call

        async def go() -> tuple[Any, Any]:
            async with Client(server) as c:
                r = await c.call_tool(tool, args)
                alive = await c.list_tools()
                return r, alive

        result, alive = asyncio.run(go())
        text = "\n".join(getattr(x, "text", "") for x in result.content)
        assert "failed unexpectedly" not in text, (tool, args, text[:800])
        if result.is_error:
            assert text.strip(), (tool, args)
        assert alive.tools  # the server still answers

    check()


# ----------------------------------------------------------------------------- write tools
#
# The alerts server's write tools (registered only with writes_enabled) against an
# Alertmanager and a PagerDuty served by httpx.MockTransport that records every request.
# Declined (or unconfirmable) calls must never send a write, whatever the arguments;
# confirmed garbage must be refused before anyone is asked and before any request;
# confirmed valid-shaped calls reach the backend exactly once, each audited.

WRITE_TOOLS = ("create_silence", "expire_silence", "acknowledge_alert", "add_incident_note")
AM, PD = "am.test", "pd.test"


class RecordingBackends:
    """Alertmanager + PagerDuty answering in their documented shapes; every request kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        path = req.url.path
        if req.method == "GET":
            body: Any = ([] if req.url.host == AM else
                         {"incidents": [], "limit": 100, "offset": 0, "more": False})
            return httpx.Response(200, json=body)
        if req.method == "POST" and path == "/api/v2/silences":
            return httpx.Response(200, json={"silenceID": "0b5e8f3c-2a9d-4c1e-9f00-6d2c1a7b4e55"})
        if req.method == "DELETE" and path.startswith("/api/v2/silence/"):
            return httpx.Response(200)
        if req.method == "PUT" and path.startswith("/incidents/"):
            key = path.rsplit("/", 1)[1]
            return httpx.Response(200, json={"incident": {"id": key, "status": "acknowledged",
                                                          "title": "t", "urgency": "high"}})
        if req.method == "POST" and path.endswith("/notes"):
            content = orjson.loads(req.content)["note"]["content"]
            return httpx.Response(201, json={"note": {"id": "PNOTE9", "content": content,
                                                      "created_at": "2026-03-10T14:00:00Z"}})
        return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})


def _write_server(rec: RecordingBackends) -> Any:
    from obsbench_servers.alerts.server import create_server

    am = AlertmanagerBackend(type="alertmanager", url=f"http://{AM}:9093", name="am")
    pd = PagerDutyBackend(type="pagerduty", name="pd", url=f"https://{PD}",
                          from_email="oncall@example.com",
                          auth=Auth(kind="api_key", secret="env:PD")).with_secret("pd-token")
    ctx = ServerContext("alerts", [am, pd], profile="fuzz", writes_enabled=True,
                        options={"transport": httpx.MockTransport(rec)})
    return create_server(ctx), ctx


Elicit = Callable[[Any, Any], Awaitable[types.ElicitResult]]


def _answer(action: str, confirm: bool = True, asked: list[str] | None = None) -> Elicit:
    async def cb(context: Any, params: Any) -> types.ElicitResult:
        if asked is not None:
            asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept",
                                      content={"confirm": confirm, "name": "fuzz-person"})
        return types.ElicitResult(action=action)  # type: ignore[arg-type]
    return cb


def _call_write(server: Any, tool: str, args: dict[str, Any],
                elicit: Elicit | None) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        async with Client(server, elicitation_callback=elicit,  # type: ignore[arg-type]
                          client_info=types.Implementation(name="fuzz", version="1")) as c:
            r = await c.call_tool(tool, args)
            return r, await c.list_tools()

    return asyncio.run(go())


def _write_records() -> list[dict[str, Any]]:
    return [r for r in AuditTrail().records() if r.get("event") == "write"]


@pytest.fixture
def write_server() -> Any:
    """Per test: the write gate's audit trail lives in the test's own state dir."""
    rec = RecordingBackends()
    server, ctx = _write_server(rec)

    async def schemas() -> dict[str, Any]:
        async with Client(server) as c:
            return {t.name: t.input_schema for t in (await c.list_tools()).tools}

    listed = asyncio.run(schemas())
    assert set(WRITE_TOOLS) <= set(listed)
    yield server, rec, listed
    ctx.close()


REFUSALS = {"decline": lambda: _answer("decline"), "cancel": lambda: _answer("cancel"),
            "accept_without_yes": lambda: _answer("accept", confirm=False),
            "client_cannot_ask": lambda: None}


def test_fuzzed_write_tools_never_write_without_a_confirmation(write_server: Any) -> None:
    server, rec, schemas = write_server

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(tool=st.sampled_from(WRITE_TOOLS), refusal=st.sampled_from(list(REFUSALS)),
           data=st.data())
    def check(tool: str, refusal: str, data: st.DataObject) -> None:
        valid_shape = data.draw(st.booleans())  # half would be performed if confirmed
        args = data.draw(_valid(tool) if valid_shape else arguments(schemas[tool]))
        before = len(_write_records())
        result, alive = _call_write(server, tool, args, REFUSALS[refusal]())
        text = "\n".join(getattr(x, "text", "") for x in result.content)
        assert result.is_error, (tool, args, text[:500])
        if valid_shape:
            assert "was not performed" in text and "Nothing was sent" in text, text[:500]
        assert "failed unexpectedly" not in text, (tool, args, text[:800])
        assert text.strip()
        assert rec.writes() == [], (tool, args, [(r.method, r.url) for r in rec.writes()])
        new = _write_records()[before:]
        assert all(r["outcome"] == "refused" for r in new), new
        assert len(new) <= 1  # one record per call that reached the tool (schema errors don't)
        if new:
            assert new[0]["tool"] == tool and new[0]["confirmed_by"] is None
        if valid_shape:
            assert len(new) == 1  # the refusal itself is audited
        assert alive.tools

    check()


def _garbage(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments of the right shape but wrong content: each must be refused before a request."""
    bad_text = st.sampled_from(["", "   ", "\x00", "Z" * 2000, "../../etc", "a b", "'; DROP", "{"])
    if tool == "create_silence":
        bad_matchers = st.sampled_from(["", "{}", "{", "alertname", "=x", 'a=~"("',
                                        'a!="b"', 'a=~".*"', 'a=""', ["", ""], [], 'a="b" c'])
        good = st.just('alertname="X"')
        return st.one_of(
            st.fixed_dictionaries({"matchers": bad_matchers, "comment": st.just("why")}),
            st.fixed_dictionaries({"matchers": good, "comment": st.just("why"),
                                   "duration": st.sampled_from(["0s", "8d", "forever", "-1h",
                                                                "", "1y", "now"])}),
            st.fixed_dictionaries({"matchers": good, "comment": st.sampled_from(["", "  ",
                                                                                 "\n\t"])}),
            st.fixed_dictionaries({"matchers": good, "comment": st.just("why"),
                                   "backend": st.sampled_from(["nope", "AM", "pd"])}),
        )
    if tool == "expire_silence":
        return st.fixed_dictionaries({"silence_id": st.one_of(
            bad_text, st.sampled_from(["--------", "1234", "g" * 36, "0b5e8f3c/../x",
                                       "0b5e8f3c-2a9d-4c1e-9f00-6d2c1a7b4e55?x=1"]),
            st.text(max_size=30).filter(lambda s: not _UUID.fullmatch(s)))})
    ids = st.one_of(bad_text, st.sampled_from(["-", "#", "#-", "__", "P1?x=1", "P/1", "x" * 65]))
    if tool == "acknowledge_alert":
        return st.fixed_dictionaries({"incident_id": ids})
    return st.one_of(
        st.fixed_dictionaries({"incident_id": ids, "note": st.just("rolled back")}),
        st.fixed_dictionaries({"incident_id": st.just("PABC123"),
                               "note": st.sampled_from(["", "   ", "\n", "x" * 10_001])}),
    )


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def test_confirmed_garbage_is_refused_before_anyone_is_asked_or_anything_is_sent(
        write_server: Any) -> None:
    server, rec, _ = write_server

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data(), tool=st.sampled_from(WRITE_TOOLS))
    def check(data: st.DataObject, tool: str) -> None:
        args = data.draw(_garbage(tool))
        asked: list[str] = []
        sent = len(rec.requests)
        before = len(_write_records())
        result, alive = _call_write(server, tool, args, _answer("accept", asked=asked))
        text = "\n".join(getattr(x, "text", "") for x in result.content)
        assert result.is_error, (tool, args, text[:500])
        assert "failed unexpectedly" not in text, (tool, args, text[:800])
        assert asked == [], (tool, args)  # nobody is asked to confirm garbage
        assert rec.requests[sent:] == [], (tool, args, rec.requests[sent:])
        new = _write_records()[before:]
        if "validation error" in text and f"{tool}Arguments" in text:
            # Rejected by the input schema (e.g. '{}' parsed as an object for matchers):
            # the tool body never ran, so there is nothing to audit.
            assert new == [], new
        else:  # the tool's own validation: a message with a hint, audited as refused
            assert "hint:" in text, (tool, args, text[:800])
            [record] = new
            assert record["outcome"] == "refused" and record["tool"] == tool
            assert record["reason"].startswith("invalid arguments"), record
        assert alive.tools

    check()


_LABEL = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_VALUE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                 min_size=1, max_size=20)
_INCIDENT = st.from_regex(r"P[A-Z0-9]{1,12}", fullmatch=True)
_PROSE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                 max_size=200).filter(lambda s: s.strip() != "")


def _valid(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    if tool == "create_silence":
        matchers = st.lists(st.tuples(_LABEL, _VALUE), min_size=1, max_size=3).map(
            lambda ms: [f"{n}={orjson.dumps(v).decode()}" for n, v in ms])
        return st.fixed_dictionaries({"matchers": matchers, "comment": _PROSE,
                                      "duration": st.sampled_from(["1s", "30m", "2h", "1d",
                                                                   "7d"])})
    if tool == "expire_silence":
        return st.fixed_dictionaries({"silence_id": st.uuids().map(str)})
    if tool == "acknowledge_alert":
        return st.fixed_dictionaries({"incident_id": _INCIDENT,
                                      "user": st.sampled_from(["", "lea@example.com"])})
    return st.fixed_dictionaries({"incident_id": _INCIDENT, "note": _PROSE})


def test_confirmed_valid_writes_reach_the_backend_exactly_once_and_are_audited(
        write_server: Any) -> None:
    server, rec, _ = write_server

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data(), tool=st.sampled_from(WRITE_TOOLS))
    def check(data: st.DataObject, tool: str) -> None:
        args = data.draw(_valid(tool))
        asked: list[str] = []
        sent = len(rec.requests)
        before = len(_write_records())
        result, _ = _call_write(server, tool, args, _answer("accept", asked=asked))
        text = "\n".join(getattr(x, "text", "") for x in result.content)
        assert not result.is_error, (tool, args, text[:800])
        assert len(asked) == 1
        [write] = [r for r in rec.requests[sent:] if r.method != "GET"]
        if tool == "create_silence":
            body = orjson.loads(write.content)
            assert (write.method, write.url.path) == ("POST", "/api/v2/silences")
            assert body["comment"] == args["comment"]
            assert body["createdBy"] == "fuzz-person"
            sent_matchers = {(m["name"], m["value"]) for m in body["matchers"]}
            wanted = {(n, orjson.loads(v)) for n, v in
                      (m.split("=", 1) for m in args["matchers"])}
            assert sent_matchers == wanted
        elif tool == "expire_silence":
            assert (write.method, write.url.path) == (
                "DELETE", f"/api/v2/silence/{args['silence_id']}")
        elif tool == "acknowledge_alert":
            assert (write.method, write.url.path) == ("PUT", f"/incidents/{args['incident_id']}")
            assert write.headers["From"] == (args["user"] or "oncall@example.com")
        else:
            assert (write.method, write.url.path) == (
                "POST", f"/incidents/{args['incident_id']}/notes")
            assert orjson.loads(write.content)["note"]["content"] == args["note"]
        [record] = _write_records()[before:]
        assert record["outcome"] == "done" and record["tool"] == tool
        assert record["confirmed_by"] == "fuzz-person"

    check()
