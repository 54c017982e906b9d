"""A virtualised log view: only the visible rows are rendered, so 100k+ lines stay instant.

Rows are ``LogRow`` tuples. A payload's rows (``LogRows``) are built only when a line
is drawn, and the filter scans flat per-field string lists made on its first use, so
opening 100k lines costs what the first screen needs. Filtering builds a list of row
indices (no copies). Level colours come from the theme's ``log-*`` variables, and the
filter's matches are highlighted in each visible line. ``w`` wraps long lines (a line map
from display line to (row, chunk) is rebuilt on toggle, filter and resize), and
``mark`` highlights the rows of one error pattern (set by the patterns panel).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import compress, islice
from typing import Any, ClassVar, NamedTuple, overload

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


class LogRows(Sequence[LogRow]):
    """A logs payload's lines as ``LogRow``s, oldest first, each built when first read.

    Opening a large evidence item draws one screen: converting every line up front
    (100k tuples) was most of the time to first paint. ``column`` gives one field of
    every row as a flat list for filters and layout, made once and kept.
    """

    def __init__(self, lines: Sequence[Mapping[str, Any]], *, reverse: bool = False) -> None:
        self._lines = lines
        self._reverse = reverse
        self._cache: dict[int, LogRow] = {}
        self._columns: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> LogRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[LogRow]: ...

    def __getitem__(self, index: int | slice) -> LogRow | list[LogRow]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self._lines)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        row = self._cache.get(index)
        if row is None:
            line = self._lines[n - 1 - index if self._reverse else index]
            row = self._cache[index] = LogRow(
                _ts(line), str(line.get("level") or "info"), str(line.get("service") or ""),
                str(line.get("message") or ""))
        return row

    def __iter__(self) -> Iterator[LogRow]:
        return (self[i] for i in range(len(self)))

    def column(self, field: str) -> list[str]:
        """One field of every row in display order, straight from the payload (cached)."""
        col = self._columns.get(field)
        if col is None:
            lines = reversed(self._lines) if self._reverse else self._lines
            if field == "ts":
                col = [_ts(line) for line in lines]
            elif field == "level":
                col = [str(line.get("level") or "info") for line in lines]
            else:
                col = [str(line.get(field) or "") for line in lines]
            self._columns[field] = col
        return col

    def widest(self, sample: int) -> int:
        """The widest service + message among the first ``sample`` rows (no rows built)."""
        lines = self._lines
        n = len(lines)
        picked = (lines[n - 1 - i] for i in range(min(sample, n))) if self._reverse \
            else islice(lines, sample)
        return max((len(str(line.get("message") or "")) + len(str(line.get("service") or ""))
                    for line in picked), default=0)


def _ts(line: Mapping[str, Any]) -> str:
    """``HH:MM:SS.mmm`` of an RFC 3339 ``ts`` (the date is in the panel header)."""
    return str(line.get("ts", ""))[11:23]


def compile_filter(text: str) -> re.Pattern[str] | None:
    """A case-insensitive regex; text that is not a valid regex is matched literally."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_SEP = "\x00"  # between messages in the filter's joined haystack (never in a needle)


