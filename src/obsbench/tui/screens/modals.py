"""Modal screens: ``?`` help, ``y`` raw JSON, and the confirmation of a write tool."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from obsbench.tui.commands import USAGE


class HelpScreen(ModalScreen[None]):
    """The active keys (from the app's bindings) and the command bar's commands."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("keys\n", style="bold")
        for key, what in self.keys:
            text.append(f"  {key:<12}", style="bold")
            text.append(f"{what}\n")
        text.append("\ncommands (type them in the input, starting with ':')\n", style="bold")
        for usage in USAGE.values():
            text.append(f"  {usage}\n")
        with Vertical(classes="modal"):
            yield Static("obsbench — help (esc closes)", classes="modal-title")
            yield VerticalScroll(Static(text, id="help-text"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)


class RawJsonScreen(ModalScreen[None]):
    """An evidence item's full structured content, as JSON (read-only, virtualised)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,y", "dismiss", "close")]

    def __init__(self, evidence_id: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.evidence_id = evidence_id
        self.data = data

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea  # noqa: PLC0415 - off the first-paint path

        with Vertical(classes="modal"):
            yield Static(f"{self.evidence_id} raw JSON (esc closes)", classes="modal-title")
            yield TextArea(json.dumps(self.data, indent=2, default=str), read_only=True,
                           id="raw-json", show_line_numbers=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)


class ConfirmWriteScreen(ModalScreen[bool]):
    """Shows exactly what a write tool will do; nothing happens until "Confirm" is chosen."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,n", "cancel", "cancel")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal confirm"):
            yield Static("Confirm a write", classes="modal-title")
            yield VerticalScroll(Static(Text(self.message), id="confirm-message"))
            with Horizontal(classes="modal-buttons"):
                yield Button("Cancel", id="confirm-no", variant="default", compact=True)
                yield Button("Confirm", id="confirm-yes", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_cancel(self) -> None:
        self.dismiss(False)
