"""Import telemetry files into a DuckDB database: the one loop every format goes through.

Each format has an importer function ``(path, ctx) -> None`` that streams its
file into the context's table writers. This loop gives every file its report,
turns a broken file into a reported error instead of an aborted import, and
finishes the database (sorted tables, provenance).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.reader import TruncatedInput
from obsbench_servers.store.report import ImportReport
from obsbench_servers.store.schema import FINALIZE_STATEMENTS, create_statements

Importer = Callable[[Path, ImportContext], None]

# format -> "module:function" under obsbench_servers.store.importers
IMPORTERS: dict[str, str] = {
    "openmetrics": "openmetrics:import_openmetrics",
    "otlp-metrics": "otlp:import_otlp_metrics",
    "otlp-logs": "otlp:import_otlp_logs",
    "otlp-traces": "otlp:import_otlp_traces",
    "jsonl-logs": "jsonl_logs:import_jsonl_logs",
    "jaeger": "jaeger:import_jaeger",
    "alertmanager": "alertmanager:import_alerts",
    "pagerduty": "pagerduty:import_pagerduty",
    "kubernetes": "kubernetes:import_kubernetes",
    "runbook": "runbooks:import_runbook",
}

# Bounded memory for the load and the final sort; DuckDB spills beyond it. Measured:
# peak RSS stays ~450 MB for 0.3 to 0.6 GB of JSONL logs (768MB allowed ~850 MB, no faster).
IMPORT_MEMORY_LIMIT = "256MB"


def importer_for(fmt: str) -> Importer:
    """Resolve a format name to its importer function."""
    try:
        target = IMPORTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(IMPORTERS)}") from None
    module, func = target.split(":")
    mod = importlib.import_module(f"obsbench_servers.store.importers.{module}")
    fn: Importer = getattr(mod, func)
    return fn


def new_database(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """Create an empty store database with every table."""
    con = duckdb.connect(str(db_path))
    con.execute(f"SET memory_limit='{IMPORT_MEMORY_LIMIT}'")
    # DuckDB draws a progress bar on stdout for queries over 2 s: stdout is for data only.
    con.execute("SET enable_progress_bar=false")
    con.execute("SET preserve_insertion_order=false")
    # Bulk loads checkpoint once, at the end: an early checkpoint every 16 MB of WAL
    # recompresses the table again and again and halves the import rate.
    con.execute("SET checkpoint_threshold='64GB'")
    for ddl in create_statements():
        con.execute(ddl)
    return con


def import_files(
    con: duckdb.DuckDBPyConnection,
    files: Iterable[tuple[Path, str]],
    *,
    root: Path | None = None,
    info: dict[str, str] | None = None,
) -> ImportReport:
    """Stream every ``(path, format)`` into ``con``; never aborts on a bad file."""
    report = ImportReport()
    ctx = ImportContext(con, report, root=root)
    t_all = time.perf_counter()
    for path, fmt in files:
        rep = ctx.begin_file(path, fmt)
        t0 = time.perf_counter()
        try:
            importer_for(fmt)(path, ctx)
        except TruncatedInput as exc:
            ctx.error(exc.line, f"stopped reading: {exc.reason}; records before it were kept")
        except Exception as exc:  # one broken file must not stop the rest
            ctx.error(0, f"importer failed: {type(exc).__name__}: {exc}")
        rep.seconds = time.perf_counter() - t0
    ctx.finish()
    for stmt in FINALIZE_STATEMENTS:
        con.execute(stmt)
    if info:
        con.executemany("INSERT INTO bundle_info VALUES (?, ?)", sorted(info.items()))
    report.seconds = time.perf_counter() - t_all
    return report
