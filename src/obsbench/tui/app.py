"""The workbench app: chat beside the evidence list and panels, all I/O in workers.

One worker keeps the hub connected for the app's life (the hub's context is
entered and left in that one task, as anyio requires); investigations and
``:`` commands run in their own workers and post small messages back, so the
UI never waits on a backend or a model. ``esc`` cancels what is running.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    ChangesPanel,
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
    from obsbench.tui.profiles import ProfileSwitcher, ProfileTarget

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


@dataclass
class ArchivedSession:
    """The session of a profile switched away from, kept read-only (its ids are prefixed
    ``s1-E3`` in the evidence list and panels; its answers' citations resolve here)."""

    key: str
    profile: str
    evidence: Any  # the old hub's EvidenceStore
    transcript: Transcript
    saved: list[Path]


class AgentEvent(Message):
    """One investigator event, posted from the investigation worker."""

    def __init__(self, event: Event, hub: Any = None) -> None:
        super().__init__()
        self.event = event
        self.hub = hub  # the hub it ran on: events of a switched-away hub are dropped


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
        profile_switcher: ProfileSwitcher | None = None,
    ) -> None:
        super().__init__()
        self.agent_switcher = agent_switcher
        self.profile_switcher = profile_switcher
        # Sessions of the profiles switched away from: "s1" -> its evidence and transcript,
        # still viewable (citations in their answers resolve to *their* evidence).
        self.archives: dict[str, ArchivedSession] = {}
        self._switching = False
        self.hub_factory = hub_factory
        self.investigator_factory = investigator_factory
        self.hub: Hub | None = None
        self.initial_question = question
        self.initial_notices = list(notices or [])
        self.timings = timings
        self.export_dir = export_dir
        self.cited_window: tuple[float, float] | None = None
        self.axis_chart: str | None = None  # the chart whose x axis the changes timeline uses
        self.marked_template: str | None = None
        self.health_check = health_check
        self.transcript = Transcript(profile=profile, agent=agent)
        self.status = StatusInfo(profile=profile, backends=backends, agent=agent)
        self.shown_evidence: str | None = None
        self._show_ticket = 0  # the newest show_evidence request wins over slower ones
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
                 ("ctrl+p", "command palette (export, profile, agent, theme, help)")]
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
        if self.profile_switcher is not None:
            for name in self.profile_switcher.names():
                current = name == self.status.profile
                yield SystemCommand(f"Profile: {name}" + (" (current)" if current else ""),
                                    "investigate this profile's stack (the session so far is "
                                    "kept, read-only, and saved)",
                                    partial(self._palette_profile, name))
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
        elif cmd.action == "profile":
            names = [a for a in cmd.args if a != "--force"]
            self._palette_profile(names[0] if names else "", force="--force" in cmd.args)
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
                self.post_message(AgentEvent(event, self.hub))
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
        elif worker.group == "profile" and event.state == WorkerState.ERROR:
            self.run_worker(self._notice(f"profile switch failed: {worker.error}", "error"))

    async def on_agent_event(self, message: AgentEvent) -> None:
        event = message.event
        if message.hub is not None and message.hub is not self.hub:
            return  # posted before a profile switch: its ids belong to the old session
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
        first = next((i for i in cited if i in known), None)
        if first is not None:
            await self.show_evidence(first, switch_tab=False)
        # Idle once the first cited panel is up: what the person does next is not raced.
        self._set_state("idle")

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
            ref = href.removeprefix("evidence:")
            await self.show_evidence(self._qualified(getattr(event, "markdown", None), ref))

    async def on_button_pressed(self, event: Any) -> None:
        button = event.button
        if button.has_class("cite") and button.id:
            await self.show_evidence(self._qualified(button, button.id.rsplit("-", 1)[-1]))

    @staticmethod
    def _qualified(widget: Any, ev_id: str) -> str:
        """``E3`` cited in a previous profile's answer is that session's ``s1-E3``."""
        node = widget
        while node is not None and not isinstance(node, ChatPane):
            key = next((c.removeprefix("from-") for c in getattr(node, "classes", ())
                        if c.startswith("from-")), None)
            if key:
                return f"{key}-{ev_id}"
            node = getattr(node, "parent", None)
        return ev_id

    def lookup(self, ref: str) -> Evidence | None:
        """``E3`` in the current hub; ``s1-E3`` in an archived session."""
        key, sep, ev_id = ref.partition("-")
        if sep:
            archived = self.archives.get(key)
            return archived.evidence.get(ev_id) if archived is not None else None
        return self.hub.evidence.get(ref) if self.hub is not None else None

    async def show_evidence(self, ev_id: str, *, switch_tab: bool = True,
                            focus: bool = True) -> bool:
        """Show an item's panel, highlight it in the list, focus the panel's main widget."""
        from obsbench.tui.widgets.timeline import is_changes_like  # noqa: PLC0415

        ev = self.lookup(ev_id)
        if ev is None:
            self.notify(f"no evidence {ev_id}", severity="warning")
            return False
        self._show_ticket += 1
        ticket = self._show_ticket
        archived = "-" in ev_id
        if not archived:
            self._list_evidence(ev)
        switcher = self.query_one("#panels", ContentSwitcher)
        panel_id = f"panel-{ev_id}"
        mounted = switcher.query(f"#{panel_id}")
        panel = mounted.first() if mounted else build_panel(ev, id=panel_id)
        if not mounted:
            panel.set_class(archived, "-archived")
            await switcher.mount(panel)
        if isinstance(panel, ChangesPanel) and not archived:
            await self._ensure_axis_chart(switcher)
        if ticket != self._show_ticket:
            return False  # a newer request (a click while this panel mounted) decides
        if ev.kind != "series" and not is_changes_like(ev):
            # The cited window: metric charts zoom to it when it is narrower than theirs
            # (a changes item is drawn on the charts' axis: it keeps their zoom).
            self.cited_window = time_window(ev.time_range)
        changes = self._change_marks()
        for chart in switcher.query(MetricPanel):
            if not chart.has_class("-archived"):
                chart.set_changes(changes)
            chart.zoom(self.cited_window)
        shown = switcher.query_one(f"#{panel_id}", Panel)
        if isinstance(shown, MetricPanel):
            self.axis_chart = panel_id  # the changes timeline follows the chart last shown
        self._refresh_timelines()
        if isinstance(shown, PatternsPanel):
            self.mark_pattern(shown.current_template)
        elif isinstance(shown, LogPanel) and self.marked_template:
            shown.mark(self.marked_template)
        switcher.current = panel_id
        self.shown_evidence = ev_id
        self.query_one(EvidenceList).select_id(ev_id)
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

    # -- profiles --------------------------------------------------------------------------------
    def _palette_profile(self, name: str, *, force: bool = False) -> None:
        self.run_worker(self.switch_profile(name, force=force), group="profile",
                        exit_on_error=False)

    async def switch_profile(self, name: str, *, force: bool = False) -> bool:
        """Investigate another profile's stack; the session so far stays viewable.

        In order, and nothing changes until the new hub is connected: resolve the profile
        (config, secrets) in a thread, check its backends' health (a failing backend
        refuses the switch unless ``force``), connect the new hub in its own worker; then
        cancel what runs (as ``esc``), close the old hub (servers, subprocesses, store
        handles) in the task that opened it, archive the old session (saved as markdown
        and JSON; its evidence ids become ``s1-E3``) and swap the new hub in.
        """
        switcher = self.profile_switcher
        if switcher is None:
            await self._notice("this session cannot switch profiles", "warning")
            return False
        if not name:
            names = await asyncio.to_thread(switcher.names)
            await self._notice("which profile? " + (", ".join(
                f"{n} (current)" if n == self.status.profile else n for n in names)
                or "none is configured (obsbench config init)"), "warning")
            return False
        if self._switching:
            await self._notice("a profile switch is already under way", "warning")
            return False
        if name == self.status.profile:
            await self._notice(f"already on profile {name}", "info")
            return False
        self._switching = True
        before = self.status.state
        self._set_state(f"switching to {name}…")
        done = False
        try:
            prepared = await self._prepare_profile(switcher, name, force)
            if prepared is not None:
                await self._commit_profile(*prepared)
                done = True
            return done
        finally:
            self._switching = False
            if done or self.status.state.startswith("switching"):
                self._set_state("idle" if done else before)

    async def _prepare_profile(
        self, switcher: ProfileSwitcher, name: str, force: bool,
    ) -> tuple[ProfileTarget, Hub, asyncio.Event, Worker[None], list[Any]] | None:
        """Resolve, check and connect the new profile; None (and a notice) when it cannot."""

        def refuse(why: str) -> None:
            self.run_worker(self._notice(f"cannot switch to {name}: {why}; "
                                         f"still on {self.status.profile}", "error"))

        try:
            target = await asyncio.to_thread(switcher.resolve, name, self.status.agent)
        except ObsbenchError as exc:
            refuse(exc.message + (f" — {exc.hint}" if exc.hint else ""))
            return None
        results: list[Any] = []
        if target.health_check is not None:
            results = await asyncio.to_thread(target.health_check)
            failed = [r for r in results if r.status == "fail"]
            if failed and not force:
                refuse("; ".join(f"{r.signal} {r.type}: {r.detail}" for r in failed)
                       + f" (:profile {name} --force switches anyway)")
                return None
        closing = asyncio.Event()
        connected: asyncio.Future[Hub] = asyncio.get_running_loop().create_future()
        holder = self.run_worker(self._hold_hub(target.hub_factory, connected, closing),
                                 name="hub", group="hub", exit_on_error=False)
        try:
            hub = await connected
        except Exception as exc:
            msg = exc.message if isinstance(exc, ObsbenchError) else f"{type(exc).__name__}: {exc}"
            refuse(f"its servers did not connect: {msg}")
            return None
        return target, hub, closing, holder, results

    async def _hold_hub(self, factory: Callable[[Any], Hub], connected: asyncio.Future[Hub],
                        closing: asyncio.Event) -> None:
        """Enter a switched-to hub and keep it until ``closing``, in this one task."""
        try:
            async with factory(self.confirm_write) as hub:
                connected.set_result(hub)
                await closing.wait()
        except BaseException as exc:
            if not connected.done():
                if isinstance(exc, Exception):
                    connected.set_exception(exc)
                else:
                    connected.cancel()
            if not isinstance(exc, Exception):
                raise

    async def _commit_profile(self, target: ProfileTarget, hub: Hub, closing: asyncio.Event,
                              holder: Worker[None], results: list[Any]) -> None:
        """Stop what runs, close the old hub, archive its session, swap the new one in."""
        running = [w for w in self.workers
                   if w.group in ("investigation", "commands") and w.is_running]
        for w in running:
            w.cancel()  # as esc: the hub records the cancelled calls, no evidence is filed
        await self._wait_for(running)
        old_hubs = [w for w in self.workers if w.group == "hub" and w is not holder
                    and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        old_store = self.hub.evidence if self.hub is not None else None
        self._hub_closing.set()  # the old hub's worker leaves its context and closes it
        await self._wait_for(old_hubs)
        previous = self.status.profile
        archive = await self._archive_session(previous, old_store)
        self.hub = hub
        self._hub_ready = asyncio.Event()
        self._hub_ready.set()
        self._hub_closing = closing
        self.hub_factory = target.hub_factory
        self.health_check = target.health_check
        if target.investigator_factory is not None:
            self.investigator_factory = target.investigator_factory
            self.status.agent = target.agent or self.status.agent
        self.status.profile = target.name
        self.status.backends = health_summary(results) or target.backends
        self.status.servers = f"{len({t.server for t in hub.tools()})} servers"
        self.transcript = Transcript(profile=target.name, agent=self.status.agent)
        self.query_one(StatusBar).show(self.status)
        if archive is not None:
            from textual.widgets.option_list import Option  # noqa: PLC0415

            self.query_one(EvidenceList).add_option(Option(
                Text(f"── {target.name} ──", style="bold"), id=f"{archive.key}-next",
                disabled=True))
        saved = " and ".join(str(p) for p in archive.saved) if archive else ""
        await self._notice(
            f"profile {target.name} ({self.status.backends}"
            f"{'; writes enabled' if target.writes_enabled else ''}); the {previous} session "
            f"stays above, read-only" + (f", saved to {saved}" if saved else ""), "info")

    @staticmethod
    async def _wait_for(workers: list[Worker[Any]]) -> None:
        for w in workers:
            try:
                await w.wait()
            except Exception:  # cancelled or failed: it has ended, which is what is wanted
                continue

    async def _archive_session(self, profile: str, store: Any) -> ArchivedSession | None:
        """Keep the old session viewable: chat tagged, evidence listed under its profile with
        prefixed ids, panels dropped (rebuilt on demand), transcript saved to files."""
        from textual.widgets.option_list import Option  # noqa: PLC0415

        from obsbench.tui.widgets.evidence_list import evidence_label  # noqa: PLC0415

        items = list(store) if store is not None else []
        if not items and not self.transcript.entries:
            return None
        key = f"s{len(self.archives) + 1}"
        saved: list[Path] = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for fmt in ("md", "json"):
            name = f"session-{stamp}-{key}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', profile)}.{fmt}"
            try:
                saved.append(self.transcript.export(self._export_base() / name, items, store))
            except OSError as exc:
                await self._notice(f"could not save the {profile} session: {exc}", "error")
        archive = ArchivedSession(key, profile, store, self.transcript, saved)
        self.archives[key] = archive
        for child in self.query_one(ChatPane).children:
            if not any(c.startswith("from-") for c in child.classes):
                child.add_class(f"from-{key}", "-archived")
        listed = self.query_one(EvidenceList)
        listed.clear_options()
        for old in self.archives.values():
            listed.add_option(Option(Text(f"── {old.profile} (before the switch) ──",
                                          style="dim"), id=f"{old.key}-head", disabled=True))
            for ev in old.evidence or []:
                listed.add_option(Option(evidence_label(ev), id=f"{old.key}-{ev.id}"))
        self.listed = set()
        switcher = self.query_one("#panels", ContentSwitcher)
        switcher.current = "panel-empty"
        for panel in list(switcher.query(Panel)):
            if not panel.has_class("-archived"):
                await panel.remove()
        self.shown_evidence = None
        self.cited_window = None
        self.axis_chart = None
        self.marked_template = None
        self.last_result = None
        self._call_args.clear()
        return archive

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
        self._refresh_timelines()

    # -- the changes timeline --------------------------------------------------------------------
    def _refresh_timelines(self) -> None:
        """Every changes panel shows the session's merged changes on the charts' axis."""
        from obsbench.tui.widgets.timeline import is_changes_like, merge_changes  # noqa: PLC0415

        panels = list(self.query(ChangesPanel))
        if not panels or self.hub is None:
            return
        items = [ev for ev in self.hub.evidence if is_changes_like(ev)]
        merged = merge_changes(items)
        sources = {ev.id: f"{ev.server}.{ev.tool}" for ev in items}
        for panel in panels:
            if not panel.has_class("-archived"):  # a previous profile's panel keeps its own
                panel.set_timeline(merged, self._timeline_axis, sources)

    async def _ensure_axis_chart(self, switcher: ContentSwitcher) -> None:
        """No chart panel yet, but a chartable item: mount its chart, hidden, so the changes
        timeline has the axis that chart will have."""
        from obsbench.tui.widgets.panels import is_chartable  # noqa: PLC0415

        if self.hub is None or any(c.span for c in switcher.query(MetricPanel)
                                   if not c.has_class("-archived")):
            return
        ev = next((e for e in reversed(list(self.hub.evidence)) if e.kind == "series"
                   and not e.is_error and is_chartable(e.payload)), None)
        if ev is not None and not switcher.query(f"#panel-{ev.id}"):
            chart = build_panel(ev, id=f"panel-{ev.id}")
            chart.display = False
            await switcher.mount(chart)

    def _timeline_axis(self, width: int, height: int = 0) -> Any:
        """The x axis of the chart last shown (zoom included), as plotext lays it out at
        ``width``; without a chart, the cited window or the changes items' whole range."""
        from obsbench.tui.widgets.timeline import (  # noqa: PLC0415
            DEFAULT_GUTTER,
            Axis,
            is_changes_like,
        )

        charts = {c.id: c for c in self.query(MetricPanel)
                  if c.span is not None and not c.has_class("-archived")}
        chart = charts.get(self.axis_chart or "") or next(iter(charts.values()), None)
        if chart is not None:
            axis = chart.x_axis(width, height)
            if axis is not None:
                return axis
        window, source = self.cited_window, "the cited window"
        if window is None and self.hub is not None:
            ranges = [w for ev in self.hub.evidence if is_changes_like(ev)
                      if (w := time_window(ev.time_range)) is not None]
            if ranges:
                window = (min(a for a, _ in ranges), max(b for _, b in ranges))
                source = "the changes items' range"
        if window is None or width <= DEFAULT_GUTTER + 1:
            return None
        return Axis(window[0], window[1], DEFAULT_GUTTER, width - DEFAULT_GUTTER, source)

    def on_changes_panel_show_source(self, message: ChangesPanel.ShowSource) -> None:
        """Enter on a change: show the (other) evidence item it came from."""
        others = [i for i in message.ev_ids if i != self.shown_evidence]
        target = others[0] if others else (message.ev_ids[0] if message.ev_ids else None)
        if target is not None:
            self.run_worker(self.show_evidence(target), group="show", exit_on_error=False)

    def action_raw_json(self) -> None:
        ev = self.lookup(self.shown_evidence) if self.shown_evidence else None
        if ev is None:
            self.notify("no evidence shown; select one first", severity="warning")
            return
        self.push_screen(RawJsonScreen(ev.id, ev.to_dict()))

    # -- export and status -----------------------------------------------------------------------
    def _export_base(self) -> Path:
        from obsbench.paths import data_dir  # noqa: PLC0415

        return self.export_dir or data_dir() / "exports"

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
