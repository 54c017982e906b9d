"""Switching profile in the workbench: palette and ``:profile``, over real servers.

Profiles are real configuration (a config.toml in the test's isolated config dir)
over the demo scenario's bundle; the broken ones fail the way real ones do: a
secret reference that does not resolve, a Prometheus nobody listens on.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.widgets import DataTable, Input, Markdown
from tui_support import ScriptedInvestigator, answered, chat_text, wait_for

from obsbench.hub import Hub
from obsbench.scope import Scope, resolve_scope
from obsbench.tui.app import WorkbenchApp
from obsbench.tui.profiles import ProfileSwitcher
from obsbench.tui.widgets.evidence_list import EvidenceList
from obsbench.tui.widgets.panels import ChangesPanel, LogPanel, MetricPanel

WIDE = (160, 48)
pytestmark = pytest.mark.asyncio


class SpyHub(Hub):
    """A real hub that counts its closes."""

    closes = 0

    async def aclose(self) -> None:
        self.closes += 1
        await super().aclose()


def _write_config(bundle: Path) -> None:
    path = Path(os.environ["OBSBENCH_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""default_profile = "alpha"

[profiles.alpha]
bundle = "{bundle}"

[profiles.beta]
bundle = "{bundle}"
writes_enabled = true
redaction = ["preferences API v2"]

[profiles.nosecret]
bundle = "{bundle}"
[profiles.nosecret.metrics]
type = "prometheus"
url = "http://127.0.0.1:9"
auth = {{ kind = "bearer", secret = "env:OBSBENCH_TEST_NO_SUCH_SECRET" }}

[profiles.unreachable]
bundle = "{bundle}"
[profiles.unreachable.metrics]
type = "prometheus"
url = "http://127.0.0.1:9"
""", encoding="utf-8")


def _app(scope: Scope, tmp_path: Path, *, pause_s: float = 0.0, transport: str = "inprocess",
         question: str | None = "why?") -> tuple[WorkbenchApp, list[SpyHub]]:
    """The workbench on ``scope`` with the real ProfileSwitcher; every hub it builds is kept."""
    hubs: list[SpyHub] = []

    def make_hub(new_scope: Scope, confirm: Any) -> Hub:
        servers = ("alerts", "infra") if transport == "stdio" else ("metrics", "logs", "alerts",
                                                                    "infra")
        hub = SpyHub(new_scope, elicitation_callback=confirm, call_timeout_s=60,
                     transport=transport, servers=servers)  # type: ignore[arg-type]
        hubs.append(hub)
        return hub

    switcher = ProfileSwitcher(make_hub, scope, health_timeout_s=3.0)
    app = WorkbenchApp(lambda confirm: make_hub(scope, confirm),
                       lambda hub: ScriptedInvestigator(hub, pause_s=pause_s),
                       profile=scope.name, backends="embedded store", agent="scripted",
                       question=question, timings=False, export_dir=tmp_path,
                       profile_switcher=switcher)
    return app, hubs


async def _command(pilot: Any, app: WorkbenchApp, line: str) -> None:
    app.query_one("#prompt", Input).value = line
    app.query_one("#prompt", Input).focus()
    await pilot.press("enter")


