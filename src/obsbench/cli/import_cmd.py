"""``obsbench import FILES... --out DIR``: build a telemetry bundle from exported files.

Each file's format is told from its content (any name, plain or gzip), it is
copied into the bundle place for that format (gzip kept as gzip), the
manifest is written or merged (``name``; ``[window]`` widened to cover the
data), and the bundle is imported so the summary shows what was read and what
was skipped, where and why. A file already in the bundle with the same content
is not copied twice; a different file with the same name gets a numeric
suffix (``traces-2.otlp.json``): nothing in ``--out`` is ever overwritten.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import typer

from obsbench.cli.output import EXIT_TOOL_ERROR, info, print_json, run_guarded

# format -> canonical file suffix in the bundle (see docs/bundles.md)
SUFFIXES = {
    "openmetrics": ".om",
    "otlp-metrics": ".otlp.json",
    "otlp-logs": ".otlp.json",
    "otlp-traces": ".otlp.json",
    "jsonl-logs": ".jsonl",
    "jaeger": ".jaeger.json",
    "alertmanager": ".json",
    "pagerduty": ".json",
    "kubernetes": ".json",
    "runbook": ".md",
}
_KNOWN_SUFFIXES = (".otlp.jsonl", ".otlp.json", ".jaeger.json", ".jsonl", ".ndjson", ".json",
                   ".om", ".prom", ".txt", ".markdown", ".md", ".log")


def import_cmd(
    files: list[Path] = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Exported telemetry files, any name, plain or gzip (format read from content)."
    ),
    out: Path = typer.Option(  # noqa: B008
        ..., "--out", help="Bundle directory to create or add to."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Bundle name for bundle.toml (default: kept, or the directory name)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the import report as JSON."),
) -> None:
    """Build a telemetry bundle from exported files and import it."""
    code = run_guarded(lambda: run_import(files, out, name=name, as_json=json_out))
    if code:
        raise typer.Exit(code)


def destination(src: Path, out: Path, fmt: str, gz: bool) -> Path:
    """Where ``src`` goes in the bundle: the format's subdirectory and suffix."""
    from obsbench_servers.store.bundle import LAYOUT
    from obsbench_servers.store.reader import strip_gz

    subdir = next(sub for sub, f, _ in LAYOUT if f == fmt)
    base = strip_gz(src.name)
    lower = base.lower()
    suffix = SUFFIXES[fmt]
    if fmt == "openmetrics":
        from obsbench_servers.store.importers.sniff import openmetrics_time_unit

        # The suffix tells the importer the timestamp unit: .om seconds, .prom milliseconds.
        unit = openmetrics_time_unit(src)
        if unit == "milliseconds" or (unit is None and lower.endswith((".prom", ".txt"))):
            suffix = ".prom"
    elif fmt.startswith("otlp-") and lower.endswith((".jsonl", ".ndjson")):
        suffix = ".otlp.jsonl"
    for known in _KNOWN_SUFFIXES:
        if lower.endswith(known) and len(base) > len(known):
            base = base[: -len(known)]
            break
    return out / subdir / (base + suffix + (".gz" if gz else ""))


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return _digest(a) == _digest(b)


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def place(src: Path, out: Path, fmt: str) -> tuple[Path, str]:
    """Copy ``src`` into the bundle: ``(dest, "copied" or "already in bundle")``; no overwrite."""
    from obsbench_servers.store.reader import is_gzip

    dest = destination(src, out, fmt, is_gzip(src))
    if dest.exists() and (dest.resolve() == src.resolve() or _same_content(src, dest)):
        return dest, "already in bundle"
    stem, suffix = _split_suffix(dest.name)
    n = 2
    while dest.exists():
        dest = dest.with_name(f"{stem}-{n}{suffix}")
        if dest.exists() and _same_content(src, dest):
            return dest, "already in bundle"
        n += 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest, "copied"


def _split_suffix(name: str) -> tuple[str, str]:
    gz = ".gz" if name.endswith(".gz") else ""
    core = name[: -len(gz)] if gz else name
    for s in (".otlp.jsonl", ".otlp.json", ".jaeger.json"):
        if core.endswith(s):
            return core[: -len(s)], s + gz
    stem, dot, ext = core.rpartition(".")
    return (stem, f".{ext}{gz}") if dot else (core, gz)


