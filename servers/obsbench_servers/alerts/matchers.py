"""Alertmanager label matchers: ``alertname="HighErrorRate"``, ``service=~"user-.*"``.

One syntax for filtering alerts and for silences, the one Alertmanager, amtool and
Grafana use: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``,
values optionally double-quoted, several matchers separated by commas, optionally
inside braces. Regexes are RE2 (Go's syntax, as Alertmanager runs them), anchored
at both ends as Alertmanager anchors them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.saferegex import SafeRegex, compile_regex

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ONE = re.compile(
    rf'\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*'
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^,{}"]*)\s*(?:,|$)'
)
_EXAMPLE = 'alertname="HighErrorRate", service=~"user-.*"'


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``matches`` follows Alertmanager (a missing label is "")."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @property
    def op(self) -> str:
        return {(False, True): "=", (False, False): "!=", (True, True): "=~",
                (True, False): "!~"}[(self.is_regex, self.is_equal)]

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    def _regex(self) -> SafeRegex:
        return compile_regex(self.value, what=f"regex of matcher {self.name}")

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.name, "")
        hit = self._regex().fullmatch(value) if self.is_regex else value == self.value
        return hit if self.is_equal else not hit

    def matches_empty(self) -> bool:
        """True when the matcher also matches alerts without the label (too broad alone)."""
        return self.matches({})

    def to_api(self) -> dict[str, Any]:
        """The Alertmanager API v2 ``matchers`` item."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}

    @classmethod
    def from_api(cls, m: dict[str, Any]) -> Matcher:
        return cls(str(m.get("name", "")), str(m.get("value", "")), bool(m.get("isRegex")),
                   bool(m.get("isEqual", True)))


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), body)
    return raw


def parse_matchers(spec: str | list[str] | None) -> list[Matcher]:
    """Parse matchers from one string (comma-separated, braces optional) or a list of strings."""
    if spec is None:
        return []
    parts = [spec] if isinstance(spec, str) else list(spec)
    out: list[Matcher] = []
    for part in parts:
        text = str(part).strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _ONE.match(text, pos)
            if m is None or m.end() == pos:
                raise BadInputError(
                    f"cannot read matcher at {text[pos:pos + 40]!r}",
                    f"write label matchers such as {_EXAMPLE} (operators = != =~ !~)",
                )
            matcher = Matcher(m.group("name"), _unquote(m.group("value")),
                              is_regex=m.group("op") in ("=~", "!~"),
                              is_equal=m.group("op") in ("=", "=~"))
            if matcher.is_regex:
                matcher._regex()  # validate now: a bad regex is bad input, not a crash later
            out.append(matcher)
            pos = m.end()
    return out


def match_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def to_filter_params(matchers: list[Matcher]) -> list[tuple[str, str]]:
    """``filter=`` query parameters for Alertmanager's ``GET /api/v2/alerts``."""
    return [("filter", str(m)) for m in matchers]
