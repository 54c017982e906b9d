"""``obsbench ask`` / ``investigate`` end to end: the real servers on a scenario bundle and
the real ``anthropic`` SDK talking HTTP to a local scripted Messages API (127.0.0.1).

The Messages API answers are built in the documented streaming event sequence
(``engine_support.anthropic_sse``); the SDK finds the server through
ANTHROPIC_BASE_URL, as it would a proxy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_support import SSE, LocalAPI, anthropic_sse
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.common.audit import AuditTrail

ROOT = {"service": "user-api", "kind": "deploy", "confidence": 0.8,
        "summary": "p95 rose from ~90 ms to ~2 s at 13:48 [E1]", "evidence": ["E1"]}


@pytest.fixture
def bundle_path(bundle_dir: Callable[..., Path]) -> Path:
    return bundle_dir("bad-deploy-db-pool")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LocalAPI]]:
    made: list[LocalAPI] = []

    def start(*responses: tuple[int, str, bytes]) -> LocalAPI:
        server = LocalAPI(responses)
        made.append(server)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        return server

    yield start
    for server in made:
        server.close()


def _investigation() -> tuple[tuple[int, str, bytes], ...]:
    return (
        (200, SSE, anthropic_sse(text="Golden signals first.", tool_uses=[
            ("toolu_1", "metrics_get_service_golden_signals", {"service": "user-api"})])),
        (200, SSE, anthropic_sse(tool_uses=[("toolu_2", "submit_findings", {
            "answer": "user-api degraded at 13:48: p95 ~2 s, 5xx ~3% [E1].",
            "root_causes": [ROOT],
            "actions": [{"summary": "roll back user-api", "evidence": ["E1"]}],
            "not_checked": ["traces"]})])),
    )


@pytest.mark.slow
def test_investigate_json_prints_the_contract(api: Callable[..., LocalAPI],
                                              bundle_path: Path) -> None:
    server = api(*_investigation())
    res = CliRunner().invoke(app, ["investigate", "--alert", "HighErrorRate", "--bundle",
                                   str(bundle_path), "--agent", "anthropic:claude-sonnet-4-6",
                                   "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["question"] == "Investigate the firing alert HighErrorRate: what is its root cause?"
    assert doc["window"] == {"start": "2026-03-10T11:00:00Z", "end": "2026-03-10T15:00:00Z"}
    (rc,) = doc["root_causes"]
    assert {k: rc[k] for k in ("service", "kind", "confidence", "evidence")} == {
        "service": "user-api", "kind": "deploy", "confidence": 0.8, "evidence": ["E1"]}
    (ev,) = doc["evidence"]
    assert ev["id"] == "E1" and ev["server"] == "metrics"
    assert ev["tool"] == "get_service_golden_signals" and ev["payload"]
    assert ev["time_range"]["end"] == "2026-03-10T15:00:00Z" and ev["text"]
    assert doc["answer"].endswith("[E1].") and doc["tool_calls"] == 1
    assert doc["usage"]["input_tokens"] == 1800 and doc["usage"]["output_tokens"] == 120
    assert doc["usage"]["cost_usd"] == pytest.approx((1800 * 3 + 120 * 15) / 1e6)
    assert doc["elapsed_s"] > 0 and doc["agent"] == "anthropic"
    assert doc["actions"][0]["summary"] == "roll back user-api"
    assert doc["stop_reason"] == "end_turn" and doc["unresolved_citations"] == []
    # The alert and the bundle's window reached the model; the tool result went back.
    first = server.bodies[0]
    assert "Alert: HighErrorRate" in first["messages"][0]["content"][0]["text"]
    assert "alerts_acknowledge_alert" not in [t["name"] for t in first["tools"]]
    result_block = server.bodies[1]["messages"][2]["content"][0]
    assert result_block["tool_use_id"] == "toolu_1" and 'evidence="E1"' in result_block["content"]
    # Every tool call is in the audit trail.
    calls = [r for r in AuditTrail().records() if r["event"] == "tool_call"]
    assert [(c["tool"], c["evidence_id"], c["outcome"]) for c in calls] == [
        ("get_service_golden_signals", "E1", "ok")]


@pytest.mark.slow
def test_stream_prints_ndjson_events_with_done_last(api: Callable[..., LocalAPI],
                                                    bundle_path: Path) -> None:
    api(*_investigation())
    res = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path), "--agent",
                                   "anthropic", "--stream"])
    assert res.exit_code == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-1] == "done" and types.count("done") == 1
    assert types.index("tool_call_started") < types.index("tool_call_finished") \
        < types.index("evidence_added")
    assert events[-1]["result"]["root_causes"][0]["service"] == "user-api"
    assert "evidence" not in events[-1]["result"]
    assert any(e["type"] == "text_delta" and e["text"] == "Golden signals first."
               for e in events)
    usage = [e for e in events if e["type"] == "usage"]
    assert usage[-1]["input_tokens"] == 1800


@pytest.mark.slow
def test_ask_prints_the_answer_and_the_evidence(api: Callable[..., LocalAPI],
                                               bundle_path: Path) -> None:
    api((200, SSE, anthropic_sse(tool_uses=[
            ("toolu_1", "logs_get_error_patterns", {"service": "user-api"})])),
        (200, SSE, anthropic_sse(text="Mostly pool timeouts [E1].")))
    res = CliRunner().invoke(app, ["ask", "what errors does user-api log?", "--bundle",
                                   str(bundle_path), "--agent", "anthropic"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("Mostly pool timeouts [E1].")
    assert "\nEvidence:\n  [E1] logs_get_error_patterns: " in res.stdout
    assert "anthropic:claude-sonnet-4-6 · 1 tool calls" in res.stdout
    assert "-> E1 logs_get_error_patterns(service='user-api')" in res.stderr
    assert "<- E1 ok" in res.stderr


@pytest.mark.slow
def test_a_refused_key_exits_1_with_the_reason(api: Callable[..., LocalAPI],
                                               bundle_path: Path) -> None:
    body = json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                  "message": "invalid x-api-key"}}).encode()
    api((401, "application/json", body))
    res = CliRunner().invoke(app, ["ask", "q", "--bundle", str(bundle_path), "--agent",
                                   "anthropic", "--json"])
    assert res.exit_code == 1
    assert "invalid x-api-key" in res.stderr and "ANTHROPIC_API_KEY" in res.stderr
    doc = json.loads(res.stdout)
    assert doc["stop_reason"] == "error"
    assert any(n["level"] == "error" and "401" in n["message"] for n in doc["notices"])


def _no_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import obsbench.agent.offline`` fail, whether or not the module exists."""
    monkeypatch.setitem(sys.modules, "obsbench.agent.offline", None)


