"""Token budgets for tool text: fit what matters, and say what was left out.

An LLM's context is the scarcest resource of an investigation. Every tool's
text goes through a ``TextBudget``: lines are added in order of importance
until the budget is spent, and the rendering ends with a line naming how much
was not shown and why. Nothing is ever dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_TOOL_TOKENS = 2_000
# Log lines, ids and numbers tokenise worse than prose: ~3.5 characters a token
# is a conservative average over Claude's and GPT's tokenizers on telemetry text.
CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """A conservative token estimate without a tokenizer (no network, no model)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clip(text: str, max_chars: int) -> str:
    """Shorten one value, marking the cut with how much was removed."""
    if len(text) <= max_chars:
        return text
    keep = max(0, max_chars - 24)
    return f"{text[:keep]}… [+{len(text) - keep} chars]"


@dataclass
class TextBudget:
    """Accumulates lines up to ``max_tokens`` and counts what did not fit."""

    max_tokens: int = DEFAULT_TOOL_TOKENS
    unit: str = "lines"
    lines: list[str] = field(default_factory=list)
    used: int = 0
    omitted: int = 0
    reserve: int = 40  # room kept for the final "not shown" note

    def add(self, line: str, *, max_chars: int = 600) -> bool:
        """Add a line (clipped to ``max_chars``); False once the budget is spent."""
        line = clip(line, max_chars)
        cost = estimate_tokens(line) + 1
        if self.omitted or self.used + cost > self.max_tokens - self.reserve:
            self.omitted += 1
            return False
        self.lines.append(line)
        self.used += cost
        return True

    def skip(self, n: int) -> None:
        """Count ``n`` items that were not even rendered (already known not to fit)."""
        self.omitted += n

    @property
    def full(self) -> bool:
        return self.omitted > 0

    def render(self, why: str = "") -> str:
        """The lines, plus a note naming what was left out."""
        out = list(self.lines)
        if self.omitted:
            reason = why or f"token budget of {self.max_tokens}"
            out.append(f"… {self.omitted:,} more {self.unit} not shown ({reason}); "
                       "narrow the query or ask for a smaller window to see them")
        return "\n".join(out)
