"""JSON-lines logs (``logs/*.jsonl``) into the ``logs`` table.

One object a line: ``ts``, ``service``, ``level``, ``message``, optional
``trace_id``, ``span_id``, ``pod``; every other key is kept in ``labels_json``
(keys whose value is null carry nothing and are dropped). Real exports name
these fields in many ways (``@timestamp``, ``msg``, ``severity``,
``levelname`` ...), so common aliases are read too.

Two paths, one result. A block of a few MB whose lines all use the canonical
keys with plain types goes through Arrow's JSON reader and one DuckDB
``INSERT ... SELECT`` (C++ all the way: several times faster). Any block the
fast path cannot take exactly as the careful path would (an invalid line, an
alias, an unknown level, an odd id or time) is read line by line with orjson,
where each bad line is skipped with its line number and why.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from obsbench_servers.common.timeutil import TimeParseError
from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import (
    EPOCH_BANDS,
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    BadIdError,
    describe_json_error,
    dumps,
    hex_id,
    normalize_level,
    time_ns,
)
from obsbench_servers.store.reader import iter_byte_blocks

_MISSING: Any = object()
TS_KEYS = ("ts", "timestamp", "time", "@timestamp", "datetime", "date", "t")
MESSAGE_KEYS = ("message", "msg", "log", "body", "text", "@message", "event")
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "loglevel", "log.level", "severity_text",
              "severityText", "log_level")
SERVICE_KEYS = ("service", "service.name", "service_name", "serviceName", "app", "application")
TRACE_KEYS = ("trace_id", "traceId", "traceID", "trace.id")
SPAN_KEYS = ("span_id", "spanId", "spanID", "span.id")
POD_KEYS = ("pod", "pod_name", "k8s.pod.name", "kubernetes.pod_name", "kubernetes.pod.name")
_ALL_KEYS = (TS_KEYS, MESSAGE_KEYS, LEVEL_KEYS, SERVICE_KEYS, TRACE_KEYS, SPAN_KEYS, POD_KEYS)
CANONICAL = frozenset(keys[0] for keys in _ALL_KEYS)
ALIASES = frozenset(k for keys in _ALL_KEYS for k in keys[1:])

_HEX32 = re.compile(r"[0-9a-f]{32}").fullmatch
_HEX16 = re.compile(r"[0-9a-f]{16}").fullmatch


def _pop_alias(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys[1:]:
        v = d.pop(k, _MISSING)
        if v is not _MISSING:
            return v
    return _MISSING


class _JsonlFile:
    """One file's import state: caches and the counters behind end-of-file warnings."""

    def __init__(self, path: Path, ctx: ImportContext) -> None:
        self.path = path
        self.ctx = ctx
        self.writer = ctx.writer("logs")
        self.source = ctx.current.path
        self.level_cache: dict[Any, tuple[str | None, bool]] = {}
        self.unknown_levels: dict[str, int] = {}
        self.sec_cache: dict[str, int] = {}
        self.no_message = 0
        self.first_no_message = 0
        self.bad_ids = 0
        self.first_bad_id = 0
        self.bad_utf8 = 0
        self.first_bad_utf8 = 0

    def run(self) -> None:
        for first, block in iter_byte_blocks(self.path):
            if not self.vector_block(block):
                self.python_block(first, block.split(b"\n"))
        self.finish()

    def level(self, raw: Any, line: int) -> str | None:
        try:
            norm, known = self.level_cache[raw]
        except KeyError:
            norm, known = self.level_cache[raw] = normalize_level(raw)
        except TypeError:  # unhashable: a list or an object as level
            return dumps(raw)
        if not known and norm is not None:
            self.unknown_levels.setdefault(norm, line)
        return norm

    # -- the fast path -------------------------------------------------------------------------
    def vector_block(self, block: bytes) -> bool:
        """Import a block with Arrow and DuckDB; False when it must be read line by line."""
        if not block.strip():
            return True
        try:
            block.decode("utf-8")  # Arrow's reader does not check; DuckDB would refuse the batch
        except UnicodeDecodeError:
            return False
        try:
            table = pj.read_json(io.BytesIO(block))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        names = table.column_names
        if "ts" not in names or "message" not in names or ALIASES.intersection(names):
            return False
        ts = _vector_ts(table["ts"])
        msg = table["message"]
        if ts is None or msg.type != pa.string() or msg.null_count:
            return False
        cols: dict[str, Any] = {"ts_ns": ts, "message": msg}
        for name in ("service", "pod", "level", "trace_id", "span_id"):
            col = table[name] if name in names else None
            if col is None or col.type == pa.null():
                cols[name] = pa.nulls(table.num_rows, pa.string())
                continue
            if col.type != pa.string():
                return False
            cols[name] = col
        if cols["level"].null_count < table.num_rows:
            enc = pc.dictionary_encode(cols["level"]).combine_chunks()
            mapped = []
            for raw in enc.dictionary.to_pylist():
                norm, known = normalize_level(raw)
                if not known:
                    return False
                mapped.append(norm)
            cols["level"] = pc.take(pa.array(mapped, pa.string()), enc.indices)
        for name, width, pattern in (("trace_id", 32, "^[0-9a-f]{32}$"),
                                     ("span_id", 16, "^[0-9a-f]{16}$")):
            col = cols[name]
            if col.null_count < len(col):
                if not pc.all(pc.match_substring_regex(col, pattern)).as_py():
                    return False
                cols[name] = pc.if_else(pc.equal(col, "0" * width),
                                        pa.scalar(None, pa.string()), col)
        extras = [n for n in names if n not in CANONICAL and table[n].type != pa.null()]
        if any(not _plain_type(table[n].type) for n in extras):
            return False
        source_cols = {k: cols[k] for k in ("ts_ns", "service", "level", "message", "trace_id",
                                            "span_id", "pod")}
        for i, n in enumerate(extras):
            source_cols[f"e{i}"] = table[n]
        if extras:
            packed = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" := e{i}'
                               for i, n in enumerate(extras))
            labels = f"to_json(struct_pack({packed}))"
            if any(table[n].null_count or pa.types.is_struct(table[n].type) for n in extras):
                labels = f"NULLIF(json_merge_patch('{{}}', {labels}), '{{}}')"
        else:
            labels = "NULL"
        select = ("SELECT ts_ns, service, level, message, trace_id, span_id, pod, "
                  f"{labels}, ? FROM _obsbench_src")
        n = self.writer.insert_select(pa.table(source_cols), select, [self.source])
        self.ctx.count("logs", n)
        return True

    # -- the careful path ----------------------------------------------------------------------
    def python_block(self, first: int, lines: list[bytes]) -> None:
        ctx = self.ctx
        loads = orjson.loads
        sec_cache = self.sec_cache
        ts_c: list[int | None] = []
        svc_c: list[Any] = []
        lvl_c: list[Any] = []
        msg_c: list[Any] = []
        tid_c: list[Any] = []
        sid_c: list[Any] = []
        pod_c: list[Any] = []
        lab_c: list[Any] = []
        n = first - 1
        for line in lines:
            n += 1
            if not line or line.isspace():
                continue
            try:
                d = loads(line)
            except orjson.JSONDecodeError as exc:
                d = self.repaired(line, n)
                if d is None:
                    ctx.skip(n, f"invalid JSON: {describe_json_error(exc)}")
                    continue
            if type(d) is not dict:
                ctx.skip(n, f"not a JSON object: the line holds a {type(d).__name__}")
                continue
            ts = d.pop("ts", _MISSING)
            if ts is _MISSING:
                ts = _pop_alias(d, TS_KEYS)
                if ts is _MISSING:
                    ctx.skip(n, "no timestamp: none of " + ", ".join(TS_KEYS))
                    continue
            # Fast path: "YYYY-MM-DDTHH:MM:SS[.fff]Z" with its second already seen.
            base = sec_cache.get(ts[:19]) if type(ts) is str and ts[-1:] == "Z" else None
            ts_ns: int | None
            if base is not None and (len(ts) == 20 or ts[19] == "."):
                frac = ts[20:-1]
                ts_ns = base + (int((frac + "000000000")[:9]) if frac else 0)
            else:
                try:
                    ts_ns = time_ns(ts)
                except (TimeParseError, ValueError, OverflowError):
                    ts_ns = None
                if ts_ns is None:
                    ctx.skip(n, f"bad timestamp: {str(ts)[:60]!r}")
                    continue
                if type(ts) is str and len(ts) >= 20 and ts[-1] == "Z" and ts[13] == ":":
                    if len(sec_cache) > 100_000:
                        sec_cache.clear()
                    sec_cache[ts[:19]] = ts_ns - ts_ns % 1_000_000_000
            msg = d.pop("message", _MISSING)
            if msg is _MISSING:
                msg = _pop_alias(d, MESSAGE_KEYS)
                if msg is _MISSING:
                    msg = ""
                    self.no_message += 1
                    self.first_no_message = self.first_no_message or n
            if type(msg) is not str:
                msg = dumps(msg) if msg is not None else ""
            level = d.pop("level", _MISSING)
            if level is _MISSING:
                level = _pop_alias(d, LEVEL_KEYS)
            level = None if level is _MISSING or level is None else self.level(level, n)
            service = d.pop("service", _MISSING)
            if service is _MISSING:
                service = _pop_alias(d, SERVICE_KEYS)
            tid = d.pop("trace_id", _MISSING)
            if tid is _MISSING:
                tid = _pop_alias(d, TRACE_KEYS)
            sid = d.pop("span_id", _MISSING)
            if sid is _MISSING:
                sid = _pop_alias(d, SPAN_KEYS)
            pod = d.pop("pod", _MISSING)
            if pod is _MISSING:
                pod = _pop_alias(d, POD_KEYS)
            if tid is _MISSING or tid is None:
                tid = None
            elif not (type(tid) is str and len(tid) == 32 and _HEX32(tid)
                      and tid.count("0") != 32):
                tid = self.id_or_label(tid, TRACE_ID_HEX, "trace_id", d, n)
            if sid is _MISSING or sid is None:
                sid = None
            elif not (type(sid) is str and len(sid) == 16 and _HEX16(sid)
                      and sid.count("0") != 16):
                sid = self.id_or_label(sid, SPAN_ID_HEX, "span_id", d, n)
            if d and None in d.values():
                d = {k: v for k, v in d.items() if v is not None}
            ts_c.append(ts_ns)
            svc_c.append(_text(service))
            lvl_c.append(level)
            msg_c.append(msg)
            tid_c.append(tid)
            sid_c.append(sid)
            pod_c.append(_text(pod))
            lab_c.append(dumps(d) if d else None)
        if ts_c:
            self.writer.append_columns([ts_c, svc_c, lvl_c, msg_c, tid_c, sid_c, pod_c, lab_c,
                                        [self.source] * len(ts_c)])
            ctx.count("logs", len(ts_c))

    def repaired(self, line: bytes, n: int) -> Any:
        """A line that is JSON once its invalid UTF-8 bytes are replaced (U+FFFD), or None."""
        try:
            line.decode("utf-8")
            return None  # valid UTF-8: the JSON itself is broken
        except UnicodeDecodeError:
            pass
        try:
            d = orjson.loads(line.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            return None
        self.bad_utf8 += 1
        self.first_bad_utf8 = self.first_bad_utf8 or n
        return d

    def id_or_label(self, raw: Any, width: int, key: str, labels: dict[str, Any],
                    line: int) -> str | None:
        """A non-canonical id (upper case, short, base64) normalised; a bad one kept as a label."""
        try:
            return hex_id(raw, width)
        except BadIdError:
            labels[key] = raw
            self.bad_ids += 1
            self.first_bad_id = self.first_bad_id or line
            return None

    def finish(self) -> None:
        ctx = self.ctx
        for word, line in self.unknown_levels.items():
            ctx.warn(line, f"unknown level: {word!r} kept as written (known: trace, debug, info, "
                     "warn, error, fatal and their aliases)")
        if self.no_message:
            ctx.warn(self.first_no_message, f"no message: {self.no_message} records had none of "
                     f"{', '.join(MESSAGE_KEYS)}; imported with an empty message")
        if self.bad_utf8:
            ctx.warn(self.first_bad_utf8, f"invalid UTF-8: {self.bad_utf8} records had bytes that "
                     "are not UTF-8; imported with U+FFFD in their place")
        if self.bad_ids:
            ctx.warn(self.first_bad_id, f"bad trace or span id: {self.bad_ids} records had ids "
                     "that are neither hex nor base64; kept as labels")


def _text(value: Any) -> str | None:
    if value is _MISSING or value is None:
        return None
    return value if type(value) is str else dumps(value)


def _plain_type(t: pa.DataType) -> bool:
    """Types whose JSON text DuckDB writes back exactly as it was read."""
    if pa.types.is_string(t) or pa.types.is_int64(t) or pa.types.is_float64(t) \
            or pa.types.is_boolean(t):
        return True
    if pa.types.is_list(t):
        return _plain_type(t.value_type) and not pa.types.is_struct(t.value_type)
    if pa.types.is_struct(t):
        return all(_plain_type(f.type) for f in t)
    return False


def _vector_ts(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The ts column as int64 ns, or None when the careful path must decide."""
    if col.null_count:
        return None
    t = col.type
    try:
        if pa.types.is_string(t):
            return pc.cast(pc.cast(col, pa.timestamp("ns", tz="UTC")), pa.int64())
        if pa.types.is_timestamp(t):
            return pc.cast(pc.cast(col, pa.timestamp("ns")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pa.types.is_int64(t) and len(col):
        mm = pc.min_max(col).as_py()
        top = max(abs(mm["min"]), abs(mm["max"]))
        low = min(abs(mm["min"]), abs(mm["max"]))
        lower = 0
        for limit, mul in (*EPOCH_BANDS, (None, 1)):
            if limit is None or top < limit:
                if low < lower:
                    return None  # the block mixes units: one by one
                return pc.multiply_checked(col, mul)
            lower = limit
    return None


def import_jsonl_logs(path: Path, ctx: ImportContext) -> None:
    """Stream a JSONL log file; a bad line is skipped with its line number and why."""
    _JsonlFile(path, ctx).run()
