"""The provider-agnostic investigation loop: model turn, tool calls, evidence, repeat.

One ``InvestigationLoop`` drives one investigation over a connected ``Hub`` with any
``Provider`` (Claude, an OpenAI-compatible model, or a scripted one in tests) and
streams events the CLI and the TUI render. Each step is one model turn:

1. the context is compacted if it grew too large (older results summarised);
2. the model answers, its text streaming as ``TextDelta`` events;
3. its tool calls are checked (malformed, unknown, write tools not offered,
   identical repeats, too many at once: each answered with an error the model can
   act on), then run through the hub in parallel (writes one at a time, and only
   if a person confirms through the hub's elicitation callback);
4. every result becomes evidence and goes back to the model as untrusted data
   with its id; ``evidence_get`` re-reads one, ``submit_findings`` hands in the
   conclusion, whose citations are checked.

The loop ends when findings are accepted, the model stops, it refuses, a budget
runs out (a ``Notice`` and a partial result), or the provider fails for good. The
last event is always ``Done``. Consume ``run`` to the end, or close it with
``contextlib.aclosing`` when stopping early: it owns a task group.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.abc import ObjectSendStream

from obsbench.agent.base import Brief, Investigator
from obsbench.agent.budget import Budget, CallLedger, ContextCompactor
from obsbench.agent.events import (
    Done,
    Event,
    EvidenceAdded,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdate,
)
from obsbench.agent.findings import (
    EVIDENCE_SPEC,
    SUBMIT_SPEC,
    Submission,
    parse_submission,
    rejection_message,
    to_result_parts,
)
from obsbench.agent.model import InvestigationResult, Message, ToolResult, ToolUse, Usage
from obsbench.agent.prompts import (
    EVIDENCE_TOOL,
    SUBMIT_TOOL,
    brief_message,
    frame_tool_output,
    last_step_note,
    nudge_continue,
    nudge_submit,
    system_prompt,
)
from obsbench.agent.providers.base import Provider, ProviderError
from obsbench.evidence import check_citations, flag_unresolved
from obsbench.hub import Hub, ToolSpec
from obsbench.scope import Scope
from obsbench_servers.common.backend import LocalBackend
from obsbench_servers.common.budget import estimate_tokens
from obsbench_servers.common.timeutil import (
    now_ns_utc,
    ns_to_rfc3339,
    parse_duration_ns,
    parse_time_ns,
)

Mode = Literal["investigate", "ask"]
DEFAULT_WINDOW = "1h"
MAX_CONTINUATIONS = 2


@dataclass
class LoopConfig:
    """Limits of one investigation (``[agent]`` in the config sets the first three)."""

    max_steps: int = 30
    max_tokens: int = 500_000
    max_cost_usd: float = 2.0
    mode: Mode = "investigate"
    max_turn_tokens: int = 4096
    max_context_tokens: int = 60_000
    keep_recent_results: int = 6
    max_calls_per_turn: int = 8
    submit_attempts: int = 2  # how often a submission with bad citations is sent back


def scope_now_ns(scope: Scope) -> int:
    """What "now" is for this investigation: ``--at``, a bundle's end, or the clock."""
    if scope.at_ns is not None:
        return scope.at_ns
    window = bundle_window(scope)
    return window[1] if window else now_ns_utc()


def bundle_window(scope: Scope) -> tuple[int, int] | None:
    """The ``[window]`` of the scope's bundle (the first local backend's), if any."""
    from obsbench_servers.store.bundle import Manifest  # noqa: PLC0415 - bundles only

    local = next((b for _, b in scope.profile.backends() if isinstance(b, LocalBackend)),
                 None)
    if local is None:
        return None
    window = Manifest.load(Path(local.bundle).expanduser()).window
    return (window.start_ns, window.end_ns) if window else None