def data_window(store: Any) -> tuple[int, int] | None:
    """Earliest and latest time (ns) of the bundle's timestamped records, or None."""
    row = store.query("""
        SELECT min(t), max(t) FROM (
            SELECT min(ts_ms) * 1000000 AS t FROM samples UNION ALL
            SELECT max(ts_ms) * 1000000 FROM samples UNION ALL
            SELECT min(ts_ns) FROM logs UNION ALL SELECT max(ts_ns) FROM logs UNION ALL
            SELECT min(start_ns) FROM spans WHERE start_ns > 0 UNION ALL
            SELECT max(end_ns) FROM spans UNION ALL
            SELECT min(starts_at_ns) FROM alerts UNION ALL
            SELECT max(starts_at_ns) FROM alerts UNION ALL
            SELECT min(created_at_ns) FROM incidents UNION ALL
            SELECT max(coalesce(resolved_at_ns, created_at_ns)) FROM incidents UNION ALL
            SELECT min(created_at_ns) FROM incident_log_entries UNION ALL
            SELECT max(created_at_ns) FROM incident_log_entries UNION ALL
            SELECT min(first_ns) FROM k8s_events UNION ALL SELECT max(last_ns) FROM k8s_events
        ) WHERE t > 0
    """)
    if not row or row[0][0] is None:
        return None
    return int(row[0][0]), int(row[0][1])


def write_manifest(out: Path, name: str | None, window: tuple[int, int] | None) -> bool:
    """Create or merge ``bundle.toml`` (comments and other keys kept); True when it changed."""
    import tomlkit

    from obsbench_servers.common.timeutil import NS_PER_S, ns_to_rfc3339, parse_rfc3339_ns
    from obsbench_servers.store.bundle import MANIFEST

    path = out / MANIFEST
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    doc = tomlkit.parse(before) if before else tomlkit.document()
    if name:
        doc["name"] = name
    elif "name" not in doc:
        doc["name"] = out.resolve().name
    if window is not None:
        start, end = window[0], -(-window[1] // NS_PER_S) * NS_PER_S
        old = doc.get("window")
        if old is not None:
            start = min(start, parse_rfc3339_ns(str(old["start"])))
            end = max(end, parse_rfc3339_ns(str(old["end"])))
        table = tomlkit.table()
        table["start"] = ns_to_rfc3339(start)
        table["end"] = ns_to_rfc3339(end)
        doc["window"] = table
    text = tomlkit.dumps(doc)
    if text == before:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def run_import(files: list[Path], out: Path, *, name: str | None, as_json: bool) -> int:
    """The command body; returns the exit code."""
    from obsbench_servers.common.errors import BadInputError
    from obsbench_servers.store import Manifest, TelemetryStore
    from obsbench_servers.store.importers.sniff import sniff_format

    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} is a file", "give a directory for the bundle")
    if out.exists():
        Manifest.load(out)  # an invalid existing manifest is reported before anything changes
    placed: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    for src in files:
        if not src.is_file():
            skipped.append({"source": str(src), "reason": "no such file"})
            continue
        fmt = sniff_format(src)
        if fmt is None:
            skipped.append({"source": str(src), "reason": "format not recognised (see "
                            "docs/bundles.md for what obsbench reads)"})
            continue
        out.mkdir(parents=True, exist_ok=True)
        dest, action = place(src, out, fmt)
        placed.append({"source": str(src), "dest": str(dest.relative_to(out)), "format": fmt,
                       "action": action})
    for p in placed:
        info(f"  {p['source']} -> {p['dest']} ({p['format']}, {p['action']})")
    for s in skipped:
        info(f"  {s['source']}: not imported: {s['reason']}")
    if not placed:
        if as_json:
            print_json({"bundle": None, "placed": [], "not_imported": skipped})
        raise BadInputError(
            "nothing could be imported: no file was telemetry obsbench reads",
            "pass OpenMetrics, OTLP/JSON, JSONL logs, Jaeger JSON, Alertmanager or Prometheus "
            "alerts, PagerDuty incidents, Kubernetes JSON or markdown runbooks",
        )
    write_manifest(out, name, None)
    store = TelemetryStore.open(out)
    try:
        window = data_window(store)
        if write_manifest(out, None, window):
            store = store.with_current_manifest()
        report = store.report
        manifest = store.manifest
    finally:
        store.close()
    total = sum(report.records().values())
    if as_json:
        print_json({
            **report.to_dict(),
            "bundle": {
                "path": str(out),
                "name": manifest.name,
                "window": manifest.window.model_dump() if manifest.window else None,
            },
            "placed": placed,
            "not_imported": skipped,
        })
    for line in report.summary_lines():
        info(line)
    if manifest.window:
        info(f"window: {manifest.window.start} .. {manifest.window.end}")
    info(f"bundle: {out}")
    if not total:
        info("error: no records were imported (see the skipped reasons above)")
        return EXIT_TOOL_ERROR
    return 0
