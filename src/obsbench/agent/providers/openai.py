"""Any OpenAI-compatible Chat Completions API with tools: Ollama, vLLM, LM Studio, gateways.

Plain httpx, streaming by default (``data:`` lines, ``[DONE]``), with the
non-streaming JSON answer accepted too (some servers ignore ``stream``). Local
models get tool calls wrong in many ways; none of them crashes an investigation.
Each becomes a ``ToolUse`` whose ``error`` the loop sends back to the model:

- arguments that are not JSON, or JSON that is not an object;
- arguments encoded twice (a JSON string holding the object): decoded;
- arguments given as an object instead of a string (Ollama): accepted;
- a call without a name, or without an id (an id is made up);
- no ``tool_calls`` at all but ``<tool_call>{...}</tool_call>`` in the text
  (Hermes/Qwen templates leaking through): parsed as calls.

429, 5xx and network failures are retried with backoff (``Retry-After`` honoured).
The output limit goes out as ``max_tokens``, which local servers know; OpenAI's newer
models (GPT-5.x, o-series, also on Azure) reject it with a 400 naming
``max_completion_tokens``, so the turn is sent again at once with that name, and the
provider keeps using it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from obsbench.agent.model import Message, StopReason, ToolUse, Turn, Usage
from obsbench.agent.providers.base import CUT_OFF, OnText, ProviderError
from obsbench.agent.providers.pricing import find_price, turn_cost
from obsbench.agent.providers.retry import RetryPolicy, with_retries
from obsbench.hub import ToolSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_FINISH: dict[str, StopReason] = {
    "stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use",
    "length": "max_tokens", "content_filter": "refusal",
}
_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


class OpenAIProvider:
    """The OpenAI-compatible provider (``--agent openai:MODEL``)."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        prices: Mapping[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        stream: bool = True,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.price = find_price(model, prices or {})
        self.retry = retry or RetryPolicy()
        self.stream = stream
        self.token_param = "max_tokens"  # or max_completion_tokens, once a server asks
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            transport=transport, headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0))

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- request ---------------------------------------------------------------------------
    def request(self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec],
                max_tokens: int) -> dict[str, Any]:
        wire: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for m in messages:
            wire.extend(to_wire(m))
        body: dict[str, Any] = {"model": self.model, "messages": wire,
                                self.token_param: max_tokens}
        if tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.input_schema}}
                for t in tools]
            body["tool_choice"] = "auto"
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
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
        url = f"{self.base_url}/chat/completions"

        async def attempt() -> Turn:
            try:
                return await self._send(self.request(system, messages, tools, max_tokens),
                                        url, on_text)
            except _TokenParamRejectedError:
                self.token_param = "max_completion_tokens"
                return await self._send(self.request(system, messages, tools, max_tokens),
                                        url, on_text)

        return await with_retries(attempt, self.retry, what=f"{self.model} at {self.base_url}",
                                  on_notice=on_notice)

    async def _send(self, body: dict[str, Any], url: str, on_text: OnText | None) -> Turn:
        """One request: a streamed or a JSON answer as a Turn, or a ProviderError."""
        try:
            async with self.client.stream("POST", url, json=body) as resp:
                if resp.status_code >= 400:
                    raw = await _read_capped(resp, 64 * 1024)
                    if "max_tokens" in body and _wants_completion_tokens(resp.status_code, raw):
                        raise _TokenParamRejectedError
                    raise http_error(resp, raw, url)
                ctype = resp.headers.get("content-type", "")
                if "text/event-stream" in ctype:
                    acc = _Accumulator()
                    await acc.consume(resp, on_text)
                    return self._turn(acc)
                raw = await _read_capped(resp, MAX_RESPONSE_BYTES)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{url} did not answer in time ({type(exc).__name__})",
                                "a local model may still be loading; try again",
                                retryable=True) from exc
        except httpx.TransportError as exc:
            raise ProviderError(f"cannot reach {url}: {exc}",
                                "is the server running (e.g. `ollama serve`), and is "
                                "[agent] base_url right (it ends in /v1)?",
                                retryable=True) from exc
        turn = self._from_json(raw, url)
        await self._emit(on_text, turn.message.text)  # a non-streamed answer, all at once
        return turn

    async def _emit(self, on_text: OnText | None, text: str) -> None:
        if on_text is not None and text:
            await on_text(text)

    def _from_json(self, raw: bytes, url: str) -> Turn:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProviderError(f"{url} did not answer with JSON ({_snippet(raw)})",
                                "is [agent] base_url an OpenAI-compatible API (ending in /v1)?"
                                ) from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) \
                or not data["choices"]:
            raise ProviderError(f"{url} answered without choices ({_snippet(raw)})",
                                "is this an OpenAI-compatible Chat Completions API?")
        choice = data["choices"][0] or {}
        msg = choice.get("message") or {}
        acc = _Accumulator()
        acc.text = str(msg.get("content") or "")
        acc.refusal = bool(msg.get("refusal"))
        if acc.refusal and not acc.text:
            acc.text = str(msg.get("refusal"))
        for i, call in enumerate(msg.get("tool_calls") or []):
            fn = (call or {}).get("function") or {}
            acc.calls[i] = {"id": call.get("id"), "name": fn.get("name"),
                            "arguments": fn.get("arguments")}
        acc.finish = choice.get("finish_reason")
        acc.usage = data.get("usage")
        return self._turn(acc)

    def _turn(self, acc: _Accumulator) -> Turn:
        text = acc.text
        uses = [parse_tool_call(i, c) for i, c in sorted(acc.calls.items())]
        if not uses and text:
            leaked = _TOOL_CALL_TAG.findall(text)
            if leaked:
                uses = [parse_leaked(i, raw) for i, raw in enumerate(leaked)]
                text = _TOOL_CALL_TAG.sub("", text).strip()
        usage = _usage(acc.usage)
        usage.cost_usd = turn_cost(usage, self.price)
        if acc.refusal:
            stop: StopReason = "refusal"
        else:
            stop = _FINISH.get(str(acc.finish), "end_turn")
        if stop == "max_tokens" and uses:
            uses[-1].error = CUT_OFF
        if uses and stop == "end_turn":
            stop = "tool_use"
        if stop == "tool_use" and not uses:
            stop = "end_turn"
        return Turn(Message("assistant", text, uses), stop, usage)


