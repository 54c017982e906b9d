"""``obsbench ask "QUESTION"`` and ``obsbench investigate [--alert NAME] [--service S]``.

Both connect the five MCP servers through the hub for the scope (``--profile`` or
``--bundle``), pick the investigator (``--agent``, else the config; without an API
key the offline investigator, and stderr says so) and run it:

- text (default): progress and the model's thinking on stderr, the answer, ranked
  root causes and the evidence list on stdout;
- ``--json``: one document, design.md's contract (question, window, root_causes,
  evidence with payloads, answer, tool_calls, usage, elapsed_s) plus the rest of the
  result and the notices;
- ``--stream``: one JSON event per line as it happens, ``done`` last.

``ask`` offers the model the write tools the profile enables; ``investigate`` never
does. Every write needs a person's confirmation: ``--yes``, or the interactive prompt
on a terminal; with neither, it is refused (and audited). Exit 0 when the
investigation ended (a budget stop included: see ``stop_reason``), 1 when the model
could not be reached, 2 for usage or configuration errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import AtOpt, BundleOpt, EndOpt, JsonOpt, ProfileOpt, SinceOpt, StartOpt
from obsbench.cli.output import EXIT_TOOL_ERROR, EXIT_USAGE, fail, print_json, run_guarded

AgentOpt = Annotated[str | None, typer.Option(
    "--agent", "-a", help="offline, anthropic[:MODEL] or openai[:MODEL] (default: the config; "
                          "offline without an API key).")]
StreamOpt = Annotated[bool, typer.Option(
    "--stream", help="Print events as NDJSON while the investigation runs (done last).")]
YesOpt = Annotated[bool, typer.Option(
    "--yes", "-y", help="Confirm every write the model asks for in this run (you are the "
                        "person confirming). Without it, writes are asked for on a terminal "
                        "and refused elsewhere.")]
StepsOpt = Annotated[int | None, typer.Option(
    "--max-steps", min=1, help="Model turns at most (default: [agent] max_steps).")]
ServiceOpt = Annotated[str | None, typer.Option("--service", "-s", help="Service to start from.")]


def register(app: typer.Typer) -> None:
    """Add ``ask``, ``investigate`` and ``mcp-config`` to the main app (one line in main.py)."""
    from obsbench.cli import mcpconfig_cmd

    app.command("ask")(ask)
    app.command("investigate")(investigate)
    app.command("mcp-config")(mcpconfig_cmd.mcp_config)


def ask(
    question: str = typer.Argument(..., help="What you want to know, in your words."),
    service: ServiceOpt = None,
    agent: AgentOpt = None,
    stream: StreamOpt = False,
    yes: YesOpt = False,
    max_steps: StepsOpt = None,
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    as_json: JsonOpt = False,
    since: SinceOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    at: AtOpt = None,
) -> None:
    """Ask one question; the investigator answers from the telemetry, citing evidence."""
    _run("ask", question, service=service, alert=None, agent=agent, stream=stream, yes=yes,
         max_steps=max_steps, profile=profile, bundle=bundle, as_json=as_json, since=since,
         start=start, end=end, at=at)


def investigate(
    alert: Annotated[str | None, typer.Option("--alert", help="Alert name to start from.")
                     ] = None,
    service: ServiceOpt = None,
    question: Annotated[str | None, typer.Option("--question", "-q",
                                                 help="Your own framing of the question.")
                        ] = None,
    agent: AgentOpt = None,
    stream: StreamOpt = False,
    yes: YesOpt = False,
    max_steps: StepsOpt = None,
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    as_json: JsonOpt = False,
    since: SinceOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    at: AtOpt = None,
) -> None:
    """Full investigation: ranked root causes with evidence, ruled-out hypotheses, actions."""
    if question is None:
        if alert:
            question = f"Investigate the firing alert {alert}: what is its root cause?"
        elif service:
            question = f"Investigate {service}: what is wrong with it, since when, and why?"
        else:
            question = ("Investigate the current incident: what is wrong, since when, and what "
                        "is the root cause?")
    _run("investigate", question, service=service, alert=alert, agent=agent, stream=stream,
         yes=yes, max_steps=max_steps, profile=profile, bundle=bundle, as_json=as_json,
         since=since, start=start, end=end, at=at)


def _window(scope: Any, since: str | None, start: str | None, end: str | None
            ) -> tuple[str | None, str | None]:
    """``--since D``: a start D before ``--end`` (or before "now" of the scope)."""
    if since and start:
        fail("give either --start or --since, not both", None, EXIT_USAGE)
    if not since:
        return start, end
    from obsbench.agent.loop import scope_now_ns
    from obsbench_servers.common.timeutil import ns_to_rfc3339, parse_duration_ns, parse_time_ns

    now = scope_now_ns(scope)
    end_ns = parse_time_ns(end, now) if end else now
    return ns_to_rfc3339(end_ns - parse_duration_ns(since), precision="nanoseconds"), end


def _run(mode: str, question: str, *, service: str | None, alert: str | None,
         agent: str | None, stream: bool, yes: bool, max_steps: int | None,
         profile: str | None, bundle: Path | None, as_json: bool, since: str | None,
         start: str | None, end: str | None, at: str | None) -> None:
    if stream and as_json:
        fail("give either --stream or --json, not both",
             "--stream prints events as they happen; --json one document at the end", EXIT_USAGE)
    from obsbench.agent.base import Brief
    from obsbench.agent.select import select_agent
    from obsbench.config import load_config
    from obsbench.scope import resolve_scope
    from obsbench_servers.common.errors import BadInputError

    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle, at=at),
                        usage_errors=(BadInputError,))
    agent_cfg = run_guarded(lambda: load_config().config.agent)
    choice = run_guarded(lambda: select_agent(agent, agent_cfg))
    notices: list[dict[str, str]] = []
    printer = _Printer(stream=stream, as_json=as_json, notices=notices)
    if choice.reason:
        from obsbench.agent.events import Notice

        printer.event(Notice(choice.reason, "info"))
    brief_start, brief_end = run_guarded(lambda: _window(scope, since, start, end))
    brief = Brief(question=question, service=service, alert=alert, start=brief_start,
                  end=brief_end)
    outcome = run_guarded(lambda: _execute(scope, brief, choice, agent_cfg, mode=mode, yes=yes,
                                           max_steps=max_steps, printer=printer))
    result, evidence = outcome
    if as_json:
        print_json({**result.to_dict(evidence=evidence), "notices": notices})
    elif not stream:
        sys.stdout.write(render_report(result, evidence) + "\n")
    if result.stop_reason == "error":
        raise typer.Exit(EXIT_TOOL_ERROR)


def _execute(scope: Any, brief: Any, choice: Any, agent_cfg: Any, *, mode: str, yes: bool,
             max_steps: int | None, printer: _Printer) -> tuple[Any, list[dict[str, Any]]]:
    import anyio

    from obsbench.agent.loop import run_to_end
    from obsbench.agent.select import build_investigator
    from obsbench.cli.alerts_cmd import confirmer
    from obsbench.hub import Hub
    from obsbench_servers.common.audit import AuditTrail

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        async with Hub(scope, audit=AuditTrail(), elicitation_callback=confirmer(yes)) as hub:
            inv = build_investigator(choice, hub, agent_cfg, mode=mode, max_steps=max_steps)
            try:
                result = await run_to_end(inv, brief, printer.event)
            finally:
                closer = getattr(inv, "aclose", None)
                if closer is not None:
                    await closer()
            return result, [e.to_dict() for e in hub.evidence]

    return anyio.run(go)


class _Printer:
    """Where events go: NDJSON on stdout (--stream), or progress on stderr."""

    def __init__(self, *, stream: bool, as_json: bool, notices: list[dict[str, str]]) -> None:
        self.stream = stream
        self.as_json = as_json
        self.notices = notices
        self.in_text = False

    def event(self, event: Any) -> None:
        from obsbench.agent.events import (
            Notice,
            TextDelta,
            ToolCallFinished,
            ToolCallStarted,
            event_to_dict,
        )

        if isinstance(event, Notice):
            self.notices.append({"level": event.level, "message": event.message})
        if self.stream:
            import orjson

            sys.stdout.write(orjson.dumps(event_to_dict(event),
                                          option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
            sys.stdout.flush()
            return
        err = sys.stderr
        if isinstance(event, TextDelta):
            if not self.as_json:
                err.write(event.text)
                self.in_text = True
            return
        if self.in_text:
            err.write("\n")
            self.in_text = False
        if isinstance(event, Notice):
            err.write(f"{event.level}: {event.message}\n")
        elif isinstance(event, ToolCallStarted):
            from obsbench_servers.common.budget import clip

            args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
            ev = f"{event.evidence_id} " if event.evidence_id else ""
            err.write(f"  -> {ev}{event.name}({clip(args, 160)})\n")
        elif isinstance(event, ToolCallFinished):
            what = event.error or event.summary
            ev = f"{event.evidence_id} " if event.evidence_id else ""
            err.write(f"  <- {ev}{event.outcome} {event.elapsed_s:.2f}s {what[:160]}\n")
        err.flush()


def render_report(result: Any, evidence: list[dict[str, Any]]) -> str:
    """The investigation as text: answer, findings, evidence list, and what it cost."""
    lines = [result.answer.strip(), ""]
    if result.root_causes:
        lines.append("Root causes:")
        for i, rc in enumerate(result.root_causes, 1):
            cites = f" [{', '.join(rc.evidence)}]" if rc.evidence else ""
            lines.append(f"  {i}. {rc.service} ({rc.kind}, confidence {rc.confidence:.2f}): "
                         f"{rc.summary}{cites}")
    for title, items in (("Contributing", result.contributing), ("Ruled out", result.ruled_out),
                         ("Actions", result.actions)):
        if items:
            lines.append(f"{title}:")
            for f in items:
                cites = f" [{', '.join(f.evidence)}]" if f.evidence else ""
                lines.append(f"  - {f.summary}{cites}")
    if result.not_checked:
        lines.append("Not checked:")
        lines += [f"  - {x}" for x in result.not_checked]
    if result.unresolved_citations:
        lines.append(f"Unresolved citations (not evidence): "
                     f"{', '.join(result.unresolved_citations)}")
    if evidence:
        lines += ["", "Evidence:"]
        for e in evidence:
            flag = " (error)" if e.get("is_error") else ""
            lines.append(f"  [{e['id']}] {e['server']}_{e['tool']}{flag}: {e['summary']}")
    u = result.usage
    model = f"{result.agent}:{result.model}" if result.model else result.agent
    lines += ["", f"{model} · {result.tool_calls} tool calls · {u.input_tokens:,} in / "
                  f"{u.output_tokens:,} out tokens · ${u.cost_usd:.4f} · {result.elapsed_s:.1f}s"
                  + (f" · stopped: {result.stop_reason}" if result.stop_reason != "end_turn"
                     else "")]
    return "\n".join(lines).strip()
