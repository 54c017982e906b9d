"""The ``obsbench`` command: one typer app, one module per command group.

Command modules import their heavy dependencies inside the commands, so that
``obsbench --help`` and the TUI start fast.
"""

from __future__ import annotations

import sys

import typer

from obsbench import __version__
from obsbench.cli import (
    alerts_cmd,
    ask_cmd,
    audit_cmd,
    config_cmd,
    doctor_cmd,
    eval_cmd,
    import_cmd,
    infra_cmd,
    logs_cmd,
    metrics_cmd,
    postmortem_cmd,
    scenarios_cmd,
    serve_cmd,
    traces_cmd,
    tui_cmd,
)

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
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(infra_cmd.app, name="infra")
app.add_typer(logs_cmd.app, name="logs")
app.add_typer(traces_cmd.app, name="traces")
app.add_typer(metrics_cmd.app, name="metrics")
ask_cmd.register(app)  # ask, investigate, mcp-config
app.command("postmortem")(postmortem_cmd.postmortem)
app.command("eval")(eval_cmd.eval_cmd)
tui_cmd.register(app)  # demo (the TUI on a scenario; text without a terminal)
app.add_typer(audit_cmd.app, name="audit")


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
    if ctx.invoked_subcommand is None and not tui_cmd.open_default():
        typer.echo(ctx.get_help())


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
