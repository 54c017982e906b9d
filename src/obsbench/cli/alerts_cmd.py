"""``obsbench alerts firing|incidents|timeline|runbook|ack|note|silence|expire``.

Reads call the alerts MCP server's tools in-process, exactly as a model would. Writes
go through the same server and its write gate: they are refused with exit 2 unless
the profile sets ``writes_enabled`` (and every refusal is audited), and each needs a
person's confirmation — ``--yes``, or an interactive prompt on a terminal. The CLI is
the MCP client here, so it answers the server's confirmation request (elicitation);
without a terminal and without ``--yes`` it declines, and nothing is done (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import AtOpt, BundleOpt, JsonOpt, ProfileOpt, SinceOpt
from obsbench.cli.output import EXIT_TOOL_ERROR, EXIT_USAGE, fail, info, print_json, run_guarded

app = typer.Typer(help="Alerts, incidents, timelines, runbooks; confirmed writes (silences, "
                       "acknowledgements, notes).", no_args_is_help=True)

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the write without a prompt "
                                                          "(you are the person confirming).")]


def _read(tool: str, args: dict[str, Any], profile: str | None, bundle: Path | None,
          at: str | None, as_json: bool) -> None:
    from obsbench.cli.toolcall import run_tool

    run_tool("alerts", tool, args, profile=profile, bundle=bundle, at=at, as_json=as_json)


def _who() -> str:
    from obsbench_servers.common.audit import actor

    return str(actor()["os_user"])


def _can_prompt() -> bool:
    """Whether a person can be asked on this terminal (a script or a pipe cannot)."""
    return sys.stdin.isatty()


def confirmer(yes: bool) -> Any:
    """The CLI's answer to the server's confirmation request: --yes, a prompt, or no."""
    import anyio
    from mcp import types

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        message = getattr(params, "message", "")
        if yes:
            info(f"confirmed with --yes: {message.splitlines()[0] if message else ''}")
            return types.ElicitResult(action="accept",
                                      content={"confirm": True, "name": f"{_who()} (cli --yes)"})
        if not _can_prompt():
            info("not confirmed: no terminal to ask on; pass --yes to confirm this write")
            return types.ElicitResult(action="decline")

        def prompt() -> bool:
            sys.stderr.write(message + "\n")
            return bool(typer.confirm("Proceed?", default=False, err=True))

        ok = await anyio.to_thread.run_sync(prompt)
        if not ok:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept",
                                  content={"confirm": True, "name": f"{_who()} (cli prompt)"})

    return answer


def _write(tool: str, args: dict[str, Any], *, profile: str | None, bundle: Path | None,
           as_json: bool, yes: bool) -> None:
    """Run one write tool with the CLI as the confirming client (see the module docstring)."""
    import anyio
    from mcp import Client, types

    from obsbench import __version__
    from obsbench.scope import resolve_scope
    from obsbench_servers.common.confirm import WriteGate, writes_disabled_message
    from obsbench_servers.common.errors import BadInputError
    from obsbench_servers.registry import build_server

    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle),
                        usage_errors=(BadInputError,))
    ctx = scope.context("alerts")
    clean = {k: v for k, v in args.items() if v is not None}
    if not ctx.writes_enabled:
        message, hint = writes_disabled_message(scope.name)
        WriteGate("alerts", scope.name).record(tool=tool, arguments=clean, outcome="refused",
                                               decision=None, reason="writes_enabled = false")
        fail(message, hint, EXIT_USAGE)
    server = run_guarded(lambda: build_server("alerts", ctx))

    async def go() -> Any:
        async with Client(server, elicitation_callback=confirmer(yes),
                          client_info=types.Implementation(name="obsbench-cli",
                                                           version=__version__)) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            if tool not in listed:
                return None
            return await client.call_tool(tool, clean)

    try:
        result = anyio.run(go)
    finally:
        ctx.close()
    if result is None:
        fail(f"no backend of profile {scope.name!r} can run {tool}",
             "silences need an alertmanager backend; acknowledgements and notes a pagerduty "
             "backend (see docs/alerts.md)", EXIT_USAGE)
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        sys.stderr.write(text + "\n")
        raise typer.Exit(EXIT_TOOL_ERROR)
    if as_json:
        print_json(result.structured_content or {})
    else:
        sys.stdout.write(text + "\n")


@app.command("firing")
def firing(
    filter_: Annotated[str | None, typer.Option(
        "--filter", "-f", help='Matchers, e.g. \'severity="critical"\'.')] = None,
    no_suppressed: Annotated[bool, typer.Option(
        "--no-suppressed", help="Hide silenced and inhibited alerts.")] = False,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Alerts firing now (critical first), with silences, inhibitions and groups."""
    _read("list_firing_alerts", {"filter": filter_, "include_suppressed": not no_suppressed},
          profile, bundle, at, as_json)


