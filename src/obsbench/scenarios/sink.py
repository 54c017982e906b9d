"""Writing bundle files: streamed, optionally gzipped, with exact record counts.

Generators write text through a ``Sink`` in chunks (never one giant string),
and tell it how many records each chunk holds, so ``GenerationResult`` can
report exactly what each file contains (the live test compares the sample
count Prometheus reports with it). Gzip output uses a fixed mtime and no file
name in the header so that compressed bundles are byte-identical too.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

_BUFFER_CHARS = 1 << 20


@dataclass
class FileInfo:
    """What one written file holds."""

    path: str  # relative to the bundle
    signal: str  # metrics | logs | traces | alerts | incidents | k8s | runbooks | manifest
    format: str  # openmetrics | otlp-metrics | jsonl-logs | otlp-logs | otlp-traces | ...
    records: int = 0  # samples, log records, spans, alerts, objects ...
    unit: str = "records"
    bytes: int = 0
    detail: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "signal": self.signal, "format": self.format,
                "records": self.records, "unit": self.unit, "bytes": self.bytes,
                **({"detail": dict(sorted(self.detail.items()))} if self.detail else {})}


class Sink:
    """A text file being written: buffered, maybe gzipped, counting its records."""

    def __init__(self, root: Path, rel: str, signal: str, fmt: str, *, gz: bool,
                 unit: str = "records") -> None:
        self.rel = rel + (".gz" if gz else "")
        self.path = root / self.rel
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw: IO[bytes] = self.path.open("wb")
        self._fh: IO[bytes]
        if gz:
            self._fh = gzip.GzipFile(  # type: ignore[assignment]
                filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
        else:
            self._fh = self._raw
        self._parts: list[str] = []
        self._size = 0
        self.info = FileInfo(self.rel, signal, fmt, unit=unit)

    def write(self, text: str, records: int = 0) -> None:
        self._parts.append(text)
        self._size += len(text)
        self.info.records += records
        if self._size >= _BUFFER_CHARS:
            self.flush()

    def count(self, n: int, key: str | None = None) -> None:
        """Credit records without writing text (counted where the text was written)."""
        if key is None:
            self.info.records += n
        else:
            self.info.detail[key] = self.info.detail.get(key, 0) + n

    def json_line(self, obj: Any, records: int = 1) -> None:
        self.write(orjson.dumps(obj).decode() + "\n", records)

    def flush(self) -> None:
        if self._parts:
            self._fh.write("".join(self._parts).encode("utf-8"))
            self._parts.clear()
            self._size = 0

    def close(self) -> FileInfo:
        self.flush()
        if self._fh is not self._raw:
            self._fh.close()
        self._raw.close()
        self.info.bytes = self.path.stat().st_size
        return self.info


def write_json(  # noqa: PLR0917
        root: Path, rel: str, signal: str, fmt: str, obj: Any, records: int, *,
               gz: bool) -> FileInfo:
    """Write one (pretty) JSON document, as an API dump looks."""
    sink = Sink(root, rel, signal, fmt, gz=gz)
    sink.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n", records)
    return sink.close()


def write_text(  # noqa: PLR0917
        root: Path, rel: str, signal: str, fmt: str, text: str, records: int, *,
               gz: bool = False) -> FileInfo:
    sink = Sink(root, rel, signal, fmt, gz=gz)
    sink.write(text, records)
    return sink.close()

