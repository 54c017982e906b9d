"""``obsbench scenarios list|generate``: the incident simulator on the command line.

``list`` never shows a scenario's root-cause service unless ``--show-truth``;
``generate`` writes a bundle and reports every file with its exact record
count. Unknown names and unsafe output directories are usage errors (exit 2)
with a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obsbench.cli.output import info, print_json, run_guarded

app = typer.Typer(
    help="Incident scenarios: generate telemetry bundles with a known root cause.",
    no_args_is_help=True,
)


@app.command("list")
def list_cmd(
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
    show_truth: bool = typer.Option(False, "--show-truth",
                                    help="Also show each root-cause service (spoils the game)."),
) -> None:
    """List the scenarios: name, one-line description, kind and the services it touches."""
    from obsbench.scenarios import list_scenarios

    items = list_scenarios(show_truth=show_truth)
    if json_:
        print_json({"scenarios": items})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(items)} scenarios", title_justify="left")
    for col in ("name", "kind", "description", "services"):
        table.add_column(col)
    if show_truth:
        table.add_column("root cause")
    for it in items:
        row = [it["name"], it["kind"], it["description"], ", ".join(it["services"])]
        if show_truth:
            row.append(it["truth"]["service"])
        table.add_row(*row)
    Console().print(table)


@app.command("generate")
def generate_cmd(
    name: Annotated[str, typer.Argument(help="Scenario name (see `obsbench scenarios list`).")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the bundle into.")],
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed: same name + seed + scale = same bytes.")] = 7,
    scale: Annotated[str, typer.Option(
        "--scale", help="small (tests, demos) or large (benchmarks: >= 1M log lines and "
                        "samples, >= 100k spans).")] = "small",
    end: Annotated[str, typer.Option(
        "--end", help="End of the window (RFC 3339 or epoch seconds); default: the "
                      "scenario's fixed anchor time.")] = "",
    gzip_: Annotated[bool, typer.Option("--gzip", help="Gzip every file (.gz).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Write into a non-empty directory that is not a bundle of this "
                        "scenario.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_truth: Annotated[bool, typer.Option("--show-truth",
                                             help="Include the root cause.")] = False,
) -> None:
    """Generate a scenario's telemetry bundle and print what was written."""
    from obsbench_servers.common.errors import BadInputError

    def body() -> None:
        from obsbench.scenarios import generate

        result = generate(name, out, seed=seed, scale=scale, end=end or None, gz=gzip_,
                          force=force)
        if json_:
            print_json(result.to_dict(show_truth=show_truth))
            return
        _print_result(result.to_dict(show_truth=show_truth))

    run_guarded(body, usage_errors=(BadInputError,))


def _print_result(data: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{data['scenario']} (seed {data['seed']}, {data['scale']}) -> "
                        f"{data['out']}", title_justify="left")
    for col, justify in (("file", "left"), ("records", "right"), ("unit", "left"),
                         ("bytes", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    files = data["files"]
    assert isinstance(files, list)
    for f in files:
        table.add_row(f["path"], f"{f['records']:,}", f["unit"], f"{f['bytes']:,}")
    console.print(table)
    counts = data["counts"]
    assert isinstance(counts, dict)
    console.print(", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in counts.items()))
    window = data["window"]
    assert isinstance(window, dict)
    console.print(f"window {window['start']} .. {window['end']}, generated in "
                  f"{data['seconds']} s")
    if "truth" in data:
        truth = data["truth"]
        assert isinstance(truth, dict)
        console.print(f"truth: {truth['service']} ({truth['kind']}) at {truth['onset']}")
    info(f"bundle: {data['out']}")
