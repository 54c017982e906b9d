"""The TUI's plain parts: command parsing, themes as data, the log view's filter, panels' data."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsbench.evidence import Evidence, EvidenceStore
from obsbench.tui.commands import AppCommand, ToolCommand, parse_command
from obsbench.tui.themes import REQUIRED_VARIABLES, ThemeFileError, load_themes, theme_from_toml
from obsbench.tui.transcript import Transcript
from obsbench.tui.widgets.chat import linkify
from obsbench.tui.widgets.logview import compile_filter
from obsbench.tui.widgets.panels import change_times, log_rows, matrix_series
from obsbench_servers.common.errors import BadInputError


@pytest.mark.parametrize(("line", "expected"), [
    (":logs checkout /timeout", ToolCommand("logs_search_logs",
                                            {"service": "checkout", "regex": "timeout"})),
    (":logs checkout connection refused", ToolCommand(
        "logs_search_logs", {"service": "checkout", "contains": "connection refused"})),
    (":logs user-api level=error limit=20", ToolCommand(
        "logs_search_logs", {"service": "user-api", "level": "error", "limit": 20})),
    (":metrics sum by (service) (rate(x[5m]))",
     ToolCommand("metrics_query_range", {"expr": "sum by (service) (rate(x[5m]))"})),
    (":trace 4bf92f3577b34da6a3ce929d0e0e4736",
     ToolCommand("traces_get_trace_details", {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})),
    (":alerts", ToolCommand("alerts_list_firing_alerts", {})),
    (":deploys 2h", ToolCommand("infra_get_recent_deployments", {"window": "2h"})),
    (":call infra_get_events window=30m type=Warning",
     ToolCommand("infra_get_events", {"window": "30m", "type": "Warning"})),
    (":export json /tmp/x.json", AppCommand("export", ("json", "/tmp/x.json"))),
    (":theme obsbench-light", AppCommand("theme", ("obsbench-light",))),
])
def test_commands_parse(line: str, expected: object) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(("line", "message", "hint"), [
    (":lgos x", "unknown command :lgos", "did you mean :logs?"),
    (":metrics", ":metrics needs a PromQL expression", "e.g."),
    (":trace", ":trace needs one trace id", ""),
    (":call x y", "'y' is not key=value", ""),
    (":logs 'open", "cannot read", "close the quotes"),
    (":", "empty command", ":help"),
])
def test_bad_commands_say_what_to_do(line: str, message: str, hint: str) -> None:
    with pytest.raises(BadInputError) as err:
        parse_command(line)
    assert message in err.value.message and hint in (err.value.hint or "")


def test_shipped_themes_load_with_every_variable() -> None:
    themes, problems = load_themes(None)
    assert problems == []
    assert {"obsbench-dark", "obsbench-light", "obsbench-high-contrast"} <= set(themes)
    assert themes["obsbench-light"].dark is False
    for theme in themes.values():
        assert set(REQUIRED_VARIABLES) <= set(theme.variables)


def test_user_themes_add_override_and_report_problems(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\ndark = false\n')
    (tmp_path / "obsbench-dark.toml").write_text(
        'name = "obsbench-dark"\nprimary = "#FF0000"\n[variables]\n"log-error" = "#00FF00"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = \n')
    (tmp_path / "nocolour.toml").write_text('name = "nocolour"\n')
    themes, problems = load_themes(tmp_path)
    assert themes["mine"].primary == "#112233"
    # Missing variables come from the shipped dark theme, so the stylesheet always resolves.
    assert themes["mine"].variables["critical-path"] == "#F5A524"
    assert themes["obsbench-dark"].primary == "#FF0000"
    assert themes["obsbench-dark"].variables["log-error"] == "#00FF00"
    assert sorted(Path(p.split(":")[0]).name for p in problems) == ["broken.toml",
                                                                     "nocolour.toml"]
    with pytest.raises(ThemeFileError, match="needs at least"):
        theme_from_toml(tmp_path / "nocolour.toml")


def test_no_colours_hard_coded_in_the_stylesheet() -> None:
    import re

    from obsbench.tui import app

    tcss = (Path(app.__file__).parent / "app.tcss").read_text()
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|\brgb\(", tcss)


def test_linkify_turns_citations_into_links() -> None:
    assert linkify("pool [E3, E7] and [E9]") == \
        "pool [[E3](evidence:E3), [E7](evidence:E7)] and [[E9](evidence:E9)]"
    assert linkify("no [citation] here") == "no [citation] here"


def test_filter_is_a_regex_or_literal_text() -> None:
    pat = compile_filter("time(out|d)")
    assert pat is not None and pat.search("TIMEOUT") and pat.search("timed")
    literal = compile_filter("pool[")  # not a regex: matched as text
    assert literal is not None and literal.search("a pool[ b") and not literal.search("pool")
    assert compile_filter("") is None


def test_panel_data_from_payloads() -> None:
    payload = {"prometheus": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "job": "a"}, "values": [[10, "1"], [20, "NaN"], [30, "x"],
                                                              [40, "2.5"]]}]},
               "summaries": [{"change_points": [{"t": 40.0, "before": 1, "after": 2.5}]},
                             {"change_points": [{"time": "1970-01-01T00:00:20Z"}]}]}
    assert matrix_series(payload) == [("job=a", [10.0, 40.0], [1.0, 2.5])]
    assert change_times(payload) == [20.0, 40.0]
    rows = log_rows({"direction": "backward", "lines": [
        {"ts": "2026-03-10T14:00:02.000Z", "level": "error", "service": "a", "message": "new"},
        {"ts": "2026-03-10T14:00:01.000Z", "level": "info", "service": "a", "message": "old"}]})
    assert [r.message for r in rows] == ["old", "new"]  # oldest first on screen
    assert rows[0].ts == "14:00:01.000"


def test_transcript_export_flags_unresolved_citations(tmp_path: Path) -> None:
    store = EvidenceStore()
    store.add(Evidence(store.new_id(), "logs", "search_logs", {"service": "a"}, "logs",
                       "3 lines", "line 1\nline 2", query="service=a",
                       time_range={"start": "2026-03-10T14:00:00Z",
                                   "end": "2026-03-10T15:00:00Z"},
                       coverage={"total": 3, "shown": 2, "unit": "lines"}))
    t = Transcript(profile="p", agent="offline")
    t.add("question", "why?")
    t.add("answer", "because [E1], not [E9]")
    md = t.to_markdown(list(store), store)
    assert "because [E1], not [E9: no such evidence]" in md
    assert "- query: `service=a`" in md and "2 of 3 lines shown" in md
    path = t.export(tmp_path / "s.json", list(store))
    assert '"search_logs"' in path.read_text()


def test_zoom_window_only_narrows_and_clips_to_the_chart() -> None:
    from obsbench.tui.widgets.panels import onset_time, time_window, zoom_window

    assert zoom_window((10.0, 20.0), 0.0, 100.0) == (10.0, 20.0)
    assert zoom_window((-5.0, 20.0), 0.0, 100.0) == (0.0, 20.0)  # clipped to the chart
    assert zoom_window((-5.0, 200.0), 0.0, 100.0) is None  # not narrower: no zoom
    assert zoom_window((150.0, 200.0), 0.0, 100.0) is None  # outside: no zoom
    assert zoom_window(None, 0.0, 100.0) is None
    assert onset_time([30.0, 10.0, 20.0]) == 10.0 and onset_time([]) is None
    assert time_window({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}) == \
        (1767225600.0, 1767229200.0)
    assert time_window({"start": "2026-01-01T01:00:00Z", "end": "2026-01-01T00:00:00Z"}) is None


def test_template_regex_matches_the_first_line_of_a_pattern() -> None:
    from obsbench.tui.widgets.panels import template_regex

    rx = template_regex("<*> ERROR [app] handling GET <*> | TimeoutError: pool <*> reached")
    assert rx.search("2026-03-10 14:00:09,340 ERROR [app] handling GET /v1/users/7")
    assert not rx.search("2026-03-10 14:00:09,340 WARNING [app] handling GET /v1/users/7")
    assert template_regex("took <*> ms (p99)").search("slow: took 12 ms (p99)")
