"""OpenMetrics / Prometheus text exposition files into ``series`` and ``samples``.

The format promtool backfills: ``name{labels} value timestamp`` lines with
``# TYPE``/``# HELP``/``# UNIT`` metadata and a final ``# EOF``. Files hold
millions of lines, so the common line takes a fast path: the raw text of the
series (everything up to the closing brace) is looked up in a dict, and labels
are parsed only the first time a series is seen. Each block of a few MB is
split, cast and checked with Arrow compute kernels; lines those kernels cannot
take (comments, exemplars, anything malformed) go through a careful per-line
parser, and a block whose numbers Arrow refuses is re-read line by line, so
the fast path never changes what is imported, only how quickly.

Decisions, each reported in the import summary:
- timestamps are seconds in OpenMetrics (``.om``) and milliseconds in the
  Prometheus text format (``.prom``, ``.txt``); a timestamp whose magnitude
  says another unit (ms, us, ns) is converted and counted in one warning;
- a sample without a timestamp is skipped: offline, it has no time;
- out-of-order samples are kept (the store sorts) with one warning, because
  Prometheus's backfill would silently drop them; a second sample for the same
  series and timestamp is skipped, as Prometheus does;
- a label with an empty value is the same as no label (Prometheus semantics).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from obsbench_servers.store.context import ImportContext, canonical_labels
from obsbench_servers.store.reader import iter_byte_blocks, strip_gz

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")
_LABELSET = re.compile(r'\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\}')
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


# (low, high, multiplier-to-ms, unit) by magnitude, as common.timeutil reads epochs.
_UNITS = (
    (1e17, float("inf"), 1e-6, "nanoseconds"),
    (1e14, 1e17, 1e-3, "microseconds"),
    (1e11, 1e14, 1.0, "milliseconds"),
    (float("-inf"), 1e11, 1000.0, "seconds"),
)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


class SeriesError(ValueError):
    """The series part of a sample line cannot be read."""


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    """``name{a="1",b="x"}`` to ``(name, labels)``; also the quoted UTF-8 form ``{"name",a="1"}``.

    Label values are unescaped (``\\\\``, ``\\"``, ``\\n``); empty values are dropped.
    """
    brace = text.find("{")
    name = (text if brace < 0 else text[:brace]).strip()
    labels: dict[str, str] = {}
    if brace >= 0:
        i = brace + 1
        end = len(text)
        first_item = True
        while True:
            while i < end and text[i] in " \t":
                i += 1
            if i >= end:
                raise SeriesError("label set not closed with '}'")
            if text[i] == "}":
                break
            if text[i] == '"':
                m = _QUOTED.match(text, i)
                if m is None:
                    raise SeriesError(f"unterminated quoted name at col {i + 1}")
                key = _unescape(m.group(1))
                i = m.end()
            else:
                m = _LABEL_NAME.match(text, i)
                if m is None:
                    raise SeriesError(f"bad label name at col {i + 1}: {text[i:i + 20]!r}")
                key = m.group()
                i = m.end()
            while i < end and text[i] in " \t":
                i += 1
            if first_item and not name and i < end and text[i] in ",}":
                name = key  # {"metric.name", ...}: the UTF-8 quoted metric name
            else:
                if i >= end or text[i] != "=":
                    raise SeriesError(f"expected '=' after label {key!r}")
                i += 1
                while i < end and text[i] in " \t":
                    i += 1
                m = _QUOTED.match(text, i)
                if m is None:
                    raise SeriesError(f"label {key!r}: value is not a quoted string")
                if key in labels:
                    raise SeriesError(f"label {key!r} appears twice")
                value = _unescape(m.group(1))
                if value:
                    labels[key] = value
                i = m.end()
            first_item = False
            while i < end and text[i] in " \t":
                i += 1
            if i < end and text[i] == ",":
                i += 1
                continue
            if i < end and text[i] == "}":
                break
            raise SeriesError(f"expected ',' or '}}' at col {i + 1}")
    if not name:
        raise SeriesError("no metric name")
    if not _NAME.fullmatch(name) and not (brace >= 0 and text.lstrip().startswith("{")):
        raise SeriesError(f"invalid metric name {name!r}")
    return name, labels


def _split_careful(line: str) -> tuple[str, list[str]]:
    """Series text and the tokens after it, for a line that may carry an exemplar."""
    brace = line.find("{")
    space = line.find(" ")
    if brace >= 0 and (space < 0 or brace < space):
        m = _LABELSET.search(line, brace)
        if m is None:
            raise SeriesError("label set not closed with '}'")
        series, rest = line[: m.end()], line[m.end():]
    else:
        series, _, rest = line.partition(" ")
    tokens = rest.split()
    if "#" in tokens:
        tokens = tokens[: tokens.index("#")]  # an exemplar: not stored
    return series, tokens


_INT64 = pa.int64()
_F64 = pa.float64()
_NO_TS = ("no timestamp: a sample without a timestamp has no time offline; "
          "export with timestamps (seconds in OpenMetrics)")


class _OpenMetricsFile:
    """One file's import: series cache, per-series last timestamp, counters for warnings."""

    def __init__(self, path: Path, ctx: ImportContext) -> None:
        name = strip_gz(path.name)
        self.path = path
        self.ctx = ctx
        self.openmetrics = name.endswith(".om")
        self.expected = ("milliseconds" if name.endswith((".prom", ".txt")) and not self.openmetrics
                         else "seconds")
        if self.expected == "seconds":
            self.lo, self.hi, self.mul = float("-inf"), 1e11, 1000.0
        else:
            self.lo, self.hi, self.mul = 1e11, 1e14, 1.0
        self.writer = ctx.writer("samples")
        self.sid_by_key: dict[bytes, int] = {}   # raw series text -> series id (-1: unreadable)
        self.bad_key: dict[bytes, str] = {}      # raw series text -> why it cannot be read
        self.last_ms: dict[int, int] = {}        # series id -> newest timestamp seen
        self.units: dict[str, int] = {}
        self.first_unit: dict[str, int] = {}
        self.ooo = 0
        self.ooo_series: set[int] = set()
        self.first_ooo = 0
        self.eof = 0
        self.after_eof = 0

    # -- series ------------------------------------------------------------------------------
    def series(self, key: bytes) -> int:
        """The id of the series spelled ``key``; -1 (reason in ``bad_key``) when unreadable."""
        sid = self.sid_by_key.get(key)
        if sid is not None:
            return sid
        try:
            metric, labels = parse_series(key.decode("utf-8"))
        except UnicodeDecodeError:
            self.bad_key[key] = "invalid UTF-8 in series"
            sid = -1
        except SeriesError as exc:
            self.bad_key[key] = f"malformed series: {exc}"
            sid = -1
        else:
            sid = self.ctx.series_id(metric, canonical_labels(labels))
        self.sid_by_key[key] = sid
        return sid

    def to_ms(self, t: float, line: int) -> int:
        if self.lo <= t < self.hi:
            return int(t * self.mul)
        if not math.isfinite(t):
            raise ValueError("timestamp is not finite")
        for low, high, m, unit in _UNITS:
            if low <= t < high:
                self.units[unit] = self.units.get(unit, 0) + 1
                self.first_unit.setdefault(unit, line)
                return int(t * m)
        raise ValueError("timestamp out of range")  # pragma: no cover - ranges cover all

    # -- the file ----------------------------------------------------------------------------
    def run(self) -> None:
        for first, block in iter_byte_blocks(self.path):
            if self.eof:
                self.after_eof += sum(1 for ln in block.split(b"\n") if ln.strip())
                continue
            if not self.vector_block(first, block):
                self.python_block(first, block.split(b"\n"))
        self.finish()

    def vector_block(self, first: int, block: bytes) -> bool:
        """Parse a block with Arrow kernels; False when the block must be read line by line."""
        try:
            lines = pc.split_pattern(pa.array([block], pa.binary()), b"\n").values
            lines = lines.cast(pa.string())  # validates UTF-8
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        # Comment lines start with '#'; any other '#' (an exemplar) needs the careful parser.
        special = pc.starts_with(lines, "#")
        hashes = block.count(b"#")
        if hashes:
            in_comments = sum(ln.count("#") for ln in pc.filter(lines, special).to_pylist())
            if hashes != in_comments:
                special = pc.match_substring(lines, "#")
        eof_at = -1
        for i in pc.indices_nonzero(pc.starts_with(lines, "# EOF")).to_pylist():
            if lines[i].as_py().rstrip() == "# EOF":
                eof_at = i
                break
        if eof_at >= 0:
            tail = lines.slice(eof_at + 1)
            after = pc.sum(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(tail)), 0)).as_py()
            lines = lines.slice(0, eof_at)
            special = special.slice(0, eof_at)
        parts = pc.split_pattern(lines, " ", max_splits=2, reverse=True)
        plain = pc.and_(pc.invert(special), pc.equal(pc.list_value_length(parts), 3))
        plain_rows = pc.indices_nonzero(plain)
        parts = pc.filter(parts, plain)
        try:
            values = pc.cast(pc.list_element(parts, 1), _F64)
            ts = pc.cast(pc.list_element(parts, 2), _F64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        n = len(ts)
        if n:
            lo_hi = pc.min_max(ts).as_py()
            if not (self.lo <= lo_hi["min"] and lo_hi["max"] < self.hi):
                return False  # odd units or non-finite times: the careful path counts them
        ms = pc.cast(pc.multiply(ts, self.mul), _INT64, safe=False)
        keys = pc.dictionary_encode(pc.cast(pc.list_element(parts, 0), pa.binary()))
        sid_of = pa.array([self.series(k) for k in keys.dictionary.to_pylist()], _INT64)
        sids = pc.take(sid_of, keys.indices)
        line_no = pc.add(plain_rows.cast(_INT64), first)
        if self.bad_key and pc.any(pc.equal(sid_of, -1)).as_py():
            bad = pc.equal(sids, -1)
            for ln, key_i in zip(pc.filter(line_no, bad).to_pylist(),
                                 pc.filter(keys.indices, bad).to_pylist(), strict=True):
                self.ctx.skip(ln, self.bad_key[keys.dictionary[key_i].as_py()])
            good = pc.invert(bad)
            sids, ms, values, line_no = (pc.filter(a, good) for a in (sids, ms, values, line_no))
        # The other lines: comments, exemplars, malformed samples, in the careful parser.
        others = pc.indices_nonzero(pc.invert(plain)).to_pylist()
        if others:
            extra = self.python_rows(
                (first + i, lines[i].as_py().encode("utf-8")) for i in others)
            if extra[0]:
                line_no = pa.concat_arrays([line_no, pa.array(extra[0], _INT64)])
                sids = pa.concat_arrays([sids, pa.array(extra[1], _INT64)])
                ms = pa.concat_arrays([ms, pa.array(extra[2], _INT64)])
                values = pa.concat_arrays([values, pa.array(extra[3], _F64)])
        self.ordered_write(line_no, sids, ms, values)
        if eof_at >= 0:
            self.eof = first + eof_at
            self.after_eof += after or 0
        return True

    def python_block(self, first: int, lines: list[bytes]) -> None:
        rows = self.python_rows(enumerate(lines, first))
        self.ordered_write(*(pa.array(col, t) for col, t in zip(
            rows, (_INT64, _INT64, _INT64, _F64), strict=True)))

    def python_rows(self, numbered: object) -> tuple[list[int], list[int], list[int], list[float]]:
        """Parse lines one by one: ``(lines, series ids, ms, values)`` of the samples found."""
        out_l: list[int] = []
        out_s: list[int] = []
        out_t: list[int] = []
        out_v: list[float] = []
        ctx = self.ctx
        for n, line in numbered:  # type: ignore[attr-defined]
            if self.eof:
                if line.strip():
                    self.after_eof += 1
                continue
            if not line.strip():
                continue
            if line[0] == 35:  # '#'
                self.comment(line, n)
                continue
            try:
                text = line.decode("utf-8")
                series_text, parts = _split_careful(text)
            except (UnicodeDecodeError, SeriesError) as exc:
                ctx.skip(n, f"malformed sample line: {exc}")
                continue
            if len(parts) != 2:
                if len(parts) == 1:
                    ctx.skip(n, _NO_TS)
                elif not parts:
                    ctx.skip(n, "no value: expected 'name{labels} value timestamp'")
                else:
                    ctx.skip(n, f"malformed sample line: {len(parts)} fields after the series, "
                             "expected value and timestamp")
                continue
            sid = self.series(series_text.encode("utf-8"))
            if sid < 0:
                ctx.skip(n, self.bad_key[series_text.encode("utf-8")])
                continue
            try:
                v = float(parts[0])
                t = self.to_ms(float(parts[1]), n)
            except (ValueError, OverflowError) as exc:
                ctx.skip(n, f"bad number: value {parts[0][:40]!r}, timestamp {parts[1][:40]!r} "
                         f"({exc})")
                continue
            out_l.append(n)
            out_s.append(sid)
            out_t.append(t)
            out_v.append(v)
        return out_l, out_s, out_t, out_v

    def ordered_write(self, line_no: pa.Array, sids: pa.Array, ms: pa.Array,
                      values: pa.Array) -> None:
        """Check each series' time order against what came before, then write the block.

        Out-of-order samples are kept and counted; a sample at a timestamp its
        series already has is skipped (Prometheus keeps the first).
        """
        n = len(sids)
        if not n:
            return
        order = pc.sort_indices(pa.table({"s": sids, "l": line_no}),
                                sort_keys=[("s", "ascending"), ("l", "ascending")])
        s = pc.take(sids, order)
        t = pc.take(ms, order)
        same = pc.equal(s.slice(1), s.slice(0, n - 1))
        starts = [0, *pc.add(pc.indices_nonzero(pc.invert(same)), 1).to_pylist()]
        ends = [*(i - 1 for i in starts[1:]), n - 1]
        start_sids = pc.take(s, pa.array(starts, _INT64)).to_pylist()
        start_ts = pc.take(t, pa.array(starts, _INT64)).to_pylist()
        last = self.last_ms
        clean = not pc.any(pc.and_(same, pc.less_equal(t.slice(1), t.slice(0, n - 1)))).as_py()
        if clean:
            for sid, ts0 in zip(start_sids, start_ts, strict=True):
                prev = last.get(sid)
                if prev is not None and ts0 <= prev:
                    clean = False
                    break
        v = pc.take(values, order)
        if clean:
            for sid, ts_end in zip(start_sids, pc.take(t, pa.array(ends, _INT64)).to_pylist(),
                                   strict=True):
                last[sid] = ts_end
            self.writer.append_arrow([s, t, v])
            self.ctx.count("samples", n)
            return
        # Rare: replay the block in order with Prometheus's rule (compare to the newest so far).
        lines_sorted = pc.take(line_no, order).to_pylist()
        keep = [True] * n
        for i, (sid, ts) in enumerate(zip(s.to_pylist(), t.to_pylist(), strict=True)):
            prev = last.get(sid)
            if prev is None or ts > prev:
                last[sid] = ts
            elif ts == prev:
                keep[i] = False
                self.ctx.skip(lines_sorted[i],
                              f"duplicate sample: the series already has a sample at {ts} ms")
            else:
                self.ooo += 1
                self.ooo_series.add(sid)
                if not self.first_ooo or lines_sorted[i] < self.first_ooo:
                    self.first_ooo = lines_sorted[i]
        mask = pa.array(keep)
        s, t, v = (pc.filter(a, mask) for a in (s, t, v))
        self.writer.append_arrow([s, t, v])
        self.ctx.count("samples", len(s))

    def comment(self, line: bytes, n: int) -> None:
        """``# TYPE``, ``# HELP``, ``# UNIT`` into metadata; ``# EOF`` ends the file."""
        text = line.decode("utf-8", "replace").rstrip()
        parts = text.split(None, 3)
        if parts == ["#", "EOF"]:
            self.eof = n
            return
        if len(parts) < 3 or parts[1] not in ("TYPE", "HELP", "UNIT"):
            return
        metric = parts[2]
        rest = parts[3] if len(parts) > 3 else ""
        if parts[1] == "TYPE":
            self.ctx.metadata(metric, mtype=rest.strip())
        elif parts[1] == "HELP":
            self.ctx.metadata(metric, help_=_unescape(rest))
        else:
            self.ctx.metadata(metric, unit=rest.strip())

    def finish(self) -> None:
        ctx = self.ctx
        for unit, count in sorted(self.units.items()):
            ctx.warn(
                self.first_unit[unit],
                f"timestamps read as {unit}: {count} samples had timestamps in {unit} where "
                f"{self.expected} are expected; converted by magnitude",
            )
        if self.ooo:
            ctx.warn(
                self.first_ooo,
                f"out-of-order samples: {self.ooo} samples in {len(self.ooo_series)} series go "
                "back in time; kept (the store sorts them), but Prometheus backfill (promtool) "
                "would drop them",
            )
        if self.after_eof:
            ctx.warn(self.eof, f"content after # EOF: {self.after_eof} lines after '# EOF' "
                     "were ignored")
        if self.openmetrics and not self.eof and ctx.current.records.get("samples"):
            ctx.warn(0, "no '# EOF': the file may be truncated; promtool refuses OpenMetrics "
                     "without it")


def import_openmetrics(path: Path, ctx: ImportContext) -> None:
    """Stream one OpenMetrics or Prometheus text file into series and samples."""
    _OpenMetricsFile(path, ctx).run()
