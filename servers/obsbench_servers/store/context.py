"""The state an import shares across files: table writers, series ids, the report.

Importers are plain functions ``import_xxx(path, ctx)``; they read their file as
a stream, append rows through ``ctx.writer(table)``, and call ``ctx.skip`` or
``ctx.warn`` for anything they cannot take. Series ids are assigned here so a
series seen in two files (say OpenMetrics and OTLP) stays one series.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson

from obsbench_servers.store.report import FileReport, ImportReport
from obsbench_servers.store.writer import DEFAULT_BATCH_ROWS, TableWriter


def canonical_labels(labels: dict[str, str]) -> str:
    """The identity of a label set: sorted-key JSON without ``__name__``."""
    return orjson.dumps(
        {k: labels[k] for k in sorted(labels) if k != "__name__"}
    ).decode()


class ImportContext:
    """Writers, series registry and report for one import run."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        report: ImportReport,
        *,
        root: Path | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        self.con = con
        self.report = report
        self.root = root
        self._batch_rows = batch_rows
        self._writers: dict[str, TableWriter] = {}
        self._series: dict[tuple[str, str], int] = {}
        self._metadata: dict[str, tuple[str, str, str]] = {}
        self.file: FileReport | None = None

    # -- files -----------------------------------------------------------------
    def begin_file(self, path: Path, fmt: str) -> FileReport:
        """Start the report of one file; ``display`` path is relative to the bundle."""
        shown = str(path)
        if self.root is not None:
            try:
                shown = str(path.resolve().relative_to(self.root.resolve()))
            except ValueError:
                shown = str(path)
        size = path.stat().st_size if path.exists() else 0
        self.file = FileReport(path=shown, format=fmt, bytes=size)
        self.report.files.append(self.file)
        return self.file

    @property
    def current(self) -> FileReport:
        if self.file is None:  # pragma: no cover - importer misuse
            raise RuntimeError("begin_file() was not called")
        return self.file

    def skip(self, line: int, reason: str) -> None:
        """A record was not imported; ``line`` is 1-based, 0 for the whole file."""
        self.current.add_issue(line, "skipped", reason)

    def warn(self, line: int, reason: str) -> None:
        """A record was imported, but changed or suspicious (say, ms read as seconds)."""
        self.current.add_issue(line, "warning", reason)

    def error(self, line: int, reason: str) -> None:
        """The rest of the file could not be read (truncated gzip, broken JSON document)."""
        self.current.add_issue(line, "error", reason)

    # -- writing ---------------------------------------------------------------
    def writer(self, table: str) -> TableWriter:
        w = self._writers.get(table)
        if w is None:
            w = self._writers[table] = TableWriter(self.con, table, self._batch_rows)
        return w

    def count(self, table: str, n: int = 1) -> None:
        """Credit ``n`` rows of ``table`` to the current file's report."""
        self.current.records[table] += n

    def series_id(self, metric: str, labels_json: str) -> int:
        """The id of a series, registering it (and writing its row) on first sight."""
        key = (metric, labels_json)
        sid = self._series.get(key)
        if sid is None:
            sid = self._series[key] = len(self._series) + 1
            self.writer("series").append(sid, metric, labels_json)
            self.current.records["series"] += 1  # credited to the file that first names it
        return sid

    def metadata(self, metric: str, mtype: str = "", help_: str = "", unit: str = "") -> None:
        """Record TYPE/HELP/UNIT of a metric family; later non-empty values win."""
        old = self._metadata.get(metric, ("", "", ""))
        self._metadata[metric] = (mtype or old[0], help_ or old[1], unit or old[2])

    def finish(self) -> None:
        """Flush every writer and write the metadata and import provenance tables."""
        meta = self.writer("metric_metadata")
        for metric, (mtype, help_, unit) in sorted(self._metadata.items()):
            meta.append(metric, mtype, help_, unit)
        files = self.writer("import_files")
        issues = self.writer("import_issues")
        for f in self.report.files:
            files.append(f.path, f.format, f.bytes, orjson.dumps(dict(f.records)).decode(),
                         f.skipped, f.warnings, f.seconds, orjson.dumps(dict(f.reasons)).decode())
            for i in f.issues:
                issues.append(i.path, i.line, i.severity, i.reason)
        for w in self._writers.values():
            w.flush()