def investigation_window(hub: Hub, brief: Brief) -> tuple[int, int, int]:
    """``(start_ns, end_ns, now_ns)``: the brief's window, else the bundle's, else the last hour."""
    now = scope_now_ns(hub.scope)
    end = parse_time_ns(brief.end, now) if brief.end else now
    if brief.start:
        start = parse_time_ns(brief.start, now)
    else:
        bundle = bundle_window(hub.scope) if hub.scope.at_ns is None and not brief.end else None
        start = bundle[0] if bundle else end - parse_duration_ns(DEFAULT_WINDOW)
    return start, end, now


class InvestigationLoop:
    """An LLM investigator: implements the ``Investigator`` protocol over a provider."""

    def __init__(self, hub: Hub, provider: Provider, config: LoopConfig | None = None) -> None:
        self.hub = hub
        self.provider = provider
        self.config = config or LoopConfig()
        self.name = provider.name
        self.model: str | None = provider.model

    async def aclose(self) -> None:
        """Close the provider's HTTP client (the hub belongs to the caller)."""
        closer = getattr(self.provider, "aclose", None)
        if closer is not None:
            await closer()

    async def run(self, brief: Brief) -> AsyncIterator[Event]:
        send, recv = anyio.create_memory_object_stream[Event](math.inf)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._drive_safely, brief, send)
            try:
                async with recv:
                    async for event in recv:
                        yield event
            except GeneratorExit:
                # The consumer stopped early (aclose): end quietly, cancelling the drive
                # (re-raising here would surface as an exception group from the tasks).
                pass
            finally:
                tg.cancel_scope.cancel()

    async def _drive_safely(self, brief: Brief, send: ObjectSendStream[Event]) -> None:
        async with send:
            run = _Run(self, brief, send)
            try:
                try:
                    await run.drive()
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the consumer stopped listening
                except Exception as exc:  # a bug must still end the stream with Done
                    run.stop_reason = "error"
                    run.stop_message = f"{type(exc).__name__}: {exc}"
                    await run.emit(Notice(f"the investigation failed: {run.stop_message}",
                                          "error"))
                await run.emit(Done(run.result()))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return


