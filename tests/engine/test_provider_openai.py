"""The OpenAI-compatible provider against recorded Chat Completions bodies (httpx MockTransport).

The bodies in tests/engine/data/openai/ are written by hand from OpenAI's
documented shapes and the variants compatible servers send (see the README there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from engine_support import collect as collect_events
from engine_support import done, fake_hub, of_type

from obsbench.agent.events import TextDelta, ToolCallFinished
from obsbench.agent.model import Message
from obsbench.agent.providers.base import ProviderError
from obsbench.agent.providers.openai import OpenAIProvider, parse_arguments
from obsbench.agent.providers.retry import RetryPolicy

DATA = Path(__file__).parent / "data" / "openai"
BASE = "http://ollama.test:11434/v1"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PRICES = {"llama3.1": {"input": 0.5, "output": 1.5}}


def sse(name: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"},
                          content=(DATA / name).read_bytes())


def js(name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "application/json", **(headers or {})},
                          content=(DATA / name).read_bytes())


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        nxt = self.responses.pop(0)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt


def make(rec: Recorder, **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(model=kw.pop("model", "llama3.1"), base_url=BASE, api_key="sk-local",
                          prices=PRICES, transport=httpx.MockTransport(rec),
                          retry=kw.pop("retry", FAST), **kw)


def complete(provider: OpenAIProvider) -> tuple[Any, list[str], list[str]]:
    pieces: list[str] = []
    notices: list[str] = []

    async def on_text(t: str) -> None:
        pieces.append(t)

    async def on_notice(t: str) -> None:
        notices.append(t)

    async def go() -> Any:
        try:
            return await provider.complete("system", [Message("user", "q")], [],
                                           on_text=on_text, on_notice=on_notice)
        finally:
            await provider.aclose()

    return anyio.run(go), pieces, notices


def run(provider: OpenAIProvider, question: str = "What is the rate?") -> list[Any]:
    async def go() -> list[Any]:
        async with fake_hub() as hub:
            try:
                return await collect_events(hub, provider, question, mode="ask")
            finally:
                await provider.aclose()

    return anyio.run(go)


def test_streamed_tool_call_then_answer_through_the_loop() -> None:
    rec = Recorder(sse("tool_call_stream.sse"), sse("final_stream.sse"))
    events = run(make(rec))
    assert [e.text for e in of_type(events, TextDelta)] == ["Checking ", "the rate.",
                                                            "The rate ", "is 42 [E1]."]
    finished = of_type(events, ToolCallFinished)[0]
    assert finished.call_id == "call_abc123" and finished.outcome == "ok"
    result = done(events).result
    assert result.answer == "The rate is 42 [E1]." and result.agent == "openai"
    u = result.usage
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (300 + 1100, 600, 42)
    assert u.cost_usd == pytest.approx((1400 * 0.5 + 42 * 1.5 + 600 * 0.05) / 1e6)

    first, second = rec.bodies
    assert rec.requests[0].url == httpx.URL(f"{BASE}/chat/completions")
    assert rec.requests[0].headers["authorization"] == "Bearer sk-local"
    assert first["model"] == "llama3.1" and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True} and first["tool_choice"] == "auto"
    assert first["messages"][0]["role"] == "system"
    assert "untrusted" in first["messages"][0]["content"]
    fn = next(t["function"] for t in first["tools"] if t["function"]["name"] == "metrics_query")
    assert first["tools"][0]["type"] == "function"
    assert fn["parameters"]["properties"]["expr"]["type"] == "string"
    assistant, tool = second["messages"][2], second["messages"][3]
    assert assistant["role"] == "assistant" and assistant["content"] == "Checking the rate."
    assert assistant["tool_calls"] == [{"id": "call_abc123", "type": "function", "function": {
        "name": "metrics_query", "arguments": json.dumps({"expr": "up"})}}]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_abc123"
    assert 'evidence="E1"' in tool["content"] and "cite it as [E1]" in tool["content"]


def test_malformed_tool_calls_go_back_to_the_model_as_errors() -> None:
    rec = Recorder(js("malformed_args.json"), js("final.json"))
    events = run(make(rec))
    outcomes = [(f.call_id, f.outcome) for f in of_type(events, ToolCallFinished)]
    assert outcomes == [("call_bad1", "invalid"), ("call_bad2", "invalid")]
    tools = [m for m in rec.bodies[1]["messages"] if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools] == ["call_bad1", "call_bad2"]
    assert "arguments are not valid JSON" in tools[0]["content"]
    assert "'{expr: up'" in tools[0]["content"]
    assert "no function name" in tools[1]["content"]
    # The malformed calls are still paired with their answers in the history.
    calls = rec.bodies[1]["messages"][2]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_bad1", "call_bad2"]
    # No call ran, so the answer's citation resolves to nothing and is flagged.
    result = done(events).result
    assert result.answer == "The rate is 42 [E1: no such evidence]."
    assert result.unresolved_citations == ["E1"]


def test_object_arguments_and_missing_ids_are_accepted() -> None:
    rec = Recorder(js("object_args.json"), js("final.json"))
    events = run(make(rec))
    finished = of_type(events, ToolCallFinished)[0]
    assert finished.outcome == "ok" and finished.call_id == "call_0"
    assert done(events).result.tool_calls == 1


def test_tool_calls_leaked_into_text_are_parsed() -> None:
    rec = Recorder(js("leaked_tool_call.json"), js("final.json"))
    events = run(make(rec, model="qwen2.5"))
    finished = of_type(events, ToolCallFinished)[0]
    assert finished.name == "metrics_query" and finished.outcome == "ok"
    assistant = rec.bodies[1]["messages"][2]
    assert assistant["content"] == "Let me check."
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"expr": "up"}'


@pytest.mark.parametrize(("raw", "args", "error"), [
    ('{"expr": "up"}', {"expr": "up"}, None),
    ({"expr": "up"}, {"expr": "up"}, None),
    ('"{\\"expr\\": \\"up\\"}"', {"expr": "up"}, None),  # encoded twice
    ("", {}, None),
    (None, {}, None),
    ("[1, 2]", {}, "must be a JSON object (got list)"),
    ("{expr: up", {}, "not valid JSON"),
    ('"just text"', {}, "got a string"),
    (42, {}, "must be a JSON object (got int)"),
])
def test_argument_parsing(raw: Any, args: dict[str, Any], error: str | None) -> None:
    got, err = parse_arguments(raw)
    assert got == args
    assert (err is None) if error is None else (err is not None and error in err)


def test_429_with_retry_after_then_success() -> None:
    rec = Recorder(js("error_429.json", 429, {"retry-after": "0"}), js("final.json"))
    turn, pieces, notices = complete(make(rec, retry=RetryPolicy(attempts=2, base_delay_s=30)))
    assert turn.message.text == "The rate is 42 [E1]." and pieces == [turn.message.text]
    assert "429" in notices[0] and "Rate limit reached" in notices[0]
    assert len(rec.bodies) == 2


@pytest.mark.parametrize(("status", "retried"), [(503, True), (502, True), (400, False),
                                                 (401, False)])
def test_server_errors_are_retried_client_errors_are_not(status: int, retried: bool) -> None:
    """A gateway's 5xx is transient (the 529 of OpenAI-compatible servers); a 4xx is not."""
    failing = httpx.Response(status, json={"error": {"message": f"status {status}"}})
    rec = Recorder(failing, js("final.json"))
    if retried:
        turn, _, notices = complete(make(rec))
        assert turn.message.text == "The rate is 42 [E1]." and len(rec.bodies) == 2
        assert f"answered {status}" in notices[0] and "attempt 2 of 3" in notices[0]
    else:
        with pytest.raises(ProviderError) as err:
            complete(make(rec))
        assert not err.value.retryable and err.value.status == status
        assert len(rec.bodies) == 1