@app.command("incidents")
def incidents(
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Open incidents (PagerDuty, or Alertmanager groups where there is no PagerDuty)."""
    _read("get_active_incidents", {}, profile, bundle, at, as_json)


@app.command("timeline")
def timeline(
    incident: Annotated[str, typer.Argument(help="Incident id (P3ETBPP, #4786, am-...).")],
    since: SinceOpt = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """One ordered timeline: incident log, alerts, rollouts, config changes, Warning events.
    --since is how far before the incident opened to look (default 2h)."""
    _read("get_incident_timeline", {"incident_id": incident, "lookback": since},
          profile, bundle, at, as_json)


@app.command("runbook")
def runbook(
    alert: Annotated[str, typer.Argument(help="Alert name, e.g. HighErrorRate.")],
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """The runbook covering an alert (runbooks dir, bundle, or its allowed runbook_url)."""
    _read("get_runbook", {"alert_name": alert}, profile, bundle, at, as_json)


@app.command("ack")
def ack(
    incident: Annotated[str, typer.Argument(help="PagerDuty incident id.")],
    user: Annotated[str | None, typer.Option("--user", help="PagerDuty user e-mail "
                                                            "(default: from_email).")] = None,
    yes: YesOpt = False,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
) -> None:
    """WRITE: acknowledge a PagerDuty incident (needs writes_enabled and confirmation)."""
    _write("acknowledge_alert", {"incident_id": incident, "user": user}, profile=profile,
           bundle=bundle, as_json=as_json, yes=yes)


@app.command("note")
def note(
    incident: Annotated[str, typer.Argument(help="PagerDuty incident id.")],
    text: Annotated[str, typer.Argument(help="The note.")],
    user: Annotated[str | None, typer.Option("--user", help="PagerDuty user e-mail "
                                                            "(default: from_email).")] = None,
    yes: YesOpt = False,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
) -> None:
    """WRITE: add a note to a PagerDuty incident (needs writes_enabled and confirmation)."""
    _write("add_incident_note", {"incident_id": incident, "note": text, "user": user},
           profile=profile, bundle=bundle, as_json=as_json, yes=yes)


@app.command("silence")
def silence(
    matchers: Annotated[list[str], typer.Argument(
        help='Matchers, e.g. alertname="HighErrorRate" service="user-api".')],
    duration: Annotated[str, typer.Option("--duration", "-d", help="30m, 2h, ... (max 7d).")
                        ] = "1h",
    comment: Annotated[str, typer.Option("--comment", "-c", help="Why (required).")] = "",
    backend: Annotated[str | None, typer.Option("--backend", help="Alertmanager backend name "
                                                                  "when there are several.")
                       ] = None,
    yes: YesOpt = False,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
) -> None:
    """WRITE: create an Alertmanager silence (needs writes_enabled and confirmation)."""
    _write("create_silence", {"matchers": matchers, "duration": duration, "comment": comment,
                              "backend": backend},
           profile=profile, bundle=bundle, as_json=as_json, yes=yes)


@app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(help="Silence id (UUID).")],
    backend: Annotated[str | None, typer.Option("--backend", help="Alertmanager backend name "
                                                                  "when there are several.")
                       ] = None,
    yes: YesOpt = False,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
) -> None:
    """WRITE: expire an Alertmanager silence (needs writes_enabled and confirmation)."""
    _write("expire_silence", {"silence_id": silence_id, "backend": backend}, profile=profile,
           bundle=bundle, as_json=as_json, yes=yes)
