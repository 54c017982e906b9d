"""The write gate and the audit trail, on their own: decisions, chaining, tampering, concurrency."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import stat
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
)

from obsbench_servers.common.audit import GENESIS_HASH, AuditTrail, default_audit_path
from obsbench_servers.common.confirm import (
    Confirmation,
    InvalidWrite,
    NoConfirmationChannel,
    WriteGate,
    WriteRefusedError,
    decide,
    writes_disabled_message,
)
from obsbench_servers.common.errors import BackendError, BadInputError


def _accepted(data: Any) -> Any:
    """What MCPServer hands a tool for a resolver's value (built the framework's way)."""
    return AcceptedElicitation[Any].model_construct(data=data)


def test_audit_lives_in_the_state_dir_and_is_private(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSBENCH_STATE_DIR", str(tmp_path / "state"))
    assert default_audit_path() == tmp_path / "state" / "audit" / "audit.jsonl"
    trail = AuditTrail()
    rec = trail.append("write", tool="t", arguments={"a": 1})
    assert rec["seq"] == 1 and rec["prev_hash"] == GENESIS_HASH and len(rec["hash"]) == 64
    assert stat.S_IMODE(trail.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(trail.path.parent.stat().st_mode) == 0o700


def test_chain_links_and_verifies(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "a.jsonl")
    recs = [trail.append("write", n=i) for i in range(5)]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(recs))
    assert trail.verify().to_dict() == {"ok": True, "records": 5, "problem": None,
                                        "line": None}
    assert [r["n"] for r in trail.records()] == [0, 1, 2, 3, 4]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap", "truncate-tail-line"])
def test_tampering_is_detected_at_its_line(tmp_path: Path, tamper: str) -> None:
    trail = AuditTrail(tmp_path / "a.jsonl")
    for i in range(4):
        trail.append("write", n=i, outcome="refused")
    lines = _lines(trail.path)
    if tamper == "edit":
        rec = orjson.loads(lines[1])
        rec["outcome"] = "done"
        lines[1] = orjson.dumps(rec) + b"\n"
        expected_line = 2
    elif tamper == "delete":
        del lines[2]
        expected_line = 3
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
        expected_line = 2
    else:
        lines[-1] = lines[-1][:20]
        expected_line = 4
    trail.path.write_bytes(b"".join(lines))
    result = trail.verify()
    assert not result.ok and result.line == expected_line, result
    # Appending after a tear keeps the tear visible rather than papering over it.
    trail.append("write", n=99)
    assert not trail.verify().ok


def test_concurrent_appends_from_threads_keep_one_chain(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "a.jsonl")

    def work(k: int) -> None:
        for i in range(25):
            trail.append("write", worker=k, i=i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = trail.verify()
    assert result.ok and result.records == 100


def _append_many(path: str, k: int) -> None:
    trail = AuditTrail(Path(path))
    for i in range(20):
        trail.append("write", process=k, i=i)


def test_concurrent_appends_from_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    result = AuditTrail(path).verify()
    assert result.ok and result.records == 60


def test_decide_accepts_only_an_explicit_yes() -> None:
    yes = decide(_accepted(Confirmation(confirm=True, name=" dana ")), "cli")
    assert yes.confirmed and yes.by == "dana" and yes.channel == "mcp-elicitation via cli"
    anonymous = decide(_accepted(Confirmation(confirm=True)), "Claude Desktop")
    assert anonymous.confirmed and anonymous.by == "unnamed person at Claude Desktop"
    for outcome in (_accepted(Confirmation(confirm=False, name="x")),
                    DeclinedElicitation(), CancelledElicitation(),
                    _accepted(NoConfirmationChannel("no elicitation")),
                    _accepted({"confirm": True}), None, True):
        d = decide(outcome, "c")
        assert not d.confirmed and d.reason, outcome


def test_gate_refuses_without_acting_and_audits(tmp_path: Path) -> None:
    import anyio

    trail = AuditTrail(tmp_path / "a.jsonl")
    gate = WriteGate("alerts", "prod", trail)
    acted: list[int] = []

    def action() -> dict[str, Any]:
        acted.append(1)
        return {"ok": True}

    async def run(outcome: Any) -> Any:
        return await gate.run(tool="create_silence", arguments={"m": "x"}, outcome=outcome,
                              client="c", backend={"type": "alertmanager"}, action=action)

    with pytest.raises(WriteRefusedError, match="Nothing was sent"):
        anyio.run(run, DeclinedElicitation())
    with pytest.raises(BadInputError, match="bad matcher"):
        anyio.run(run, _accepted(InvalidWrite(BadInputError("bad matcher"))))
    assert acted == []
    result, decision = anyio.run(run, _accepted(Confirmation(confirm=True,
                                                                             name="erin")))
    assert result == {"ok": True} and decision.by == "erin" and acted == [1]

    def failing() -> dict[str, Any]:
        raise BackendError("Alertmanager answered 500")

    async def run_failing() -> Any:
        return await gate.run(tool="create_silence", arguments={}, client="c", backend={},
                              outcome=_accepted(Confirmation(confirm=True)),
                              action=failing)

    with pytest.raises(BackendError):
        anyio.run(run_failing)
    outcomes = [(r["outcome"], r["confirmed_by"], r.get("reason", "")) for r in trail.records()]
    assert outcomes == [
        ("refused", None, "the person declined"),
        ("refused", None, "invalid arguments: bad matcher"),
        ("done", "erin", ""),
        ("failed", "unnamed person at c", "Alertmanager answered 500"),
    ]
    assert all(r["actor"]["pid"] == os.getpid() and r["profile"] == "prod"
               for r in trail.records())
    assert trail.verify().ok


def test_disabled_message_names_the_setting() -> None:
    message, hint = writes_disabled_message("prod")
    assert "writes_enabled = false" in message and "profile 'prod'" in message
    assert "writes_enabled = true" in hint
