"""``obsbench postmortem``: a post-mortem in markdown (or JSON) from an investigation.

Either runs an investigation now (scope from ``--bundle``/``--profile``, investigator from
``--agent`` or the config, as ``investigate`` does), then makes the extra calls the
timeline needs through the same hub (``reports/collect.py``), or reads one saved with
``obsbench investigate --json`` (``--from FILE``; no backend is called). ``--capacity
SERVICE`` adds the right-sizing section (30 days of usage by default). Markdown goes
to stdout, or to ``--out FILE``; ``--json`` prints the same content as one document.
Exit 0 when the post-mortem was written, 1 when the investigation failed, 2 for usage
or configuration errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import AtOpt, BundleOpt, EndOpt, JsonOpt, ProfileOpt, SinceOpt, StartOpt
from obsbench.cli.output import EXIT_TOOL_ERROR, EXIT_USAGE, fail, info, run_guarded

FromOpt = Annotated[Path | None, typer.Option(
    "--from", help="Write the post-mortem of a saved investigation (`obsbench investigate "
                   "--json` output) instead of running one; no backend is called.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Write the post-mortem to this file instead of stdout.")]
CapacityOpt = Annotated[str | None, typer.Option(
    "--capacity", help="Add a capacity recommendation for this service (requests and limits "
                       "vs measured usage).")]
CapacityWindowOpt = Annotated[str, typer.Option(
    "--capacity-window", help="Usage window for --capacity.")]


def postmortem(
    alert: Annotated[str | None, typer.Option("--alert", help="Alert name to start from.")
                     ] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Service to start from.")
                       ] = None,
    question: Annotated[str | None, typer.Option("--question", "-q",
                                                 help="Your own framing of the question.")
                        ] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", "-a", help="offline, anthropic[:MODEL] or openai[:MODEL] (default: the "
                              "config; offline without an API key).")] = None,
    source: FromOpt = None,
    out: OutOpt = None,
    capacity: CapacityOpt = None,
    capacity_window: CapacityWindowOpt = "30d",
    profile: ProfileOpt = None,
    bundle: BundleOpt = None,
    as_json: JsonOpt = False,
    since: SinceOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    at: AtOpt = None,
) -> None:
    """Post-mortem: summary, duration, impact, timeline from the data, root cause, resolution,
    prevention checklist, lessons learned; every line cites its evidence."""
    if source is not None and (profile or bundle or agent or capacity):
        fail("--from reads a saved investigation: it takes no --profile, --bundle, --agent or "
             "--capacity", "drop them, or drop --from to investigate now", EXIT_USAGE)
    if source is not None:
        from obsbench.reports.io import load_investigation
        from obsbench_servers.common.errors import BadInputError

        doc = run_guarded(lambda: _read_saved(source), usage_errors=(BadInputError,))
        result, store = run_guarded(lambda: load_investigation(doc),
                                    usage_errors=(BadInputError,))
    else:
        result, store = _investigate(alert=alert, service=service, question=question,
                                     agent=agent, capacity=capacity,
                                     capacity_window=capacity_window, profile=profile,
                                     bundle=bundle, since=since, start=start, end=end, at=at)
    from obsbench.reports import build_capacity_report, build_postmortem

    pm = build_postmortem(result, store)
    cap = build_capacity_report(store)
    if as_json:
        import orjson

        data = {**pm.to_dict(), "capacity": cap.to_dict()}
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    else:
        text = pm.to_markdown()
        if cap.containers:
            text += "\n" + cap.to_markdown().replace("# Capacity", "## Capacity", 1)
    if out is not None:
        try:
            out.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", "check the path", EXIT_USAGE)
        info(f"post-mortem written to {out}")
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    if result.stop_reason == "error":
        raise typer.Exit(EXIT_TOOL_ERROR)


def _read_saved(path: Path) -> Any:
    import orjson

    from obsbench_servers.common.errors import BadInputError

    hint = "give the file `obsbench investigate --json > FILE` wrote"
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}", hint) from None
    except orjson.JSONDecodeError as exc:
        raise BadInputError(f"{path} is not JSON: {exc}", hint) from None


def _investigate(*, alert: str | None, service: str | None, question: str | None,
                 agent: str | None, capacity: str | None, capacity_window: str,
                 profile: str | None, bundle: Path | None, since: str | None,
                 start: str | None, end: str | None, at: str | None) -> tuple[Any, Any]:
    from obsbench.agent.base import Brief
    from obsbench.agent.select import select_agent
    from obsbench.cli.ask_cmd import _window
    from obsbench.config import load_config
    from obsbench.scope import resolve_scope
    from obsbench_servers.common.errors import BadInputError

    scope = run_guarded(lambda: resolve_scope(profile=profile, bundle=bundle, at=at),
                        usage_errors=(BadInputError,))
    agent_cfg = run_guarded(lambda: load_config().config.agent)
    choice = run_guarded(lambda: select_agent(agent, agent_cfg))
    if choice.reason:
        info(f"info: {choice.reason}")
    if question is None:
        question = (f"Investigate the alert {alert}: what happened and what is its root cause?"
                    if alert else
                    f"Investigate {service}: what happened, since when, and why?" if service
                    else "What happened in this window, since when, and what was the root "
                         "cause?")
    b_start, b_end = run_guarded(lambda: _window(scope, since, start, end))
    brief = Brief(question=question, service=service, alert=alert, start=b_start, end=b_end)
    return run_guarded(lambda: _run(scope, brief, choice, agent_cfg, capacity, capacity_window))


def _run(scope: Any, brief: Any, choice: Any, agent_cfg: Any, capacity: str | None,
         capacity_window: str) -> tuple[Any, Any]:
    import anyio

    from obsbench.agent.loop import run_to_end
    from obsbench.agent.select import build_investigator
    from obsbench.hub import Hub
    from obsbench.reports.collect import collect_timeline_evidence
    from obsbench_servers.common.audit import AuditTrail

    def progress(event: Any) -> None:
        from obsbench.agent.events import Notice, ToolCallFinished

        if isinstance(event, Notice):
            info(f"{event.level}: {event.message}")
        elif isinstance(event, ToolCallFinished):
            info(f"  <- {event.evidence_id or ''} {event.name} {event.outcome}")

    async def go() -> tuple[Any, Any]:
        # Investigations never write: no elicitation callback, so any write is refused.
        async with Hub(scope, audit=AuditTrail()) as hub:
            inv = build_investigator(choice, hub, agent_cfg, mode="investigate")
            try:
                result = await run_to_end(inv, brief, progress)
            finally:
                closer = getattr(inv, "aclose", None)
                if closer is not None:
                    await closer()
            info("collecting the timeline ...")
            await collect_timeline_evidence(hub, result.window)
            asked = {(e.arguments.get("service"), e.arguments.get("window", "7d"))
                     for e in hub.evidence
                     if e.tool == "get_resource_utilization" and not e.is_error}
            if capacity and (capacity, capacity_window) not in asked:
                await hub.call("infra_get_resource_utilization",
                               {"service": capacity, "window": capacity_window})
            return result, hub.evidence

    return anyio.run(go)