def test_a_model_that_wants_max_completion_tokens_gets_it_at_once_and_from_then_on() -> None:
    rec = Recorder(js("error_max_tokens.json", 400), js("final.json"), js("final.json"))
    provider = make(rec, model="gpt-5.4")
    pieces: list[str] = []
    notices: list[str] = []

    async def on_text(t: str) -> None:
        pieces.append(t)

    async def on_notice(t: str) -> None:
        notices.append(t)

    async def go() -> list[Any]:
        try:
            return [await provider.complete("system", [Message("user", "q")], [],
                                            on_text=on_text, on_notice=on_notice,
                                            max_tokens=777) for _ in range(2)]
        finally:
            await provider.aclose()

    first, second = anyio.run(go)
    assert first.message.text == second.message.text == "The rate is 42 [E1]."
    rejected, resent, later = rec.bodies
    assert rejected["max_tokens"] == 777 and "max_completion_tokens" not in rejected
    assert resent["max_completion_tokens"] == 777 and "max_tokens" not in resent
    assert later["max_completion_tokens"] == 777 and "max_tokens" not in later
    assert {k: v for k, v in resent.items() if k != "max_completion_tokens"} == \
        {k: v for k, v in rejected.items() if k != "max_tokens"}
    assert notices == [] and pieces == [first.message.text, second.message.text]


