"""``obsbench metrics query|range|golden-signals|compare|anomalies|list|labels|metadata|alerts``.

Each command calls the metrics MCP server's tool in-process over an in-memory MCP
session, so the CLI prints exactly what a model would see. ``query --json`` and
``range --json`` print the Prometheus HTTP API ``data`` object (``resultType``,
``result``, values as strings) whichever backend answered, so scripts written
against Prometheus keep working; the other commands print the structured content.
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
from obsbench.cli.output import EXIT_USAGE, fail

app = typer.Typer(help="PromQL, golden signals, anomalies and alerts (the metrics MCP server).",
                  no_args_is_help=True)


def _prometheus_data(structured: dict[str, Any]) -> Any:
    return structured.get("data", {}).get("prometheus", {})


def _run(tool: str, args: dict[str, Any], profile: str | None, bundle: Path | None,
         at: str | None, as_json: bool, *, prometheus_json: bool = False) -> None:
    from obsbench.cli.toolcall import run_tool

    run_tool("metrics", tool, args, profile=profile, bundle=bundle, at=at, as_json=as_json,
             json_view=_prometheus_data if prometheus_json else None)


@app.command("query")
def query(
    expr: Annotated[str, typer.Argument(help="PromQL expression.")],
    time: Annotated[str | None, typer.Option("--time", help="Evaluation time (default now).")
                    ] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Evaluate PromQL at one instant (--json: the Prometheus API data object)."""
    _run("query", {"expr": expr, "time": time}, profile, bundle, at, as_json,
         prometheus_json=True)


@app.command("range")
def range_(
    expr: Annotated[str, typer.Argument(help="PromQL expression.")],
    step: Annotated[str | None, typer.Option("--step", help="Resolution (default: chosen "
                                             "within the point budget).")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Evaluate PromQL over a time range (--json: the Prometheus API data object)."""
    start, end = since_window(since, start, end)
    _run("query_range", {"expr": expr, "start": start, "end": end, "step": step},
         profile, bundle, at, as_json, prometheus_json=True)


@app.command("golden-signals")
def golden_signals(
    service: Annotated[str, typer.Argument(help="Service name.")],
    window_: Annotated[str | None, typer.Option("--window", "-w", help="Window (default 1h; "
                                                "--since works too).")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Latency, traffic, errors and saturation of a service (convention detected)."""
    if window_ and since:
        fail("give either --window or --since, not both", None, EXIT_USAGE)
    _run("get_service_golden_signals", {"service": service, "window": window_ or since or "1h",
                                        "end": end}, profile, bundle, at, as_json)


@app.command("compare")
def compare(
    expr: Annotated[str | None, typer.Option("--expr", "-e", help="PromQL to compare.")] = None,
    service: Annotated[str | None, typer.Option("--service", "-s",
                                                help="Compare a service's golden signals.")
                       ] = None,
    baseline: Annotated[str, typer.Option("--baseline", help="'previous' or an offset such as "
                                          "1d or 7d.")] = "previous",
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Compare a window with a baseline window (previous period, or N days before)."""
    if bool(expr) == bool(service):
        fail("give exactly one of --expr or --service", None, EXIT_USAGE)
    start, end = since_window(since, start, end)
    _run("compare_time_periods", {"expr": expr, "service": service, "start": start, "end": end,
                                  "baseline": baseline}, profile, bundle, at, as_json)


@app.command("anomalies")
def anomalies(
    window_: Annotated[str | None, typer.Option("--window", "-w", help="Recent window "
                                                "(default 1h; --since works too).")] = None,
    baseline: Annotated[str, typer.Option("--baseline", help="Normal period before the window.")
                        ] = "2h",
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 15,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Series that deviate most from their baseline, across services, with onsets."""
    if window_ and since:
        fail("give either --window or --since, not both", None, EXIT_USAGE)
    _run("find_anomalies", {"window": window_ or since or "1h", "baseline": baseline,
                            "end": end, "service": service, "limit": limit},
         profile, bundle, at, as_json)


@app.command("list")
def list_metrics(
    match: Annotated[str | None, typer.Argument(help="Substring or regex of the name.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 100,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Metric names that exist, with type and help."""
    _run("list_metrics", {"match": match, "limit": limit}, profile, bundle, at, as_json)


@app.command("labels")
def labels(
    label: Annotated[str, typer.Argument(help="Label name (e.g. service, pod).")],
    match: Annotated[str | None, typer.Option("--match", "-m", help="Series selector.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 200,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Values of a label."""
    start, end = since_window(since, start, end)
    _run("label_values", {"label": label, "match": match, "limit": limit, "start": start,
                          "end": end}, profile, bundle, at, as_json)


@app.command("metadata")
def metadata(
    metric: Annotated[str, typer.Argument(help="Metric name.")],
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Type, help, unit and labels of a metric."""
    _run("metric_metadata", {"metric": metric}, profile, bundle, at, as_json)


@app.command("alerts")
def alerts(
    state: Annotated[str | None, typer.Option("--state", help="firing or pending.")] = None,
    match: Annotated[str | None, typer.Option("--match", "-m", help="Substring of labels.")
                     ] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """Pending and firing alerts (Prometheus /api/v1/alerts)."""
    _run("list_firing_alerts", {"state": state, "match": match}, profile, bundle, at, as_json)
