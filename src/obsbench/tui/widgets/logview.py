"""A virtualised log view: only the visible rows are rendered, so 100k+ lines stay instant.

Rows are ``LogRow`` tuples; filtering builds a list of row indices (no copies).
Level colours come from the theme's ``log-*`` variables, and the filter's
matches are highlighted in each visible line.
"""

from __future__ import annotations

import re
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")


class LogRow(NamedTuple):
    ts: str
    level: str
    service: str
    message: str


def compile_filter(text: str) -> re.Pattern[str] | None:
    """A case-insensitive regex; text that is not a valid regex is matched literally."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


class LogView(ScrollView, can_focus=True):
    """Log lines with level colours, a filter, and a timestamps toggle."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "toggle_timestamps", "timestamps"),
        Binding("home", "scroll_home", "top", show=False),
        Binding("end", "scroll_end", "bottom", show=False),
    ]
    show_timestamps: reactive[bool] = reactive(True)

    def __init__(self, rows: list[LogRow] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[LogRow] = []
        self.shown: list[int] = []
        self.pattern: re.Pattern[str] | None = None
        self._styles: dict[str, Style] = {}
        self._width = 0
        if rows:
            self.set_rows(rows)

    def on_mount(self) -> None:
        self._load_styles()
        self.app.theme_changed_signal.subscribe(self, lambda _t: self._load_styles())

    def _load_styles(self) -> None:
        """Level styles from the active theme's variables (no colours in code or .tcss)."""
        variables = self.app.get_css_variables()
        self._styles = {}
        for level in LEVELS:
            key = {"trace": "debug", "fatal": "error"}.get(level, level)
            colour = variables.get(f"log-{key}")
            self._styles[level] = Style.parse(colour) if colour else Style()
        self._styles["fatal"] = self._styles["fatal"] + Style(bold=True)
        self._styles["match"] = Style(reverse=True, bold=True)
        self._styles["ts"] = Style(dim=True)
        self.refresh()

    def set_rows(self, rows: list[LogRow]) -> None:
        self.rows = rows
        self._width = max((len(r.message) + len(r.service) for r in rows[:5000]), default=0) + 40
        self.apply_filter(self.pattern.pattern if self.pattern else "")

    def apply_filter(self, text: str) -> int:
        """Keep the rows whose service, level or message match; returns how many match."""
        self.pattern = compile_filter(text)
        if self.pattern is None:
            self.shown = list(range(len(self.rows)))
        else:
            search = self.pattern.search
            self.shown = [i for i, r in enumerate(self.rows)
                            if search(r.message) or search(r.service) or r.level == text]
        self.virtual_size = Size(self._width, len(self.shown))
        self.scroll_to(0, 0, animate=False)
        self.refresh()
        return len(self.shown)

    def watch_show_timestamps(self) -> None:
        self.refresh()

    def action_toggle_timestamps(self) -> None:
        self.show_timestamps = not self.show_timestamps

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        row = self.rows[self.shown[index]]
        style = self._styles.get(row.level, Style())
        segments: list[Segment] = []
        if self.show_timestamps:
            segments.append(Segment(f"{row.ts} ", self._styles.get("ts")))
        segments.append(Segment(f"{row.level.upper():5} ", style + Style(bold=True)))
        segments.append(Segment(f"{row.service} ", Style(dim=True)))
        segments.extend(self.highlight(row.message, style))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, self.rich_style)

    def highlight(self, message: str, style: Style) -> list[Segment]:
        """The message as segments, the filter's matches in the match style."""
        if self.pattern is None:
            return [Segment(message, style)]
        out: list[Segment] = []
        pos = 0
        match_style = style + self._styles.get("match", Style(reverse=True))
        for m in self.pattern.finditer(message):
            if m.end() == m.start():
                continue
            out.append(Segment(message[pos:m.start()], style))
            out.append(Segment(m.group(0), match_style))
            pos = m.end()
        out.append(Segment(message[pos:], style))
        return out
