"""Budgets of one investigation: steps, tokens, money, repeated calls, and context size.

Three things keep an LLM investigation bounded and affordable:

- ``Budget``: at most ``max_steps`` model turns, ``max_tokens`` tokens (input, cache
  and output together) and ``max_cost_usd``; the loop checks it before every turn and
  ends with a partial result and a notice when one is spent.
- ``CallLedger``: an identical call (same tool, same arguments) is blocked with a
  message pointing at the evidence it already produced; a call that timed out may
  be repeated once.
- ``ContextCompactor``: when the conversation grows past ``max_context_tokens``, the
  oldest tool results are replaced by a one-line summary naming their evidence id;
  the model reads one again with ``evidence_get``. Nothing is lost: the evidence
  store keeps every item whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from obsbench.agent.model import Message, Usage
from obsbench.agent.prompts import frame_tool_output
from obsbench.evidence import Evidence
from obsbench_servers.common.budget import clip, estimate_tokens

DEFAULT_CONTEXT_TOKENS = 60_000
KEEP_RECENT_RESULTS = 6


@dataclass
class Budget:
    """Steps, tokens and money for one investigation; ``exhausted`` says which ran out."""

    max_steps: int = 30
    max_tokens: int = 500_000
    max_cost_usd: float = 2.0
    steps: int = 0
    usage: Usage = field(default_factory=Usage)

    @property
    def tokens(self) -> int:
        u = self.usage
        return u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens

    @property
    def steps_left(self) -> int:
        return max(0, self.max_steps - self.steps)

    def charge(self, usage: Usage) -> None:
        self.steps += 1
        self.usage.add(usage)

    def exhausted(self) -> tuple[str, str] | None:
        """``(stop_reason, message)`` when a limit is reached, else None."""
        if self.steps >= self.max_steps:
            return ("max_steps", f"step limit reached ({self.max_steps} model turns)")
        if self.tokens >= self.max_tokens:
            return ("max_tokens_budget",
                    f"token budget reached ({self.tokens:,} of {self.max_tokens:,} tokens)")
        if self.usage.cost_usd >= self.max_cost_usd:
            return ("max_cost", f"cost budget reached (${self.usage.cost_usd:.4f} of "
                                f"${self.max_cost_usd:.2f})")
        return None


def call_key(name: str, arguments: dict[str, Any]) -> str:
    """Canonical identity of a call: the tool and its arguments with sorted keys."""
    return name + " " + json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class _Entry:
    evidence_id: str
    outcome: str
    repeats: int = 0


@dataclass
class CallLedger:
    """Remembers every call made, to block identical repeats."""

    _calls: dict[str, _Entry] = field(default_factory=dict)

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        """The message to send back instead of calling, or None when the call may run."""
        entry = self._calls.get(call_key(name, arguments))
        if entry is None:
            return None
        if entry.outcome == "timeout" and entry.repeats == 0:
            entry.repeats += 1
            return None
        entry.repeats += 1
        return (f"blocked: identical to the call that produced [{entry.evidence_id}] "
                f"({entry.outcome}); repeating it gives the same result. Use that evidence "
                f"(evidence_get {{\"id\": \"{entry.evidence_id}\"}} reads it again) or change "
                "the arguments (another window, service or query).")

    def record(self, name: str, arguments: dict[str, Any], evidence_id: str,
               outcome: str) -> None:
        key = call_key(name, arguments)
        prev = self._calls.get(key)
        self._calls[key] = _Entry(evidence_id, outcome, prev.repeats if prev else 0)


def message_tokens(messages: Sequence[Message]) -> int:
    """Estimated tokens of a conversation (text, tool calls and tool results)."""
    total = 0
    for m in messages:
        total += estimate_tokens(m.text) + 4
        for u in m.tool_uses:
            total += estimate_tokens(u.name + json.dumps(u.arguments, default=str)) + 8
        for r in m.tool_results:
            total += estimate_tokens(r.content) + 8
    return total


def evidence_stub(item: Evidence) -> str:
    """The one-line summary that replaces an older result in the context."""
    parts = [clip(item.summary, 300)]
    if item.time_range:
        parts.append(f"range {item.time_range.get('start')} .. {item.time_range.get('end')}")
    if item.coverage_line:
        parts.append(f"coverage: {item.coverage_line}")
    return " | ".join(parts)


@dataclass
class ContextCompactor:
    """Replaces the oldest tool results by summaries when the context grows too large."""

    max_context_tokens: int = DEFAULT_CONTEXT_TOKENS
    keep_recent: int = KEEP_RECENT_RESULTS
    compacted: set[int] = field(default_factory=set)  # id() of ToolResults already summarised

    def compact(self, messages: Sequence[Message], evidence: Any, *,
                fixed_tokens: int = 0) -> list[str]:
        """Summarise oldest results first until under 70% of the limit; the ids summarised."""
        total = fixed_tokens + message_tokens(messages)
        if total <= self.max_context_tokens:
            return []
        target = int(self.max_context_tokens * 0.7)
        results = [r for m in messages for r in m.tool_results]
        candidates = results[:-self.keep_recent] if self.keep_recent else results
        done: list[str] = []
        for r in candidates:
            if total <= target:
                break
            if id(r) in self.compacted or not r.evidence_id:
                continue
            item = evidence.get(r.evidence_id)
            if item is None:
                continue
            before = estimate_tokens(r.content)
            r.content = frame_tool_output(
                evidence_stub(item), evidence_id=item.id, tool=f"{item.server}_{item.tool}",
                is_error=item.is_error,
                note=f"Summarised to save context; evidence_get {{\"id\": \"{item.id}\"}} "
                     "shows it again.")
            self.compacted.add(id(r))
            total -= max(0, before - estimate_tokens(r.content))
            done.append(item.id)
        return done
