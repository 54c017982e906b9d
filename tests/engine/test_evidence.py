"""Evidence ids, citations, and the flagging of citations to nothing."""

from __future__ import annotations

import threading

from obsbench.evidence import Evidence, EvidenceStore, check_citations, cited_ids, flag_unresolved


def _item(store: EvidenceStore, **kw: object) -> Evidence:
    ev_id = store.new_id()
    return store.add(Evidence.from_tool_result(
        ev_id, "logs", "search_logs", {"service": "user-api"},
        {"kind": "logs", "summary": "3 lines", "data": {"lines": [1, 2, 3]},
         "query": '{service="user-api"}', "time_range": {"start": "a", "end": "b"},
         "coverage": {"shown": 3, "total": 10, "unit": "lines", "notes": ["sampled"]}},
        "3 lines\n...", **kw))  # type: ignore[arg-type]


def test_ids_follow_call_order_even_in_parallel() -> None:
    store = EvidenceStore()
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        ev_id = store.new_id()
        with lock:
            ids.append(ev_id)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"E{i}" for i in range(1, 51)]


def test_item_keeps_what_the_model_saw_and_what_it_did_not() -> None:
    store = EvidenceStore()
    item = _item(store)
    assert item.id == "E1" and item.kind == "logs" and item.payload == {"lines": [1, 2, 3]}
    assert item.query == '{service="user-api"}'
    assert item.coverage_line == "3 of 10 lines shown; sampled"
    assert "payload" not in item.to_dict(payload=False)
    assert store.get("e1") is item and "E1" in store and "E2" not in store


def test_citations_resolve_or_are_flagged() -> None:
    store = EvidenceStore()
    _item(store)
    _item(store)
    text = "Pool exhausted after the deploy [E1]; callers slowed [E2, E9]; see [E1][E3]."
    assert cited_ids(text) == ["E1", "E2", "E9", "E3"]
    check = check_citations(text, store)
    assert check.resolved == ["E1", "E2"] and check.unresolved == ["E9", "E3"]
    assert not check.ok
    flagged = flag_unresolved(text, store)
    assert "[E2, E9: no such evidence]" in flagged
    assert "[E3: no such evidence]" in flagged
    assert "[E1]" in flagged


def test_error_results_become_error_evidence() -> None:
    store = EvidenceStore()
    item = store.add(Evidence.from_tool_result(
        store.new_id(), "metrics", "query", {"expr": "rate("},
        {"kind": "error", "error": "bad_input", "message": "parse error at 5"},
        "error (bad_input): parse error at 5", is_error=True))
    assert item.is_error and item.kind == "error" and item.summary == "parse error at 5"
