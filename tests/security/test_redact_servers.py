"""No planted secret survives any tool of any server, in the text or in structured_content.

A scenario bundle gets secrets and PII planted in every signal (``planted.py``).
Every tool of the five servers is called over an in-memory MCP session, first
with redaction switched off for that server — which proves the calls reach the
planted data, so the check below could fail — then as served. Hypothesis then
draws further calls (any tool, arguments from a pool that includes the secrets
themselves, as a model might pass them back) and checks the same property.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from tests.security.corpus import GENERATORS
from tests.security.planted import (
    ALERT_NAME,
    PLANTED_METRIC,
    SERVICE,
    SPAN_IDS,
    TRACE_ID,
    TRACE_ID_2,
    Planted,
    plant,
)

from obsbench_servers.common.context import ServerContext
from obsbench_servers.common.redact import TOKEN_RE, PseudonymMap, Redactor, attach_redactor
from obsbench_servers.registry import SERVER_NAMES, build_server

SCENARIO = "bad-deploy-db-pool"


class NoRedaction(Redactor):
    """Redaction off: what the tools would leak (only ever used to prove reachability)."""

    def call_result(self, result: Any) -> Any:
        return result


def calls(p: Planted) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {
        "metrics": [
            ("list_metrics", {"match": "checkout_login"}),
            ("label_values", {"label": "user"}),
            ("label_values", {"label": "dsn", "match": PLANTED_METRIC}),
            ("query", {"expr": PLANTED_METRIC}),
            ("query_range", {"expr": PLANTED_METRIC, "start": "now-30m"}),
            ("metric_metadata", {"metric": PLANTED_METRIC}),
            ("get_service_golden_signals", {"service": SERVICE}),
            ("find_anomalies", {}),
            ("list_firing_alerts", {}),
        ],
        "logs": [
            ("search_logs", {"service": SERVICE, "start": "now-15m", "limit": 50}),
            ("search_logs", {"query": f'{{service="{SERVICE}"}} |= "declined"'}),
            ("get_error_patterns", {"service": SERVICE, "all_lines": True}),
            ("correlate_logs_with_time", {"timestamp": p.log_ts, "service": SERVICE}),
            ("extract_stack_traces", {"service": SERVICE}),
            ("get_log_volume_anomalies", {"service": SERVICE}),
        ],
        "traces": [
            ("find_error_traces", {"service": SERVICE, "start": "now-20m"}),
            ("find_slow_traces", {"service": SERVICE, "start": "now-20m"}),
            ("get_trace_details", {"trace_id": TRACE_ID}),
            ("get_span_details", {"trace_id": TRACE_ID, "spans": list(SPAN_IDS[:2])}),
            ("compare_trace_spans", {"trace_id_1": TRACE_ID, "trace_id_2": TRACE_ID_2}),
            ("get_latency_breakdown", {"service": SERVICE, "start": "now-20m"}),
            ("get_service_dependencies", {}),
            ("list_trace_services", {}),
        ],
        "alerts": [
            ("list_firing_alerts", {}),
            ("list_firing_alerts", {"filter": f"alertname={ALERT_NAME}"}),
            ("get_active_incidents", {}),
            ("get_runbook", {"alert_name": ALERT_NAME}),
        ],
        "infra": [
            ("get_events", {"service": SERVICE}),
            ("get_events", {"type": "Warning"}),
            ("get_service_status", {"service": SERVICE}),
            ("get_recent_deployments", {}),
            ("check_health_checks", {"service": SERVICE}),
        ],
    }


class Servers:
    """The five servers over the planted bundle, built once; calls open a fresh session."""

    def __init__(self, bundle: Path) -> None:
        self.contexts = {n: ServerContext.for_bundle(n, bundle) for n in SERVER_NAMES}
        self.servers = {n: build_server(n, ctx) for n, ctx in self.contexts.items()}
        self.redactor = Redactor(pseudonyms=PseudonymMap())
        for server in self.servers.values():
            attach_redactor(server, self.redactor)

    def run(self, name: str, batch: list[tuple[str, dict[str, Any]]],
            redactor: Redactor | None = None) -> list[tuple[str, str]]:
        """(text, structured JSON) of each call of ``batch`` on server ``name``."""
        server = self.servers[name]
        attach_redactor(server, redactor or self.redactor)

        async def go() -> list[tuple[str, str]]:
            out = []
            async with Client(server) as client:
                for tool, args in batch:
                    r = await client.call_tool(tool, args)
                    text = "\n".join(getattr(c, "text", "") for c in r.content)
                    out.append((text, json.dumps(r.structured_content, ensure_ascii=False)))
            return out

        try:
            return asyncio.run(go())
        finally:
            attach_redactor(server, self.redactor)

    def close(self) -> None:
        for ctx in self.contexts.values():
            ctx.close()


# Fixed prefixes of token formats say which kind of token, not which token.
_PUBLIC_PREFIX = re.compile(r"^(?:sk-ant-api03-|sk-proj-|sk_live_|github_pat_|gh[pousr]_|glpat-|"
                            r"npm_|ya29\.|AIza|xox[a-z]-)")


def leaked(secrets: dict[str, str], blob: str) -> set[str]:
    """Kinds whose value (or any 12-character stretch of it) appears in ``blob``."""
    found = set()
    for kind, value in secrets.items():
        # a PEM's BEGIN/END lines are no secret (a pattern template may keep them)
        parts = [_PUBLIC_PREFIX.sub("", ln) for ln in value.split("\n")
                 if not ln.startswith("-----")]
        if value.startswith("eyJ"):  # a JWT's header (alg, typ) is public; claims and MAC not
            parts = value.split(".")[1:]
        pieces = [x for part in parts for x in
                  ([part] if len(part) < 12 else [part[i:i + 12]
                                                  for i in range(len(part) - 11)])]
        if any(piece in blob for piece in pieces):
            found.add(kind)
    return found


@pytest.fixture(scope="module")
def planted(bundle: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Planted:
    src = bundle(SCENARIO).out_dir
    return plant(src, tmp_path_factory.mktemp("planted") / "bundle")


@pytest.fixture(scope="module")
def servers(planted: Planted) -> Any:
    s = Servers(planted.bundle)
    yield s
    s.close()


@pytest.mark.parametrize("server", SERVER_NAMES)
def test_no_planted_secret_survives_any_tool(server: str, servers: Servers,
                                             planted: Planted) -> None:
    batch = calls(planted)[server]
    raw = servers.run(server, batch, NoRedaction())
    reached = set().union(*(leaked(planted.secrets, t + s) for t, s in raw))
    # the calls reach the planted data: without redaction several kinds leak
    assert len(reached) >= 3, (server, reached, [t[:200] for t, _ in raw])
    served = servers.run(server, batch)
    tokens = 0
    for (tool, args), (text, structured) in zip(batch, served, strict=True):
        assert not leaked(planted.secrets, text), (tool, args, text[:2000])
        assert not leaked(planted.secrets, structured), (tool, args, structured[:2000])
        tokens += len(TOKEN_RE.findall(text + structured))
    assert tokens > 0


def test_a_value_gets_one_pseudonym_across_servers(servers: Servers, planted: Planted) -> None:
    email = planted.secrets["email"]
    token = servers.redactor.pseudonyms.token("email", email)
    logs = servers.run("logs", [("search_logs", {"service": SERVICE, "contains": "declined"})])
    alerts = servers.run("alerts", [("list_firing_alerts", {})])
    assert token in logs[0][0] and token in alerts[0][1]
    # the workbench holding the map sees the real value again
    assert email in servers.redactor.pseudonyms.reveal(logs[0][0])


_ARG_POOL = st.one_of(st.sampled_from([SERVICE, "user-api", "now-1h", "now-10m", TRACE_ID]),
                      st.text(max_size=30))


@st.composite
def tool_calls(draw: st.DrawFn, planted: Planted) -> tuple[str, str, dict[str, Any]]:
    server = draw(st.sampled_from(SERVER_NAMES))
    tool, args = draw(st.sampled_from(calls(planted)[server]))
    args = dict(args)
    if args and draw(st.booleans()):  # a secret in an argument (pasted by the engineer)
        key = draw(st.sampled_from(sorted(args)))
        if isinstance(args[key], str):
            kind = draw(st.sampled_from(sorted(planted.secrets)))
            secret = planted.secrets[kind]
            if kind not in GENERATORS:  # recognisable only in context, as it would come
                secret = f"password={secret}"
            args[key] = draw(st.sampled_from([secret, f"{args[key]} {secret}"]))
    elif args and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(args)))
        if isinstance(args[key], str):
            args[key] = draw(_ARG_POOL)
    return server, tool, args


def test_property_no_secret_in_any_drawn_call(servers: Servers, planted: Planted) -> None:
    """Any tool, arguments drawn from a pool that includes the planted secrets.

    A model only holds a real secret if it saw one (it sees pseudonyms) or an engineer
    pasted it; either way the investigation's map has seen the value in a recognisable
    form, which the first loop stands for. Tools then echo arguments whole or in pieces
    (a PromQL parser splits a token at its dashes): neither may survive. A value never
    seen in any recognisable form is beyond what pattern redaction can know
    (docs/security.md, "Limits").
    """
    for kind, value in planted.secrets.items():
        servers.redactor.text(value if kind in GENERATORS else f"password={value}")
    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(tool_calls(planted))
    def check(call: tuple[str, str, dict[str, Any]]) -> None:
        server, tool, args = call
        [(text, structured)] = servers.run(server, [(tool, args)])
        assert not leaked(planted.secrets, text), (server, tool, args, text[:1500])
        assert not leaked(planted.secrets, structured), (server, tool, args, structured[:1500])

    check()
