"""The log view opens large payloads lazily and filters them with the regex's own answers.

Rows are built only for the lines drawn; the filter's fast path (plain text over ASCII
messages, found in one joined lower-cased string) must select exactly the rows the
case-insensitive regex selects, on every row: checked against the plain per-row rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from textual.app import App, ComposeResult

from obsbench.tui.widgets.logview import LogRows, LogView, compile_filter, literal_text
from obsbench.tui.widgets.panels import log_rows

MESSAGES = [
    "GET /v1/users/42 took 12 ms ok",
    "QueuePool limit reached, connection timed out",
    "queuepool LIMIT reached again",
    "ſtatus of the long-s line (matches 'status' only by Unicode case folding)",
    "Kelvin sign: 300 \u212a is hot",
    "İstanbul dotted capital I",
    "line ending with ok",
    "request id=abc-123 path=/v1/users/7/orders",
    "",
    "a.b literal dot and a-b dash (QueuePool)",
]


def payload(n: int = 200, *, direction: str = "forward") -> dict[str, Any]:
    lines = []
    for i in range(n):
        lines.append({"ts": f"2026-03-10T14:00:{i % 60:02d}.{i % 1000:03d}Z",
                      "level": ("info", "warn", "error", "debug")[i % 4],
                      "service": ("user-api", "checkout", "queue-worker")[i % 3],
                      "message": MESSAGES[i % len(MESSAGES)] + f" #{i}"})
    return {"direction": direction, "lines": lines}


def reference(rows: Sequence[Any], text: str) -> list[int]:
    """The filter's rule, row by row: message or service found, or the level named."""
    pattern = compile_filter(text)
    if pattern is None:
        return list(range(len(rows)))
    return [i for i, r in enumerate(rows)
            if pattern.search(r.message) or pattern.search(r.service) or r.level == text]


class Host(App[None]):
    def __init__(self, rows: Sequence[Any]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield LogView(self.rows, id="v")


FILTERS = ["queuepool", "ok", "/", "QUEUEPOOL", "status", "k is", "i", "users/", "ok #", "ok\nline",
           "a.b", "a-b", "foo(", r"took \d+ ms", "^line", "checkout", "queue", "error", "warn",
           "#1", "zzz-no-match", "", "ı", "İst"]


@pytest.mark.asyncio
async def test_filter_selects_what_the_regex_selects_on_every_row() -> None:
    rows = log_rows(payload(400, direction="backward"))
    plain = list(rows)  # the same rows, as a plain list (the reference path)
    app = Host(rows)
    async with app.run_test(size=(100, 20)):
        view = app.query_one(LogView)
        for text in FILTERS:
            assert view.apply_filter(text) == len(reference(plain, text)), text
            assert list(view.shown) == reference(plain, text), text
        # A message beyond ASCII anywhere turns the joined fast path off: still exact.
        assert view._blob() is None
        assert view.apply_filter("status") == len(reference(plain, "status")) > 0


@pytest.mark.asyncio
async def test_ascii_payloads_take_the_joined_path_with_the_same_answers() -> None:
    p = payload(300)
    for i, line in enumerate(p["lines"]):
        line["message"] = line["message"].encode("ascii", "replace").decode()
        if i % 7 == 0:
            line["message"] += " ok"  # matches that end one row and could run into the next
        if i % 11 == 0:
            line["message"] += "\nTraceback: users/ ok"  # multi-line events (tracebacks)
    rows = log_rows(p)
    plain = list(rows)
    app = Host(rows)
    async with app.run_test(size=(100, 20)):
        view = app.query_one(LogView)
        assert view._blob() is not None
        for text in FILTERS:
            view.apply_filter(text)
            assert list(view.shown) == reference(plain, text), text
        # Rows ending in "ok" are not joined to the next row's start.
        assert view.apply_filter("ok #") == len(reference(plain, "ok #"))
    # A message holding the haystack's separator turns the joined path off: still exact.
    p["lines"][3]["message"] = "nul\x00 inside ok"
    rows = log_rows(p)
    app = Host(rows)
    async with app.run_test(size=(100, 20)):
        view = app.query_one(LogView)
        assert view._blob() is None
        view.apply_filter("ok")
        assert list(view.shown) == reference(list(rows), "ok")


def test_literal_text_tells_plain_text_from_regexes() -> None:
    for text, literal in [("QueuePool limit", True), ("users/", True), ("a-b_c:d", True),
                          ("foo(", True), ("a.b", False), (r"took \d+", False),
                          ("^x", False)]:
        pattern = compile_filter(text)
        assert pattern is not None
        assert (literal_text(pattern, text) == text) is literal, text


class CountingLines(Sequence[dict[str, Any]]):
    """A payload's lines that count how many are read one by one."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.lines = lines
        self.reads = 0

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i: Any) -> Any:
        self.reads += 1
        return self.lines[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.reads += len(self.lines)
        return iter(self.lines)


@pytest.mark.asyncio
async def test_opening_reads_only_the_lines_on_screen() -> None:
    lines = CountingLines(payload(100_000)["lines"])
    rows = LogRows(lines, reverse=True)
    app = Host(rows)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        view = app.query_one(LogView)
        assert view.virtual_size.height == 100_000
        # The width sample reads 5,000 lines; drawing reads the ~30 on screen; no full pass.
        assert lines.reads <= 5_000 + 200
        top = view.render_line(0).text
        newest_first = lines.lines[-1]  # backward payload: the last line is the oldest
        assert top.startswith(newest_first["ts"][11:23])
        assert newest_first["message"] in top
        before = lines.reads
        assert view.apply_filter("queuepool") > 0  # the filter reads every line once
        assert lines.reads - before >= 100_000


def test_rows_convert_values_as_the_panel_shows_them() -> None:
    rows = log_rows({"direction": "forward", "lines": [
        {"ts": "2026-03-10T14:00:01.500Z", "level": None, "service": 7, "message": 42},
        {"level": "", "message": None}]})
    assert rows[0] == ("14:00:01.500", "info", "7", "42")
    assert rows[-1] == ("", "info", "", "")
    assert rows[0:2] == [rows[0], rows[1]]
    assert rows.column("level") == ["info", "info"]
    assert rows.column("service") == ["7", ""]
    assert rows.column("message") == ["42", ""]
    assert rows.column("ts") == ["14:00:01.500", ""]
    with pytest.raises(IndexError):
        rows[2]


@pytest.mark.asyncio
async def test_mark_and_wrap_work_on_lazy_rows() -> None:
    p = payload(60)
    p["lines"][5]["message"] = "x" * 150 + "END"
    rows = log_rows(p)
    plain = list(rows)
    app = Host(rows)
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.focus()
        template = re.compile(r"QueuePool\s+limit")
        assert view.set_mark(template) == sum(1 for r in plain if template.search(r.message))
        assert view.set_mark(None) == 0
        assert view.virtual_size.height == 60
        await pilot.press("w")
        await pilot.pause()
        width = view._wrap_width()
        expected = sum(max(1, -(-(view._prefix_len(r) + len(r.message)) // width))
                       for r in plain)
        assert view.wrap and view.virtual_size.height == expected > 60
        text = "".join(view.render_line(y).text.rstrip() for y in range(expected))
        assert "END" in text
