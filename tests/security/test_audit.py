"""The audit trail: hash chain across rotated files, tamper detection, and the CLI."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench_servers.common.audit import AuditTrail, record_hash

runner = CliRunner()


def _fill(trail: AuditTrail, n: int) -> None:
    for i in range(n):
        trail.append("tool_call", server="metrics", tool="query", arguments={"expr": f"up{i}"},
                     outcome="ok")


def test_rotation_keeps_one_chain_across_files(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=2_000)
    _fill(trail, 40)
    segs = trail.segments()
    assert len(segs) >= 3 and segs[-1] == trail.path
    assert all(p.stat().st_size < 2_000 + 600 for p in segs)
    recs = list(trail.records())
    assert [r["seq"] for r in recs] == list(range(1, 41))
    first_of_second = json.loads(segs[1].read_text().splitlines()[0])
    last_of_first = json.loads(segs[0].read_text().splitlines()[-1])
    assert first_of_second["prev_hash"] == last_of_first["hash"]
    assert trail.verify().ok and trail.verify().records == 40


def test_verify_detects_a_changed_record(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=2_000)
    _fill(trail, 20)
    seg = trail.segments()[0]
    lines = seg.read_text().splitlines()
    lines[2] = lines[2].replace('"outcome":"ok"', '"outcome":"error"')
    seg.write_text("\n".join(lines) + "\n")
    res = trail.verify()
    assert not res.ok and res.line == 3 and "changed" in (res.problem or "")
    assert res.file == str(seg)


def test_verify_detects_a_deleted_record_even_rehashed(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    _fill(trail, 6)
    lines = trail.path.read_text().splitlines()
    del lines[3]
    trail.path.write_text("\n".join(lines) + "\n")
    res = trail.verify()
    assert not res.ok and res.line == 4 and "chain is broken" in (res.problem or "")
    # an attacker who also rewrites the next record's hash still breaks the link
    rec = orjson.loads(lines[3])
    rec["prev_hash"] = orjson.loads(lines[2])["hash"]
    rec["hash"] = record_hash(rec)
    lines[3] = orjson.dumps(rec).decode()
    trail.path.write_text("\n".join(lines) + "\n")
    res = trail.verify()
    assert not res.ok and "sequence" in (res.problem or "")


def test_verify_detects_a_deleted_rotated_file(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=1_500)
    _fill(trail, 30)
    segs = trail.segments()
    assert len(segs) >= 3
    segs[1].unlink()
    assert not trail.verify().ok


def test_concurrent_appends_across_threads_and_rotation_stay_chained(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", max_bytes=4_000)
    other = AuditTrail(tmp_path / "audit.jsonl", max_bytes=4_000)  # a second writer

    def work(t: AuditTrail) -> None:
        _fill(t, 50)

    threads = [threading.Thread(target=work, args=(t,)) for t in (trail, other, trail, other)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    res = trail.verify()
    assert res.ok and res.records == 200, res


def test_cli_verify_and_show(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    trail.append("tool_call", server="logs", tool="search_logs", outcome="ok", profile="prod")
    trail.append("write_denied", server="alerts", tool="create_silence", outcome="denied")
    # a record from two hours ago: written with a back-dated ts, then re-chained
    recs = [orjson.loads(x) for x in path.read_text().splitlines()]
    recs[0]["ts"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    recs[0]["hash"] = record_hash(recs[0])
    recs[1]["prev_hash"] = recs[0]["hash"]
    recs[1]["hash"] = record_hash(recs[1])
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in recs))

    ok = runner.invoke(app, ["audit", "verify", "--file", str(path), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["records"] == 2

    shown = runner.invoke(app, ["audit", "show", "--since", "1h", "--file", str(path), "--json"])
    assert shown.exit_code == 0
    data = json.loads(shown.stdout)
    assert [r["event"] for r in data["records"]] == ["write_denied"]
    every = runner.invoke(app, ["audit", "show", "--file", str(path), "--server", "logs"])
    assert every.exit_code == 0 and "logs.search_logs" in every.stdout

    path.write_text(path.read_text().replace("write_denied", "write_allowed"))
    bad = runner.invoke(app, ["audit", "verify", "--file", str(path)])
    assert bad.exit_code == 1 and "broken at" in bad.stderr and ":2" in bad.stderr


def test_cli_uses_the_state_dir_by_default() -> None:
    AuditTrail().append("tool_call", server="infra", tool="get_events", outcome="ok")
    out = runner.invoke(app, ["audit", "show", "--json"])
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert data["file"].startswith(os.environ["OBSBENCH_STATE_DIR"]) and data["matched"] == 1
