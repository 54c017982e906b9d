"""``obsbench logs search|patterns|around|volume|stacktraces``: the logs server's tools.

Each command calls the logs MCP server's tool in-process (the CLI sees what a
model sees). ``obsbench logs patterns --file PATH`` mines any raw log file
without a bundle or profile (``--per-line`` adds each line's pattern id in
input order, so accuracy can be scored).
"""

from __future__ import annotations

import sys
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
from obsbench.cli.output import EXIT_USAGE, fail, print_json

app = typer.Typer(help="Search and summarise logs (the logs MCP server's tools).",
                  no_args_is_help=True)


def _run(tool: str, args: dict[str, Any], profile: str | None, bundle: Path | None,
         at: str | None, as_json: bool) -> None:
    from obsbench.cli.toolcall import run_tool

    run_tool("logs", tool, args, profile=profile, bundle=bundle, at=at, as_json=as_json)


@app.command("search")
def search(
    query: Annotated[str | None, typer.Argument(help="Native query (LogQL, Lucene/DSL, KQL).")
                     ] = None,
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    level: Annotated[str | None, typer.Option("--level", "-l",
                                              help="error, warn,error or warn+")] = None,
    contains: Annotated[str | None, typer.Option("--contains", "-c")] = None,
    regex: Annotated[str | None, typer.Option("--regex", "-r", help="RE2 regex")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
    direction: Annotated[str, typer.Option("--direction", help="backward|forward")
                         ] = "backward",
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Search log lines; reports total matched vs shown."""
    if direction not in ("backward", "forward"):
        fail(f"--direction must be backward or forward (got {direction!r})", None, EXIT_USAGE)
    start, end = since_window(since, start, end)
    _run("search_logs", {"query": query, "service": service, "level": level,
                         "contains": contains, "regex": regex, "limit": limit,
                         "direction": direction, "start": start, "end": end},
         profile, bundle, at, as_json)


def _mine_file(path: Path, per_line: bool, as_json: bool, top: int) -> None:
    from obsbench_servers.common.timeutil import ns_to_rfc3339
    from obsbench_servers.logs.patterns import mine_lines, read_lines

    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", "check the path", EXIT_USAGE)
    lines = list(read_lines(data))
    if lines and lines[-1] == "":
        lines.pop()
    patterns, ids = mine_lines(lines, per_line=per_line)
    if as_json:
        doc: dict[str, Any] = {"file": str(path), "lines": len(lines),
                               "patterns": [p.to_dict() for p in patterns]}
        if per_line:
            doc["per_line"] = ids
        print_json(doc)
        return
    sys.stdout.write(f"{len(lines):,} lines -> {len(patterns)} patterns\n")
    for p in patterns[:top]:
        first = ns_to_rfc3339(p.first_ns) if p.first_ns else ""
        sys.stdout.write(f"{p.count:>8,}  {p.id}  {p.template[:200]} {first}\n")
    if len(patterns) > top:
        sys.stdout.write(f"… {len(patterns) - top} more patterns (--top N or --json)\n")


@app.command("patterns")
def patterns(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Mine a raw log file "
                                              "('-' for stdin) instead of a backend.")] = None,
    per_line: Annotated[bool, typer.Option("--per-line", help="With --file --json: each "
                                           "line's pattern id, in input order.")] = False,
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    baseline: Annotated[str, typer.Option("--baseline", help="previous, none, 1d, or "
                                          "START..END")] = "previous",
    level: Annotated[str, typer.Option("--level", "-l")] = "warn+",
    all_lines: Annotated[bool, typer.Option("--all-lines")] = False,
    top: Annotated[int, typer.Option("--top")] = 15,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Error patterns of a window (new/surging vs baseline), or of any log file (--file)."""
    if file is not None:
        if profile or bundle:
            fail("--file mines a file; do not combine it with --profile/--bundle", None,
                 EXIT_USAGE)
        _mine_file(file, per_line, as_json, top)
        return
    if per_line:
        fail("--per-line needs --file", None, EXIT_USAGE)
    start, end = since_window(since, start, end)
    _run("get_error_patterns", {"service": service, "baseline": baseline, "level": level,
                                "all_lines": all_lines, "top": top, "start": start,
                                "end": end}, profile, bundle, at, as_json)


@app.command("around")
def around(
    timestamp: Annotated[str, typer.Argument(help="The moment (RFC 3339, epoch, now-30m).")],
    delta: Annotated[float, typer.Option("--delta", help="Minutes before and after.")] = 5.0,
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    at: AtOpt = None,
) -> None:
    """What every service logged around a moment, by service and pattern."""
    _run("correlate_logs_with_time", {"timestamp": timestamp, "delta_minutes": delta,
                                      "service": service}, profile, bundle, at, as_json)


@app.command("volume")
def volume(
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    step: Annotated[str | None, typer.Option("--step", help="Bucket size, e.g. 1m")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Log volume anomalies per service and level: spikes, drops, silence."""
    start, end = since_window(since, start, end)
    _run("get_log_volume_anomalies", {"service": service, "step": step, "start": start,
                                      "end": end}, profile, bundle, at, as_json)


@app.command("stacktraces")
def stacktraces(
    service: Annotated[str | None, typer.Option("--service", "-s")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q")] = None,
    profile: ProfileOpt = None, bundle: BundleOpt = None, as_json: JsonOpt = False,
    since: SinceOpt = None, start: StartOpt = None, end: EndOpt = None, at: AtOpt = None,
) -> None:
    """Stack traces grouped by exception type and top frames."""
    start, end = since_window(since, start, end)
    _run("extract_stack_traces", {"service": service, "query": query, "start": start,
                                  "end": end}, profile, bundle, at, as_json)
