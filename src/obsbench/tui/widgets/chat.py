"""The chat pane: questions, compact tool-call lines, streaming markdown answers with citations.

Citations ``[E7]`` are rewritten into links (``evidence:E7``) in the rendered
markdown, and each answer ends with a row of buttons, one per cited item, so a
citation can be followed with the mouse or the keyboard.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

if TYPE_CHECKING:  # Markdown (markdown-it, highlighting) loads with the first answer
    from textual.widgets import Markdown

_CITE = re.compile(r"\[\s*(E\d+(?:\s*,\s*E\d+)*)\s*\]")
_ID = re.compile(r"E\d+")


def linkify(markdown: str) -> str:
    """``[E3, E7]`` -> ``[E3](evidence:E3), [E7](evidence:E7)`` (markdown links)."""

    def sub(m: re.Match[str]) -> str:
        return "[" + ", ".join(f"[{i}](evidence:{i})" for i in _ID.findall(m.group(1))) + "]"

    return _CITE.sub(sub, markdown)


def human_size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} kB"


class ChatPane(VerticalScroll):
    """Appends entries; the newest is kept in view."""

    can_focus = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._tool_lines: dict[str, Static] = {}
        self._answer: Markdown | None = None
        self._answer_text = ""
        self._answers = 0
        self._flush_pending = False

    async def add_line(self, text: Text | str, classes: str = "") -> Static:
        line = Static(text, classes=f"chat-line {classes}".strip())
        await self.mount(line)
        self.scroll_end(animate=False)
        return line

    async def add_question(self, question: str) -> None:
        await self.add_line(Text(f"› {question}", style="bold"), "chat-question")
        self._answer = None
        self._answer_text = ""

    async def tool_started(self, call_id: str, text: Text) -> None:
        self._tool_lines[call_id] = await self.add_line(text, "chat-tool")

    def tool_finished(self, call_id: str, text: Text) -> None:
        line = self._tool_lines.get(call_id)
        if line is not None:
            line.update(text)

    async def append_answer(self, delta: str) -> None:
        """Stream a piece of the answer; rendering is batched to one refresh per tick."""
        if self._answer is None:
            from textual.widgets import Markdown  # noqa: PLC0415 - off the first-paint path

            self._answers += 1
            self._answer = Markdown("", classes="chat-answer", id=f"answer-{self._answers}")
            await self.mount(self._answer)
        self._answer_text += delta
        if not self._flush_pending:
            self._flush_pending = True
            self.call_after_refresh(self._flush)

    async def _flush(self) -> None:
        self._flush_pending = False
        if self._answer is not None:
            await self._answer.update(linkify(self._answer_text))
            self.scroll_end(animate=False)

    @property
    def answer_text(self) -> str:
        return self._answer_text

    async def end_answer(self, cited: list[str], known: set[str]) -> None:
        """Finish the answer: final render and one button per citation (unknown ones flagged)."""
        await self._flush()
        if cited:
            row = Horizontal(classes="citations")
            await self.mount(row)
            await row.mount(Static("cites:", classes="cites-label"))
            for ev_id in cited:
                ok = ev_id in known
                await row.mount(Button(ev_id if ok else f"{ev_id}?", compact=True,
                                       id=f"cite-{self._answers}-{ev_id}",
                                       classes="cite" if ok else "cite -unresolved",
                                       disabled=not ok,
                                       tooltip=None if ok else "no such evidence"))
        self._answer = None
        self.scroll_end(animate=False)
