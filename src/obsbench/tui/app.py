"""The workbench app: chat beside the evidence list and panels, all I/O in workers.

One worker keeps the hub connected for the app's life (the hub's context is
entered and left in that one task, as anyio requires); investigations and
``:`` commands run in their own workers and post small messages back, so the
UI never waits on a backend or a model. ``esc`` cancels what is running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from obsbench.agent.base import Brief, Investigator
from obsbench.agent.events import (
    Done,
    Event,
    EvidenceAdded,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdate,
)
from obsbench.agent.model import InvestigationResult
from obsbench.evidence import Evidence, cited_ids
from obsbench.tui.commands import AppCommand, ToolCommand, parse_command
from obsbench.tui.screens.modals import ConfirmWriteScreen, HelpScreen, RawJsonScreen
from obsbench.tui.themes import load_themes
from obsbench.tui.transcript import Transcript
from obsbench.tui.widgets.chat import ChatPane, human_size
from obsbench.tui.widgets.evidence_list import EvidenceList
from obsbench.tui.widgets.panels import (
    LogPanel,
    MetricPanel,
    Panel,
    PatternsPanel,
    build_panel,
    change_marks,
    time_window,
)
from obsbench.tui.widgets.status import StatusBar, StatusInfo
from obsbench_servers.common.errors import ObsbenchError

if TYPE_CHECKING:  # the hub pulls in mcp: imported off the UI thread, after the first paint
    from obsbench.hub import Hub

NARROW_BELOW = 120
DEFAULT_QUESTION = ("Investigate the current incident: what is wrong, since when, and what is "
                    "the root cause?")
HubFactory = Callable[[Any], "Hub"]
InvestigatorFactory = Callable[["Hub"], Investigator]
# ``anthropic:MODEL`` -> (status label, factory, reason); raises ObsbenchError when unusable.
AgentSwitcher = Callable[[str], tuple[str, InvestigatorFactory, str]]
AGENT_SPECS = ("offline", "anthropic", "openai")


def health_summary(results: list[Any]) -> str:
    """``local ok`` for a bundle; else one ``signal type status`` per backend, failures first."""
    if not results:
        return ""
    if all(r.type == "local" for r in results):
        bad = [r for r in results if r.status == "fail"]
        return "embedded store " + ("FAIL" if bad else "ok")
    ordered = sorted(results, key=lambda r: (r.status != "fail", r.status != "warn"))
    return " · ".join(f"{r.signal} {r.type} {'FAIL' if r.status == 'fail' else r.status}"
                      for r in ordered)


class AgentEvent(Message):
    """One investigator event, posted from the investigation worker."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class PromptInput(Input):
    """The question / command input, with history on up and down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._pos = 0

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._pos = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = min(max(self._pos + step, 0), len(self.history))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)


def _args_text(args: dict[str, Any]) -> str:
    text = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in args.items())
    return text if len(text) <= 70 else text[:69] + "…"


class WorkbenchApp(App[None]):
    """Chat pane, evidence list, evidence panels, command bar, status bar."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses live elsewhere
    TITLE = "obsbench"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("question_mark,f1", "help", "help"),
        Binding("colon", "command", "command bar"),
        Binding("y", "raw_json", "raw JSON of the shown evidence"),
        Binding("z", "reset_zoom", "metric charts: show their whole range"),
        Binding("ctrl+e", "export('md')", "export markdown"),
        Binding("ctrl+j", "export('json')", "export JSON", show=False),
        Binding("ctrl+t", "next_tab", "next tab (narrow layout)"),
        Binding("ctrl+l", "focus_prompt", "focus the input"),
        Binding("ctrl+q", "quit", "quit"),
    ]

    def __init__(
        self,
        hub_factory: HubFactory,
        investigator_factory: InvestigatorFactory | None = None,
        *,
        profile: str = "",
        backends: str = "",
        agent: str = "",
        question: str | None = None,
        notices: list[str] | None = None,
        theme: str = "obsbench-dark",
        user_themes: Path | None = None,
        timings: bool = True,
        export_dir: Path | None = None,
        health_check: Callable[[], list[Any]] | None = None,
        agent_switcher: AgentSwitcher | None = None,
    ) -> None:
        super().__init__()
        self.agent_switcher = agent_switcher
        self.hub_factory = hub_factory
        self.investigator_factory = investigator_factory
        self.hub: Hub | None = None
        self.initial_question = question
        self.initial_notices = list(notices or [])
        self.timings = timings
        self.export_dir = export_dir
        self.cited_window: tuple[float, float] | None = None
        self.marked_template: str | None = None
        self.health_check = health_check
        self.transcript = Transcript(profile=profile, agent=agent)
        self.status = StatusInfo(profile=profile, backends=backends, agent=agent)
        self.shown_evidence: str | None = None
        self.listed: set[str] = set()
        self._hub_ready = asyncio.Event()
        self._hub_closing = asyncio.Event()
        self._investigation: Worker[None] | None = None
        self._commands = 0
        self._call_args: dict[str, dict[str, Any]] = {}
        self.last_result: InvestigationResult | None = None
        themes, self.theme_problems = load_themes(user_themes)
        for t in themes.values():
            self.register_theme(t)
        self._theme_name = theme if theme in themes else "obsbench-dark"

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Tabs(Tab("Chat", id="tab-chat"), Tab("Evidence", id="tab-evidence"),
                   Tab("Panel", id="tab-panel"), id="tabs")
        with Horizontal(id="main"):
            yield ChatPane(id="chat")
            yield EvidenceList(id="evidence")
            with ContentSwitcher(id="panels", initial="panel-empty"):
                yield Static("No evidence shown yet. Ask a question, or type a command such as "
                             ":alerts or :logs SERVICE /REGEX (:help lists them).",
                             id="panel-empty", classes="panel-empty")
        yield PromptInput(placeholder="ask a question, or :command (:help)", id="prompt",
                          compact=True, select_on_focus=False)
        yield StatusBar(id="status")

    @property
    def narrow(self) -> bool:
        return self.size.width < NARROW_BELOW

    def on_mount(self) -> None:
        self.theme = self._theme_name
        self.query_one(StatusBar).show(self.status)
        self._apply_layout()
        prompt = self.query_one("#prompt", PromptInput)
        prompt.focus()
        if self.is_headless:  # tests and snapshots: a blinking cursor makes screens differ
            prompt.cursor_blink = False
        for problem in self.theme_problems:
            self.notify(problem, title="theme skipped", severity="warning")
        # Connect after the first paint, so the screen shows before the servers start.
        self.call_after_refresh(self.run_worker, self._keep_hub(), name="hub", group="hub",
                                exit_on_error=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self._apply_layout)

    def _apply_layout(self) -> None:
        """Wide: chat, evidence list and panels side by side. Narrow: one of them, by tab."""
        narrow = self.narrow
        self.screen.set_class(narrow, "-narrow")
        tabs = self.query_one("#tabs", Tabs)
        tabs.display = narrow
        active = tabs.active or "tab-chat"
        for tab_id, pane_id in (("tab-chat", "#chat"), ("tab-evidence", "#evidence"),
                                ("tab-panel", "#panels")):
            self.query_one(pane_id).display = (not narrow) or active == tab_id

    @on(Tabs.TabActivated, "#tabs")
    def _tab_changed(self) -> None:
        self._apply_layout()

    def action_next_tab(self) -> None:
        if self.narrow:
            self.query_one("#tabs", Tabs).action_next_tab()

    def _show_tab(self, tab_id: str) -> None:
        if self.narrow:
            self.query_one("#tabs", Tabs).active = tab_id
            self._apply_layout()

    # -- hub -------------------------------------------------------------------------------------
    async def _keep_hub(self) -> None:
        """Enter the hub, keep it until the app closes, leave it in this same task."""
        try:
            import importlib  # noqa: PLC0415

            # mcp takes a while to import: in a thread, so the UI keeps answering meanwhile.
            await asyncio.to_thread(importlib.import_module, "obsbench.hub")
            async with self.hub_factory(self.confirm_write) as hub:
                self.hub = hub
                servers = sorted({t.server for t in hub.tools()})
                self.status.servers = f"{len(servers)} servers"
                self._hub_ready.set()
                self.query_one(StatusBar).show(self.status)
                if self.health_check is not None:
                    self.run_worker(self._check_health, thread=True, group="health",
                                    exit_on_error=False)
                for notice in self.initial_notices:
                    await self._notice(notice, "info")
                if self.initial_question:
                    self.ask(self.initial_question)
                await self._hub_closing.wait()
        except Exception as exc:
            self.status.servers = "not connected"
            self.query_one(StatusBar).show(self.status)
            msg = exc.message if isinstance(exc, ObsbenchError) else f"{type(exc).__name__}: {exc}"
            await self._notice(f"could not connect the servers: {msg}", "error")
        finally:
            self.hub = None
            self._hub_ready.set()

    def _check_health(self) -> None:
        """Backend health (common/health.py) off the UI thread, summarised in the status bar."""
        assert self.health_check is not None
        results = self.health_check()
        self.call_from_thread(self._show_health, results)

    def _show_health(self, results: list[Any]) -> None:
        self.status.backends = health_summary(results) or self.status.backends
        self.query_one(StatusBar).show(self.status)

    async def action_quit(self) -> None:
        self._hub_closing.set()
        self.exit()

    async def confirm_write(self, context: Any, params: Any) -> Any:
        """The hub's elicitation callback: a modal shows exactly what the write will do."""
        from mcp import types  # noqa: PLC0415

        from obsbench_servers.common.audit import actor  # noqa: PLC0415

        message = str(getattr(params, "message", "") or "a write tool asks for confirmation")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool | None) -> None:
            if not future.done():
                future.set_result(bool(ok))

        self.push_screen(ConfirmWriteScreen(message), callback=done)
        ok = await future
        await self._notice(("confirmed: " if ok else "cancelled, nothing written: ")
                           + message.splitlines()[0], "info" if ok else "warning")
        if not ok:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={
            "confirm": True, "name": f"{actor().get('os_user', '')} (tui)"})

    # -- input -----------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    async def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        prompt = self.query_one("#prompt", PromptInput)
        prompt.remember(text)
        prompt.value = ""
        if not text:
            return
        if text.startswith(":"):
            await self.run_command_line(text)
        else:
            self.ask(text)

    def action_command(self) -> None:
        prompt = self.query_one("#prompt", PromptInput)
        self.screen.set_focus(prompt)  # now, not after a refresh: the next keys go to it
        if not prompt.value.startswith(":"):
            prompt.value = ":" + prompt.value
        prompt.cursor_position = len(prompt.value)

    def action_focus_prompt(self) -> None:
        self.screen.set_focus(self.query_one("#prompt", PromptInput))

    def action_help(self) -> None:
        keys = [(b.key.replace("question_mark", "?").replace("colon", ":"), b.description)
                for b in self.BINDINGS if isinstance(b, Binding)]
        keys += [("/", "filter the log panel"), ("t", "log timestamps on/off"),
                 ("w", "log line wrap on/off"),
                 ("enter", "expand a collapsed span group / show the selected evidence"),
                 ("ctrl+p", "command palette (export, agent, theme, help)")]
        self.push_screen(HelpScreen(keys))

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Export session (markdown)", "transcript and evidence to a .md file",
                            lambda: self.action_export("md"))
        yield SystemCommand("Export session (JSON)", "transcript and evidence, payloads included",
                            lambda: self.action_export("json"))
        yield SystemCommand("Post-mortem", "a cited post-mortem of the last investigation",
                            self.action_postmortem)
        yield SystemCommand("Help", "keys and commands", self.action_help)
        if self.agent_switcher is not None:
            for spec in AGENT_SPECS:
                yield SystemCommand(f"Agent: {spec}", f"investigate with {spec} from now on "
                                    f"(a model: :agent {spec}:MODEL)",
                                    partial(self._palette_agent, spec))
        for name in sorted(self.available_themes):
            if name.startswith("obsbench"):
                yield SystemCommand(f"Theme: {name}", "switch the colour theme",
                                    partial(setattr, self, "theme", name))

    # -- commands --------------------------------------------------------------------------------
    async def run_command_line(self, line: str) -> None:
        try:
            cmd = parse_command(line)
        except ObsbenchError as exc:
            await self._notice(f"{exc.message}" + (f" — {exc.hint}" if exc.hint else ""),
                               "warning")
            return
        self.transcript.add("command", line)
        if isinstance(cmd, AppCommand):
            await self._app_command(cmd)
            return
        self._commands += 1
        self._run_tool(cmd, f"cmd-{self._commands}")

    async def _app_command(self, cmd: AppCommand) -> None:
        if cmd.action == "help":
            self.action_help()
        elif cmd.action == "export":
            fmt = cmd.args[0] if cmd.args else "md"
            path = Path(cmd.args[1]).expanduser() if len(cmd.args) > 1 else None
            self.action_export(fmt, path)
        elif cmd.action == "postmortem":
            self.action_postmortem()
        elif cmd.action == "agent":
            await self.switch_agent(cmd.args[0] if cmd.args else "")
        elif cmd.action == "theme":
            name = cmd.args[0] if cmd.args else ""
            if name in self.available_themes:
                self.theme = name
            else:
                await self._notice(f"no theme {name!r}; available: "
                                   + ", ".join(sorted(self.available_themes)), "warning")

    @work(group="commands", exit_on_error=False)
    async def _run_tool(self, cmd: ToolCommand, call_id: str) -> None:
        await self._hub_ready.wait()
        hub = self.hub
        if hub is None:
            await self._notice("the servers are not connected", "error")
            return
        try:
            hub.tool(cmd.tool)
        except ObsbenchError as exc:
            await self._notice(f"{exc.message} — {exc.hint}", "warning")
            return
        ev_id = hub.evidence.new_id()
        chat = self.query_one(ChatPane)
        await chat.tool_started(call_id, self._call_line("…", ev_id, cmd.tool, cmd.arguments))
        self._set_state("running " + cmd.tool)
        try:
            record = await hub.call(cmd.tool, cmd.arguments, evidence_id=ev_id)
        except asyncio.CancelledError:
            chat.tool_finished(call_id, self._call_line("⊘", ev_id, cmd.tool, cmd.arguments,
                                                        note="cancelled"))
            raise
        finally:
            self._set_state("idle")
        ev = record.evidence
        mark = "✓" if record.outcome == "ok" else "✗"
        line = self._call_line(mark, ev_id, cmd.tool, cmd.arguments, elapsed=ev.elapsed_s,
                               size=record.size,
                               note="" if record.outcome == "ok" else f"{record.outcome}: "
                                                                       f"{ev.summary}")
        chat.tool_finished(call_id, line)
        self.transcript.add("tool", line.plain, ev_id)
        self._list_evidence(ev)
        # The person is typing commands: show the panel, keep the focus in the input.
        await self.show_evidence(ev_id, focus=False)

    def _call_line(self, mark: str, ev_id: str | None, tool: str, args: dict[str, Any], *,
                   elapsed: float | None = None, size: int | None = None, note: str = "") -> Text:
        """``✓ E3 logs_search_logs service='checkout' · 0.12s · 2.1 kB``: one line per call."""
        text = Text()
        style = {"✓": "green", "✗": "bold red", "⊘": "yellow"}.get(mark, "dim")
        text.append(f"{mark} ", style=style)
        text.append(f"{ev_id or '--'} ", style="bold")
        text.append(tool, style="bold")
        if args:
            text.append(" " + _args_text(args), style="dim")
        if elapsed is not None and self.timings:
            text.append(f" · {elapsed:.2f}s")
        if size is not None:
            text.append(f" · {human_size(size)}")
        if note:
            text.append(f" · {note}"[:100], style=style)
        return text

    # -- investigations --------------------------------------------------------------------------
    def ask(self, question: str) -> None:
        if self._investigation is not None and self._investigation.is_running:
            self.notify("an investigation is running; esc cancels it", severity="warning")
            return
        self.transcript.add("question", question)
        self._investigation = self.run_worker(self._investigate(Brief(question=question)),
                                              name="investigation", group="investigation",
                                              exit_on_error=False)

    async def _investigate(self, brief: Brief) -> None:
        chat = self.query_one(ChatPane)
        await chat.add_question(brief.question)
        await self._hub_ready.wait()
        if self.hub is None:
            await self._notice("the servers are not connected", "error")
            return
        if self.investigator_factory is None:
            await self._notice("no investigator is configured; use :commands", "warning")
            return
        try:
            investigator = self.investigator_factory(self.hub)
        except ObsbenchError as exc:
            await self._notice(f"{exc.message} — {exc.hint}", "error")
            return
        self._set_state(f"investigating ({getattr(investigator, 'name', 'agent')})")
        try:
            async for event in investigator.run(brief):
                self.post_message(AgentEvent(event))
        finally:
            closer = getattr(investigator, "aclose", None)
            if closer is not None:
                await closer()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "investigation" and event.state in (WorkerState.CANCELLED,
                                                               WorkerState.ERROR):
            self._set_state("idle")
            chat = self.query_one(ChatPane)
            if event.state == WorkerState.CANCELLED:
                self.run_worker(self._notice("investigation cancelled", "warning"))
                self.run_worker(chat.end_answer([], set()))
            else:
                self.run_worker(self._notice(f"investigation failed: {worker.error}", "error"))
        elif worker.group == "commands" and event.state == WorkerState.ERROR:
            self.run_worker(self._notice(f"command failed: {worker.error}", "error"))

    async def on_agent_event(self, message: AgentEvent) -> None:
        event = message.event
        chat = self.query_one(ChatPane)
        if isinstance(event, TextDelta):
            await chat.append_answer(event.text)
        elif isinstance(event, ToolCallStarted):
            self._call_args[event.call_id] = event.arguments
            await chat.tool_started(event.call_id, self._call_line(
                "…", event.evidence_id, event.name, event.arguments))
        elif isinstance(event, ToolCallFinished):
            mark = "✓" if event.outcome == "ok" else "✗"
            args = self._call_args.pop(event.call_id, {})
            line = self._call_line(mark, event.evidence_id, event.name, args,
                                   elapsed=event.elapsed_s,
                                   size=event.size, note=event.error or "")
            chat.tool_finished(event.call_id, line)
            self.transcript.add("tool", line.plain, event.evidence_id)
            self._list_by_id(event.evidence_id)
        elif isinstance(event, EvidenceAdded):
            self._list_by_id(event.evidence_id)
        elif isinstance(event, UsageUpdate):
            self.status.input_tokens = event.usage.input_tokens
            self.status.output_tokens = event.usage.output_tokens
            self.status.cost_usd = event.usage.cost_usd
            self.query_one(StatusBar).show(self.status)
        elif isinstance(event, Notice):
            await self._notice(event.message, event.level)
        elif isinstance(event, Done):
            await self._done(event)

    async def _done(self, event: Done) -> None:
        chat = self.query_one(ChatPane)
        answer = chat.answer_text or event.result.answer
        if not chat.answer_text and event.result.answer:
            await chat.append_answer(event.result.answer)
        cited = cited_ids(answer)
        known = {e.id for e in self.hub.evidence} if self.hub is not None else set()
        await chat.end_answer(cited, known)
        self.transcript.add("answer", answer)
        self.last_result = event.result
        usage = event.result.usage
        self.status.input_tokens, self.status.output_tokens = (usage.input_tokens,
                                                               usage.output_tokens)
        self.status.cost_usd = usage.cost_usd
        self._set_state("idle")
        first = next((i for i in cited if i in known), None)
        if first is not None:
            await self.show_evidence(first, switch_tab=False)

    def action_cancel(self) -> None:
        """Cancel the running investigation and commands; the hub stays connected."""
        running = [w for w in self.workers
                   if w.group in ("investigation", "commands") and w.is_running]
        for w in running:
            w.cancel()
        if not running and self.narrow:
            self._show_tab("tab-chat")

    # -- evidence --------------------------------------------------------------------------------
    def _list_by_id(self, ev_id: str | None) -> None:
        if ev_id and self.hub is not None:
            ev = self.hub.evidence.get(ev_id)
            if ev is not None:
                self._list_evidence(ev)

    def _list_evidence(self, ev: Evidence) -> None:
        if ev.id not in self.listed:
            self.listed.add(ev.id)
            self.query_one(EvidenceList).add_evidence(ev)

    @on(EvidenceList.OptionSelected, "#evidence")
    async def _evidence_selected(self, event: EvidenceList.OptionSelected) -> None:
        if event.option.id:
            await self.show_evidence(event.option.id)

    async def on_markdown_link_clicked(self, event: Any) -> None:
        href = str(getattr(event, "href", ""))
        if href.startswith("evidence:"):
            event.prevent_default()
            await self.show_evidence(href.removeprefix("evidence:"))

    async def on_button_pressed(self, event: Any) -> None:
        button = event.button
        if button.has_class("cite") and button.id:
            await self.show_evidence(button.id.rsplit("-", 1)[-1])

    async def show_evidence(self, ev_id: str, *, switch_tab: bool = True,
                            focus: bool = True) -> bool:
        """Show an item's panel, highlight it in the list, focus the panel's main widget."""
        ev = self.hub.evidence.get(ev_id) if self.hub is not None else None
        if ev is None:
            self.notify(f"no evidence {ev_id}", severity="warning")
            return False
        self._list_evidence(ev)
        switcher = self.query_one("#panels", ContentSwitcher)
        panel_id = f"panel-{ev.id}"
        if ev.kind != "series":
            # The cited window: metric charts zoom to it when it is narrower than theirs.
            self.cited_window = time_window(ev.time_range)
        if not switcher.query(f"#{panel_id}"):
            await switcher.mount(build_panel(ev, id=panel_id))
        changes = self._change_marks()
        for chart in switcher.query(MetricPanel):
            chart.set_changes(changes)
            chart.zoom(self.cited_window)
        shown = switcher.query_one(f"#{panel_id}", Panel)
        if isinstance(shown, PatternsPanel):
            self.mark_pattern(shown.current_template)
        elif isinstance(shown, LogPanel) and self.marked_template:
            shown.mark(self.marked_template)
        switcher.current = panel_id
        self.shown_evidence = ev.id
        self.query_one(EvidenceList).select_id(ev.id)
        if switch_tab:
            self._show_tab("tab-panel")
        if switch_tab and focus:
            panel = switcher.query_one(f"#{panel_id}", Panel)
            target = next((w for w in panel.query("*") if w.can_focus and w.display), None)
            if target is not None:
                target.focus()
        return True

    def _palette_agent(self, spec: str) -> None:
        self.run_worker(self.switch_agent(spec), group="agent", exit_on_error=False)

    async def switch_agent(self, spec: str) -> bool:
        """Investigate with another agent or model from the next question on."""
        if self.agent_switcher is None:
            await self._notice("this session cannot switch agents", "warning")
            return False
        if self.status.state != "idle":
            await self._notice("an investigation is running: esc cancels it first", "warning")
            return False
        if not spec:
            await self._notice("which agent? " + ", ".join(AGENT_SPECS)
                               + " (optionally :MODEL)", "warning")
            return False
        try:
            label, factory, reason = self.agent_switcher(spec)
        except ObsbenchError as exc:
            await self._notice(f"cannot switch to {spec}: {exc.message}"
                               + (f" — {exc.hint}" if exc.hint else ""), "warning")
            return False
        self.investigator_factory = factory
        self.status.agent = label
        self.transcript.agent = label
        self.query_one(StatusBar).show(self.status)
        await self._notice(f"agent: {label}" + (f" ({reason})" if reason else ""), "info")
        return True

    def on_patterns_panel_selected(self, event: PatternsPanel.Selected) -> None:
        self.mark_pattern(event.template)

    def mark_pattern(self, template: str | None) -> None:
        """Mark the lines of the pattern in every log panel (the patterns item is focused)."""
        self.marked_template = template
        for panel in self.query(LogPanel):
            panel.mark(template)

    def _change_marks(self) -> list[tuple[float, str]]:
        """Deploys and config changes of every changes item: markers on the metric charts."""
        if self.hub is None:
            return []
        return sorted({m for ev in self.hub.evidence if ev.kind == "changes"
                       and not ev.is_error for m in change_marks(ev.payload)})

    def action_reset_zoom(self) -> None:
        """Forget the cited window: every metric chart shows its whole range again."""
        self.cited_window = None
        for chart in self.query(MetricPanel):
            chart.zoom(None)

    def action_raw_json(self) -> None:
        ev = (self.hub.evidence.get(self.shown_evidence)
              if self.hub is not None and self.shown_evidence else None)
        if ev is None:
            self.notify("no evidence shown; select one first", severity="warning")
            return
        self.push_screen(RawJsonScreen(ev.id, ev.to_dict()))

    # -- export and status -----------------------------------------------------------------------
    def action_export(self, fmt: str = "md", path: Path | None = None) -> Path | None:
        if fmt not in ("md", "json"):
            self.notify(f"export format {fmt!r}: use md or json", severity="warning")
            return None
        if path is None:
            from obsbench.paths import data_dir  # noqa: PLC0415

            base = self.export_dir or data_dir() / "exports"
            path = base / f"session-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"
        elif path.suffix != f".{fmt}":
            path = path.with_suffix(f".{fmt}")
        items = list(self.hub.evidence) if self.hub is not None else []
        store = self.hub.evidence if self.hub is not None else None
        written = self.transcript.export(path, items, store)
        self.notify(f"exported to {written}", title="export")
        return written

    def action_postmortem(self) -> None:
        if self.last_result is None:
            self.notify("no finished investigation yet: ask a question first",
                        severity="warning")
            return
        self._postmortem(self.last_result)

    @work(group="commands", exit_on_error=False)
    async def _postmortem(self, result: InvestigationResult) -> None:
        """Collect what the timeline needs, build the post-mortem, show it and save it."""
        from obsbench.reports.collect import collect_timeline_evidence  # noqa: PLC0415
        from obsbench.reports.postmortem import build_postmortem  # noqa: PLC0415

        hub = self.hub
        if hub is None:
            await self._notice("the servers are not connected", "error")
            return
        self._set_state("writing the post-mortem")
        try:
            for ev_id in await collect_timeline_evidence(hub, result.window):
                self._list_by_id(ev_id)
            markdown = build_postmortem(result, hub.evidence).to_markdown()
        finally:
            self._set_state("idle")
        chat = self.query_one(ChatPane)
        await chat.add_line(Text("post-mortem", style="bold"), "chat-question")
        await chat.append_answer(markdown)
        await chat.end_answer(cited_ids(markdown), {e.id for e in hub.evidence})
        self.transcript.add("answer", markdown)
        from obsbench.paths import data_dir  # noqa: PLC0415

        path = (self.export_dir or data_dir() / "exports") / \
            f"postmortem-{time.strftime('%Y%m%d-%H%M%S')}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown, encoding="utf-8")
        await self._notice(f"post-mortem written to {path}")

    def _set_state(self, state: str) -> None:
        self.status.state = state
        self.query_one(StatusBar).show(self.status)

    async def _notice(self, message: str, level: str = "info") -> None:
        self.transcript.add("notice", message)
        mark = {"info": "ℹ", "warning": "!", "error": "✗"}.get(level, "ℹ")
        await self.query_one(ChatPane).add_line(Text(f"{mark} {message}"),
                                                f"chat-notice -{level}")