def test_without_a_key_the_default_is_offline_and_says_so(
        monkeypatch: pytest.MonkeyPatch, bundle_path: Path) -> None:
    _no_offline(monkeypatch)
    res = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path)])
    assert "no Anthropic API key" in res.stderr
    assert "using the offline investigator" in res.stderr
    assert res.exit_code == 2
    assert "the offline investigator is not available" in res.stderr
    streamed = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path),
                                        "--stream"])
    first = json.loads(streamed.stdout.splitlines()[0])
    assert first["type"] == "notice" and "no Anthropic API key" in first["message"]


def test_explicit_offline_fails_clearly_when_it_is_not_built(
        monkeypatch: pytest.MonkeyPatch, bundle_path: Path) -> None:
    _no_offline(monkeypatch)
    res = CliRunner().invoke(app, ["ask", "q", "--bundle", str(bundle_path), "--agent",
                                   "offline"])
    assert res.exit_code == 2
    assert "offline investigator is not available" in res.stderr
    assert "--agent anthropic" in res.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "anthropic"], "needs an API key"),
    (["--agent", "gpt"], "unknown agent 'gpt'"),
    (["--agent", "openai"], "needs a model name"),
    (["--stream", "--json"], "either --stream or --json"),
    (["--since", "1h", "--start", "now-2h"], "either --start or --since"),
])
def test_usage_errors_exit_2(bundle_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["ask", "q", "--bundle", str(bundle_path), *args])
    assert res.exit_code == 2 and message in res.stderr


def test_since_resolves_against_the_bundle_end(monkeypatch: pytest.MonkeyPatch,
                                               bundle_path: Path) -> None:
    from obsbench.cli.ask_cmd import _window
    from obsbench.scope import resolve_scope

    scope = resolve_scope(bundle=bundle_path)
    assert _window(scope, "30m", None, None) == ("2026-03-10T14:30:00.000000000Z", None)
    assert _window(scope, "1h", None, "2026-03-10T14:00:00Z")[0] == \
        "2026-03-10T13:00:00.000000000Z"



