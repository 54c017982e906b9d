"""The hub: in-process and stdio servers, parallel calls, timeouts, crashes, audit records."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from engine_support import fake_hub, fake_logs, fake_metrics
from engine_support import scope as fake_scope

from obsbench.hub import Hub
from obsbench.scope import resolve_scope
from obsbench_servers.common.audit import AuditTrail
from obsbench_servers.common.errors import BadInputError


def test_inprocess_tools_are_namespaced_and_calls_become_evidence() -> None:
    state: dict[str, Any] = {}
    hub = fake_hub(metrics=functools.partial(fake_metrics, state=state), logs=fake_logs)

    async def go() -> None:
        async with hub:
            names = [t.name for t in hub.tools()]
            assert "metrics_query" in names and "logs_search" in names
            spec = hub.tool("metrics_query")
            assert spec.server == "metrics" and spec.tool == "query" and spec.read_only
            assert spec.input_schema["properties"]["expr"]["type"] == "string"
            rec = await hub.call("metrics_query", {"expr": "up"})
            ev = rec.evidence
            assert rec.outcome == "ok" and ev.id == "E1"
            assert (ev.server, ev.tool, ev.kind) == ("metrics", "query", "series")
            assert ev.payload == {"expr": "up", "series": [1, 2, 3]}
            assert ev.query == "up" and ev.coverage_line == "3 of 10 series shown"
            assert ev.time_range == {"start": "2026-03-10T14:00:00Z",
                                     "end": "2026-03-10T15:00:00Z"}
            assert "value of up: 42" in ev.text and hub.evidence.get("E1") is ev
            with pytest.raises(BadInputError) as err:
                hub.tool("metrics_qeury")
            assert "metrics_query" in (err.value.hint or "")

    anyio.run(go)
    assert state["calls"] == [("query", "up")]


def test_parallel_calls_keep_call_order_and_run_concurrently() -> None:
    hub = fake_hub()

    async def go() -> list[Any]:
        async with hub:
            started = time.perf_counter()
            recs = await hub.call_many([("metrics_slow", {"seconds": 0.6}),
                                        ("metrics_slow", {"seconds": 0.05}),
                                        ("metrics_query", {"expr": "rate(x[5m])"})])
            elapsed = time.perf_counter() - started
            assert elapsed < 1.1, f"calls ran one after another ({elapsed:.2f}s)"
            return recs

    recs = anyio.run(go)
    assert [r.evidence.id for r in recs] == ["E1", "E2", "E3"]
    assert [r.evidence.summary for r in recs] == ["slept 0.6s", "slept 0.05s",
                                                  "3 series for rate(x[5m])"]


def test_unknown_tool_in_a_batch_fails_before_any_call_runs() -> None:
    state: dict[str, Any] = {}
    hub = fake_hub(metrics=functools.partial(fake_metrics, state=state))

    async def go() -> None:
        async with hub:
            with pytest.raises(BadInputError):
                await hub.call_many([("metrics_query", {"expr": "up"}), ("metrics_nope", {})])
            assert len(hub.evidence) == 0

    anyio.run(go)
    assert state.get("calls", []) == []


def test_timeout_becomes_error_evidence_and_the_session_goes_on(tmp_path: Path) -> None:
    hub = fake_hub()
    hub.call_timeout_s = 0.3
    hub.audit = AuditTrail(tmp_path / "audit.jsonl")

    async def go() -> None:
        async with hub:
            rec = await hub.call("metrics_slow", {"seconds": 5})
            assert rec.outcome == "timeout" and rec.evidence.is_error
            assert "did not answer within 0.3s" in rec.evidence.text
            after = await hub.call("metrics_query", {"expr": "up"})
            assert after.outcome == "ok" and after.evidence.id == "E2"

    anyio.run(go)
    outcomes = [(r["evidence_id"], r["outcome"]) for r in hub.audit.records()]
    assert outcomes == [("E1", "timeout"), ("E2", "ok")]


def test_failing_tools_are_error_evidence_and_every_call_is_audited(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    hub = fake_hub()
    hub.audit = trail

    async def go() -> None:
        async with hub:
            crashed = await hub.call("metrics_crash", {})
            bad = await hub.call("metrics_query", {"expr": "bad(up"})
            ok = await hub.call("metrics_query", {"expr": "up"})
            assert crashed.outcome == "error" and "boom" in crashed.evidence.text
            assert bad.outcome == "error" and bad.evidence.kind == "error"
            assert "close the parenthesis" in bad.evidence.text
            assert ok.outcome == "ok"

    anyio.run(go)
    records = list(trail.records())
    assert [(r["tool"], r["outcome"], r["evidence_id"]) for r in records] == [
        ("crash", "error", "E1"), ("query", "error", "E2"), ("query", "ok", "E3")]
    assert records[2]["arguments"] == {"expr": "up"} and records[2]["query"] == "up"
    assert all(r["server"] == "metrics" and r["profile"] == "test" for r in records)
    assert trail.verify().ok


def test_cancelling_the_caller_cancels_the_call(tmp_path: Path) -> None:
    hub = fake_hub()
    hub.audit = AuditTrail(tmp_path / "audit.jsonl")

    async def go() -> None:
        async with hub:
            with anyio.move_on_after(0.2):
                await hub.call("metrics_slow", {"seconds": 5})
            rec = await hub.call("metrics_query", {"expr": "up"})
            assert rec.outcome == "ok"

    anyio.run(go)
    assert [r["outcome"] for r in hub.audit.records()] == ["cancelled", "ok"]


def _children(match: Callable[[list[str]], bool]) -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if match(p.cmdline())]


@pytest.mark.slow
def test_stdio_servers_answer_and_a_dead_one_does_not_end_the_session(
        bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    out = bundle_dir("bad-deploy-db-pool")
    scope = resolve_scope(bundle=out)
    hub = Hub(scope, servers=("metrics", "logs"), transport="stdio", call_timeout_s=20,
              audit=AuditTrail(tmp_path / "audit.jsonl"))

    async def go() -> None:
        async with hub:
            assert "metrics_query" in {t.name for t in hub.tools()}
            first = await hub.call("metrics_get_service_golden_signals", {"service": "user-api"})
            assert first.outcome == "ok", first.evidence.text
            assert first.evidence.time_range is not None
            assert first.evidence.time_range["end"] == "2026-03-10T15:00:00Z"
            procs = _children(lambda c: "serve" in c and "metrics" in c)
            assert len(procs) == 1, [p.cmdline() for p in procs]
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait(timeout=10)
            dead = await hub.call("metrics_query", {"query": "up"})
            assert dead.outcome == "error" and dead.evidence.is_error
            assert "other tools still work" in dead.evidence.text
            alive = await hub.call("logs_get_error_patterns", {"service": "user-api"})
            assert alive.outcome == "ok", alive.evidence.text

    anyio.run(go)
    assert [r["outcome"] for r in hub.audit.records()] == ["ok", "error", "ok"]


@pytest.mark.slow
def test_streamable_http_server_started_by_obsbench_serve(
        bundle_dir: Callable[..., Path], tmp_path: Path) -> None:
    """The hub's third transport against the real ``obsbench serve metrics --transport
    http`` in a child process (also the HTTP side of ``serve``)."""
    import socket
    import subprocess
    import sys

    from livestack import free_port

    out = bundle_dir("bad-deploy-db-pool")
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "obsbench", "serve", "metrics", "--transport", "http",
         "--port", str(port), "--bundle", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not come up"
                time.sleep(0.2)
        hub = Hub(resolve_scope(bundle=out), servers=("metrics",), transport="http",
                  urls={"metrics": f"http://127.0.0.1:{port}/mcp"}, call_timeout_s=30,
                  audit=AuditTrail(tmp_path / "audit.jsonl"))

        async def go() -> Any:
            async with hub:
                assert "metrics_get_service_golden_signals" in {t.name for t in hub.tools()}
                return await hub.call("metrics_get_service_golden_signals",
                                      {"service": "user-api"})

        rec = anyio.run(go)
        assert rec.outcome == "ok", rec.evidence.text
        assert rec.evidence.server == "metrics" and rec.evidence.time_range is not None
        assert rec.evidence.time_range["end"] == "2026-03-10T15:00:00Z"
        assert [r["evidence_id"] for r in hub.audit.records()] == ["E1"]  # type: ignore[union-attr]
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
        if child.stderr is not None:
            child.stderr.close()


def test_http_transport_needs_each_servers_url() -> None:
    hub = Hub(fake_scope(), servers=("metrics",), transport="http")

    async def go() -> None:
        async with hub:
            pass

    with pytest.raises(BadInputError) as err:
        anyio.run(go)
    assert "no URL for the metrics server" in err.value.message
    assert "http://host:port/mcp" in (err.value.hint or "")
