"""The global options of every data command (design.md's CLI contract), declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
