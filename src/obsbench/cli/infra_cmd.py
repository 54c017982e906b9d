"""``obsbench infra status|deployments|usage|autoscaling|probes|events``: the infra server's tools.

Each command calls the infra MCP server's tool in-process (what a model sees);
``--json`` prints the structured content. ``--since`` is the window back from
``--end`` or now (for a bundle, now is its end, or ``--at``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import AtOpt, BundleOpt, EndOpt, JsonOpt, ProfileOpt, SinceOpt, StartOpt
from obsbench.cli.output import EXIT_USAGE, fail

app = typer.Typer(help="Kubernetes state: status, rollouts, usage and right-sizing, "
                       "autoscaling, probes, events.", no_args_is_help=True)

NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace.")]


def _run(tool: str, args: dict[str, Any], profile: str | None, bundle: Path | None,
         at: str | None, as_json: bool) -> None:
    from obsbench.cli.toolcall import run_tool

    run_tool("infra", tool, args, profile=profile, bundle=bundle, at=at, as_json=as_json)


def _window(since: str | None, start: str | None) -> None:
    if since and start:
        fail("give either --start or --since, not both", None, EXIT_USAGE)


@app.command("status")
def status(
    service: Annotated[str, typer.Argument(help="Service / workload name.")],
    namespace: NamespaceOpt = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Replicas, conditions, pods with restarts and last termination reasons, images."""
    _run("get_service_status", {"service": service, "namespace": namespace}, profile, bundle,
         at, as_json)


@app.command("deployments")
def deployments(
    namespace: NamespaceOpt = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="One service only.")
                       ] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Rollouts (image, config hash, resources, env, probes) and ConfigMap/Secret edits."""
    _window(since, start)
    _run("get_recent_deployments", {"start": start, "end": end, "window": since,
                                    "namespace": namespace, "service": service},
         profile, bundle, at, as_json)


@app.command("usage")
def usage(
    service: Annotated[str, typer.Argument(help="Service / workload name.")],
    namespace: NamespaceOpt = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Requests/limits vs usage percentiles, throttling, OOM kills, right-sizing advice.
    --since is the window (default 7d)."""
    _window(since, start)
    _run("get_resource_utilization", {"service": service, "window": since or "7d",
                                      "namespace": namespace, "start": start, "end": end},
         profile, bundle, at, as_json)


@app.command("autoscaling")
def autoscaling(
    service: Annotated[str, typer.Argument(help="Service / workload name.")],
    namespace: NamespaceOpt = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, at: AtOpt = None,
) -> None:
    """HPA state (current/desired/min/max), time at max, scaling events (--since, default 6h)."""
    _run("get_autoscaling_events", {"service": service, "window": since or "6h",
                                    "namespace": namespace}, profile, bundle, at, as_json)


@app.command("probes")
def probes(
    service: Annotated[str, typer.Argument(help="Service / workload name.")],
    namespace: NamespaceOpt = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, at: AtOpt = None,
) -> None:
    """Probe configuration, risky settings and probe failures (--since, default 6h)."""
    _run("check_health_checks", {"service": service, "window": since or "6h",
                                 "namespace": namespace}, profile, bundle, at, as_json)


@app.command("events")
def events(
    namespace: NamespaceOpt = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="One service only.")
                       ] = None,
    type_: Annotated[str | None, typer.Option("--type", "-t", help="Warning or Normal.")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Kubernetes events, Warnings first, grouped by reason (--since, default 1h)."""
    _window(since, start)
    _run("get_events", {"namespace": namespace, "service": service, "window": since or "1h",
                        "type": type_, "start": start, "end": end}, profile, bundle, at, as_json)
