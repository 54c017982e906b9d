"""The provider-neutral conversation and the result of an investigation.

Providers translate these to and from their wire formats; the loop, the offline
investigator, the CLI and the TUI only ever see these types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal", "error"]


@dataclass
class ToolUse:
    """A tool call the model asked for. ``error`` is set when the call was malformed."""

    id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None


@dataclass
class ToolResult:
    """What the loop sends back for one ToolUse; ``evidence_id`` names the evidence."""

    tool_use_id: str
    content: str
    is_error: bool = False
    evidence_id: str | None = None


@dataclass
class Message:
    """One turn of the conversation (user text, assistant text and tool uses, tool results)."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_uses: list[ToolUse] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    # Provider-specific content a provider must send back verbatim on the next turn
    # (Claude's thinking blocks with their signatures); other providers ignore it.
    raw: list[dict[str, Any]] | None = None


@dataclass
class Usage:
    """Tokens and money, summed over the calls of an investigation."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cost_usd"] = round(self.cost_usd, 6)
        return d


@dataclass
class Turn:
    """One model response: the assistant message, why it stopped, what it cost."""

    message: Message
    stop_reason: StopReason
    usage: Usage = field(default_factory=Usage)


@dataclass
class RootCause:
    """A ranked hypothesis: the service, the kind (bundle vocabulary), and its evidence."""

    service: str
    kind: str
    confidence: float
    summary: str
    evidence: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass
class Finding:
    """A contributing factor, a ruled-out hypothesis or a recommended action, with evidence."""

    summary: str
    evidence: list[str] = field(default_factory=list)
    service: str | None = None


@dataclass
class InvestigationResult:
    """What ``obsbench investigate --json`` prints (design.md's CLI contract)."""

    question: str
    window: dict[str, str]
    root_causes: list[RootCause]
    answer: str
    agent: str
    model: str | None = None
    contributing: list[Finding] = field(default_factory=list)
    ruled_out: list[Finding] = field(default_factory=list)
    actions: list[Finding] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    unresolved_citations: list[str] = field(default_factory=list)
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    elapsed_s: float = 0.0
    stop_reason: str = "end_turn"

    def to_dict(self, evidence: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        data = asdict(self)
        data["usage"] = self.usage.to_dict()
        data["elapsed_s"] = round(self.elapsed_s, 3)
        if evidence is not None:
            data["evidence"] = evidence
        return data
