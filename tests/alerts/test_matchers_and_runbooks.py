"""Matcher parsing and semantics; runbook matching and the guarded runbook_url fetch."""

from __future__ import annotations

import httpx
import pytest

from obsbench_servers.alerts import runbooks as rb
from obsbench_servers.alerts.matchers import Matcher, parse_matchers
from obsbench_servers.alerts.server import check_silence
from obsbench_servers.common.errors import BackendError, BadInputError, GuardError


def test_matcher_forms() -> None:
    ms = parse_matchers('{alertname="HighErrorRate", service=~"user-.*",env!="dev",x!~y}')
    assert [(m.name, m.op, m.value) for m in ms] == [
        ("alertname", "=", "HighErrorRate"), ("service", "=~", "user-.*"),
        ("env", "!=", "dev"), ("x", "!~", "y")]
    assert parse_matchers(["a=b", 'c="d, e"']) == [Matcher("a", "b"), Matcher("c", "d, e")]
    assert parse_matchers('msg="say \\"hi\\""')[0].value == 'say "hi"'
    assert str(Matcher("msg", 'say "hi"')) == 'msg="say \\"hi\\""'
    assert parse_matchers(None) == [] and parse_matchers("") == []


def test_matcher_semantics_follow_alertmanager() -> None:
    labels = {"service": "user-api", "severity": "critical"}
    assert Matcher("service", "user-.*", is_regex=True).matches(labels)
    assert not Matcher("service", "user", is_regex=True).matches(labels)  # anchored
    assert Matcher("team", "", is_equal=True).matches(labels)  # missing label is ""
    assert Matcher("team", "shop", is_equal=False).matches(labels)
    assert Matcher("env", ".*", is_regex=True).matches_empty()


@pytest.mark.parametrize("bad", ['service=~"(a"', "service ~ x", '=x', 'a="unterminated'])
def test_bad_matchers_are_bad_input(bad: str) -> None:
    with pytest.raises(BadInputError):
        parse_matchers(bad)


def test_silence_guards() -> None:
    ms, dur = check_silence('alertname="X"', "90m", "why")
    assert ms == [Matcher("alertname", "X")] and dur == 90 * 60 * 10**9
    for args, msg in (((' ', "1h", "c"), "at least one matcher"),
                      (('env=~".*"', "1h", "c"), "could mute everything"),
                      (('alertname="X"', "8d", "c"), "outside 1s..7d"),
                      (('alertname="X"', "soon", "c"), "cannot read duration"),
                      (('alertname="X"', "1h", " "), "needs a comment")):
        with pytest.raises(BadInputError, match=msg):
            check_silence(*args)


def _book(path: str, alerts: list[str], title: str = "") -> rb.Runbook:
    return rb.Runbook(title or path, path, alerts, "body", "bundle")


def test_runbook_matching_is_loose_but_not_reckless() -> None:
    books = [_book("high-error-rate.md", ["HighErrorRate"], "High error rate"),
             _book("kube-pod-crash-looping.md", ["KubePodCrashLooping"], "Pod crash looping"),
             _book("misc.md", [], "Disk pressure on nodes")]
    assert rb.match("HighErrorRate", books)[0][0] == 1.0
    assert rb.match("high-error-rate", books)[0][1].path == "high-error-rate.md"
    assert rb.match("KubePodCrashloop", books)[0][1].path == "kube-pod-crash-looping.md"
    assert rb.match("DiskPressure", books)[0][1].path == "misc.md"  # by title tokens
    assert rb.match("PostgresDown", books) == []


def test_front_matter_yaml_and_toml() -> None:
    yaml_book = rb.parse_runbook("---\nalerts: [A, B]\nservices: x\n---\n# T\nbody", "p.md",
                                 "runbooks_dir")
    assert yaml_book.alerts == ["A", "B"] and yaml_book.services == ["x"]
    assert yaml_book.title == "T"
    toml_book = rb.parse_runbook('+++\nalerts = ["C"]\ntitle = "TT"\n+++\nbody', "q.md", "x")
    assert toml_book.alerts == ["C"] and toml_book.title == "TT"
    broken = rb.parse_runbook("---\nalerts: [unclosed\n---\nbody", "r.md", "x")
    assert broken.alerts == [] and broken.title == "r"


def test_runbook_url_only_from_allowed_hosts() -> None:
    hits: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        hits.append(str(req.url))
        if req.url.path == "/redirect-out":
            return httpx.Response(302, headers={"Location": "https://evil.example.net/x"})
        if req.url.path == "/redirect-in":
            return httpx.Response(302, headers={"Location": "/page"})
        if req.url.path == "/big":
            return httpx.Response(200, content=b"x" * (rb.FETCH_MAX_BYTES + 10),
                                  headers={"Content-Type": "text/plain"})
        if req.url.path == "/binary":
            return httpx.Response(200, content=b"\x00\x01", headers={
                "Content-Type": "application/octet-stream"})
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=(
            b"<html><head><style>x{}</style><script>alert(1)</script></head><body>"
            b"<h1>High error rate</h1><p>Check the deploys &amp; the pool.</p></body></html>"))

    transport = httpx.MockTransport(handler)
    allowed = ["runbooks.example.com", "*.wiki.example.com"]
    book = rb.fetch_runbook("https://runbooks.example.com/redirect-in", allowed,
                            transport=transport)
    assert book.title == "High error rate" and "Check the deploys & the pool." in book.body
    assert "alert(1)" not in book.body and book.source == "url"
    assert rb.fetch_runbook("https://team.wiki.example.com/p", allowed,
                            transport=transport).title == "High error rate"
    n = len(hits)
    with pytest.raises(GuardError, match="not in allowed_runbook_hosts"):
        rb.fetch_runbook("https://evil.example.net/p", allowed, transport=transport)
    with pytest.raises(GuardError, match="not in allowed_runbook_hosts"):
        rb.fetch_runbook("file:///etc/passwd", allowed, transport=transport)
    assert len(hits) == n, "a disallowed host is never contacted"
    with pytest.raises(GuardError, match="redirects to"):
        rb.fetch_runbook("https://runbooks.example.com/redirect-out", allowed,
                         transport=transport)
    assert not any("evil" in h for h in hits)
    with pytest.raises(BackendError, match="larger than"):
        rb.fetch_runbook("https://runbooks.example.com/big", allowed, transport=transport)
    with pytest.raises(BackendError, match="not a text runbook"):
        rb.fetch_runbook("https://runbooks.example.com/binary", allowed, transport=transport)