class _TokenParamRejectedError(Exception):
    """The server wants ``max_completion_tokens`` instead of ``max_tokens``."""


def _wants_completion_tokens(status: int, raw: bytes) -> bool:
    """OpenAI's 400 for models that only take ``max_completion_tokens``."""
    if status != 400:
        return False
    text = raw[:4096].decode("utf-8", "replace")
    return "max_completion_tokens" in text and "max_tokens" in text.replace(
        "max_completion_tokens", "")


class _Accumulator:
    """Builds one answer from streamed chunks (text, tool-call fragments, usage)."""

    def __init__(self) -> None:
        self.text = ""
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage: Any = None
        self.refusal = False
        self.size = 0

    async def consume(self, resp: httpx.Response, on_text: OnText | None) -> None:
        async for raw_line in resp.aiter_lines():
            self.size += len(raw_line)
            if self.size > MAX_RESPONSE_BYTES:
                raise ProviderError(f"the streamed answer exceeded {MAX_RESPONSE_BYTES:,} bytes",
                                    "lower max_tokens; the server may be misbehaving")
            line = raw_line.strip()
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise ProviderError(f"unreadable stream chunk: {payload[:200]!r}",
                                    "the server sent something that is not JSON") from None
            if isinstance(chunk, dict) and "error" in chunk:
                err = chunk["error"]
                msg = err.get("message") if isinstance(err, dict) else str(err)
                raise ProviderError(f"the model server reported an error mid-stream: {msg}",
                                    None, retryable=_is_overload(str(msg)))
            await self.add(chunk, on_text)

    async def add(self, chunk: dict[str, Any], on_text: OnText | None) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if piece:
                self.text += piece
                if on_text is not None:
                    await on_text(piece)
            if delta.get("refusal"):
                self.refusal = True
                self.text += str(delta["refusal"])
            for frag in delta.get("tool_calls") or []:
                idx = int(frag.get("index", len(self.calls)))
                call = self.calls.setdefault(idx, {"id": None, "name": None, "arguments": None})
                if frag.get("id"):
                    call["id"] = frag["id"]
                fn = frag.get("function") or {}
                name = fn.get("name")
                if name:
                    # OpenAI sends the name once; some servers repeat it in every fragment.
                    old = call["name"]
                    call["name"] = name if not old or name.startswith(old) else old
                args = fn.get("arguments")
                if isinstance(args, dict):
                    call["arguments"] = args
                elif isinstance(args, str):
                    prev = call["arguments"]
                    call["arguments"] = (prev if isinstance(prev, str) else "") + args
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]


