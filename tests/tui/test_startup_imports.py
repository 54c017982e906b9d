"""The first paint does not wait for heavy imports: they load in workers or on first use.

``obsbench demo`` is run in a fresh interpreter up to the moment it would start the
Textual app (scope resolved, config loaded, agent chosen, app built): at that point
none of the store (DuckDB, pyarrow), the servers' MCP stack, the model SDKs, the
keyring or the markdown renderer may have been imported. Any top-level import that
pulls one in again fails here, so the cold-start gain cannot regress silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Imported by the hub worker after the first paint, or on first use (a secret looked up,
# an answer streamed, a raw-JSON modal opened).
HEAVY = ("duckdb", "pyarrow", "numpy", "mcp", "httpx2", "anthropic", "keyring", "markdown_it",
         "obsbench.hub", "obsbench_servers.store")

CHILD = r"""
import json, sys
import obsbench.cli.tui_cmd as tui_cmd
import obsbench.tui.run as run

heavy = tuple(json.loads(sys.argv[1]))

def first_paint_point(scope, choice, agent_config, ui, **kw):
    # What run_tui does before app.run(): the app, built on the real scope and agent.
    app = run.build_app(scope, choice, agent_config, ui, **kw)
    loaded = sorted(m for m in heavy if m in sys.modules)
    print(json.dumps({"app": type(app).__name__, "scope": scope.name, "agent": choice.label,
                      "loaded": loaded}))
    raise SystemExit(0)

run.run_tui = first_paint_point
tui_cmd._interactive = lambda: True  # the TUI branch, as on a terminal
from obsbench.cli.main import app
app(["demo", "--out", sys.argv[2], "--agent", "offline"])
"""


def _first_paint_state(bundle: Path, heavy: tuple[str, ...]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(heavy), str(bundle)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    state: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return state


def test_demo_reaches_the_first_paint_without_heavy_imports(demo_bundle: Path) -> None:
    state = _first_paint_state(demo_bundle, HEAVY)
    # The real path ran: the workbench app on the bundle's scope with the offline agent.
    assert state["app"] == "WorkbenchApp"
    assert state["scope"] == f"bundle:{demo_bundle.name}"
    assert state["agent"] == "offline"
    assert state["loaded"] == [], f"imported before the first paint: {state['loaded']}"


def test_the_check_sees_modules_that_are_imported(demo_bundle: Path) -> None:
    """The probe is not blind: modules the path does import are reported as loaded."""
    state = _first_paint_state(demo_bundle, ("textual", "pydantic", "obsbench.tui.app"))
    assert state["loaded"] == ["obsbench.tui.app", "pydantic", "textual"]
