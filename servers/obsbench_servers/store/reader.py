"""Reading bundle files as streams: plain or gzip, line by line or item by item.

Nothing here loads a whole file. A truncated or corrupt gzip stream yields what
could be read and then reports where it broke, so the records before the break
are kept.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import ijson

GZIP_MAGIC = b"\x1f\x8b"


class TruncatedInput(Exception):  # noqa: N818 - public name, kept
    """The file ended early or is corrupt after ``line`` lines / bytes read."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading, transparently decompressing gzip (by magic, not name)."""
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def strip_gz(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_without_newline)``; raises TruncatedInput at a break."""
    for first, lines in iter_line_blocks(path):
        yield from enumerate(lines, first)


def iter_byte_blocks(path: Path, block_bytes: int = 1 << 22) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, block)``: whole lines of about ``block_bytes``.

    The hot importers' path: splitting or parsing a few MB at once costs a
    fraction of a per-line generator. A block holds complete lines joined by
    newlines, without the final newline, with ``\\r\\n`` read as ``\\n``; a last
    line without a newline is still yielded. At a break (truncated gzip) every
    complete line read before it is yielded first, then TruncatedInput is
    raised; the partial line at the break is not a record and is dropped.
    """
    n = 0
    rest = b""
    with open_binary(path) as f:
        read1 = getattr(f, "read1", f.read)
        while True:
            pieces: list[bytes] = [rest] if rest else []
            size = len(rest)
            broken: Exception | None = None
            try:
                while size < block_bytes:
                    piece = read1(block_bytes)
                    if not piece:
                        break
                    pieces.append(piece)
                    size += len(piece)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                broken = exc
            data = b"".join(pieces)
            at_end = broken is None and size < block_bytes
            cut = data.rfind(b"\n")
            if cut >= 0:
                rest = data[cut + 1:]
                block = data[:cut]
                if b"\r" in block:
                    block = block.replace(b"\r\n", b"\n")
                    if block.endswith(b"\r"):
                        block = block[:-1]
                yield n + 1, block
                n += block.count(b"\n") + 1
            else:
                rest = data
            if broken is not None:
                raise TruncatedInput(
                    f"compressed stream broken after line {n}: {broken}", n) from broken
            if at_end:
                break
    if rest:
        yield n + 1, rest[:-1] if rest.endswith(b"\r") else rest


def iter_line_blocks(path: Path, block_bytes: int = 1 << 22) -> Iterator[tuple[int, list[bytes]]]:
    """Like ``iter_byte_blocks``, with each block split into lines."""
    for first, block in iter_byte_blocks(path, block_bytes):
        yield first, block.split(b"\n")


def iter_json_items(path: Path, prefix: str) -> Iterator[Any]:
    """Stream the items under ``prefix`` (ijson syntax, e.g. ``items.item``) of a JSON file.

    Memory is bounded by the largest single item. Numbers come back as
    ``float``/``int`` (not ``Decimal``). Raises TruncatedInput on a broken document.
    """
    try:
        with open_binary(path) as f:
            yield from ijson.items(f, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise TruncatedInput(f"invalid JSON: {exc}") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise TruncatedInput(f"compressed stream broken: {exc}") from exc


def peek_bytes(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` decompressed bytes, for sniffing a file's format."""
    try:
        with open_binary(path) as f:
            return f.read(n)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
        return b""
