"""A LogQL subset for the embedded backend: parsed, validated, then run on DuckDB.

Supported (the part of LogQL an investigation of log lines uses):

- stream selector ``{service="user-api", level=~"warn|error", pod!="x", ns!~"kube-.*"}``
  with all four matchers; label names are the store's columns (service, level,
  pod, trace_id, span_id) or any label the bundle carried;
- line filters ``|= "text"``, ``!= "text"``, ``|~ "re"``, ``!~ "re"`` (RE2);
- parsers ``| json`` and ``| logfmt``, which add the line's fields as labels;
- label filters ``| status >= 500``, ``| route = "/v1/x"``, ``| err =~ "time.*"``,
  also joined with ``and``/``or`` in one stage only as separate stages.

Anything else (metric queries like ``rate(...)``, ``line_format``, ``unwrap``)
is refused with what is supported, never half-run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.saferegex import check_regex

MATCH_OPS = ("=~", "!~", "!=", "=")
LINE_OPS = ("|=", "!=", "|~", "!~")
CMP_OPS = (">=", "<=", "==", "!=", "=~", "!~", ">", "<", "=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:ms|s|m|h|[kKMG]i?B?)?")
SUPPORTED = ('{label="v", label=~"re", label!="v", label!~"re"} then |= "text", != "text", '
             '|~ "re", !~ "re", | json, | logfmt, | label op value (op: = != =~ !~ > >= < <=)')


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class LineFilter:
    op: str
    value: str


@dataclass(frozen=True)
class Parser:
    kind: str  # json | logfmt


@dataclass(frozen=True)
class LabelFilter:
    label: str
    op: str
    value: str
    numeric: float | None = None


Stage = LineFilter | Parser | LabelFilter


@dataclass
class LogQuery:
    matchers: list[Matcher]
    stages: list[Stage] = field(default_factory=list)

    @property
    def pushdown_filters(self) -> list[LineFilter]:
        """Line filters before any parser or label filter (they run in SQL)."""
        out = []
        for st in self.stages:
            if not isinstance(st, LineFilter):
                break
            out.append(st)
        return out

    @property
    def python_stages(self) -> list[Stage]:
        return self.stages[len(self.pushdown_filters):]


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> BadInputError:
        near = self.text[self.pos:self.pos + 20] or "end of query"
        return BadInputError(
            f"invalid LogQL at position {self.pos}: {what} (near {near!r})",
            f"the embedded backend supports: {SUPPORTED}; "
            'e.g. {service="user-api"} |= "timeout" | json | status >= 500',
        )

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def eof(self) -> bool:
        self.ws()
        return self.pos >= len(self.text)

    def peek(self, s: str) -> bool:
        self.ws()
        return self.text.startswith(s, self.pos)

    def take(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str) -> None:
        if not self.take(s):
            raise self.error(f"expected {s!r}")

    def name(self) -> str:
        self.ws()
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.error("expected a label name")
        self.pos = m.end()
        return m.group(0)

    def op(self, ops: tuple[str, ...]) -> str:
        self.ws()
        for o in ops:
            if self.text.startswith(o, self.pos):
                self.pos += len(o)
                return o
        raise self.error(f"expected one of {' '.join(ops)}")

    def string(self) -> str:
        self.ws()
        if self.pos >= len(self.text):
            raise self.error("expected a quoted string")
        quote = self.text[self.pos]
        if quote == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise self.error("unterminated `string`")
            value = self.text[self.pos + 1:end]
            self.pos = end + 1
            return value
        if quote != '"':
            raise self.error('expected a "quoted" string')
        out: list[str] = []
        i = self.pos + 1
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/"}
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\" and i + 1 < len(self.text):
                nxt = self.text[i + 1]
                # Unknown escapes keep their backslash, so regexes like "\d" survive.
                out.append(escapes.get(nxt, "\\" + nxt))
                i += 2
                continue
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            out.append(ch)
            i += 1
        raise self.error('unterminated "string"')


def parse(text: str) -> LogQuery:
    """Parse a LogQL log query (the subset above) or raise ``BadInputError``."""
    if not text or not text.strip():
        raise BadInputError("empty LogQL query", 'start with a stream selector, e.g. {service="x"}')
    lx = _Lexer(text.strip())
    if not lx.peek("{"):
        if re.match(r"\s*(sum|rate|count_over_time|bytes_rate|avg|max|min|topk|quantile"
                    r"|count|sort|bytes_over_time|absent_over_time)\b", text):
            raise BadInputError(
                "metric LogQL queries (rate, count_over_time, sum by ...) are not run by "
                "search_logs",
                "search with a log query ({...} |= ...); for volume over time use "
                "get_log_volume_anomalies",
            )
        raise lx.error("a query starts with a stream selector {label=\"value\"}")
    lx.expect("{")
    matchers: list[Matcher] = []
    if not lx.take("}"):
        while True:
            label = lx.name()
            op = lx.op(MATCH_OPS)
            value = lx.string()
            if op in ("=~", "!~"):
                check_regex(value, what=f"regex for label {label}")
            matchers.append(Matcher(label, op, value))
            if lx.take("}"):
                break
            lx.expect(",")
    q = LogQuery(matchers)
    while not lx.eof():
        if lx.peek("|=") or lx.peek("!=") or lx.peek("|~") or lx.peek("!~"):
            op = lx.op(LINE_OPS)
            value = lx.string()
            if op in ("|~", "!~"):
                check_regex(value, what="line filter regex")
            q.stages.append(LineFilter(op, value))
            continue
        if lx.take("|"):
            lx.ws()
            word = _NAME.match(lx.text, lx.pos)
            if word and word.group(0) in ("json", "logfmt"):
                lx.pos = word.end()
                q.stages.append(Parser(word.group(0)))
                continue
            if word and word.group(0) in ("line_format", "label_format", "unwrap", "pattern",
                                          "regexp", "unpack", "drop", "keep", "decolorize"):
                raise BadInputError(
                    f"LogQL stage '| {word.group(0)}' is not supported by the embedded backend",
                    f"supported: {SUPPORTED}",
                )
            label = lx.name()
            op = lx.op(CMP_OPS)
            lx.ws()
            numeric: float | None = None
            if lx.peek('"') or lx.peek("`"):
                value = lx.string()
            else:
                m = _NUMBER.match(lx.text, lx.pos)
                if not m:
                    raise lx.error("expected a number or a quoted string")
                lx.pos = m.end()
                value = m.group(0)
                num = re.match(r"-?\d+(?:\.\d+)?", value)
                numeric = float(num.group(0)) if num else None
            if op in ("=~", "!~"):
                check_regex(value, what=f"regex for label {label}")
            if op in (">", ">=", "<", "<=") and numeric is None:
                try:
                    numeric = float(value)
                except ValueError:
                    raise BadInputError(
                        f"label filter {label} {op} {value!r} compares a non-number",
                        "use = or =~ for strings, > >= < <= for numbers",
                    ) from None
            q.stages.append(LabelFilter(label, "=" if op == "==" else op, value, numeric))
            continue
        raise lx.error("expected a line filter (|= != |~ !~) or a pipe stage (| json ...)")
    return q


def parse_logfmt(line: str) -> dict[str, str]:
    """``key=value key2="quoted value"`` pairs of a line, in one linear pass.

    (A regex with a repeated name class is quadratic on a long run of word
    characters; a 1 MB line must not stall the server.)
    """
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        start = i
        while i < n and line[i] not in " =":
            i += 1
        key = line[start:i]
        if i >= n or line[i] != "=":
            continue
        i += 1
        if i < n and line[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(line[i])
                i += 1
            i += 1
            value = "".join(buf)
        else:
            vstart = i
            while i < n and line[i] != " ":
                i += 1
            value = line[vstart:i]
        if key and _NAME.fullmatch(key):
            out[key] = value
    return out
