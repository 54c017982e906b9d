"""JSONL logs: canonical keys, aliases, levels, bad lines with file:line, both paths agreeing."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from obsbench_servers.store.importers import jsonl_logs

CANONICAL = [
    {"ts": "2026-03-10T14:05:00.123456789Z", "service": "checkout", "level": "ERROR",
     "message": "payment failed", "trace_id": "5B8EFFF798038103D269B633813FC60C",
     "span_id": "eee19b7ec3c1b174", "pod": "checkout-7d9c6b5f4-xk2lp", "http.status": 502,
     "retry": True, "tags": ["a", "b"], "ctx": {"user": "u1"}, "gone": None},
    {"ts": "2026-03-10T16:05:01+02:00", "service": "checkout", "level": "warning",
     "message": "slow", "region": "eu"},
]


def _logs(q, con) -> list[dict]:
    return q(con, "SELECT * EXCLUDE (source) FROM logs ORDER BY ts_ns")


def test_canonical_records_and_other_keys_as_labels(tmp_path: Path, load, q, w) -> None:
    path = w(tmp_path / "app.jsonl", b"\n".join(orjson.dumps(r) for r in CANONICAL) + b"\n")
    con, report = load((path, "jsonl-logs"), root=tmp_path)
    got = _logs(q, con)
    assert got[0] == {
        "ts_ns": 1_773_151_500_123_456_789, "service": "checkout", "level": "error",
        "message": "payment failed", "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174", "pod": "checkout-7d9c6b5f4-xk2lp",
        "labels_json": {"http.status": 502, "retry": True, "tags": ["a", "b"],
                        "ctx": {"user": "u1"}},  # the null-valued key carries nothing
    }
    assert got[1]["ts_ns"] == 1_773_151_501_000_000_000  # +02:00 read as UTC 14:05:01
    assert got[1]["level"] == "warn" and got[1]["labels_json"] == {"region": "eu"}
    assert q(con, "SELECT DISTINCT source FROM logs") == [{"source": "app.jsonl"}]
    assert report.skipped == report.warnings == 0


def test_aliases_epochs_and_level_words(tmp_path: Path, load, q, w) -> None:
    lines = [
        {"@timestamp": "2026-03-10T14:05:00Z", "msg": "a", "severity": "CRITICAL",
         "service.name": "api", "traceId": "AAAAAAAAAAAAAAAAAAAAAQ==", "k8s.pod.name": "p1"},
        {"timestamp": 1773151500, "log": "b", "lvl": 50, "app": "api"},  # epoch s, pino error
        {"time": 1773151500123, "message": "c", "levelname": "Information"},  # epoch ms
        {"ts": 1773151500123456789, "message": "d", "level": "notice"},  # epoch ns
        {"ts": "1773151500", "message": "e", "level": "trace"},  # digits as a string
    ]
    path = w(tmp_path / "a.jsonl", "\n".join(orjson.dumps(r).decode() for r in lines))
    con, report = load((path, "jsonl-logs"))
    got = {r["message"]: r for r in _logs(q, con)}
    assert got["a"]["level"] == "fatal" and got["a"]["service"] == "api"
    assert got["a"]["trace_id"] == "00000000000000000000000000000001"  # base64 -> hex
    assert got["a"]["pod"] == "p1" and got["a"]["labels_json"] is None
    assert (got["b"]["ts_ns"], got["b"]["level"]) == (1_773_151_500_000_000_000, "error")
    assert (got["c"]["ts_ns"], got["c"]["level"]) == (1_773_151_500_123_000_000, "info")
    assert got["d"]["ts_ns"] == 1_773_151_500_123_456_789 and got["d"]["level"] == "info"
    assert got["e"]["ts_ns"] == 1_773_151_500_000_000_000
    assert report.skipped == report.warnings == 0


def test_bad_lines_are_skipped_with_file_line_and_reason(tmp_path: Path, load, q, w) -> None:
    text = "\n".join([
        '{"ts":"2026-03-10T14:05:00Z","message":"ok 1","level":"info"}',
        '{"ts":"2026-03-10T14:05:01Z","message":"broken" "level":"info"}',
        "",
        '["not", "an", "object"]',
        '{"message":"no time"}',
        '{"ts":"yesterday","message":"bad time"}',
        '{"ts":"2026-03-10T14:05:02Z","message":"odd level","level":"LOUD"}',
        '{"ts":"2026-03-10T14:05:03Z","level":"info"}',
        '{"ts":"2026-03-10T14:05:04Z","message":"bad id","trace_id":"zz-not-an-id"}',
        '{"ts":"2026-03-10T14:05:05Z","message":"ok 2"}',
    ])
    path = w(tmp_path / "logs" / "bad.jsonl", text)
    con, report = load((path, "jsonl-logs"), root=tmp_path)
    messages = [r["message"] for r in _logs(q, con)]
    assert messages == ["ok 1", "odd level", "", "bad id", "ok 2"]
    issues = [(i.location(), i.severity, i.reason) for i in report.files[0].issues]
    assert issues[0] == ("logs/bad.jsonl:2", "skipped",
                         "invalid JSON: unexpected character, expected ',' or '}' at col 49")
    assert issues[1:4] == [
        ("logs/bad.jsonl:4", "skipped", "not a JSON object: the line holds a list"),
        ("logs/bad.jsonl:5", "skipped",
         "no timestamp: none of ts, timestamp, time, @timestamp, datetime, date, t"),
        ("logs/bad.jsonl:6", "skipped", "bad timestamp: 'yesterday'"),
    ]
    warnings = {i.reason.split(":")[0]: i.line for i in report.files[0].issues
                if i.severity == "warning"}
    assert warnings == {"unknown level": 7, "no message": 8, "bad trace or span id": 9}
    odd = q(con, "SELECT level, labels_json FROM logs WHERE message IN ('odd level', 'bad id') "
                 "ORDER BY ts_ns")
    assert odd == [{"level": "loud", "labels_json": None},
                   {"level": None, "labels_json": {"trace_id": "zz-not-an-id"}}]
    assert report.files[0].skipped == 4


def test_fast_and_careful_paths_agree(tmp_path: Path, load, q, w,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lines = []
    for i in range(5000):
        rec = {"ts": f"2026-03-10T14:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 1000:03d}Z",
               "service": f"svc-{i % 4}", "level": ("info", "warn", "error", "DEBUG")[i % 4],
               "message": f"line {i}", "trace_id": f"{i + 1:032x}", "span_id": f"{i + 1:016x}",
               "pod": f"pod-{i % 3}", "status": 200 + i % 3, "dur_ms": i / 7}
        if i % 5 == 0:
            rec["extra"] = {"k": i}  # present in some records only
        lines.append(orjson.dumps(rec))
    path = w(tmp_path / "x.jsonl.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    used: list[bool] = []
    vector_block = jsonl_logs._JsonlFile.vector_block

    def spy(self: jsonl_logs._JsonlFile, block: bytes) -> bool:
        used.append(vector_block(self, block))
        return used[-1]

    monkeypatch.setattr(jsonl_logs._JsonlFile, "vector_block", spy)
    fast_con, fast = load((path, "jsonl-logs"))
    assert used == [True]
    monkeypatch.setattr(jsonl_logs._JsonlFile, "vector_block", lambda *_: False)
    slow_con, slow = load((path, "jsonl-logs"))
    fast_rows = _logs(q, fast_con)
    assert len(fast_rows) == 5000 and fast_rows == _logs(q, slow_con)
    assert fast_rows[5]["labels_json"] == {"status": 202, "dur_ms": 5 / 7, "extra": {"k": 5}}
    assert fast_rows[6]["labels_json"] == {"status": 200, "dur_ms": 6 / 7}
    assert fast.files[0].records == slow.files[0].records == {"logs": 5000}


def test_a_block_the_fast_path_refuses_is_read_line_by_line(tmp_path: Path, load, q, w) -> None:
    good = [orjson.dumps({"ts": "2026-03-10T14:05:00Z", "message": f"m{i}"}) for i in range(100)]
    good.insert(50, b'{"ts": "2026-03-10T14:05:00Z", "message": oops}')
    con, report = load((w(tmp_path / "x.jsonl", b"\n".join(good)), "jsonl-logs"))
    assert q(con, "SELECT count(*) AS n FROM logs")[0]["n"] == 100
    assert [(i.line, i.reason.split(":")[0]) for i in report.files[0].issues] == [
        (51, "invalid JSON")]


def test_invalid_utf8_lines_are_kept_with_a_replacement_and_a_warning(tmp_path: Path,
                                                                      load) -> None:
    """One bad byte must not cost the file: the line imports with U+FFFD, the rest as is."""
    path = tmp_path / "a.jsonl"
    lines = [
        b'{"ts":"2026-03-10T14:00:00Z","service":"a","level":"info","message":"ok one"}',
        b'{"ts":"2026-03-10T14:00:01Z","service":"a","level":"error","message":"bad \xff byte"}',
        b'{"ts":"2026-03-10T14:00:02Z","service":"a","level":"info","message":"ok two"}',
        b"\x00\x01\xfe garbage that is not JSON at all",
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    con, report = load((path, "jsonl-logs"))
    got = [r[0] for r in con.execute("SELECT message FROM logs ORDER BY ts_ns").fetchall()]
    assert got == ["ok one", "bad \ufffd byte", "ok two"]
    f = report.files[0]
    assert f.skipped == 1
    assert any(i.line == 4 and i.severity == "skipped" for i in f.issues)
    assert any(i.severity == "warning" and "invalid UTF-8" in i.reason and i.line == 2
               for i in f.issues)
