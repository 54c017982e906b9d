"""The event stream every investigator emits and every front end consumes.

The CLI prints them (``--stream`` writes one JSON object per line), the TUI
renders them, tests assert on them. Small, flat, JSON-ready.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from obsbench.agent.model import InvestigationResult, Usage


@dataclass
class TextDelta:
    """A piece of the answer as it streams."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass
class ToolCallStarted:
    call_id: str
    name: str
    arguments: dict[str, Any]
    evidence_id: str | None = None
    type: Literal["tool_call_started"] = "tool_call_started"


@dataclass
class ToolCallFinished:
    call_id: str
    name: str
    evidence_id: str | None
    outcome: str
    elapsed_s: float
    size: int
    summary: str = ""
    error: str | None = None
    type: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass
class EvidenceAdded:
    evidence_id: str
    server: str
    tool: str
    kind: str
    summary: str
    time_range: dict[str, str] | None = None
    coverage: str = ""
    type: Literal["evidence_added"] = "evidence_added"


@dataclass
class UsageUpdate:
    usage: Usage = field(default_factory=Usage)
    type: Literal["usage"] = "usage"


@dataclass
class Notice:
    """Something the person should know (budget reached, a refused call, no API key)."""

    message: str
    level: Literal["info", "warning", "error"] = "info"
    type: Literal["notice"] = "notice"


@dataclass
class Done:
    result: InvestigationResult
    type: Literal["done"] = "done"


Event = TextDelta | ToolCallStarted | ToolCallFinished | EvidenceAdded | UsageUpdate | Notice | Done


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready form (``Done`` carries the result without evidence payloads)."""
    if isinstance(event, Done):
        return {"type": "done", "result": event.result.to_dict()}
    if isinstance(event, UsageUpdate):
        return {"type": "usage", **event.usage.to_dict()}
    return asdict(event)