class _Run:
    """The state of one investigation (messages, budgets, evidence bookkeeping)."""

    def __init__(self, loop: InvestigationLoop, brief: Brief,
                 send: ObjectSendStream[Event]) -> None:
        self.loop = loop
        self.hub = loop.hub
        self.cfg = loop.config
        self.brief = brief
        self.send = send
        self.started = time.perf_counter()
        start, end, now = investigation_window(self.hub, brief)
        self.window = {"start": ns_to_rfc3339(start), "end": ns_to_rfc3339(end)}
        self.now = ns_to_rfc3339(now)
        include_writes = self.cfg.mode == "ask"
        self.offered: dict[str, ToolSpec] = {
            t.name: t for t in self.hub.tools(include_writes=include_writes)}
        self.tools = [*self.offered.values(), EVIDENCE_SPEC, SUBMIT_SPEC]
        self.system = system_prompt(mode=self.cfg.mode, window=self.window,
                                    scope=self.hub.scope.name, now=self.now,
                                    servers=list(self.hub.servers))
        self.fixed_tokens = estimate_tokens(self.system) + estimate_tokens(
            json.dumps([t.to_dict() for t in self.tools]))
        self.messages: list[Message] = [Message("user", brief_message(brief, self.window))]
        self.budget = Budget(self.cfg.max_steps, self.cfg.max_tokens, self.cfg.max_cost_usd)
        self.ledger = CallLedger()
        self.compactor = ContextCompactor(self.cfg.max_context_tokens,
                                          self.cfg.keep_recent_results)
        self.accepted: Submission | None = None
        self.last_text = ""
        self.stop_reason = "end_turn"
        self.stop_message = ""
        self.tool_calls = 0
        self.rejections = 0
        self.nudged = False
        self.continuations = 0
        self.price_warned = False
        self.called_servers: set[str] = set()

    async def emit(self, event: Event) -> None:
        await self.send.send(event)

    async def _on_text(self, text: str) -> None:
        await self.emit(TextDelta(text))

    async def _on_notice(self, text: str) -> None:
        await self.emit(Notice(text, "warning"))

    # -- the loop ------------------------------------------------------------------------------
    async def drive(self) -> None:
        provider = self.loop.provider
        while True:
            spent = self.budget.exhausted()
            if spent is not None:
                self.stop_reason, self.stop_message = spent
                await self.emit(Notice(f"{self.stop_message}: the investigation stops here "
                                       "with a partial result", "warning"))
                return
            ids = self.compactor.compact(self.messages, self.hub.evidence,
                                         fixed_tokens=self.fixed_tokens)
            if ids:
                await self.emit(Notice(
                    f"summarised {len(ids)} older evidence item(s) ({', '.join(ids)}) in the "
                    "model's context to keep it small; the model can re-read them with "
                    "evidence_get", "info"))
            try:
                turn = await provider.complete(
                    self.system, self.messages, self.tools, on_text=self._on_text,
                    max_tokens=self.cfg.max_turn_tokens, on_notice=self._on_notice)
            except ProviderError as exc:
                self.stop_reason, self.stop_message = "error", exc.message
                hint = f" ({exc.hint})" if exc.hint else ""
                await self.emit(Notice(f"{provider.name}: {exc.message}{hint}", "error"))
                return
            self.budget.charge(turn.usage)
            await self.emit(UsageUpdate(copy.copy(self.budget.usage)))
            await self._warn_unpriced(turn.usage)
            self.messages.append(turn.message)
            if turn.message.text.strip():
                self.last_text = turn.message.text
            if turn.stop_reason == "refusal":
                self.stop_reason = "refusal"
                self.stop_message = "the model declined to continue (refusal)"
                await self.emit(Notice(f"{self.stop_message}; nothing it said is used as a "
                                       "finding", "warning"))
                return
            if not turn.message.tool_uses:
                if turn.stop_reason == "max_tokens" and self.continuations < MAX_CONTINUATIONS:
                    self.continuations += 1
                    await self.emit(Notice("the model's reply hit the output limit; asking it "
                                           "to continue", "warning"))
                    self.messages.append(Message("user", nudge_continue()))
                    continue
                if turn.stop_reason == "max_tokens":
                    self.stop_reason = "max_tokens"
                    self.stop_message = "the model's replies kept hitting the output limit"
                    await self.emit(Notice(self.stop_message, "warning"))
                    return
                if self.cfg.mode == "investigate" and not self.nudged \
                        and self.budget.steps_left > 0:
                    self.nudged = True
                    self.messages.append(Message("user", nudge_submit()))
                    continue
                if self.cfg.mode == "investigate":
                    await self.emit(Notice("the model ended without structured findings; the "
                                           "answer is its last text", "warning"))
                return
            self.continuations = 0
            results = await self._run_tools(turn.message.tool_uses)
            if self.accepted is not None:
                return
            self.messages.append(Message("user", last_step_note(self.budget.steps_left),
                                         tool_results=results))

    async def _warn_unpriced(self, usage: Usage) -> None:
        provider: Any = self.loop.provider
        if self.price_warned or getattr(provider, "price", True) is not None:
            return
        if usage.input_tokens or usage.output_tokens:
            self.price_warned = True
            await self.emit(Notice(
                f"no price for model {provider.model!r} in [agent.prices]: cost is not "
                "counted and max_cost_usd cannot stop this investigation", "warning"))

    # -- tool calls ----------------------------------------------------------------------------
    async def _run_tools(self, uses: list[ToolUse]) -> list[ToolResult]:
        results: dict[str, ToolResult] = {}
        runnable: list[ToolUse] = []
        submissions: list[ToolUse] = []
        for use in uses:
            if use.name == SUBMIT_TOOL and use.error is None:
                submissions.append(use)
                continue
            early = await self._precheck(use, len(runnable))
            if early is None:
                runnable.append(use)
            else:
                results[use.id] = early
        reads = [u for u in runnable if not self.offered[u.name].destructive]
        writes = [u for u in runnable if self.offered[u.name].destructive]
        ids = {u.id: self.hub.evidence.new_id() for u in reads + writes}
        for u in reads + writes:
            await self.emit(ToolCallStarted(u.id, u.name, u.arguments, ids[u.id]))
        async with anyio.create_task_group() as tg:
            for u in reads:
                tg.start_soon(self._call, u, ids[u.id], results)
        for u in writes:
            await self.emit(Notice(
                f"{u.name} would change something: it runs only if a person confirms it",
                "warning"))
            await self._call(u, ids[u.id], results)
        for use in submissions:
            results[use.id] = await self._submit(use)
        return [results[u.id] for u in uses]

    async def _precheck(self, use: ToolUse, queued: int) -> ToolResult | None:
        """An answer for a call that must not run (and its events), or None to run it."""
        name = use.name or "(no name)"
        outcome, message = "", ""
        if use.error is not None:
            outcome = "invalid"
            message = (f"error: your call to {name} was malformed: {use.error}. Send the "
                       "arguments as one JSON object matching the tool's input schema.")
        elif use.name == EVIDENCE_TOOL:
            return await self._evidence_get(use)
        elif use.name not in self.offered:
            outcome = "refused" if use.name in {t.name for t in self.hub.tools()} else "invalid"
            if outcome == "refused":
                message = (f"refused: {use.name} changes things and is not available in an "
                           "investigation. Recommend it as an action instead; a person "
                           "decides.")
            else:
                close = difflib.get_close_matches(use.name, list(self.offered), n=3, cutoff=0.5)
                message = (f"error: there is no tool {name!r}. "
                           + (f"Did you mean {', '.join(close)}? " if close else "")
                           + "Tool names are SERVER_TOOL, e.g. metrics_query.")
        elif queued >= self.cfg.max_calls_per_turn:
            outcome = "blocked"
            message = (f"not run: at most {self.cfg.max_calls_per_turn} tool calls per turn; "
                       "make this call in your next turn if it is still needed.")
        else:
            blocked = self.ledger.check(use.name, use.arguments)
            if blocked is None:
                return None
            outcome, message = "blocked", blocked
        await self.emit(ToolCallStarted(use.id, name, use.arguments, None))
        await self.emit(ToolCallFinished(use.id, name, None, outcome, 0.0, 0, error=message))
        return ToolResult(use.id, message, is_error=True)

    async def _call(self, use: ToolUse, ev_id: str, results: dict[str, ToolResult]) -> None:
        rec = await self.hub.call(use.name, use.arguments, evidence_id=ev_id)
        item = rec.evidence
        self.tool_calls += 1
        self.called_servers.add(item.server)
        self.ledger.record(use.name, use.arguments, ev_id, rec.outcome)
        await self.emit(ToolCallFinished(
            use.id, use.name, item.id, rec.outcome, round(item.elapsed_s, 4), rec.size,
            summary=item.summary, error=item.summary if item.is_error else None))
        await self.emit(EvidenceAdded(item.id, item.server, item.tool, item.kind, item.summary,
                                      item.time_range, item.coverage_line))
        if item.is_error and self.offered[use.name].destructive:
            await self.emit(Notice(f"{use.name} was not performed: {item.summary}", "warning"))
        results[use.id] = ToolResult(
            use.id, frame_tool_output(item.text, evidence_id=item.id, tool=use.name,
                                      is_error=item.is_error),
            is_error=item.is_error, evidence_id=item.id)

    async def _evidence_get(self, use: ToolUse) -> ToolResult:
        ev_id = str(use.arguments.get("id") or "").strip().upper()
        item = self.hub.evidence.get(ev_id) if ev_id else None
        await self.emit(ToolCallStarted(use.id, EVIDENCE_TOOL, use.arguments,
                                        item.id if item else None))
        if item is None:
            known = ", ".join(e.id for e in self.hub.evidence) or "none yet"
            message = f"error: no evidence {ev_id or '(no id given)'}; ids so far: {known}"
            await self.emit(ToolCallFinished(use.id, EVIDENCE_TOOL, None, "invalid", 0.0, 0,
                                             error=message))
            return ToolResult(use.id, message, is_error=True)
        await self.emit(ToolCallFinished(use.id, EVIDENCE_TOOL, item.id, "ok", 0.0,
                                         len(item.text), summary=item.summary))
        return ToolResult(use.id, frame_tool_output(
            item.text, evidence_id=item.id, tool=f"{item.server}_{item.tool}",
            is_error=item.is_error, note="(read again)"), evidence_id=item.id)

    async def _submit(self, use: ToolUse) -> ToolResult:
        store = self.hub.evidence
        try:
            sub = parse_submission(use.arguments, store)
        except ValueError as exc:
            self.rejections += 1
            return ToolResult(use.id, f"error: {exc}. Fix the arguments and call "
                                      f"{SUBMIT_TOOL} again.", is_error=True)
        can_retry = self.rejections < self.cfg.submit_attempts and self.budget.steps_left > 0
        if not sub.clean and can_retry:
            self.rejections += 1
            await self.emit(Notice(
                "the model's findings cite evidence that does not exist or leave a root cause "
                "unsupported; sent back to be fixed", "warning"))
            return ToolResult(use.id, rejection_message(sub, store), is_error=True)
        if sub.unresolved:
            await self.emit(Notice(
                f"{len(sub.unresolved)} citation(s) do not resolve ({', '.join(sub.unresolved)})"
                ": flagged in the answer, not shown as fact", "warning"))
        self.accepted = sub
        self.stop_reason = "end_turn"
        return ToolResult(use.id, "Findings accepted.")

    # -- the result ----------------------------------------------------------------------------
    def result(self) -> InvestigationResult:
        store = self.hub.evidence
        base: dict[str, Any] = {
            "question": self.brief.question, "window": self.window,
            "agent": self.loop.name, "model": self.loop.model,
            "tool_calls": self.tool_calls, "usage": copy.copy(self.budget.usage),
            "elapsed_s": time.perf_counter() - self.started, "stop_reason": self.stop_reason,
        }
        if self.accepted is not None:
            return InvestigationResult(**base, **to_result_parts(self.accepted, store))
        answer = self.last_text.strip()
        partial = self.stop_reason != "end_turn" or (self.cfg.mode == "investigate")
        if partial:
            lines = []
            if self.stop_reason != "end_turn":
                lines.append(f"**Partial result**: the investigation stopped ({self.stop_message})"
                             " before the model handed in findings.")
            if answer:
                lines += ["", answer]
            items = list(store)
            if items:
                lines += ["", "Evidence gathered:"]
                lines += [f"- [{e.id}] {e.server}_{e.tool}: {e.summary}" for e in items]
            answer = "\n".join(lines).strip()
        check = check_citations(answer, store)
        not_checked = [f"{s}: no tool of this server was called" for s in self.hub.servers
                       if s not in self.called_servers] if partial else []
        return InvestigationResult(
            **base, answer=flag_unresolved(answer, store) or "(no answer)", root_causes=[],
            not_checked=not_checked, unresolved_citations=check.unresolved)


async def run_to_end(investigator: Investigator, brief: Brief,
                     on_event: Callable[[Event], Any] | None = None) -> InvestigationResult:
    """Consume an investigator's events (passing each to ``on_event``); return the result."""
    result: InvestigationResult | None = None
    async with aclosing(investigator.run(brief)) as events:  # type: ignore[type-var]
        async for event in events:
            if on_event is not None:
                out = on_event(event)
                if hasattr(out, "__await__"):
                    await out
            if isinstance(event, Done):
                result = event.result
    if result is None:
        raise RuntimeError(f"{investigator.name} ended without a Done event")
    return result
