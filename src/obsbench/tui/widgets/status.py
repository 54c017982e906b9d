"""The status bar: profile, backends, agent and model, tokens and cost, what is running."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass
class StatusInfo:
    profile: str = ""
    backends: str = ""
    servers: str = "connecting"
    agent: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    state: str = "idle"


class StatusBar(Static):
    """One line; ``show(info)`` re-renders it."""

    def show(self, info: StatusInfo) -> None:
        text = Text()
        text.append(f" {info.profile} ", style="reverse")
        # Most wanted first: an 80-column terminal cuts the tail.
        text.append(f" {info.backends} · agent {info.agent} · ")
        text.append(f"{info.input_tokens:,}/{info.output_tokens:,} tok ${info.cost_usd:.4f}")
        text.append(f" · {info.state}", style="bold" if info.state != "idle" else "dim")
        text.append(f" · {info.servers}", style="dim")
        self.update(text)
