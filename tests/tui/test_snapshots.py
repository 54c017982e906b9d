"""Snapshots of the main screens at 80x24 and 160x48 on the demo scenario.

The investigator is the scripted one (real tool calls over the bundle, a fixed
answer) and tool timings are hidden, so the screens are the same on every run.
Update after an intended change with ``pytest tests/tui --snapshot-update`` and
review the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tui_support import answered, bundle_scope, make_app, wait_for


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_investigation_screen(demo_bundle: Path, snap_compare: Any,
                              size: tuple[int, int]) -> None:
    app = make_app(bundle_scope(demo_bundle), question="Why is user-api failing?")

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: answered(app), timeout_s=60)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_log_panel_filtered(demo_bundle: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.hub is not None, timeout_s=60)
        app.query_one("#prompt").value = ":logs user-api level=error limit=400"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1", timeout_s=60)
        app.query_one("#log-E1").focus()
        await pilot.press("slash", *"ASGI", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_trace_waterfall(demo_bundle: Path, snap_compare: Any) -> None:
    app = make_app(bundle_scope(demo_bundle), investigator=False)

    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.hub is not None, timeout_s=60)
        app.query_one("#prompt").value = ":trace a0c5a020c90062de3a45b69203a38df9"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.shown_evidence == "E1", timeout_s=60)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