async def test_profile_switch_from_the_command_bar_keeps_the_old_session(
        demo_bundle: Path, tmp_path: Path) -> None:
    _write_config(demo_bundle)
    app, hubs = _app(resolve_scope(profile="alpha"), tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        old_hub = hubs[0]
        old_e2, old_e3 = old_hub.evidence.get("E2"), old_hub.evidence.get("E3")
        assert old_e2 is not None and old_e2.tool == "query_range"
        assert not old_hub.scope.context("alerts").writes_enabled  # alpha: no writes
        await _command(pilot, app, ":profile beta")
        await wait_for(pilot, lambda: app.status.profile == "beta")
        # The old hub was closed (its servers and store handles) and a new one connected.
        assert len(hubs) == 2 and old_hub.closes >= 1 and old_hub._stack is None
        new_hub = hubs[1]
        assert app.hub is new_hub and new_hub.closes == 0
        # beta's servers are built from beta's settings (writes_enabled; the bundle's
        # local backend has no write capability, so no write tool is listed either way).
        assert new_hub.scope.name == "beta" and new_hub.scope.context("alerts").writes_enabled
        status = str(app.query_one("#status").render())
        assert " beta " in status and "embedded store ok" in status
        assert "profile beta" in chat_text(app) and "read-only" in chat_text(app)
        # The old session was saved (markdown and JSON) with its own evidence.
        (saved_md,) = tmp_path.glob("session-*-s1-alpha.md")
        assert "E2 metrics.query_range" in saved_md.read_text()
        assert (tmp_path / saved_md.name.replace(".md", ".json")).is_file()
        # New evidence starts again at E1: a different tool than the old E1..E2.
        await _command(pilot, app, ":events 6h")
        await wait_for(pilot, lambda: app.shown_evidence == "E1")
        await _command(pilot, app, ":deploys")
        await wait_for(pilot, lambda: app.shown_evidence == "E2")
        new_deploys = new_hub.evidence.get("E2")
        assert new_deploys is not None and new_deploys.tool == "get_recent_deployments"
        # beta's redaction patterns hold on its servers; alpha's rollout text had the value.
        old_deploys = old_hub.evidence.get("E4")
        assert old_deploys is not None and "preferences API v2" in old_deploys.text
        assert "preferences API v2" not in new_deploys.text and "deploy 2.3.1" in new_deploys.text
        # The old answer's [E2] still means the OLD E2 (a metric chart), not beta's E2.
        await pilot.click("#cite-1-E2")
        await wait_for(pilot, lambda: app.shown_evidence == "s1-E2")
        panel = app.query_one("#panel-s1-E2", MetricPanel)
        assert panel.evidence is old_e2 and panel.has_class("-archived")
        # The same through the markdown link of the old answer.
        old_answer = app.query_one("#answer-1", Markdown)
        old_answer.post_message(Markdown.LinkClicked(old_answer, "evidence:E3"))
        await wait_for(pilot, lambda: app.shown_evidence == "s1-E3")
        assert app.query_one("#panel-s1-E3", LogPanel).evidence is old_e3
        assert app.lookup("E3") is None  # beta has no E3 yet: nothing to mis-link to
        # Once beta has an E4 of its own, the old changes panel still points into alpha.
        await _command(pilot, app, ":alerts")
        await wait_for(pilot, lambda: app.shown_evidence == "E3")
        await _command(pilot, app, ":incidents")
        await wait_for(pilot, lambda: app.shown_evidence == "E4")
        await pilot.click("#cite-1-E4")
        await wait_for(pilot, lambda: app.shown_evidence == "s1-E4")
        old_changes = app.query_one("#panel-s1-E4", ChangesPanel)
        assert old_changes.evidence is old_hub.evidence.get("E4")
        assert {s for c in old_changes.changes for s in c.sources} == {"E4"}  # its own only
        old_changes.query_one(DataTable).focus()
        await pilot.press("enter")  # "show the evidence it came from": alpha's E4, not beta's
        await pilot.pause(0.3)
        assert app.shown_evidence == "s1-E4"
        # The evidence list shows both sessions, the old one under its profile.
        listed = app.query_one(EvidenceList)
        ids = [listed.get_option_at_index(i).id for i in range(listed.option_count)]
        assert ids == ["s1-head", "s1-E1", "s1-E2", "s1-E3", "s1-E4", "s1-next",
                       "E1", "E2", "E3", "E4"]
        # A new question cites the new evidence; exporting now is beta's session only.
        written = app.action_export("json", tmp_path / "beta.json")
        assert written is not None
        text = written.read_text()
        assert '"profile": "beta"' in text and "query_range" not in text


async def test_profile_switch_from_the_palette(demo_bundle: Path, tmp_path: Path) -> None:
    _write_config(demo_bundle)
    app, hubs = _app(resolve_scope(profile="alpha"), tmp_path, question=None)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Profile: alpha (current)", "Profile: beta", "Profile: nosecret",
                "Profile: unreachable"} <= set(titles)
        # Resolving the profile is held until the test has typed: the UI answers meanwhile.
        gate = threading.Event()
        switcher = app.profile_switcher
        assert switcher is not None
        resolve = switcher.resolve

        def held(name: str, agent: str = "") -> Any:
            assert gate.wait(20)
            return resolve(name, agent)

        switcher.resolve = held  # type: ignore[method-assign]
        titles["Profile: beta"].callback()
        status = app.query_one("#status")
        await wait_for(pilot, lambda: "switching to beta…" in str(status.render()))
        app.query_one("#prompt", Input).focus()
        await pilot.press("a", "b", "c")
        assert app.query_one("#prompt", Input).value == "abc"
        assert app.hub is hubs[0] and app.status.profile == "alpha"
        gate.set()
        await wait_for(pilot, lambda: app.status.profile == "beta")
        assert app.hub is hubs[1] and hubs[0].closes >= 1
        assert " beta " in str(status.render()) and "embedded store ok" in str(status.render())
        # Nothing was said or found on alpha: there is nothing to archive.
        assert app.archives == {} and not list(tmp_path.glob("session-*"))
        # And back: alpha is listed as current no more.
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Profile: beta (current)" in titles
        titles["Profile: alpha"].callback()
        await wait_for(pilot, lambda: app.status.profile == "alpha")
        assert app.hub is hubs[2] and hubs[1].closes >= 1
        # More round trips leave no thread behind: every hub was closed with its servers.
        def threads() -> set[str]:  # but the event loop's executor (bounded, reused)
            return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}

        before = threads()
        for name in ("beta", "alpha", "beta", "alpha"):
            assert await app.switch_profile(name)
        assert len(hubs) == 7 and all(h.closes >= 1 for h in hubs[:-1])
        assert hubs[-1].closes == 0 and app.hub is hubs[-1]
        assert threads() <= before


