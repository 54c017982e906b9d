"""Evidence: what one tool call returned, kept so that every claim can point at it.

An investigation's answer cites ``[E7]``; this module assigns the ids, keeps the
items (the structured payload the panels render and the compact text the model
saw), and checks citations: a citation to nothing is flagged, never shown as
fact.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

# [E7], [E3, E7], [E3][E7] and [E3,E7] all cite; ids are E followed by digits.
_CITE_GROUP = re.compile(r"\[\s*(E\d+(?:\s*,\s*E\d+)*)\s*\]")
_ID = re.compile(r"E\d+")


@dataclass
class Evidence:
    """One tool call's result (design.md, "Evidence")."""

    id: str
    server: str
    tool: str
    arguments: dict[str, Any]
    kind: str
    summary: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    query: str | None = None
    time_range: dict[str, str] | None = None
    coverage: dict[str, Any] | None = None
    backend: str = ""
    warnings: list[str] = field(default_factory=list)
    is_error: bool = False
    elapsed_s: float = 0.0
    created_at: str = ""

    @property
    def coverage_line(self) -> str:
        """What the model did not see, in one line ("120 of 5,000 lines shown; ...")."""
        cov = self.coverage or {}
        total, shown, unit = cov.get("total"), cov.get("shown"), cov.get("unit", "items")
        if total is None and shown is None:
            return ""
        head = (f"{shown:,} {unit}" if total is None else
                f"all {total:,} {unit}" if shown is not None and shown >= total else
                f"{shown or 0:,} of {total:,} {unit} shown")
        return "; ".join([head, *cov.get("notes", [])])

    def to_dict(self, *, payload: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not payload:
            data.pop("payload")
        return data

    @classmethod
    def from_tool_result(  # noqa: PLR0917 - mirrors the call it records
        cls, ev_id: str, server: str, tool: str, arguments: dict[str, Any],
        structured: dict[str, Any] | None, text: str, *, is_error: bool = False,
        elapsed_s: float = 0.0, created_at: str = "",
    ) -> Evidence:
        """Build an item from an MCP result's structured content (our servers' shape)."""
        sc = structured or {}
        data = sc.get("data")
        if is_error:
            return cls(ev_id, server, tool, arguments, kind="error",
                       summary=str(sc.get("message") or next(iter(text.splitlines()), "error")),
                       text=text, payload=sc, is_error=True, elapsed_s=elapsed_s,
                       created_at=created_at)
        return cls(
            ev_id, server, tool, arguments,
            kind=str(sc.get("kind") or "text"),
            summary=str(sc.get("summary") or (text.splitlines()[0] if text else "")),
            text=text,
            payload=data if isinstance(data, dict) else {"value": sc},
            query=sc.get("query"),
            time_range=sc.get("time_range"),
            coverage=sc.get("coverage"),
            backend=str(sc.get("backend") or ""),
            warnings=list(sc.get("warnings") or []),
            elapsed_s=elapsed_s,
            created_at=created_at,
        )


class EvidenceStore:
    """The evidence of one investigation, ids assigned in call order (E1, E2, ...).

    ``new_id`` hands out the next id when a call starts, so calls running in
    parallel keep the order in which they were made; ``add`` files the result.
    """

    def __init__(self) -> None:
        self._items: dict[str, Evidence] = {}
        self._issued = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            self._issued += 1
            return f"E{self._issued}"

    def add(self, item: Evidence) -> Evidence:
        with self._lock:
            if item.id in self._items:
                raise ValueError(f"evidence {item.id} already exists")
            self._items[item.id] = item
        return item

    def get(self, ev_id: str) -> Evidence | None:
        return self._items.get(ev_id.strip().upper())

    def __contains__(self, ev_id: object) -> bool:
        return isinstance(ev_id, str) and self.get(ev_id) is not None

    def __iter__(self) -> Iterator[Evidence]:
        with self._lock:
            items = sorted(self._items.values(), key=lambda e: int(e.id[1:]))
        return iter(items)

    def __len__(self) -> int:
        return len(self._items)


def cited_ids(text: str) -> list[str]:
    """Every evidence id cited in ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for group in _CITE_GROUP.finditer(text):
        for ev_id in _ID.findall(group.group(1)):
            seen.setdefault(ev_id, None)
    return list(seen)


@dataclass
class CitationCheck:
    """Which citations resolve to evidence of this investigation, and which do not."""

    resolved: list[str]
    unresolved: list[str]

    @property
    def ok(self) -> bool:
        return not self.unresolved


def check_citations(text: str, store: EvidenceStore) -> CitationCheck:
    ids = cited_ids(text)
    return CitationCheck([i for i in ids if i in store], [i for i in ids if i not in store])


def flag_unresolved(text: str, store: EvidenceStore) -> str:
    """Mark citations to nothing in place: ``[E99]`` becomes ``[E99: no such evidence]``."""

    def sub(m: re.Match[str]) -> str:
        ids = _ID.findall(m.group(1))
        if all(i in store for i in ids):
            return m.group(0)
        marked = [i if i in store else f"{i}: no such evidence" for i in ids]
        return "[" + ", ".join(marked) + "]"

    return _CITE_GROUP.sub(sub, text)