def parse_tool_call(index: int, call: dict[str, Any]) -> ToolUse:
    """One accumulated call as a ToolUse; anything malformed is described in ``error``."""
    call_id = str(call.get("id") or f"call_{index}")
    name = str(call.get("name") or "").strip()
    if not name:
        return ToolUse(call_id, "", {}, error="the tool call has no function name")
    args, error = parse_arguments(call.get("arguments"))
    return ToolUse(call_id, name, args, error=error)


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Arguments as a dict, or ``({}, what was wrong)``."""
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, str):
        return {}, f"arguments must be a JSON object (got {type(raw).__name__})"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return {}, f"arguments are not valid JSON ({exc.args[0] if exc.args else exc}): " \
                   f"{raw[:200]!r}"
    if isinstance(value, str):  # encoded twice
        try:
            value = json.loads(value)
        except ValueError:
            return {}, f"arguments must be a JSON object (got a string: {value[:200]!r})"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object (got {type(value).__name__})"
    return value, None


def parse_leaked(index: int, raw: str) -> ToolUse:
    """A ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` block from the text."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return ToolUse(f"text_call_{index}", "", {},
                       error=f"a <tool_call> block in your text is not valid JSON: {raw[:200]!r}")
    if not isinstance(obj, dict):
        return ToolUse(f"text_call_{index}", "", {}, error="a <tool_call> block is not an object")
    args, error = parse_arguments(obj.get("arguments", obj.get("parameters")))
    name = str(obj.get("name") or "")
    if not name:
        error = error or "a <tool_call> block has no name"
    return ToolUse(f"text_call_{index}", name, args, error=error)


def to_wire(message: Message) -> list[dict[str, Any]]:
    """A neutral message as Chat Completions messages (tool results are one each)."""
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_uses:
            out["tool_calls"] = [{
                "id": u.id, "type": "function",
                "function": {"name": u.name or "invalid",
                             "arguments": json.dumps(u.arguments)},
            } for u in message.tool_uses]
        return [out]
    wire: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.tool_use_id, "content": r.content}
        for r in message.tool_results
    ]
    if message.text:
        wire.append({"role": "user", "content": message.text})
    return wire


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    prompt = int(raw.get("prompt_tokens") or 0)
    return Usage(input_tokens=max(0, prompt - cached),
                 output_tokens=int(raw.get("completion_tokens") or 0),
                 cache_read_tokens=cached)


def _is_overload(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in ("overload", "rate limit", "capacity", "try again"))


async def _read_capped(resp: httpx.Response, cap: int) -> bytes:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            raise ProviderError(f"the answer exceeded {cap:,} bytes",
                                "the server may be misbehaving; lower max_tokens")
    return bytes(buf)


def _snippet(raw: bytes) -> str:
    text = raw[:200].decode("utf-8", "replace").strip().replace("\n", " ")
    if text.lower().startswith(("<!doctype", "<html")):
        return "got an HTML page"
    return f"got {text!r}" if text else "got an empty body"


def http_error(resp: httpx.Response, raw: bytes, url: str) -> ProviderError:
    """A non-2xx answer as a ProviderError with the server's own message."""
    status = resp.status_code
    detail = ""
    try:
        data = json.loads(raw)
        err = data.get("error", data) if isinstance(data, dict) else data
        detail = str(err.get("message") or err) if isinstance(err, dict) else str(err)
    except ValueError:
        detail = _snippet(raw)
    detail = detail[:300]
    message = f"{url} answered {status}" + (f": {detail}" if detail else "")
    retry_after = None
    ra = resp.headers.get("retry-after")
    if ra is not None:
        try:
            retry_after = float(ra)
        except ValueError:
            retry_after = None
    if status in (408, 409, 429) or status >= 500:
        return ProviderError(message, "the server is busy; obsbench retries with backoff",
                             retryable=True, status=status, retry_after=retry_after)
    hints = {
        401: "the API key was refused: set OPENAI_API_KEY or [agent] api_key",
        403: "the key may not use this model",
        404: "unknown model or wrong base_url: for Ollama pull the model (`ollama pull "
             "NAME`) and use base_url http://127.0.0.1:11434/v1",
        400: "the server rejected the request; does this model support tools?",
    }
    return ProviderError(message, hints.get(status), status=status)
