"""The global options of every data command (design.md's CLI contract), declared once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from obsbench.cli.output import EXIT_USAGE, fail

ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="A configured stack (see `obsbench config show`)."),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option("--bundle", "-b", help="A telemetry bundle directory instead of a profile."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the structured result as JSON.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="How far back from --end (or now): 1h, 30m, 2d.")
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="Start: RFC 3339, epoch, or relative (now-2h).")
]
EndOpt = Annotated[
    str | None, typer.Option("--end", help="End: RFC 3339, epoch, or relative (default now).")
]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="What 'now' is (default: the bundle's end, or the clock)."),
]


_ABSOLUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T|^\d+(\.\d+)?$")


def since_window(since: str | None, start: str | None, end: str | None
                 ) -> tuple[str | None, str | None]:
    """``--since D`` becomes a start D before ``--end`` (or before "now", which the server
    resolves: the bundle's end, ``--at``, or the clock)."""
    if since and start:
        fail("give either --start or --since, not both", None, EXIT_USAGE)
    if not since:
        return start, end
    from obsbench_servers.common.timeutil import (
        TimeParseError,
        ns_to_rfc3339,
        parse_duration_ns,
        parse_time_ns,
    )

    try:
        delta = parse_duration_ns(since)
        if end is None:
            return f"now-{since}", None
        if not _ABSOLUTE.match(end.strip()):
            fail("--since with a relative --end is ambiguous", "give --start and --end",
                 EXIT_USAGE)
        return ns_to_rfc3339(parse_time_ns(end) - delta, precision="nanoseconds"), end
    except TimeParseError as exc:
        fail(str(exc), None, EXIT_USAGE)
