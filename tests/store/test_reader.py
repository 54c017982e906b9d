"""Block reading: line numbers, CRLF, the last line, and a break in a gzip stream."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from obsbench_servers.store.reader import TruncatedInput, iter_byte_blocks, iter_lines


def test_blocks_keep_line_numbers_across_block_edges(tmp_path: Path, w) -> None:
    text = "".join(f"line {i}\r\n" if i % 3 else f"line {i}\n" for i in range(1, 5001))
    path = w(tmp_path / "x.txt", text + "tail without newline")
    seen = []
    for first, block in iter_byte_blocks(path, block_bytes=1000):
        lines = block.split(b"\n")
        assert first == len(seen) + 1 and len(block) < 1100
        seen.extend(lines)
    assert seen[:3] == [b"line 1", b"line 2", b"line 3"]
    assert seen[4999] == b"line 5000" and seen[-1] == b"tail without newline"
    assert len(seen) == 5001 and not any(s.endswith(b"\r") for s in seen)
    assert list(iter_lines(w(tmp_path / "e.txt", "a\n\nb\n"))) == [(1, b"a"), (2, b""),
                                                                    (3, b"b")]
    assert list(iter_lines(w(tmp_path / "z.txt", ""))) == []


def test_a_broken_gzip_yields_every_whole_line_before_the_break(tmp_path: Path, w) -> None:
    data = b"".join(b"record %d\n" % i for i in range(300_000))
    blob = gzip.compress(data, compresslevel=1)
    path = w(tmp_path / "cut.gz", blob[: len(blob) // 2])
    got: list[bytes] = []
    with pytest.raises(TruncatedInput) as info:
        for _, block in iter_byte_blocks(path, block_bytes=1 << 16):
            got.extend(block.split(b"\n"))
    assert got == [b"record %d" % i for i in range(len(got))]  # whole lines, in order
    assert 100_000 < len(got) < 300_000
    assert info.value.line == len(got)
    assert f"after line {len(got)}" in info.value.reason

