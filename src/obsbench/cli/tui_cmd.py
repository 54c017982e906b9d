"""``obsbench demo [SCENARIO]`` and bare ``obsbench``: the TUI, or text when there is no terminal.

``obsbench demo`` generates the scenario's bundle (cached), then opens the
workbench on it and starts an investigation with the offline investigator (or
Claude when a key is configured). When stdout is not a terminal, or with
``--no-tui``, it prints the text summary instead (scripts, CI, the README's first
line). Bare ``obsbench`` opens the workbench on the default profile; with no
configuration it says how to start (``obsbench demo``) instead of failing.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from obsbench.cli.output import info, run_guarded

NoTuiOpt = Annotated[bool, typer.Option(
    "--no-tui", help="Print the incident summary instead of opening the TUI (also the "
                     "behaviour when stdout is not a terminal).")]
AgentOpt = Annotated[str | None, typer.Option(
    "--agent", "-a", help="offline, anthropic[:MODEL] or openai[:MODEL] (default: the config; "
                          "offline without an API key).")]


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the main app (one line in main.py)."""
    app.command("demo")(demo)


def _interactive() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty()


def demo(
    scenario: str = typer.Argument(
        "bad-deploy-db-pool", help="Scenario name (see `obsbench scenarios list`)."
    ),
    seed: int = typer.Option(7, "--seed", help="Simulator seed."),
    out: str = typer.Option(
        "", "--out", help="Where to write the bundle (default: the cache dir)."
    ),
    no_tui: NoTuiOpt = False,
    agent: AgentOpt = None,
) -> None:
    """Generate a scenario bundle and investigate it in the TUI (text summary without a TTY)."""
    from obsbench.cli.demo_cmd import demo_bundle, run_demo
    from obsbench.scenarios import get_scenario
    from obsbench_servers.common.errors import BadInputError

    run_guarded(lambda: get_scenario(scenario), usage_errors=(BadInputError,))
    if no_tui or not _interactive():
        run_guarded(lambda: run_demo(scenario, seed=seed, out=out or None))
        return
    bundle = run_guarded(lambda: demo_bundle(scenario, seed, out or None))
    _open(bundle=bundle, agent=agent, question=None, demo=True)


def _open(*, bundle: object = None, profile: str | None = None, agent: str | None,
          question: str | None, demo: bool) -> None:
    """Resolve the scope and the investigator, then run the TUI (blocks until it quits)."""
    from pathlib import Path

    from obsbench.agent.select import select_agent
    from obsbench.config import load_config
    from obsbench.scope import resolve_scope
    from obsbench.tui.app import DEFAULT_QUESTION
    from obsbench.tui.run import run_tui

    scope = run_guarded(lambda: resolve_scope(
        profile=profile, bundle=Path(str(bundle)) if bundle is not None else None))
    cfg = run_guarded(lambda: load_config().config)
    choice = run_guarded(lambda: select_agent(agent, cfg.agent))
    run_tui(scope, choice, cfg.agent, cfg.ui,
            question=question or (DEFAULT_QUESTION if demo else None))


def open_default() -> bool:
    """Bare ``obsbench`` on a terminal: the TUI on the default profile. False = print help."""
    if not _interactive():
        return False
    from obsbench.config import load_config

    loaded = run_guarded(load_config)
    if not loaded.config.profiles:
        info("no profile is configured yet: try `obsbench demo` (a generated incident, no stack "
             "needed) or `obsbench config init`")
        return False
    _open(agent=None, question=None, demo=False)
    return True
