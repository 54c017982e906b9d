"""``obsbench traces slow|errors|show|span|compare|deps|breakdown|services``: the tools.

Each command calls the traces MCP server's tool in-process over an in-memory
MCP session, so the CLI prints exactly what a model would see (``--json``: the
structured content, e.g. the whole span tree for ``show``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import (
    AtOpt,
    BundleOpt,
    EndOpt,
    JsonOpt,
    ProfileOpt,
    SinceOpt,
    StartOpt,
    since_window,
)

app = typer.Typer(help="Find, read and compare traces (the traces MCP server's tools).",
                  no_args_is_help=True)


def _run(tool: str, args: dict[str, Any], profile: str | None, bundle: Path | None,
         at: str | None, as_json: bool) -> None:
    from obsbench.cli.toolcall import run_tool

    run_tool("traces", tool, args, profile=profile, bundle=bundle, at=at, as_json=as_json)


@app.command("slow")
def slow(
    service: Annotated[str | None, typer.Argument(help="Service (omit for whole traces).")
                       ] = None,
    threshold: Annotated[str | None, typer.Option(
        "--threshold", "-t", help="500ms, 2s, a number of ms, or p90/p95/p99 (default p95).")
    ] = None,
    operation: Annotated[str | None, typer.Option("--operation", "-o")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 10,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Slowest requests of a service, with the window's latency distribution."""
    start, end = since_window(since, start, end)
    _run("find_slow_traces", {"service": service, "latency_threshold": threshold,
                              "operation": operation, "limit": limit, "start": start,
                              "end": end}, profile, bundle, at, as_json)


@app.command("errors")
def errors(
    service: Annotated[str | None, typer.Argument(help="Service (omit for any).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 10,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Traces with errors, and the spans where the errors originate."""
    start, end = since_window(since, start, end)
    _run("find_error_traces", {"service": service, "limit": limit, "start": start, "end": end},
         profile, bundle, at, as_json)


@app.command("show")
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id (a unique prefix works on bundles).")],
    max_spans: Annotated[int | None, typer.Option("--max-spans",
                                                  help="Load at most this many spans.")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """One trace: critical path, errors, self-time per service, compressed tree."""
    _run("get_trace_details", {"trace_id": trace_id, "max_spans": max_spans}, profile, bundle,
         at, as_json)


@app.command("span")
def span(
    trace_id: Annotated[str, typer.Argument(help="Trace id.")],
    spans: Annotated[list[str], typer.Argument(
        help="Span ids or 'service operation' labels as `traces show` prints them (up to 10).")],
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """A few spans of one trace in full: attributes, events, resource, timing."""
    _run("get_span_details", {"trace_id": trace_id, "spans": spans}, profile, bundle, at,
         as_json)


@app.command("compare")
def compare_cmd(
    trace_a: Annotated[str, typer.Argument(help="Reference trace (a normal request).")],
    trace_b: Annotated[str, typer.Argument(help="Trace to explain (a slow request).")],
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Where time moved between two traces, path by path."""
    _run("compare_trace_spans", {"trace_id_1": trace_a, "trace_id_2": trace_b}, profile,
         bundle, at, as_json)


@app.command("deps")
def deps(
    service: Annotated[str | None, typer.Argument(help="Focus service (omit for all).")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Call graph: calls, error ratios and latency per edge."""
    start, end = since_window(since, start, end)
    _run("get_service_dependencies", {"service": service, "start": start, "end": end},
         profile, bundle, at, as_json)


@app.command("breakdown")
def breakdown(
    service: Annotated[str, typer.Argument(help="Service whose latency to break down.")],
    operation: Annotated[str | None, typer.Option("--operation", "-o")] = None,
    baseline_start: Annotated[str | None, typer.Option("--baseline-start")] = None,
    baseline_end: Annotated[str | None, typer.Option("--baseline-end")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Latency per request by downstream service and operation, vs a baseline window."""
    start, end = since_window(since, start, end)
    _run("get_latency_breakdown", {"service": service, "operation": operation, "start": start,
                                   "end": end, "baseline_start": baseline_start,
                                   "baseline_end": baseline_end}, profile, bundle, at, as_json)


@app.command("services")
def services(
    service: Annotated[str | None, typer.Argument(help="List this service's operations.")
                       ] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Services that emit spans (or one service's operations)."""
    _run("list_trace_services", {"service": service}, profile, bundle, at, as_json)
