"""What every investigator (LLM loop or offline) offers the CLI and the TUI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from obsbench.agent.events import Event


@dataclass
class Brief:
    """Where to start: an alert, a service, a question, and the window (RFC 3339 or relative)."""

    question: str
    service: str | None = None
    alert: str | None = None
    start: str | None = None
    end: str | None = None


class Investigator(Protocol):
    """Runs one investigation over a connected hub; the last event is ``Done``."""

    name: str
    model: str | None

    def run(self, brief: Brief) -> AsyncIterator[Event]:
        """Stream events: text deltas, tool calls, evidence, usage, and finally Done."""
        ...
