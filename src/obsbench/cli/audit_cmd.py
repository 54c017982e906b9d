"""``obsbench audit verify|show``: check and read the hash-chained audit trail.

``verify`` walks every record of every rotated file and names the first place
where the chain breaks (a changed, deleted, inserted or reordered record, or a
missing file): exit 0 when intact, 1 when not. ``show`` lists records, newest
last, filtered by time (``--since 1h``), event, server or tool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from obsbench.cli.options import JsonOpt, SinceOpt
from obsbench.cli.output import EXIT_TOOL_ERROR, EXIT_USAGE, fail, info, print_json

app = typer.Typer(help="The audit trail: verify its hash chain, show recent records.",
                  no_args_is_help=True)

PathOpt = Annotated[
    Path | None,
    typer.Option("--file", help="The audit file (default: the state dir's audit/audit.jsonl)."),
]


def _trail(path: Path | None) -> Any:
    from obsbench_servers.common.audit import AuditTrail

    return AuditTrail(path)


@app.command("verify")
def verify(file: PathOpt = None, json_: JsonOpt = False) -> None:
    """Check the hash chain over every record; exit 1 at the first record that breaks it."""
    trail = _trail(file)
    result = trail.verify()
    if json_:
        print_json({"file": str(trail.path), **result.to_dict()})
    elif result.ok:
        info(f"ok: {result.records} records, chain intact ({trail.path})")
    if not result.ok:
        where = f"{result.file or trail.path}:{result.line}"
        fail(f"audit trail broken at {where}: {result.problem}",
             f"{result.records} records before it verify; keep a copy of the file for "
             "investigation and do not edit it", EXIT_TOOL_ERROR)


def _since_cutoff(since: str | None) -> str | None:
    if not since:
        return None
    from obsbench_servers.common.timeutil import TimeParseError, now_ns_utc, parse_duration_ns

    try:
        ns = now_ns_utc() - parse_duration_ns(since)
    except TimeParseError as exc:
        fail(str(exc), "use a duration such as 30m, 1h or 2d", EXIT_USAGE)
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _line(rec: dict[str, Any]) -> str:
    what = rec.get("event", "?")
    target = ".".join(str(rec[k]) for k in ("server", "tool") if rec.get(k))
    extra = [f"{k}={rec[k]}" for k in ("outcome", "profile", "evidence_id") if rec.get(k)]
    return " ".join([f"#{rec.get('seq')}", str(rec.get("ts")), what, target, *extra]).strip()


@app.command("show")
def show(
    since: SinceOpt = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event.")] = None,
    server: Annotated[str | None, typer.Option("--server", help="Only this server.")] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Only this tool.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest).")] = 200,
    file: PathOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show audit records (newest last): ``--since 1h``, ``--event``, ``--server``, ``--tool``."""
    cutoff = _since_cutoff(since)
    trail = _trail(file)
    try:
        recs = [r for r in trail.records()
                if (cutoff is None or str(r.get("ts", "")) >= cutoff)
                and (event is None or r.get("event") == event)
                and (server is None or r.get("server") == server)
                and (tool is None or r.get("tool") == tool)]
    except ValueError as exc:
        fail(str(exc), "run `obsbench audit verify` to locate the damage", EXIT_TOOL_ERROR)
    shown = recs[-limit:] if limit > 0 else recs
    if json_:
        print_json({"file": str(trail.path), "matched": len(recs), "records": shown})
        return
    for rec in shown:
        typer.echo(_line(rec))
    info(f"{len(shown)} of {len(recs)} matching records ({trail.path})")