def _stand_in_offline(monkeypatch: pytest.MonkeyPatch, made: list[object]) -> None:
    """Put a minimal ``OfflineInvestigator(hub)`` in place of the lead's module.

    This tests the CLI's side of the agreed seam (the import path, the constructor
    taking only the hub, ``run(brief)`` yielding events that end with Done), not the
    offline investigator itself: it makes one real tool call through the hub the CLI
    connected, so the evidence in the output comes from the real servers.
    """
    import types as pytypes

    from obsbench.agent.events import Done, EvidenceAdded
    from obsbench.agent.model import InvestigationResult

    class OfflineInvestigator:
        name = "offline"
        model = None

        def __init__(self, hub: object) -> None:
            self.hub = hub
            made.append(hub)

        async def run(self, brief: object):  # type: ignore[no-untyped-def]
            rec = await self.hub.call("infra_get_recent_deployments", {})  # type: ignore[attr-defined]
            ev = rec.evidence
            yield EvidenceAdded(ev.id, ev.server, ev.tool, ev.kind, ev.summary)
            yield Done(InvestigationResult(
                question=brief.question,  # type: ignore[attr-defined]
                window={"start": "2026-03-10T11:00:00Z", "end": "2026-03-10T15:00:00Z"},
                root_causes=[], answer=f"Deployments [{ev.id}].", agent="offline",
                tool_calls=1))

    module = pytypes.ModuleType("obsbench.agent.offline")
    module.OfflineInvestigator = OfflineInvestigator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "obsbench.agent.offline", module)


@pytest.mark.slow
def test_without_a_key_the_offline_investigator_runs_and_every_output_says_so(
        monkeypatch: pytest.MonkeyPatch, bundle_path: Path) -> None:
    made: list[object] = []
    _stand_in_offline(monkeypatch, made)
    res = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    (notice,) = [n for n in doc["notices"] if "no Anthropic API key" in n["message"]]
    assert "using the offline investigator (deterministic, no LLM)" in notice["message"]
    assert doc["agent"] == "offline" and doc["model"] is None
    assert doc["usage"] == {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                            "cache_write_tokens": 0, "cost_usd": 0.0}
    (ev,) = doc["evidence"]
    assert (ev["id"], ev["server"], ev["tool"]) == ("E1", "infra", "get_recent_deployments")
    assert "user-api" in ev["text"] and ev["payload"]
    assert len(made) == 1  # built once, with the connected hub only
    text = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path)])
    assert text.exit_code == 0, text.stderr
    assert "info: no Anthropic API key" in text.stderr
    assert text.stdout.startswith("Deployments [E1].")
    assert "\noffline · 1 tool calls · 0 in / 0 out tokens · $0.0000" in text.stdout
    # Naming the agent is a choice, not a fallback: no notice then.
    chosen = CliRunner().invoke(app, ["investigate", "--bundle", str(bundle_path), "--agent",
                                      "offline", "--json"])
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)["notices"] == []


def _chat(message: dict[str, object], finish: str, prompt: int, completion: int) -> bytes:
    """A Chat Completions answer (the documented non-streamed shape)."""
    return json.dumps({"id": "chatcmpl-cli", "object": "chat.completion", "created": 1773150000,
                       "model": "llama3.1", "choices": [{"index": 0, "message": message,
                                                         "finish_reason": finish}],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}}).encode()


@pytest.mark.slow
def test_ask_through_an_openai_compatible_server_from_the_config(
        bundle_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[agent] provider = "openai"`` with a local base_url (an Ollama-like server on
    127.0.0.1), the real servers on a bundle, no API key needed."""
    call = {"id": "call_cli1", "type": "function", "function": {
        "name": "logs_get_error_patterns", "arguments": json.dumps({"service": "user-api"})}}
    server = LocalAPI([
        (200, "application/json", _chat({"role": "assistant", "content": None,
                                         "tool_calls": [call]}, "tool_calls", 900, 30)),
        (200, "application/json", _chat({"role": "assistant",
                                         "content": "Slow requests dominate [E1]."},
                                        "stop", 2400, 12)),
    ])
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'[agent]\nprovider = "openai"\nmodel = "llama3.1"\n'
                          f'base_url = "{server.url}/v1"\n')
        monkeypatch.setenv("OBSBENCH_CONFIG", str(config))
        res = CliRunner().invoke(app, ["ask", "what does user-api log?", "--bundle",
                                       str(bundle_path), "--json"])
    finally:
        server.close()
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["agent"] == "openai" and doc["model"] == "llama3.1"
    assert [n["message"] for n in doc["notices"]] == [
        "no price for model 'llama3.1' in [agent.prices]: cost is not counted and "
        "max_cost_usd cannot stop this investigation"]
    assert doc["answer"] == "Slow requests dominate [E1]." and doc["tool_calls"] == 1
    (ev,) = doc["evidence"]
    assert (ev["server"], ev["tool"], ev["kind"]) == ("logs", "get_error_patterns", "patterns")
    assert doc["usage"]["input_tokens"] == 3300 and doc["usage"]["cost_usd"] == 0.0
    first, second = server.bodies
    assert first["model"] == "llama3.1" and first["stream"] is True
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"logs_get_error_patterns", "metrics_query", "submit_findings"} <= names
    tool_msg = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == "call_cli1" and 'evidence="E1"' in tool_msg["content"]
    assert "<untrusted-tool-output" in tool_msg["content"]
