"""A virtualised log view: only the visible rows are rendered, so 100k+ lines stay instant.

Rows are ``LogRow`` tuples; filtering builds a list of row indices (no copies).
Level colours come from the theme's ``log-*`` variables, and the filter's
matches are highlighted in each visible line. ``w`` wraps long lines (a line map
from display line to (row, chunk) is rebuilt on toggle, filter and resize), and
``mark`` highlights the rows of one error pattern (set by the patterns panel).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import ClassVar, NamedTuple

from rich.cells import cell_len
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
        Binding("w", "toggle_wrap", "wrap"),
        Binding("home", "scroll_home", "top", show=False),
        Binding("end", "scroll_end", "bottom", show=False),
    ]
    show_timestamps: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)

    def __init__(self, rows: list[LogRow] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[LogRow] = []
        self.shown: list[int] = []
        self.pattern: re.Pattern[str] | None = None
        self.mark: re.Pattern[str] | None = None
        self._starts: list[int] = []  # wrap mode: first display line of each shown row
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
        accent = variables.get("accent")
        self._styles["mark"] = Style.parse(accent) if accent else Style(bold=True)
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
        self._layout_lines()
        self.scroll_to(0, 0, animate=False)
        return len(self.shown)

    def set_mark(self, pattern: re.Pattern[str] | None) -> int:
        """Highlight the rows whose message matches ``pattern``; returns how many do."""
        self.mark = pattern
        self._layout_lines()
        if pattern is None:
            return 0
        return sum(1 for r in self.rows if pattern.search(r.message))

    def marked(self, row: LogRow) -> bool:
        return self.mark is not None and self.mark.search(row.message) is not None

    def _prefix_len(self, row: LogRow) -> int:
        gutter = 1 if self.mark is not None else 0
        return gutter + (len(row.ts) + 1 if self.show_timestamps else 0) + 6 + \
            len(row.service) + 1

    def _wrap_width(self) -> int:
        return max(self.scrollable_content_region.width, 20)

    def _layout_lines(self) -> None:
        """The virtual size; in wrap mode, where each shown row starts (O(rows), on change)."""
        width = self._wrap_width()
        if not self.wrap:
            self._starts = []
            self.virtual_size = Size(self._width, len(self.shown))
        else:
            starts, line = [], 0
            for i in self.shown:
                row = self.rows[i]
                starts.append(line)
                total = self._prefix_len(row) + cell_len(row.message)
                line += max(1, -(-total // width))
            self._starts = starts
            self.virtual_size = Size(width, line)
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self._layout_lines()

    def watch_show_timestamps(self) -> None:
        self._layout_lines()

    def watch_wrap(self) -> None:
        self._layout_lines()
        self.scroll_to(0, 0, animate=False)

    def action_toggle_timestamps(self) -> None:
        self.show_timestamps = not self.show_timestamps

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        chunk = 0
        if self.wrap:
            width = self._wrap_width()
            line = index
            index = bisect_right(self._starts, line) - 1
            if index < 0 or index >= len(self.shown):
                return Strip.blank(width, self.rich_style)
            chunk = line - self._starts[index]
            scroll_x = 0
        if index >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        row = self.rows[self.shown[index]]
        style = self._styles.get(row.level, Style())
        if self.marked(row):
            style = style + Style(bold=True)
        segments: list[Segment] = []
        if self.mark is not None:  # a gutter only while a pattern is marked
            segments.append(Segment("▌" if self.marked(row) else " ",
                                    self._styles.get("mark") if self.marked(row) else None))
        if self.show_timestamps:
            segments.append(Segment(f"{row.ts} ", self._styles.get("ts")))
        segments.append(Segment(f"{row.level.upper():5} ", style + Style(bold=True)))
        segments.append(Segment(f"{row.service} ", Style(dim=True)))
        segments.extend(self.highlight(row.message, style))
        if self.wrap:
            scroll_x = chunk * width
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
