"""The LogQL subset parser and the linear-time regex wrapper."""

from __future__ import annotations

import re

import pytest

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.saferegex import compile_regex, escape
from obsbench_servers.common.suggest import close_names, did_you_mean
from obsbench_servers.logs import logql
from obsbench_servers.logs.backend import parse_levels


def test_parse_full_pipeline() -> None:
    q = logql.parse('{service="a\\"b", level=~"warn|error", pod!="x", ns!~`kube-.*`}'
                    ' |= "time out" != `debug` |~ "conn(ection)?" !~ "^GET"'
                    ' | json | status >= 500 | route = "/v1" | err =~ "dead.*" | lat < 1.5s')
    assert [(m.label, m.op, m.value) for m in q.matchers] == [
        ("service", "=", 'a"b'), ("level", "=~", "warn|error"), ("pod", "!=", "x"),
        ("ns", "!~", "kube-.*")]
    assert [type(s).__name__ for s in q.stages] == [
        "LineFilter", "LineFilter", "LineFilter", "LineFilter", "Parser", "LabelFilter",
        "LabelFilter", "LabelFilter", "LabelFilter"]
    assert len(q.pushdown_filters) == 4
    last = q.stages[-1]
    assert isinstance(last, logql.LabelFilter) and last.numeric == 1.5


@pytest.mark.parametrize(("query", "needle"), [
    ("", "empty LogQL"),
    ('service="x"', "stream selector"),
    ('{service="x"', "expected ','"),
    ('{service="x} |= "y"', "expected ','"),
    ('{service=x}', 'expected a "quoted" string'),
    ('{service="x"} |= "unterminated', "unterminated"),
    ('{service="x"} | unwrap latency', "not supported"),
    ('sum by (x) (count_over_time({a="b"}[5m]))', "metric LogQL"),
    ('{service="x"} | status > "abc"', "non-number"),
    ('{service="x"} |~ "(?=x)"', "lookahead"),
    ('{service="x"} foo', "line filter"),
])
def test_parse_errors_name_the_problem(query: str, needle: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(needle)) as info:
        logql.parse(query)
    assert info.value.hint


def test_logfmt_is_linear_and_correct() -> None:
    assert logql.parse_logfmt('a=1 b="x y" c= d="q\\"z" junk e=2') == {
        "a": "1", "b": "x y", "c": "", "d": 'q"z', "e": "2"}
    assert logql.parse_logfmt("x" * (1 << 20)) == {}


def test_catastrophic_regex_is_linear() -> None:
    rx = compile_regex("(a+)+$")
    assert rx.search("a" * 200_000 + "!") is False  # exponential for Python's re
    assert compile_regex("(?i)TIMEOUT").search("read timeout")
    assert compile_regex("timeout", ignore_case=True).search("TIMEOUT")
    assert escape("a.b(c)") == "a\\.b\\(c\\)"


@pytest.mark.parametrize(("pattern", "needle"), [
    ("a(", "missing )"), ("(a)\\1", "backreferences"), ("x" * 3000, "characters long"),
    ("", "empty"),
])
def test_regex_errors(pattern: str, needle: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(needle)):
        compile_regex(pattern)


def test_levels_and_suggestions() -> None:
    assert parse_levels("warn+") == ("warn", "error", "fatal")
    assert parse_levels("WARNING,err") == ("warn", "error")
    assert parse_levels(None) is None
    assert close_names("user-ap", ["user-api", "frontend"]) == ["user-api"]
    assert "known services: a, b" in did_you_mean("zzz", ["b", "a"], "service")
