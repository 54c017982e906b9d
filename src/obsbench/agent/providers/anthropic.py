"""Claude through the ``anthropic`` SDK: streaming tool use, prompt caching, cost, retries.

Each turn streams one Messages API response: text deltas go to ``on_text`` as
they arrive, tool_use blocks come back as ``ToolUse`` with their parsed input.
The system prompt and the tool definitions are the same on every turn of an
investigation, so both carry ``cache_control`` (the last tool's marker caches all
tool definitions), and so does the newest message, so each turn reads the previous
turns from the cache. Usage (input, output, cache reads and writes) is priced from
``[agent.prices]``.

The SDK's own retries are off: 429, 529/overloaded (also when it arrives as an
``error`` event inside a stream), 5xx and network failures are retried here with
backoff and ``Retry-After``, so the person hears about each wait.

Models that think before or between tool calls return ``thinking`` blocks; the API
requires them back, unchanged, in the assistant turn that continues a tool loop, so
a turn that has them keeps its content blocks in ``Message.raw``. A model the SDK
lists as deprecated is announced once (with its end-of-life date) as a notice.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic

from obsbench.agent.model import Message, StopReason, ToolUse, Turn, Usage
from obsbench.agent.providers.base import CUT_OFF, OnText, ProviderError
from obsbench.agent.providers.pricing import find_price, turn_cost
from obsbench.agent.providers.retry import RetryPolicy, with_retries
from obsbench.hub import ToolSpec

DEFAULT_MODEL = "claude-sonnet-4-6"
EPHEMERAL = {"type": "ephemeral"}
_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn", "stop_sequence": "end_turn", "tool_use": "tool_use",
    "max_tokens": "max_tokens", "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal", "pause_turn": "end_turn",
}
_RETRYABLE_TYPES = {"overloaded_error", "rate_limit_error", "api_error", "timeout_error"}
_THINKING = ("thinking", "redacted_thinking")


def deprecation(model: str) -> str | None:
    """The end-of-life date the SDK knows for a deprecated model, if any."""
    try:
        from anthropic.resources.messages.messages import DEPRECATED_MODELS  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an SDK without the table
        return None
    date = DEPRECATED_MODELS.get(model)
    return str(date) if date else None


class AnthropicProvider:
    """The Claude provider (``--agent anthropic[:MODEL]``)."""

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        prices: Mapping[str, Any] | None = None,
        base_url: str | None = None,
        http_client: Any = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.price = find_price(model, prices or {})
        self.retry = retry or RetryPolicy()
        self.end_of_life = deprecation(model)
        self._warned = False
        kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": 0, "timeout": timeout_s}
        if base_url:
            kwargs["base_url"] = base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        self.client = anthropic.AsyncAnthropic(**kwargs)

    async def aclose(self) -> None:
        await self.client.close()

    # -- request ---------------------------------------------------------------------------
    def request(self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec],
                max_tokens: int) -> dict[str, Any]:
        """The Messages API request body (without ``stream``), cache markers included."""
        tool_defs: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ]
        if tool_defs:
            tool_defs[-1]["cache_control"] = EPHEMERAL
        wire = [to_wire(m) for m in messages]
        if wire and wire[-1]["content"]:
            last = dict(wire[-1]["content"][-1])
            last["cache_control"] = EPHEMERAL
            wire[-1]["content"][-1] = last
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": EPHEMERAL}],
            "messages": wire,
        }
        if tool_defs:
            body["tools"] = tool_defs
        return body

    # -- one turn --------------------------------------------------------------------------
    async def complete(
        self,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_text: OnText | None = None,
        max_tokens: int = 4096,
        on_notice: OnText | None = None,
    ) -> Turn:
        body = self.request(system, messages, tools, max_tokens)
        if self.end_of_life and not self._warned and on_notice is not None:
            self._warned = True
            await on_notice(f"model {self.model} is deprecated and reaches end of life on "
                            f"{self.end_of_life}; choose a current one with "
                            f"--agent anthropic:MODEL or [agent] model")

        async def attempt() -> Turn:
            with warnings.catch_warnings():  # announced above, once, as a notice
                warnings.simplefilter("ignore", DeprecationWarning)
                manager = self.client.messages.stream(**body)
            try:
                async with manager as stream:
                    async for event in stream:
                        if event.type == "text" and on_text is not None and event.text:
                            await on_text(event.text)
                    final = await stream.get_final_message()
            except anthropic.APIError as exc:
                raise provider_error(exc) from exc
            return self._turn(final)

        return await with_retries(attempt, self.retry, what=f"Claude ({self.model})",
                                  on_notice=on_notice)

    def _turn(self, final: Any) -> Turn:
        text_parts: list[str] = []
        uses: list[ToolUse] = []
        raw = [b for b in (wire_block(block) for block in final.content) if b is not None]
        for block in final.content:
            if block.type == "text":
                text_parts.append(block.text)
            elif block.type == "tool_use":
                args = block.input
                if isinstance(args, dict):
                    uses.append(ToolUse(block.id, block.name, args))
                else:
                    uses.append(ToolUse(block.id, block.name, {}, error=(
                        f"the tool input was not a JSON object (got {type(args).__name__})")))
        u = final.usage
        usage = Usage(
            input_tokens=int(u.input_tokens or 0),
            output_tokens=int(u.output_tokens or 0),
            cache_read_tokens=int(getattr(u, "cache_read_input_tokens", 0) or 0),
            cache_write_tokens=int(getattr(u, "cache_creation_input_tokens", 0) or 0),
        )
        usage.cost_usd = turn_cost(usage, self.price)
        stop = _STOP.get(str(final.stop_reason), "end_turn")
        if stop == "tool_use" and not uses:
            stop = "end_turn"
        if stop == "max_tokens" and uses:
            uses[-1].error = CUT_OFF
        keep = raw if any(b["type"] in _THINKING for b in raw) else None
        return Turn(Message("assistant", "".join(text_parts), uses, raw=keep), stop, usage)


def wire_block(block: Any) -> dict[str, Any] | None:
    """A response content block as the request shape (None for types not sent back)."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return None


