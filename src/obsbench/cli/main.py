"""The ``obsbench`` command: one typer app, one module per command group.

Command modules import their heavy dependencies inside the commands, so that
``obsbench --help`` and the TUI start fast.
"""

from __future__ import annotations

import sys

import typer

from obsbench import __version__
from obsbench.cli import config_cmd, doctor_cmd, import_cmd, scenarios_cmd, serve_cmd
from obsbench.cli.output import run_guarded

app = typer.Typer(
    name="obsbench",
    help="Terminal investigation workbench for on-call engineers.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(scenarios_cmd.app, name="scenarios")
app.command("doctor")(doctor_cmd.doctor)
app.command("import")(import_cmd.import_cmd)
app.command("serve")(serve_cmd.serve)
# Signal command groups (one module each) are registered below, one line per group.


def _version(value: bool) -> None:
    if value:
        typer.echo(f"obsbench {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Terminal investigation workbench for on-call engineers."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command("demo")
def demo(
    scenario: str = typer.Argument(
        "bad-deploy-db-pool", help="Scenario name (see `obsbench scenarios list`)."
    ),
    seed: int = typer.Option(7, "--seed", help="Simulator seed."),
    out: str = typer.Option(
        "", "--out", help="Where to write the bundle (default: the cache dir)."
    ),
) -> None:
    """Generate a scenario bundle, import it into the embedded store and show the incident."""
    from obsbench.cli.demo_cmd import run_demo
    from obsbench.scenarios import get_scenario
    from obsbench_servers.common.errors import BadInputError

    run_guarded(lambda: get_scenario(scenario), usage_errors=(BadInputError,))
    run_guarded(lambda: run_demo(scenario, seed=seed, out=out or None))


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
