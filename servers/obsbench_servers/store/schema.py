"""DuckDB tables of the embedded telemetry store.

One table per record kind, columns chosen for the queries the servers run.
Times are integer epoch nanoseconds (``*_ns``) except metric samples, which
use milliseconds like Prometheus. Free-form attributes are JSON text, so any
bundle imports without a schema change. Bump ``SCHEMA_VERSION`` whenever a
table or an importer's output changes: it is part of the cache key.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

# A sample whose value has these bits is Prometheus's stale marker ("the series
# ended here"), not an ordinary NaN: test with ``struct.pack('<d', v)``, never ``==``.
STALE_NAN_BITS = 0x7FF0000000000002

# name -> ordered (column, DuckDB type). Order is the insert order of the writers.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    # One row per distinct metric series. labels_json is canonical (sorted keys,
    # without __name__) and identifies the series together with metric.
    "series": (
        ("series_id", "BIGINT"),
        ("metric", "VARCHAR"),
        ("labels_json", "VARCHAR"),
    ),
    "samples": (
        ("series_id", "BIGINT"),
        ("ts_ms", "BIGINT"),
        ("value", "DOUBLE"),
    ),
    # TYPE/HELP/UNIT per metric family (OpenMetrics) or per OTLP metric.
    "metric_metadata": (
        ("metric", "VARCHAR"),
        ("type", "VARCHAR"),
        ("help", "VARCHAR"),
        ("unit", "VARCHAR"),
    ),
    "logs": (
        ("ts_ns", "BIGINT"),
        ("service", "VARCHAR"),
        ("level", "VARCHAR"),
        ("message", "VARCHAR"),
        ("trace_id", "VARCHAR"),
        ("span_id", "VARCHAR"),
        ("pod", "VARCHAR"),
        ("labels_json", "VARCHAR"),
        ("source", "VARCHAR"),
    ),
    # trace_id/span_id are lower-case hex; parent_span_id is NULL for roots.
    # kind: server|client|producer|consumer|internal|unspecified.
    # status_code: unset|ok|error.
    "spans": (
        ("trace_id", "VARCHAR"),
        ("span_id", "VARCHAR"),
        ("parent_span_id", "VARCHAR"),
        ("service", "VARCHAR"),
        ("name", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("start_ns", "BIGINT"),
        ("end_ns", "BIGINT"),
        ("status_code", "VARCHAR"),
        ("status_message", "VARCHAR"),
        ("attributes_json", "VARCHAR"),
        ("resource_json", "VARCHAR"),
        ("events_json", "VARCHAR"),
        ("links_json", "VARCHAR"),
        ("scope", "VARCHAR"),
    ),
    # Alertmanager v2 alerts (and Prometheus /api/v1/alerts entries, source='prometheus').
    # state: active|suppressed|unprocessed (Alertmanager) or firing|pending|inactive.
    "alerts": (
        ("fingerprint", "VARCHAR"),
        ("alertname", "VARCHAR"),
        ("state", "VARCHAR"),
        ("severity", "VARCHAR"),
        ("starts_at_ns", "BIGINT"),
        ("ends_at_ns", "BIGINT"),
        ("updated_at_ns", "BIGINT"),
        ("labels_json", "VARCHAR"),
        ("annotations_json", "VARCHAR"),
        ("generator_url", "VARCHAR"),
        ("silenced_by_json", "VARCHAR"),
        ("inhibited_by_json", "VARCHAR"),
        ("receivers_json", "VARCHAR"),
        ("source", "VARCHAR"),
    ),
    "incidents": (
        ("id", "VARCHAR"),
        ("number", "BIGINT"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("urgency", "VARCHAR"),
        ("service", "VARCHAR"),
        ("created_at_ns", "BIGINT"),
        ("resolved_at_ns", "BIGINT"),
        ("assignees_json", "VARCHAR"),
        ("html_url", "VARCHAR"),
        ("raw_json", "VARCHAR"),
    ),
    "incident_log_entries": (
        ("id", "VARCHAR"),
        ("incident_id", "VARCHAR"),
        ("type", "VARCHAR"),
        ("created_at_ns", "BIGINT"),
        ("summary", "VARCHAR"),
        ("agent", "VARCHAR"),
        ("channel_json", "VARCHAR"),
        ("raw_json", "VARCHAR"),
    ),
    # Every Kubernetes object of every List, raw JSON kept for the infra server.
    "k8s_objects": (
        ("kind", "VARCHAR"),
        ("api_version", "VARCHAR"),
        ("namespace", "VARCHAR"),
        ("name", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("created_at_ns", "BIGINT"),
        ("labels_json", "VARCHAR"),
        ("annotations_json", "VARCHAR"),
        ("owner_kind", "VARCHAR"),
        ("owner_name", "VARCHAR"),
        ("raw_json", "VARCHAR"),
    ),
    # Events (core/v1 and events.k8s.io/v1) flattened; also present in k8s_objects.
    "k8s_events": (
        ("namespace", "VARCHAR"),
        ("name", "VARCHAR"),
        ("type", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("message", "VARCHAR"),
        ("object_kind", "VARCHAR"),
        ("object_name", "VARCHAR"),
        ("first_ns", "BIGINT"),
        ("last_ns", "BIGINT"),
        ("count", "BIGINT"),
        ("source_component", "VARCHAR"),
    ),
    "runbooks": (
        ("path", "VARCHAR"),
        ("title", "VARCHAR"),
        ("alerts_json", "VARCHAR"),
        ("services_json", "VARCHAR"),
        ("front_matter_json", "VARCHAR"),
        ("body", "VARCHAR"),
    ),
    # Provenance of the import itself: one row per file, one per issue.
    "import_files": (
        ("path", "VARCHAR"),
        ("format", "VARCHAR"),
        ("bytes", "BIGINT"),
        ("records_json", "VARCHAR"),
        ("skipped", "BIGINT"),
        ("warnings", "BIGINT"),
        ("seconds", "DOUBLE"),
        ("reasons_json", "VARCHAR"),
    ),
    "import_issues": (
        ("path", "VARCHAR"),
        ("line", "BIGINT"),
        ("severity", "VARCHAR"),
        ("reason", "VARCHAR"),
    ),
    "bundle_info": (
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
}


def create_statements() -> list[str]:
    """DDL creating every table (no constraints: they slow bulk inserts)."""
    return [
        f"CREATE TABLE {name} ({', '.join(f'{col} {typ}' for col, typ in cols)})"
        for name, cols in TABLES.items()
    ]


# Applied after the bulk load: physical order and indexes the servers rely on.
FINALIZE_STATEMENTS = [
    "CREATE TABLE samples_sorted AS SELECT * FROM samples ORDER BY series_id, ts_ms",
    "DROP TABLE samples",
    "ALTER TABLE samples_sorted RENAME TO samples",
    "CREATE TABLE logs_sorted AS SELECT * FROM logs ORDER BY ts_ns",
    "DROP TABLE logs",
    "ALTER TABLE logs_sorted RENAME TO logs",
    "CREATE TABLE spans_sorted AS SELECT * FROM spans ORDER BY trace_id, start_ns",
    "DROP TABLE spans",
    "ALTER TABLE spans_sorted RENAME TO spans",
]