def to_wire(message: Message) -> dict[str, Any]:
    """A neutral message in the Messages API's shape (content blocks)."""
    content: list[dict[str, Any]] = []
    if message.role == "assistant" and message.raw:
        return {"role": "assistant", "content": [dict(b) for b in message.raw]}
    if message.role == "assistant":
        if message.text:
            content.append({"type": "text", "text": message.text})
        for u in message.tool_uses:
            content.append({"type": "tool_use", "id": u.id, "name": u.name, "input": u.arguments})
    else:
        for r in message.tool_results:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.tool_use_id,
                                     "content": r.content}
            if r.is_error:
                block["is_error"] = True
            content.append(block)
        if message.text:
            content.append({"type": "text", "text": message.text})
    return {"role": message.role, "content": content}


def provider_error(exc: anthropic.APIError) -> ProviderError:
    """An SDK error as a ProviderError: retryable or not, with what to do."""
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(f"cannot reach the Anthropic API: {exc}",
                             "check the network (and ANTHROPIC_BASE_URL or a proxy)",
                             retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        err_type, detail = _error_body(exc.body)
        retry_after = _retry_after(exc.response.headers) if exc.response is not None else None
        message = f"Anthropic API error {status}" + (f" ({err_type})" if err_type else "")
        if detail:
            message += f": {detail}"
        if err_type in _RETRYABLE_TYPES or status in (408, 429) or status >= 500:
            return ProviderError(message, "the service is busy; obsbench retries with backoff",
                                 retryable=True, status=status, retry_after=retry_after)
        hints = {
            401: "the API key was refused: check ANTHROPIC_API_KEY or [agent] api_key",
            403: "the key may not use this model or feature",
            404: "unknown model? set --agent anthropic:MODEL (e.g. claude-sonnet-4-5)",
            400: "the request was rejected; this is likely a bug — report it with the message",
        }
        return ProviderError(message, hints.get(status), status=status)
    return ProviderError(f"Anthropic SDK error: {exc}", None)


def _error_body(body: Any) -> tuple[str, str]:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return "", body[:300]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("type") or ""), str(err.get("message") or "")[:300]
    return "", ""


def _retry_after(headers: Any) -> float | None:
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(key)
        if raw is None:
            continue
        try:
            return float(raw) * scale
        except ValueError:
            continue
    return None
