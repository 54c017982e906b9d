"""Helpers for the store tests: import files into a throwaway in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from obsbench_servers.store.ingest import import_files, new_database
from obsbench_servers.store.report import ImportReport

Loaded = tuple[duckdb.DuckDBPyConnection, ImportReport]


@pytest.fixture
def load() -> Callable[..., Loaded]:
    """``load((path, format), ...)`` -> (connection, report) of a fresh in-memory store."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _load(*files: tuple[Path, str], root: Path | None = None) -> Loaded:
        con = new_database(":memory:")
        opened.append(con)
        return con, import_files(con, list(files), root=root)

    yield _load  # type: ignore[misc]
    for con in opened:
        con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Query results as dicts, with every ``*_json`` column parsed."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        for k, v in item.items():
            if k.endswith("_json") and isinstance(v, str):
                item[k] = orjson.loads(v)
        out.append(item)
    return out


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


@pytest.fixture
def q() -> Callable[..., list[dict[str, Any]]]:
    return rows


@pytest.fixture
def w() -> Callable[[Path, str | bytes], Path]:
    return write
