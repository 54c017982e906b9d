"""What several importers share: ids, times, levels, OTLP values, and JSON streaming.

Every format spells the same facts differently (a trace id in hex or base64, a
time in RFC 3339 or epoch milliseconds, a level as ``WARNING`` or ``40``). The
store holds one spelling of each, so the servers never have to guess; this
module is where the guessing happens, once.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson
import orjson
from ijson.common import ObjectBuilder

from obsbench_servers.common.timeutil import TimeParseError, epoch_to_ns, parse_rfc3339_ns
from obsbench_servers.store.reader import TruncatedInput, open_binary

# -- JSON text -------------------------------------------------------------------------------


def _default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(obj).decode()
    return str(obj)


def dumps(obj: Any) -> str:
    """Compact JSON text (NaN becomes null, as JSON has no NaN)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


def dumps_sorted(obj: Any) -> str:
    """JSON text with sorted keys, for label sets that identify something."""
    return orjson.dumps(
        obj, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
    ).decode()


def dumps_or_none(obj: Any) -> str | None:
    """JSON text, or None for an empty or missing value (keeps the column NULL)."""
    return dumps(obj) if obj else None


def ijson_error_text(exc: Exception) -> str:
    """The first line of an ijson/yajl error (the rest is an ASCII-art pointer)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def describe_json_error(exc: orjson.JSONDecodeError) -> str:
    """``Expecting ',' delimiter at col 17`` rather than a line/char dump."""
    msg = getattr(exc, "msg", str(exc))
    col = getattr(exc, "colno", None)
    return f"{msg} at col {col}" if col else str(msg)


# -- ids -------------------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
TRACE_ID_HEX = 32
SPAN_ID_HEX = 16


class BadIdError(ValueError):
    """An id that is neither hex nor base64 of the right length."""


def hex_id(value: Any, width: int) -> str | None:
    """A trace or span id as lower-case hex left-padded to ``width`` digits; None when absent.

    Hex is the OTLP/JSON and Jaeger spelling; base64 (what a protobuf-to-JSON
    converter writes) is accepted when the text is clearly not hex. Jaeger
    drops leading zeros (``a68c6983a6d81a2``) and uses 64-bit trace ids: both
    are padded, so a trace id is always 32 digits (the W3C/OTel form) and a
    span id 16. An all-zero id means "none" (OTLP's invalid id).
    """
    if value is None:
        return None
    if type(value) is int:  # a JSON number: its value, not its decimal digits, is the id
        value = f"{value:x}"
    text = value if type(value) is str else str(value)
    if len(text) == width and _LOWER_HEX.fullmatch(text):  # the common, canonical case
        return None if text.count("0") == width else text
    text = text.strip()
    if not text:
        return None
    if _HEX.fullmatch(text):
        out = text.lower()
    else:
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                                   if ("-" in text or "_" in text) else None, validate=True)
        except (binascii.Error, ValueError):
            raise BadIdError(f"not hex or base64: {text[:60]!r}") from None
        if len(raw) * 2 != width:  # base64 ids are never shortened
            raise BadIdError(
                f"base64 id of {len(raw)} bytes, expected {width // 2}: {text[:60]!r}")
        out = raw.hex()
    if len(out) > width:
        raise BadIdError(f"{len(out)} hex digits, expected at most {width}: {text[:60]!r}")
    if out.count("0") == len(out):
        return None
    return out.zfill(width)


# -- times -----------------------------------------------------------------------------------

_TAIL = re.compile(r"(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$")
_SECOND_CACHE: dict[str, int] = {}
_SECOND_CACHE_MAX = 200_000


def rfc3339_ns(text: str) -> int:
    """RFC 3339 / ISO 8601 to epoch ns, fast for the common ``YYYY-MM-DDTHH:MM:SS[.f][Z|±hh:mm]``.

    A log file has one distinct second per many lines, so the calendar part is
    cached by its 19 leading characters and only the fraction and offset are
    read per call. Anything unusual falls back to the general parser. Raises
    TimeParseError.
    """
    if len(text) >= 19 and text[13:14] == ":" and text[16:17] == ":":
        head = text[:19]
        base = _SECOND_CACHE.get(head)
        if base is None:
            try:
                dt = datetime.fromisoformat(head)
            except ValueError:
                return parse_rfc3339_ns(text)
            base = calendar.timegm(dt.timetuple())
            if len(_SECOND_CACHE) >= _SECOND_CACHE_MAX:
                _SECOND_CACHE.clear()
            _SECOND_CACHE[head] = base
        m = _TAIL.match(text, 19)
        if m is None:
            return parse_rfc3339_ns(text)
        frac, _z, sign, hh, mm = m.groups()
        ns = base * 1_000_000_000
        if frac:
            ns += int((frac + "000000000")[:9])
        if sign:
            off = (int(hh) * 3600 + int(mm) * 60) * 1_000_000_000
            ns = ns - off if sign == "+" else ns + off
        return ns
    return parse_rfc3339_ns(text)


def time_ns(value: Any) -> int | None:
    """Any time a payload may hold (RFC 3339 text, epoch s/ms/us/ns number or digits) as ns.

    None for absent, empty, or Go's zero time (``0001-01-01T00:00:00Z``, which
    Alertmanager and Kubernetes write for "never"). Raises TimeParseError.
    """
    if type(value) is str and len(value) > 10 and value[4] == "-":
        return None if value.startswith("0001-01-01") else rfc3339_ns(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TimeParseError(f"not a time: {value!r}")
    if isinstance(value, int):
        return epoch_int_ns(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise TimeParseError("not a time: NaN")
        return epoch_to_ns(value)
    text = str(value).strip()
    if text.startswith("0001-01-01"):
        return None
    if text.lstrip("-").isdigit():
        return epoch_int_ns(int(text))
    if text[:1].isdigit() and _is_number(text):
        return epoch_to_ns(float(text))
    return rfc3339_ns(text)


# Epoch magnitudes, as common.timeutil reads them: s below 1e11, ms below 1e14, us below 1e17.
EPOCH_BANDS = ((10**11, 1_000_000_000), (10**14, 1_000_000), (10**17, 1_000))


def epoch_int_ns(value: int) -> int:
    """An integer epoch in s, ms, us or ns (by magnitude) as ns, exactly (no float rounding)."""
    mag = abs(value)
    for limit, mul in EPOCH_BANDS:
        if mag < limit:
            return value * mul
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def nanos(value: Any) -> int | None:
    """An OTLP ``*UnixNano`` field (string or number) as int; None when absent or zero."""
    if value is None or value == "":
        return None
    n = int(value)
    return n or None


# -- levels ----------------------------------------------------------------------------------

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_LEVEL_WORDS = {
    "trace": "trace", "trc": "trace", "finest": "trace", "t": "trace",
    "debug": "debug", "dbg": "debug", "fine": "debug", "finer": "debug", "verbose": "debug",
    "d": "debug", "config": "debug",
    "info": "info", "inf": "info", "information": "info", "informational": "info",
    "notice": "info", "i": "info", "normal": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn", "w": "warn",
    "error": "error", "err": "error", "eror": "error", "e": "error", "severe": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "dpanic": "fatal",
    "emerg": "fatal", "emergency": "fatal", "alert": "fatal", "f": "fatal",
}


def otel_severity_level(number: int) -> str | None:
    """OTLP SeverityNumber (1-24) to a level: 1-4 trace, 5-8 debug, ... 21-24 fatal."""
    if 1 <= number <= 24:
        return LEVELS[(number - 1) // 4]
    return None


def normalize_level(raw: Any) -> tuple[str | None, bool]:
    """``(level, known)``: a level word or number as one of LEVELS.

    Numbers follow the pino/bunyan convention (10 trace ... 60 fatal), the
    common numeric one in JSON logs. Unknown words are kept lower-cased and
    reported as not known, so nothing is lost.
    """
    if raw is None or raw == "":
        return None, True
    if isinstance(raw, bool):
        return str(raw).lower(), False
    if isinstance(raw, (int, float)):
        n = int(raw)
        if 10 <= n <= 60:
            return LEVELS[min(5, n // 10 - 1)], True
        return str(raw), False
    text = str(raw).strip().lower()
    hit = _LEVEL_WORDS.get(text)
    if hit:
        return hit, True
    stripped = text.rstrip("0123456789").rstrip("_- ")  # OTel's INFO2, WARN3 ...
    hit = _LEVEL_WORDS.get(stripped)
    if hit:
        return hit, True
    if text.isdigit():
        return normalize_level(int(text))
    return text, False


# -- OTLP AnyValue and attributes --------------------------------------------------------------


def any_value(v: Any) -> Any:
    """An OTLP AnyValue (camelCase or snake_case JSON) as a plain JSON value.

    int64 values arrive as strings and become ints; doubles may be the strings
    ``NaN``/``Infinity``; bytes stay base64 text; arrays and kvlists recurse.
    """
    if not isinstance(v, dict) or not v:
        return None
    for key, val in v.items():
        if key in ("stringValue", "string_value"):
            return val
        if key in ("intValue", "int_value"):
            return int(val)
        if key in ("doubleValue", "double_value"):
            return float(val)
        if key in ("boolValue", "bool_value"):
            return bool(val) if not isinstance(val, str) else val.lower() == "true"
        if key in ("arrayValue", "array_value"):
            return [any_value(x) for x in (val or {}).get("values", ())]
        if key in ("kvlistValue", "kvlist_value"):
            return attributes((val or {}).get("values", ()))
        if key in ("bytesValue", "bytes_value"):
            return val
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    """An OTLP ``[{key, value}]`` list as a dict (later duplicates win, as in the SDKs)."""
    out: dict[str, Any] = {}
    if not kvs:
        return out
    for kv in kvs:
        key = kv.get("key")
        if key is not None:
            out[key] = any_value(kv.get("value"))
    return out


def first(d: dict[str, Any], *keys: str) -> Any:
    """The first present, non-None value among ``keys`` (camelCase and snake_case spellings)."""
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


# -- streaming JSON ----------------------------------------------------------------------------

_OPEN = ("start_map", "start_array")
_CLOSE = ("end_map", "end_array")


def stream_json(
    path: Path, wanted: frozenset[str], top_keys: list[str] | None = None
) -> Iterator[tuple[str, Any]]:
    """Yield ``(prefix, value)`` for every value at one of the ``wanted`` ijson prefixes.

    The document is read as a stream: memory is bounded by the largest wanted
    value, never the file. Several concatenated documents are accepted. When
    ``top_keys`` is given, the top-level keys seen are appended to it (to tell
    shapes apart). Raises TruncatedInput on broken JSON or compression, after
    everything before the break was yielded.
    """
    try:
        with open_binary(path) as f:
            builder: ObjectBuilder | None = None
            depth = 0
            current = ""
            for prefix, event, value in ijson.parse(f, use_float=True, multiple_values=True):
                if builder is not None:
                    builder.event(event, value)
                    if event in _OPEN:
                        depth += 1
                    elif event in _CLOSE:
                        depth -= 1
                        if depth == 0:
                            yield current, builder.value
                            builder = None
                    continue
                if prefix in wanted:
                    if event in _OPEN:
                        builder = ObjectBuilder()
                        builder.event(event, value)
                        depth = 1
                        current = prefix
                    elif event != "map_key" and event not in _CLOSE:
                        yield prefix, value
                elif top_keys is not None and event == "map_key" and prefix == "":
                    top_keys.append(value)
    except ijson.JSONError as exc:
        raise TruncatedInput(f"invalid JSON: {ijson_error_text(exc)}") from exc
    except (EOFError, OSError) as exc:
        raise TruncatedInput(f"compressed stream broken: {exc}") from exc


def first_json_byte(path: Path) -> bytes:
    """The first non-whitespace byte of the (decompressed) file, or b"" when empty."""
    try:
        with open_binary(path) as f:
            while True:
                chunk = f.read(4096)
                if not chunk:
                    return b""
                stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")
                if stripped:
                    return stripped[:1]
    except (EOFError, OSError) as exc:
        raise TruncatedInput(f"compressed stream broken: {exc}") from exc


def load_small_json(path: Path) -> Any:
    """A whole (small) JSON document, streamed through ijson: a bare object of one record."""
    for _, value in stream_json(path, frozenset({""})):
        return value
    return None
