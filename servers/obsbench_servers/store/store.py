"""The embedded telemetry store: a bundle imported into DuckDB, opened read-only.

``TelemetryStore.open(bundle_dir)`` imports the bundle once into a cached
database named by the bundle's content hash, then opens it read-only; later
opens of the same content reuse it. Servers query through ``cursor()`` (one
per thread).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.store.bundle import MANIFEST, Manifest, bundle_files, unrecognised_files
from obsbench_servers.store.cache import HashMemo, bundle_key, cache_dir
from obsbench_servers.store.ingest import import_files, new_database
from obsbench_servers.store.report import FileReport, ImportIssue, ImportReport

_lock = threading.Lock()


def _bundle_info(bundle: Path, manifest: Manifest, key: str) -> dict[str, str]:
    """The ``bundle_info`` rows: name, directory, content key and window."""
    info = {"name": manifest.name, "bundle_dir": str(bundle.resolve()), "key": key}
    if manifest.window:
        info["window_start"] = manifest.window.start
        info["window_end"] = manifest.window.end
    return info


class TelemetryStore:
    """A read-only DuckDB database holding one bundle's telemetry."""

    def __init__(
        self, bundle_dir: Path, db_path: Path, manifest: Manifest, report: ImportReport
    ) -> None:
        self.bundle_dir = bundle_dir
        self.db_path = db_path
        self.manifest = manifest
        self.report = report
        self._con = duckdb.connect(str(db_path), read_only=True)
        # No progress bar on stdout: an MCP stdio transport or a --json consumer reads it.
        self._con.execute("SET enable_progress_bar=false")
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()

    @classmethod
    def open(
        cls, bundle_dir: Path | str, *, cache: Path | None = None, refresh: bool = False
    ) -> TelemetryStore:
        """Open a bundle, importing it first unless an identical import is cached."""
        bundle = Path(bundle_dir).expanduser()
        if not bundle.is_dir():
            raise BadInputError(
                f"bundle {bundle} is not a directory",
                "pass a bundle directory (obsbench scenarios generate NAME --out DIR makes one)",
            )
        manifest = Manifest.load(bundle)
        files = bundle_files(bundle)
        if not files:
            raise BadInputError(
                f"bundle {bundle} holds no telemetry files",
                "put files under metrics/, logs/, traces/, alerts/, incidents/, k8s/ or "
                "runbooks/ (see docs/bundles.md), or build one with obsbench import",
            )
        directory = cache or cache_dir()
        with _lock:
            memo = HashMemo(directory)
            hashed = [p for p, _ in files]
            if (bundle / MANIFEST).exists():
                hashed.append(bundle / MANIFEST)
            key = bundle_key(bundle, hashed, memo)
            memo.save()
            db_path = directory / f"{key}.duckdb"
            if db_path.exists() and not refresh:
                store = cls(bundle, db_path, manifest, ImportReport())
                store.report = store._stored_report()
                return store
            tmp = directory / f"{key}.{os.getpid()}.{threading.get_ident()}.tmp.duckdb"
            tmp.unlink(missing_ok=True)
            con = new_database(tmp)
            try:
                report = import_files(con, files, root=bundle,
                                      info=_bundle_info(bundle, manifest, key))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            tmp.replace(db_path)
            for extra in unrecognised_files(bundle):
                rel = str(extra.relative_to(bundle))
                fr = FileReport(path=rel, format="unrecognised")
                fr.add_issue(0, "warning", "not imported: no importer for this place or "
                             "file name (see docs/bundles.md)")
                report.files.append(fr)
        return cls(bundle, db_path, manifest, report)

    def with_current_manifest(self) -> TelemetryStore:
        """This import, carried over to the bundle's rewritten ``bundle.toml`` without re-importing.

        For ``obsbench import``, which writes ``[window]`` after seeing the data.
        Importers never read the manifest, so the tables stay valid; the
        database is copied under the new content key with ``bundle_info``
        updated. Closes this store; use the returned one.
        """
        bundle = self.bundle_dir
        manifest = Manifest.load(bundle)
        directory = self.db_path.parent
        with _lock:
            memo = HashMemo(directory)
            hashed = [p for p, _ in bundle_files(bundle)]
            if (bundle / MANIFEST).exists():
                hashed.append(bundle / MANIFEST)
            key = bundle_key(bundle, hashed, memo)
            memo.save()
            db_path = directory / f"{key}.duckdb"
            self.close()
            if not db_path.exists():
                tmp = directory / f"{key}.{os.getpid()}.{threading.get_ident()}.tmp.duckdb"
                shutil.copyfile(self.db_path, tmp)
                con = duckdb.connect(str(tmp))
                try:
                    info = _bundle_info(bundle, manifest, key)
                    con.execute("DELETE FROM bundle_info")
                    con.executemany("INSERT INTO bundle_info VALUES (?, ?)", sorted(info.items()))
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                tmp.replace(db_path)
        return TelemetryStore(bundle, db_path, manifest, self.report)

    def _stored_report(self) -> ImportReport:
        report = ImportReport(cached=True)
        by_path: dict[str, FileReport] = {}
        con = self.cursor()
        for path, fmt, size, records, skipped, warnings, seconds, reasons in con.execute(
            "SELECT path, format, bytes, records_json, skipped, warnings, seconds, reasons_json "
            "FROM import_files"
        ).fetchall():
            fr = FileReport(path=path, format=fmt, bytes=size, skipped=skipped,
                            warnings=warnings, seconds=seconds)
            fr.records.update(orjson.loads(records or "{}"))
            fr.reasons.update(orjson.loads(reasons or "{}"))
            by_path[path] = fr
            report.files.append(fr)
        for path, line, severity, reason in con.execute(
            "SELECT path, line, severity, reason FROM import_issues"
        ).fetchall():
            if path in by_path:
                by_path[path].issues.append(ImportIssue(path, line, severity, reason))
        return report

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (DuckDB connections are not thread-safe)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.cursor().execute(sql, params or []).fetchall()

    def counts(self) -> dict[str, int]:
        """Rows per telemetry table."""
        out = {}
        for table in ("series", "samples", "logs", "spans", "alerts", "incidents",
                      "incident_log_entries", "k8s_objects", "k8s_events", "runbooks"):
            row = self.cursor().execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(row[0]) if row else 0
        return out

    def close(self) -> None:
        """Close, interrupting queries still running in other threads first.

        A tool that timed out leaves its worker thread inside DuckDB; closing under it
        would raise "connection is busy", so its query is interrupted (the thread gets an
        InterruptException) and the close retried for a moment before giving up loudly.
        """
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, []
        for cur in cursors:
            cur.interrupt()
        deadline = time.monotonic() + 5.0
        for con in [*cursors, self._con]:
            while True:
                try:
                    con.close()
                    break
                except duckdb.Error as exc:
                    if "busy" not in str(exc) or time.monotonic() > deadline:
                        raise
                    con.interrupt()
                    time.sleep(0.01)

    def __enter__(self) -> TelemetryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
