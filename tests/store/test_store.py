"""TelemetryStore over bundles: caching by content, empty bundles, broken files in a bundle."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.store import TelemetryStore


def _bundle(root: Path, w) -> Path:
    om = "".join(f'rps{{svc="s{i % 3}"}} {i} {1_773_151_200 + i * 15}\n' for i in range(300))
    w(root / "metrics" / "rps.om", om + "# EOF\n")
    logs = "".join(
        f'{{"ts":"2026-03-10T14:{i // 60:02d}:{i % 60:02d}Z","service":"s{i % 3}",'
        f'"level":"info","message":"m{i}"}}\n' for i in range(120))
    w(root / "logs" / "app.jsonl.gz", gzip.compress(logs.encode()))
    w(root / "runbooks" / "r.md", "---\nalerts: [HighErrorRate]\n---\n# Errors\n")
    w(root / "bundle.toml", 'name = "t"\n[window]\nstart = "2026-03-10T14:00:00Z"\n'
                            'end = "2026-03-10T15:00:00Z"\n')
    return root


def test_reopen_is_cached_and_a_change_reimports(tmp_path: Path, w) -> None:
    bundle = _bundle(tmp_path / "b", w)
    with TelemetryStore.open(bundle) as first:
        counts = first.counts()
        assert not first.report.cached
        records = {f.path: dict(f.records) for f in first.report.files}
        assert first.query("SELECT value FROM bundle_info WHERE key = 'window_end'") == [
            ("2026-03-10T15:00:00Z",)]
    assert counts["samples"] == 300 and counts["series"] == 3
    assert counts["logs"] == 120 and counts["runbooks"] == 1
    t0 = time.perf_counter()
    with TelemetryStore.open(bundle) as second:
        reopen_s = time.perf_counter() - t0
        assert second.report.cached
        assert second.counts() == counts
        assert {f.path: dict(f.records) for f in second.report.files} == records
        first_db = second.db_path
    assert reopen_s < 2.0
    w(bundle / "logs" / "more.jsonl", '{"ts":"2026-03-10T14:30:00Z","message":"late"}\n')
    with TelemetryStore.open(bundle) as third:
        assert not third.report.cached and third.db_path != first_db
        assert third.counts()["logs"] == 121


def test_empty_and_missing_bundles_are_clear_errors(tmp_path: Path, w) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError) as info:
        TelemetryStore.open(tmp_path / "empty")
    assert "holds no telemetry files" in info.value.message
    assert "metrics/, logs/, traces/" in (info.value.hint or "")
    w(tmp_path / "odd" / "notes.txt", "hello")
    w(tmp_path / "odd" / "logs" / "app.log", "plain text")
    with pytest.raises(BadInputError, match="holds no telemetry files"):
        TelemetryStore.open(tmp_path / "odd")
    with pytest.raises(BadInputError, match="is not a directory"):
        TelemetryStore.open(tmp_path / "nope")


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path, w) -> None:
    bundle = _bundle(tmp_path / "b", w)
    body = "".join(f'{{"ts":{1_773_151_200 + i},"message":"x{i}"}}\n' for i in range(100_000))
    blob = gzip.compress(body.encode(), compresslevel=1)
    w(bundle / "logs" / "cut.jsonl.gz", blob[: len(blob) * 2 // 3])
    w(bundle / "traces" / "bad.otlp.json", '{"resourceSpans": [{"resource": ')
    w(bundle / "logs" / "stray.log", "not read")
    with TelemetryStore.open(bundle) as store:
        files = {f.path: f for f in store.report.files}
        cut = files["logs/cut.jsonl.gz"]
        kept = cut.records["logs"]
        assert 10_000 < kept < 100_000
        assert store.counts()["logs"] == 120 + kept
        err = [i for i in cut.issues if i.severity == "error"]
        assert len(err) == 1 and err[0].location() == f"logs/cut.jsonl.gz:{kept}"
        assert "compressed stream broken" in err[0].reason
        bad = files["traces/bad.otlp.json"].issues
        assert [i.severity for i in bad] == ["error"]
        assert bad[0].reason.startswith("stopped reading: invalid JSON")
        assert files["logs/stray.log"].format == "unrecognised"
        assert store.counts()["samples"] == 300  # the other files are whole


def test_close_interrupts_a_query_still_running_in_another_thread(bundle_dir) -> None:
    """A tool that timed out leaves its worker thread inside DuckDB; closing the store must
    stop that query instead of failing with "connection is busy" (and leaking the file)."""
    import threading

    store = TelemetryStore.open(bundle_dir("bad-deploy-db-pool"))
    outcome: list[str] = []
    started = threading.Event()

    def long_query() -> None:
        cur = store.cursor()
        started.set()
        try:
            cur.execute("SELECT count(*) FROM range(100000000000) a").fetchall()
            outcome.append("finished")
        except Exception as exc:  # what the worker sees is the point
            outcome.append(type(exc).__name__)

    worker = threading.Thread(target=long_query, daemon=True)
    worker.start()
    started.wait(5)
    time.sleep(0.3)  # inside the query
    store.close()
    worker.join(10)
    assert not worker.is_alive()
    assert outcome == ["InterruptException"]
    with pytest.raises(Exception, match=r"(?i)closed"):
        store.query("SELECT 1")
