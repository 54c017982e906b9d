"""The workbench driven with Pilot over real servers on the demo scenario's bundle."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import ContentSwitcher, DataTable, Markdown
from tui_support import answered, bundle_scope, chat_text, collected, make_app, wait_for

from obsbench.tui.screens.modals import HelpScreen, RawJsonScreen
from obsbench.tui.widgets.evidence_list import EvidenceList
from obsbench.tui.widgets.logview import LogView
from obsbench.tui.widgets.panels import AlertsPanel, ChangesPanel, LogPanel, MetricPanel

WIDE = (160, 48)
pytestmark = pytest.mark.asyncio


async def _type(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*[{" ": "space", ":": "colon", "/": "slash"}.get(c, c) for c in text])


async def test_a_question_adds_evidence_and_a_cited_answer(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle))
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        await _type(pilot, "why is user-api failing?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: answered(app))
        # Four real tool calls became four listed evidence items, in call order.
        listed = app.query_one(EvidenceList)
        assert [listed.get_option_at_index(i).id for i in range(listed.option_count)] == \
            ["E1", "E2", "E3", "E4"]
        text = chat_text(app)
        assert "› why is user-api failing?" in text
        assert "✓ E3 logs_search_logs" in text  # the compact tool-call line
        # The answer streamed into markdown, citations rewritten into links...
        answer = app.query_one(".chat-answer", Markdown).source
        assert "[[E4](evidence:E4)]" in answer and "[[E1](evidence:E1)]" in answer
        # ...and one button per citation, in order of first citation.
        buttons = [b.id for b in app.query(".cite")]
        assert buttons == ["cite-1-E4", "cite-1-E2", "cite-1-E3", "cite-1-E1"]
        assert app.status.input_tokens == 1200 and app.status.state == "idle"
        assert "1,200/340 tok $0.0123 · idle" in str(app.query_one("#status").render())
        # The first cited item (the rollout) is on the panel side.
        assert app.shown_evidence == "E4"
        assert isinstance(app.query_one("#panel-E4"), ChangesPanel)
        assert app.transcript.entries[-1].kind == "answer"


async def test_selecting_a_citation_focuses_its_panel(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        await pilot.click("#cite-1-E3")
        await pilot.pause()
        assert app.shown_evidence == "E3"
        assert app.query_one("#panels", ContentSwitcher).current == "panel-E3"
        # The log view of that item has the focus; the list highlights the item.
        assert isinstance(app.focused, LogView)
        assert app.focused.id == "log-E3"
        listed = app.query_one(EvidenceList)
        assert listed.highlighted == 2
        # A citation in the markdown (a link) does the same.
        app.query_one(".chat-answer", Markdown).post_message(
            Markdown.LinkClicked(app.query_one(".chat-answer", Markdown), "evidence:E2"))
        await wait_for(pilot, lambda: app.shown_evidence == "E2")
        assert isinstance(app.query_one("#panel-E2"), MetricPanel)
        assert listed.highlighted == 1


async def test_selecting_an_item_in_the_evidence_list_shows_it(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        listed = app.query_one(EvidenceList)
        listed.focus()
        listed.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        table = app.query_one("#panel-E1", AlertsPanel).query_one(DataTable)
        names = {table.get_row_at(i)[1] for i in range(table.row_count)}
        assert "HighErrorRate" in names


async def test_the_newest_request_to_show_a_panel_wins_over_a_slower_one(
        demo_bundle: Path) -> None:
    # A panel still mounting must not take the screen back from a later selection.
    app = make_app(bundle_scope(demo_bundle), question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        shown = app.shown_evidence
        assert shown is not None
        assert app.hub is not None
        unmounted = next(e.id for e in app.hub.evidence if not app.query(f"#panel-{e.id}"))
        slow, fast = await asyncio.gather(app.show_evidence(unmounted),
                                          app.show_evidence(shown))
        await pilot.pause()
        assert (slow, fast) == (False, True)
        assert app.shown_evidence == shown
        assert app.query_one("#panels", ContentSwitcher).current == f"panel-{shown}"
        listed = app.query_one(EvidenceList)
        assert listed.get_option_at_index(listed.highlighted or 0).id == shown


async def test_command_bar_calls_tools_and_adds_evidence(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        app.query_one(EvidenceList).focus()
        await pilot.press("colon")  # from anywhere: focuses the input with ':'
        await _type(pilot, "logs user-api /QueuePool")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        ev = app.hub.evidence.get("E1")  # type: ignore[union-attr]
        assert (ev.tool, ev.arguments) == ("search_logs", {"service": "user-api",
                                                           "regex": "QueuePool"})
        view = app.query_one("#panel-E1", LogPanel).view
        assert view.rows and all("QueuePool" in r.message for r in view.rows)
        # The input kept the focus: the next command can be typed straight away.
        assert app.focused is app.query_one("#prompt")
        await _type(pilot, ":alerts")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E2")
        assert isinstance(app.query_one("#panel-E2"), AlertsPanel)
        await _type(pilot, ":deploys 24h")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E3")
        changes = app.query_one("#panel-E3", ChangesPanel)
        table = changes.query_one(DataTable)
        whats = [table.get_row_at(i)[3] for i in range(table.row_count)]
        assert any("deploy 2.3.1" in w for w in whats)
        assert "◆" in changes.lanes.render().plain  # placed on the time axis
        assert app.query_one(EvidenceList).option_count == 3


async def test_bad_commands_explain_themselves(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        await _type(pilot, ":lgos user-api")
        await pilot.press("enter")
        await _type(pilot, ":call metrics_qurey expr=up")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "did you mean metrics_query" in chat_text(app))
        assert "did you mean :logs" in chat_text(app)
        assert len(app.hub.evidence) == 0  # type: ignore[arg-type]
        # A tool error (bad PromQL) is evidence too, shown as an error line and panel.
        await _type(pilot, ":metrics sum(rate(")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        assert "✗ E1 metrics_query_range" in chat_text(app)
        assert app.hub.evidence.get("E1").is_error  # type: ignore[union-attr]


async def test_log_filter_and_timestamps(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        await _type(pilot, ":logs user-api limit=300")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        view = app.query_one("#panel-E1", LogPanel).view
        total = len(view.rows)
        expected = sum(1 for r in view.rows if "users/" in r.message.lower())
        assert 0 < expected < total
        view.focus()
        await pilot.press("slash")
        await _type(pilot, "users/")
        await pilot.press("enter")
        assert len(view.shown) == expected
        assert app.focused is view
        header = str(app.query_one("#panel-E1 .panel-header").render())
        assert f"{expected:,} lines" in header
        # Each shown line carries its match highlighted (reverse style).
        from rich.style import Style

        first = view.rows[view.shown[0]].message
        assert any(seg.text.lower() == "users/" and seg.style and seg.style.reverse
                   for seg in view.highlight(first, Style()))
        assert view.render_line(0).text.startswith(view.rows[view.shown[0]].ts)
        assert view.show_timestamps
        await pilot.press("t")
        assert not view.show_timestamps
        # An empty filter shows everything again.
        await pilot.press("slash", "ctrl+u", "enter")
        assert len(view.shown) == total


async def test_y_shows_raw_json_and_help_lists_keys(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        await _type(pilot, ":alerts")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        app.query_one(EvidenceList).focus()
        await pilot.press("y")
        assert isinstance(app.screen, RawJsonScreen)
        data = json.loads(app.screen.query_one("#raw-json").text)
        assert data["id"] == "E1" and data["payload"]["alerts"]
        await pilot.press("escape")
        assert not isinstance(app.screen, RawJsonScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text").render())
        assert "raw JSON" in help_text and ":logs [SERVICE]" in help_text
        await pilot.press("escape")


async def test_export_writes_transcript_and_evidence(demo_bundle: Path, tmp_path: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), question="why?", export_dir=tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        await _type(pilot, f":export md {tmp_path / 'out'}")
        await pilot.press("enter")
        await pilot.pause()
        md = (tmp_path / "out.md").read_text()
        assert md.startswith("# obsbench session")
        assert "## Q: why?" in md and "## Evidence" in md
        assert "### E3 logs.search_logs" in md and "[E4]" in md
        path = app.action_export("json")
        assert path is not None and path.parent == tmp_path
        data = json.loads(path.read_text())
        assert [e["id"] for e in data["evidence"]] == ["E1", "E2", "E3", "E4"]
        assert data["evidence"][2]["payload"]["lines"]  # payloads included


async def test_narrow_layout_uses_tabs(demo_bundle: Path) -> None:
    app = make_app(bundle_scope(demo_bundle), question="why?")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: answered(app))
        assert app.query_one("#tabs").display
        assert app.query_one("#chat").display and not app.query_one("#panels").display
        await pilot.click("#cite-1-E2")
        await pilot.pause()
        # Following a citation switches to the panel tab.
        assert app.query_one("#panels").display and not app.query_one("#chat").display
        await pilot.press("escape")  # nothing running: back to the chat
        await pilot.pause()
        assert app.query_one("#chat").display
        await pilot.resize_terminal(*WIDE)
        await wait_for(pilot, lambda: not app.query_one("#tabs").display)
        assert all(app.query_one(s).display for s in ("#chat", "#evidence", "#panels"))


@pytest.mark.parametrize("name", ["obsbench-light", "obsbench-high-contrast"])
async def test_theme_command_switches_theme(demo_bundle: Path, name: str) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        assert app.theme == "obsbench-dark"
        await _type(pilot, f":theme {name}")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == name
        await _type(pilot, ":theme nope")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no theme 'nope'" in chat_text(app))
        assert app.theme == name


async def test_span_tree_collapses_repeats_and_expands_them(demo_bundle: Path) -> None:
    from textual.widgets import Tree

    app = make_app(bundle_scope(demo_bundle), investigator=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        app.query_one("#prompt").value = ":trace a0c5a020c90062de3a45b69203a38df9"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        tree = app.query_one("#panel-E1").query_one(Tree)
        nodes = []
        stack = [tree.root]
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(node.children)
        (group,) = [n for n in nodes if isinstance(n.data, dict) and "group" in n.data]
        label = str(group.label)
        assert "x24 user-api SELECT user_preferences" in label
        assert not group.is_expanded and not group.children  # members built on demand
        errors = [n for n in nodes if "✗" in str(n.label)]
        assert errors and all(n.data.get("status") == "error" for n in errors)
        # The critical path is drawn in the theme's critical-path colour, and only it.
        cp = app.get_css_variables()["critical-path"].lower()
        spans = [n for n in nodes if isinstance(n.data, dict) and "span_id" in n.data]
        for n in spans:
            coloured = any(cp in str(s.style).lower() for s in n.label.spans)
            assert coloured == bool(n.data.get("on_critical_path")), n.label
        group.expand()
        await pilot.pause()
        assert len(group.children) == 24


async def test_the_offline_investigator_runs_in_the_workbench(demo_bundle: Path,
                                                               tmp_path: Path) -> None:
    """The real investigator of `obsbench demo` without a key: cited answer, evidence listed."""
    from obsbench.agent.select import AgentChoice, build_investigator
    from obsbench.config import AgentConfig

    app = make_app(bundle_scope(demo_bundle), question="What is wrong?", export_dir=tmp_path)
    app.investigator_factory = lambda hub: build_investigator(AgentChoice("offline"), hub,
                                                              AgentConfig())
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app), timeout_s=90)
        assert app.hub is not None
        evidence_ids = {e.id for e in app.hub.evidence}
        assert evidence_ids and app.listed == evidence_ids
        cites = list(app.query(".cite"))
        assert cites and not any(b.has_class("-unresolved") for b in cites)
        assert {str(b.label) for b in cites} <= evidence_ids
        assert "user-api" in app.query_one(".chat-answer", Markdown).source
        # The post-mortem of the session: cited, shown in the chat and saved.
        answers = len(app.query(".chat-answer"))
        app.query_one("#prompt").value = ":postmortem"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "post-mortem written to" in chat_text(app), 90)
        (saved,) = tmp_path.glob("postmortem-*.md")
        text = saved.read_text()
        assert text.startswith("# ") and "[E" in text
        assert len(app.query(".chat-answer")) == answers + 1


async def test_status_bar_shows_backend_health(demo_bundle: Path) -> None:
    """Real checks (common/health.py): the bundle's store answers, a Prometheus on a closed
    port does not, and the failure is listed first."""
    import socket

    from obsbench_servers.common.backend import LocalBackend, PrometheusBackend
    from obsbench_servers.common.health import check_many

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    items = [("logs", LocalBackend(type="local", bundle=demo_bundle)),
             ("metrics", PrometheusBackend(type="prometheus", url=f"http://127.0.0.1:{port}"))]
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    app.health_check = lambda: check_many(items, timeout=2.0)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: "FAIL" in app.status.backends)
        assert app.status.backends == "metrics prometheus FAIL · logs local ok"
        assert "metrics prometheus FAIL" in str(app.query_one("#status").render())
    app = make_app(bundle_scope(demo_bundle), investigator=False)
    app.health_check = lambda: check_many(items[:1], timeout=2.0)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.status.backends == "embedded store ok")


ZOOM_PLAN = [
    ("metrics_query_range", {"expr": "sum by (service) (rate(db_client_connection_timeouts_total"
                                     "[5m]))", "start": "now-2h"}),
    ("logs_search_logs", {"service": "user-api", "level": "error", "start": "now-20m"}),
]


async def test_metric_chart_zooms_to_the_cited_window_and_z_resets(demo_bundle: Path) -> None:
    from obsbench.tui.widgets.panels import _hhmm, time_window

    app = make_app(bundle_scope(demo_bundle), plan=ZOOM_PLAN, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: collected(app, 2))
        app.action_reset_zoom()  # the answer's first citation (the log item) was shown
        await app.show_evidence("E1")
        chart = app.query_one("#panel-E1", MetricPanel)
        assert chart.span is not None and chart.zoomed is None  # nothing narrower cited now
        assert chart.marks, "the pool-timeout series has change points on this scenario"
        note = str(chart.query_one(".panel-note").render())
        assert "onset " in note and "change points:" in note
        # Selecting the (20 min) log item sets the cited window; the 2 h chart zooms to it.
        await app.show_evidence("E2")
        logs_window = time_window(app.hub.evidence.get("E2").time_range)  # type: ignore[union-attr]
        assert logs_window is not None
        assert chart.zoomed is not None
        assert chart.zoomed[1] - chart.zoomed[0] <= logs_window[1] - logs_window[0]
        assert chart.span[0] <= chart.zoomed[0] and chart.zoomed[1] <= chart.span[1]
        await app.show_evidence("E1", focus=False)
        assert "zoomed to" in str(chart.query_one(".panel-note").render())
        # The plot's x axis really is the window.
        from textual_plotext import PlotextPlot

        await pilot.pause()
        plt = chart.query_one(PlotextPlot).plt
        drawn = plt.uncolorize(plt.build())
        assert _hhmm(chart.zoomed[0]) in drawn and _hhmm(chart.zoomed[1]) in drawn
        assert _hhmm(chart.span[0]) not in drawn  # the chart's own start is out of view
        await pilot.press("z")
        await pilot.pause()
        assert chart.zoomed is None and app.cited_window is None
        assert "zoomed to" not in str(chart.query_one(".panel-note").render())


PATTERN_PLAN = [
    ("logs_search_logs", {"service": "user-api", "limit": 500}),
    ("logs_get_error_patterns", {"service": "user-api"}),
]


async def test_focusing_a_patterns_item_marks_its_lines_in_the_log_view(demo_bundle: Path) -> None:
    from obsbench.tui.widgets.panels import PatternsPanel, template_regex

    app = make_app(bundle_scope(demo_bundle), plan=PATTERN_PLAN, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: collected(app, 2))
        await app.show_evidence("E2")
        panel = app.query_one("#panel-E2", PatternsPanel)
        table = panel.query_one(DataTable)
        patterns = app.hub.evidence.get("E2").payload["patterns"]  # type: ignore[union-attr]
        assert table.row_count == len(patterns) >= 2
        assert app.marked_template == patterns[0]["template"]
        await app.show_evidence("E1", focus=False)
        view = app.query_one("#panel-E1", LogPanel).view
        first = sum(1 for r in view.rows if view.marked(r))
        assert 0 < first < len(view.rows)  # the top pattern's lines, not every line
        assert all(template_regex(patterns[0]["template"]).search(r.message)
                   for r in view.rows if view.marked(r))
        header = str(app.query_one("#panel-E1", LogPanel).query_one(".panel-header").render())
        assert f"{first:,} lines marked" in header
        # Moving the cursor to another pattern marks its lines instead.
        await app.show_evidence("E2")
        await pilot.press("down")
        await wait_for(pilot, lambda: app.marked_template == patterns[1]["template"])
        assert view.mark is not None and view.mark.pattern == \
            template_regex(patterns[1]["template"]).pattern
        assert sum(1 for r in view.rows if view.marked(r)) != first or \
            patterns[0]["count"] == patterns[1]["count"]


async def test_w_wraps_long_log_lines() -> None:
    from textual.app import App, ComposeResult

    from obsbench.tui.widgets.logview import LogRow

    long = "x" * 150 + "END"
    rows = [LogRow("10:00:00.000", "error", "svc", long), LogRow("10:00:01.000", "info", "svc",
                                                                 "short")]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield LogView(rows, id="v")

    app = Host()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.focus()
        assert view.virtual_size.height == 2
        assert "END" not in view.render_line(0).text  # cut at the edge, scrolls sideways
        await pilot.press("w")
        await pilot.pause()
        assert view.wrap and view.virtual_size.height == 4  # 3 display lines + 1
        lines = [view.render_line(y).text for y in range(4)]
        assert "END" in lines[2] and "ERROR" in lines[0] and "short" in lines[3]
        assert "".join(line.rstrip() for line in lines[:3]).endswith(long)
        await pilot.press("w")
        await pilot.pause()
        assert not view.wrap and view.virtual_size.height == 2


async def test_switching_agent_and_theme_from_the_palette_and_command_bar(
        demo_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from obsbench.agent.select import select_agent
    from obsbench.config import AgentConfig, UIConfig
    from obsbench.tui.run import build_app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    config = AgentConfig(provider="offline")
    app = build_app(bundle_scope(demo_bundle), select_agent("offline", config), config,
                    UIConfig())
    app.health_check = None
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        status = app.query_one("#status")
        assert "agent offline" in str(status.render())
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Agent: offline", "Agent: anthropic", "Agent: openai",
                "Theme: obsbench-light"} <= set(titles)
        # A model through the command bar: the status bar and the transcript follow.
        await _type(pilot, ":agent anthropic:claude-test-model")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "anthropic:claude-test-model" in str(status.render()))
        assert app.transcript.agent == "anthropic:claude-test-model"
        assert type(app.investigator_factory(app.hub)).__name__ == "InvestigationLoop"  # type: ignore[misc,arg-type]
        # An unusable choice (no OpenAI key) changes nothing and says why.
        before = app.investigator_factory
        assert not await app.switch_agent("openai:gpt-test")
        assert app.investigator_factory is before
        assert "anthropic:claude-test-model" in str(status.render())
        assert "OpenAI API needs a key" in chat_text(app)
        # The palette's entries do the same.
        titles["Agent: offline"].callback()
        await wait_for(pilot, lambda: "agent offline" in str(status.render()))
        titles["Theme: obsbench-light"].callback()
        await pilot.pause()
        assert app.theme == "obsbench-light"


async def test_deploys_are_marked_on_the_metric_chart_time_axis(demo_bundle: Path) -> None:
    from obsbench.tui.widgets.panels import _hhmm, change_marks

    plan = [ZOOM_PLAN[0], ("infra_get_recent_deployments", {})]
    app = make_app(bundle_scope(demo_bundle), plan=plan, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: collected(app, 2))
        app.action_reset_zoom()
        await app.show_evidence("E1", focus=False)
        chart = app.query_one("#panel-E1", MetricPanel)
        marks = change_marks(app.hub.evidence.get("E2").payload)  # type: ignore[union-attr]
        assert chart.span is not None
        inside = [(t, what) for t, what in marks if chart.span[0] <= t <= chart.span[1]]
        assert inside, "the scenario's rollout falls inside the 2 h chart"
        assert chart.changes == sorted(marks)
        note = str(chart.query_one(".panel-note").render())
        t, what = inside[0]
        assert f"{_hhmm(t)} {what}" in note and "user-api" in note


async def test_anomaly_and_golden_signal_items_are_charted(demo_bundle: Path) -> None:
    from obsbench.tui.widgets.panels import _epoch, _hhmm

    plan = [("metrics_find_anomalies", {}),
            ("metrics_get_service_golden_signals", {"service": "user-api"})]
    app = make_app(bundle_scope(demo_bundle), plan=plan, question="why?")
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: collected(app, 2))
        app.action_reset_zoom()
        await app.show_evidence("E1", focus=False)
        chart = app.query_one("#panel-E1", MetricPanel)
        anomalies = app.hub.evidence.get("E1").payload["anomalies"]  # type: ignore[union-attr]
        assert chart.series and len(chart.series) == min(len(anomalies), 6)
        top = anomalies[0]
        assert chart.series[0][0].startswith(f"{top['service']} {top['signal']}")
        assert len(chart.series[0][1]) == sum(1 for _, v in top["points"] if v is not None)
        onsets = sorted({_epoch(a["onset"]) for a in anomalies if a.get("onset")})
        assert onsets and chart.marks[0] == onsets[0]  # the earliest onset is marked
        assert f"onset {_hhmm(onsets[0])}" in str(chart.query_one(".panel-note").render())
        await app.show_evidence("E2", focus=False)
        golden = app.query_one("#panel-E2", MetricPanel)
        keys = {sig["key"] for sig in app.hub.evidence.get("E2").payload["signals"]}  # type: ignore[union-attr]
        assert golden.series and {label.split(" ")[0] for label, _, _ in golden.series} <= keys