def literal_text(pattern: re.Pattern[str], text: str) -> str | None:
    """``text`` when ``pattern`` (from ``compile_filter``) matches it literally, else None."""
    if pattern.pattern != text:  # not a valid regex: compile_filter escaped it
        return text
    return text if _REGEX_SPECIAL.isdisjoint(text) else None


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

    def __init__(self, rows: Sequence[LogRow] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: Sequence[LogRow] = []
        self.shown: Sequence[int] = []  # indices into rows; a range while unfiltered
        self._columns: dict[str, list[str]] = {}
        self._joined: str | None = None  # see _blob
        self._joined_done = False
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

    def set_rows(self, rows: Sequence[LogRow]) -> None:
        self.rows = rows
        self._columns = {}
        self._joined_done = False
        widest = rows.widest(5000) if isinstance(rows, LogRows) else max(
            (len(r.message) + len(r.service) for r in rows[:5000]), default=0)
        self._width = widest + 40
        self.apply_filter(self.pattern.pattern if self.pattern else "")

    def column(self, field: str) -> list[str]:
        """One field of every row (``message``, ``service``, ``level``, ``ts``), cached."""
        col = self._columns.get(field)
        if col is None:
            rows = self.rows
            col = rows.column(field) if isinstance(rows, LogRows) else \
                [getattr(r, field) for r in rows]
            self._columns[field] = col
        return col

    def apply_filter(self, text: str) -> int:
        """Keep the rows whose service, level or message match; returns how many match."""
        self.pattern = compile_filter(text)
        if self.pattern is None:
            self.shown = range(len(self.rows))
        else:
            search = self.pattern.search
            # Messages in one C-level pass; services and levels have few distinct values,
            # so they are matched once each and joined in only when one of them matches.
            hits = self._message_hits(self.pattern, text)
            services = self.column("service")
            levels = self.column("level")
            by_service = {s for s in set(services) if search(s)}
            if by_service or text in set(levels):
                extra = {i for i, (svc, lvl) in enumerate(zip(services, levels, strict=True))
                         if svc in by_service or lvl == text}
                hits = sorted(extra.union(hits))
            self.shown = hits
        self._layout_lines()
        self.scroll_to(0, 0, animate=False)
        return len(self.shown)

    def _message_hits(self, pattern: re.Pattern[str], text: str) -> list[int]:
        """Indices of the rows whose message ``pattern`` finds, in order.

        Plain text (the usual filter: a word, an id, a path) over ASCII messages is found
        with ``str.find`` in all the messages lower-cased and joined once, one jump per
        matching row: the same answer as the IGNORECASE regex, several times faster than
        calling it per row. Regexes, and messages beyond ASCII (Unicode case folding), use
        the regex on each message.
        """
        messages = self.column("message")
        needle = literal_text(pattern, text)
        joined = self._blob() if needle and needle.isascii() and _SEP not in needle else None
        if needle is None or joined is None:
            return list(compress(range(len(messages)), map(pattern.search, messages)))
        needle = needle.lower()
        hits: list[int] = []
        row, row_start = 0, 0
        pos = joined.find(needle)
        while pos != -1:
            row += joined.count(_SEP, row_start, pos)  # rows passed since the last hit
            hits.append(row)
            row_end = joined.find(_SEP, pos)
            if row_end == -1:
                break
            row, row_start = row + 1, row_end + 1
            pos = joined.find(needle, row_start)  # on from the next row
        return hits

    def _blob(self) -> str | None:
        """Messages lower-cased and joined by ``_SEP``; None when a message is not ASCII
        (Unicode case folding is the regex's) or holds the separator itself."""
        if not self._joined_done:
            messages = self.column("message")
            joined = _SEP.join(messages)
            ok = joined.isascii() and joined.count(_SEP) == max(len(messages) - 1, 0)
            self._joined = joined.lower() if ok else None
            self._joined_done = True
        return self._joined

    def set_mark(self, pattern: re.Pattern[str] | None) -> int:
        """Highlight the rows whose message matches ``pattern``; returns how many do."""
        self.mark = pattern
        self._layout_lines()
        if pattern is None:
            return 0
        return sum(1 for _ in filter(None, map(pattern.search, self.column("message"))))

    def marked(self, row: LogRow) -> bool:
        return self.mark is not None and self.mark.search(row.message) is not None

    def _prefix_len(self, row: LogRow) -> int:
        return self._prefix(len(row.ts), len(row.service))

    def _prefix(self, ts_len: int, service_len: int) -> int:
        """Cells before the message: mark gutter, timestamp, level, service."""
        gutter = 1 if self.mark is not None else 0
        return gutter + (ts_len + 1 if self.show_timestamps else 0) + 6 + service_len + 1

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
            ts, services, messages = (self.column("ts"), self.column("service"),
                                      self.column("message"))
            prefix = self._prefix
            for i in self.shown:
                starts.append(line)
                total = prefix(len(ts[i]), len(services[i])) + cell_len(messages[i])
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