def test_other_400s_are_not_mistaken_for_the_token_parameter() -> None:
    bad = httpx.Response(400, json={"error": {"message": "tools are not supported by this "
                                              "model", "type": "invalid_request_error"}})
    rec = Recorder(bad)
    with pytest.raises(ProviderError) as err:
        complete(make(rec))
    assert len(rec.bodies) == 1 and "tools are not supported" in err.value.message
    assert "does this model support tools?" in (err.value.hint or "")


def test_error_inside_a_stream_is_retried() -> None:
    rec = Recorder(sse("error_midstream.sse"), sse("final_stream.sse"))
    turn, _, notices = complete(make(rec))
    assert turn.message.text == "The rate is 42 [E1]." and "overloaded" in notices[0]


def test_unknown_model_says_how_to_get_it() -> None:
    rec = Recorder(js("error_404.json", 404))
    with pytest.raises(ProviderError) as err:
        complete(make(rec, model="llama9"))
    assert 'model "llama9" not found' in err.value.message and not err.value.retryable
    assert "ollama pull" in (err.value.hint or "") and len(rec.bodies) == 1


def test_html_instead_of_an_api_is_a_clear_error() -> None:
    page = httpx.Response(200, headers={"content-type": "text/html"},
                          content=b"<!DOCTYPE html><html><body>Login</body></html>")
    with pytest.raises(ProviderError) as err:
        complete(make(Recorder(page)))
    assert "got an HTML page" in err.value.message and "/v1" in (err.value.hint or "")


def test_refused_connection_is_retried_then_explained() -> None:
    rec = Recorder(*(httpx.ConnectError("Connection refused") for _ in range(3)))
    with pytest.raises(ProviderError) as err:
        complete(make(rec))
    assert err.value.retryable and "gave up after 3 attempts" in err.value.message
    assert "ollama serve" in (err.value.hint or "")


def test_length_stop_marks_the_cut_call() -> None:
    turn, _, _ = complete(make(Recorder(js("length.json"))))
    assert turn.stop_reason == "max_tokens"
    assert turn.message.tool_uses[0].error is not None
    assert "cut off at the output limit" in turn.message.tool_uses[0].error


@pytest.mark.parametrize("name", ["refusal.json", "content_filter.json"])
def test_refusals(name: str) -> None:
    turn, _, _ = complete(make(Recorder(js(name))))
    assert turn.stop_reason == "refusal"


def test_unpriced_local_models_cost_nothing_and_the_loop_says_so() -> None:
    rec = Recorder(sse("final_stream.sse"))
    provider = OpenAIProvider(model="mistral-nemo", base_url=BASE,
                              transport=httpx.MockTransport(rec), retry=FAST)
    events = run(provider)
    assert "authorization" not in rec.requests[0].headers
    assert done(events).result.usage.cost_usd == 0.0
    assert any("no price for model 'mistral-nemo'" in e.message
               for e in events if e.type == "notice")