async def test_a_broken_profile_leaves_everything_as_it_was(demo_bundle: Path,
                                                           tmp_path: Path) -> None:
    _write_config(demo_bundle)
    app, hubs = _app(resolve_scope(profile="alpha"), tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: answered(app))
        hub = app.hub
        assert hub is not None
        before = [e.id for e in hub.evidence]
        transcript = app.transcript
        for line, why in (
                (":profile nosecret", "secret env:OBSBENCH_TEST_NO_SUCH_SECRET does not resolve"),
                (":profile unreachable", "metrics prometheus"),
                (":profile gamma", "no profile 'gamma'")):
            await _command(pilot, app, line)
            refused = f"cannot switch to {line.split()[1]}"
            await wait_for(pilot, lambda refused=refused: refused in chat_text(app))  # type: ignore[misc]
            text = chat_text(app)
            assert why in text and "still on alpha" in text
        assert "--force switches anyway" in chat_text(app)
        # Nothing changed: same hub (open, not closed), evidence, transcript, status.
        assert app.hub is hub and hubs[0].closes == 0 and len(hubs) == 1
        assert app.status.profile == "alpha" and app.status.state == "idle"
        assert app.transcript is transcript and app.archives == {}
        assert [e.id for e in hub.evidence] == before
        await pilot.click("#cite-1-E2")
        await wait_for(pilot, lambda: app.shown_evidence == "E2")
        # The session still works.
        await _command(pilot, app, ":alerts")
        await wait_for(pilot, lambda: app.shown_evidence == "E5")
        # --force connects a profile whose backend fails its health check.
        await _command(pilot, app, ":profile unreachable --force")
        await wait_for(pilot, lambda: app.status.profile == "unreachable", timeout_s=30)
        assert "metrics prometheus FAIL" in str(app.query_one("#status").render())
        assert hubs[0].closes >= 1


async def test_a_running_investigation_is_cancelled_by_the_switch(demo_bundle: Path,
                                                                 tmp_path: Path) -> None:
    _write_config(demo_bundle)
    app, hubs = _app(resolve_scope(profile="alpha"), tmp_path, pause_s=30.0)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.status.state.startswith("investigating"))
        investigation = app._investigation
        assert investigation is not None and investigation.is_running
        await _command(pilot, app, ":profile beta")
        await wait_for(pilot, lambda: app.status.profile == "beta")
        assert not investigation.is_running and investigation.state.name == "CANCELLED"
        assert "investigation cancelled" in chat_text(app)
        assert app.status.state == "idle" and hubs[0].closes >= 1
        # The scripted call that was under way filed nothing in the old store.
        assert len(hubs[0].evidence) == 0
        # The new profile answers questions.
        app.investigator_factory = ScriptedInvestigator
        app.ask("and now?")
        await wait_for(pilot, lambda: len(app.query(".citations")) == 1
                       and app.shown_evidence == "E4")
        assert {e.id for e in hubs[1].evidence} == {"E1", "E2", "E3", "E4"}


async def test_switching_closes_stdio_server_subprocesses(demo_bundle: Path,
                                                         tmp_path: Path) -> None:
    _write_config(demo_bundle)
    app, hubs = _app(resolve_scope(profile="alpha"), tmp_path, transport="stdio",
                     question=None)

    def servers() -> list[psutil.Process]:
        return [p for p in psutil.Process().children(recursive=True)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                and "serve" in p.cmdline() and sys.executable in p.cmdline()[0]]

    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None, timeout_s=60)
        first = servers()
        assert len(first) == 2, [p.cmdline() for p in first]
        await _command(pilot, app, ":profile beta")
        await wait_for(pilot, lambda: app.status.profile == "beta", timeout_s=60)
        _, alive = psutil.wait_procs(first, timeout=10)
        assert not alive, "the old profile's server processes were not stopped"
        now = servers()
        assert len(now) == 2 and not {p.pid for p in now} & {p.pid for p in first}
        assert hubs[0].closes >= 1 and hubs[0]._stack is None


async def test_the_real_wiring_switches_with_the_agent_settings_of_the_config(
        demo_bundle: Path, tmp_path: Path) -> None:
    """build_app's ProfileSwitcher: real hubs, the investigator rebuilt from the config."""
    from obsbench.agent.select import select_agent
    from obsbench.config import AgentConfig, UIConfig
    from obsbench.tui.run import build_app

    _write_config(demo_bundle)
    config = AgentConfig(provider="offline")
    app = build_app(resolve_scope(profile="alpha"), select_agent("offline", config), config,
                    UIConfig())
    app.export_dir = tmp_path
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.hub is not None)
        before = app.investigator_factory
        first_hub = app.hub
        assert await app.switch_profile("beta")
        assert app.status.profile == "beta" and app.hub is not first_hub
        assert app.investigator_factory is not before  # rebuilt from [agent] as read now
        assert type(app.investigator_factory(app.hub)).__name__ == "OfflineInvestigator"  # type: ignore[misc,arg-type]
        assert "agent offline" in str(app.query_one("#status").render())
        assert app.hub is not None and app.hub.audit is not None  # audited, as at startup
