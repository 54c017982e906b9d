"""``obsbench demo``: a generated incident, imported into the embedded store, shown.

The demo needs no stack and no API key: it generates a scenario bundle (once
per scenario and seed, cached), imports it, and prints what an on-call engineer
would look at first. The bundle path it prints works with every ``--bundle``
command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from obsbench.cli.output import info
from obsbench.paths import data_dir


def demo_bundle(scenario: str, seed: int, out: str | None) -> Path:
    """Generate the scenario's bundle unless an identical one already exists."""
    from obsbench.scenarios import generate

    bundle = Path(out) if out else data_dir() / "demo" / f"{scenario}-seed{seed}"
    if not (bundle / "bundle.toml").exists():
        info(f"generating scenario {scenario!r} (seed {seed}) into {bundle} ...")
        generate(scenario, bundle, seed=seed)
    return bundle


def run_demo(scenario: str, *, seed: int, out: str | None) -> None:
    from obsbench_servers.store import TelemetryStore
    from obsbench_servers.store.overview import overview

    bundle = demo_bundle(scenario, seed, out)
    with TelemetryStore.open(bundle) as store:
        for line in store.report.summary_lines():
            info(line)
        render_overview(overview(store), bundle, Console())


def _short(ts: str | None) -> str:
    """``2026-03-10T14:02:11Z`` -> ``03-10 14:02`` (the window's year is in the header)."""
    return f"{ts[5:10]} {ts[11:16]}" if ts and len(ts) >= 16 else (ts or "")


def render_overview(ov: dict[str, Any], bundle: Path, console: Console) -> None:
    """Print the census of an incident bundle as a person reads it: alerts, changes, volume."""
    console.rule(f"[bold]{ov['name']}[/]")
    if ov["description"]:
        console.print(ov["description"])
    if ov["window"]:
        console.print(f"window: {ov['window']['start']} .. {ov['window']['end']}")
    counts = ov["counts"]
    console.print(
        f"{counts['samples']:,} samples in {counts['series']:,} series · {counts['logs']:,} log "
        f"lines · {counts['spans']:,} spans · {counts['k8s_objects']:,} Kubernetes objects · "
        f"services: {', '.join(ov['services'])}"
    )
    if ov["alerts"]:
        t = Table(title=f"alerts ({ov['alerts_total']})", title_justify="left")
        for col in ("since", "alert", "severity", "state", "service"):
            t.add_column(col)
        for a in ov["alerts"]:
            labels = a["labels"]
            svc = labels.get("service") or labels.get("job") or labels.get("namespace", "")
            t.add_row(_short(a["starts_at"]), a["alertname"], a["severity"] or "", a["state"] or "",
                      svc)
        console.print(t)
    if ov["incidents"]:
        t = Table(title=f"incidents ({ov['incidents_total']})", title_justify="left")
        for col in ("created", "title", "status", "urgency", "service"):
            t.add_column(col)
        for i in ov["incidents"]:
            t.add_row(_short(i["created_at"]), i["title"] or "", i["status"] or "",
                      i["urgency"] or "", i["service"] or "")
        console.print(t)
    if ov["changes"]:
        t = Table(title=f"rollouts ({ov['changes_total']}, newest first)", title_justify="left")
        for col in ("created", "deployment", "revision", "tag", "change cause"):
            t.add_column(col)
        for c in ov["changes"]:
            t.add_row(_short(c["created_at"]), c["deployment"] or c["replicaset"],
                      c["revision"] or "", ", ".join(i.rsplit(":", 1)[-1] for i in c["images"]),
                      c["change_cause"] or "")
        console.print(t)
    if ov["warning_events"]:
        console.print("Kubernetes warnings: " + ", ".join(
            f"{w['reason']} x{w['count']}" for w in ov["warning_events"]))
    console.print(f"\nbundle: {bundle}")
