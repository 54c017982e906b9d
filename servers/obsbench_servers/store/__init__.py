"""The embedded telemetry store: bundles imported into DuckDB.

Public API: ``TelemetryStore`` (open a bundle), ``Manifest`` (``bundle.toml``),
``import_files``/``new_database`` (build a store from loose files) and the
``ImportReport`` they return.
"""

from obsbench_servers.store.bundle import ROOT_CAUSE_KINDS, Manifest, Truth, Window
from obsbench_servers.store.ingest import import_files, new_database
from obsbench_servers.store.report import ImportIssue, ImportReport
from obsbench_servers.store.store import TelemetryStore

__all__ = [
    "ROOT_CAUSE_KINDS",
    "ImportIssue",
    "ImportReport",
    "Manifest",
    "TelemetryStore",
    "Truth",
    "Window",
    "import_files",
    "new_database",
]
