"""OpenMetrics / Prometheus text: the fast path, the careful path, and what each refuses."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from obsbench_servers.store.importers import openmetrics
from obsbench_servers.store.importers.openmetrics import SeriesError, parse_series

SAMPLE = """\
# HELP http_requests Requests with a \\\\ and a \\n newline.
# TYPE http_requests counter
# UNIT rt seconds
http_requests_total{path="/a\\"b",msg="x\\\\y\\nz"} 1 1700000000
http_requests_total{path="/a\\"b",msg="x\\\\y\\nz"} 2 1700000015.5 # {trace_id="abc"} 1.0 1700000015
http_requests_total{path="/c d", empty=""} NaN 1700000000
http_requests_total{path="/c d"} +Inf 1700000030
weird{a="has # hash"} -Inf 1700000000
{"my.metric", a="1"} 7 1700000000
ooo_metric 1 1700000100
ooo_metric 2 1700000050
ooo_metric 3 1700000100
no_ts 5
bad{a="x" 1 2
bad2 abc 1700000000
# EOF
after 1 2
"""


def _series(q, con) -> dict[tuple[str, str], list[tuple[int, float]]]:
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in q(con, "SELECT s.metric, s.labels_json::VARCHAR AS labels, x.ts_ms, x.value "
                    "FROM samples x JOIN series s USING (series_id) ORDER BY ts_ms"):
        out.setdefault((r["metric"], r["labels"]), []).append((r["ts_ms"], r["value"]))
    return out


def test_parse_series_unescapes_and_drops_empty_labels() -> None:
    assert parse_series('m{a="x\\\\y",b="q\\"",c="l\\n2",d=""}') == (
        "m", {"a": "x\\y", "b": 'q"', "c": "l\n2"})
    assert parse_series('{"my.metric", le="0.5"}') == ("my.metric", {"le": "0.5"})
    assert parse_series("up") == ("up", {})
    for bad in ('m{a="x"', 'm{a=x}', 'm{a="1",a="2"}', '9bad{a="1"}', 'm{="x"}'):
        with pytest.raises(SeriesError):
            parse_series(bad)


def test_sample_file_values_labels_and_issues(tmp_path: Path, load, q, w) -> None:
    path = w(tmp_path / "m.om", SAMPLE)
    con, report = load((path, "openmetrics"))
    series = _series(q, con)
    a = ("http_requests_total", '{"msg":"x\\\\y\\nz","path":"/a\\"b"}')
    assert series[a] == [(1_700_000_000_000, 1.0), (1_700_000_015_500, 2.0)]  # exemplar ignored
    cd = series[("http_requests_total", '{"path":"/c d"}')]  # empty label == no label
    assert math.isnan(cd[0][1]) and cd[1] == (1_700_000_030_000, math.inf)
    assert series[("weird", '{"a":"has # hash"}')] == [(1_700_000_000_000, -math.inf)]
    assert series[("my.metric", '{"a":"1"}')] == [(1_700_000_000_000, 7.0)]
    # Out-of-order kept (2 at :50 after :100), the duplicate at :100 skipped.
    assert series[("ooo_metric", "{}")] == [(1_700_000_050_000, 2.0), (1_700_000_100_000, 1.0)]
    assert ("after", "{}") not in series
    f = report.files[0]
    assert f.records["samples"] == 8
    by_line = {(i.line, i.severity): i.reason for i in f.issues}
    assert by_line[(12, "skipped")].startswith("duplicate sample:")
    assert by_line[(13, "skipped")].startswith("no timestamp:")
    assert by_line[(14, "skipped")] == "malformed sample line: label set not closed with '}'"
    assert by_line[(15, "skipped")].startswith("bad number: value 'abc'")
    assert "Prometheus backfill (promtool) would drop them" in by_line[(11, "warning")]
    assert "1 samples in 1 series" in by_line[(11, "warning")]
    assert by_line[(16, "warning")] == "content after # EOF: 1 lines after '# EOF' were ignored"
    assert f.skipped == 4 and f.warnings == 2
    meta = {r["metric"]: r for r in q(con, "SELECT * FROM metric_metadata")}
    assert meta["http_requests"]["type"] == "counter"
    assert meta["http_requests"]["help"] == "Requests with a \\ and a \n newline."
    assert meta["rt"]["unit"] == "seconds"


def test_fast_and_careful_paths_import_the_same(tmp_path: Path, load, q, w,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["# TYPE lat histogram"]
    for i in range(3000):
        for le in ("0.1", "1", "+Inf"):
            lines.append(f'lat_bucket{{svc="s{i % 7}",le="{le}"}} {i} {1_700_000_000 + i // 7}')
    lines.append('lat_bucket{svc="s1",le="1"} 5 1700000000')  # goes back in time: kept
    lines.append('lat_bucket{svc="s6",le="1"} 5 1700000427')  # its newest timestamp again
    lines.append("# EOF")
    path = w(tmp_path / "h.om", "\n".join(lines) + "\n")
    used: list[bool] = []
    vector_block = openmetrics._OpenMetricsFile.vector_block

    def spy(self: openmetrics._OpenMetricsFile, first: int, block: bytes) -> bool:
        used.append(vector_block(self, first, block))
        return used[-1]

    monkeypatch.setattr(openmetrics._OpenMetricsFile, "vector_block", spy)
    fast_con, fast = load((path, "openmetrics"))
    assert used == [True]  # the whole file went through the Arrow path
    monkeypatch.setattr(openmetrics._OpenMetricsFile, "vector_block", lambda *_: False)
    slow_con, slow = load((path, "openmetrics"))
    assert _series(q, fast_con) == _series(q, slow_con)
    assert fast.files[0].records == slow.files[0].records
    assert [(i.line, i.reason) for i in fast.files[0].issues] == [
        (i.line, i.reason) for i in slow.files[0].issues]
    assert fast.files[0].skipped == slow.files[0].skipped == 1  # the duplicate
    assert fast.files[0].records["samples"] == 9001
    assert [i.line for i in fast.files[0].issues] == [9003, 9002]


@pytest.mark.parametrize("case", [
    ("1700000000123", "milliseconds"),
    ("1700000000123456", "microseconds"),
    ("1700000000123456789", "nanoseconds"),
], ids=["ms", "us", "ns"])
def test_timestamps_in_finer_units_are_converted_and_warned_once(
        tmp_path: Path, load, q, w, case: tuple[str, str]) -> None:
    stamp, unit = case
    body = "".join(f"m{{i=\"{i}\"}} {i} {stamp}\n" for i in range(5)) + "# EOF\n"
    con, report = load((w(tmp_path / "x.om", body), "openmetrics"))
    assert {r["ts_ms"] for r in q(con, "SELECT ts_ms FROM samples")} == {1_700_000_000_123}
    warnings = [i for i in report.files[0].issues if i.severity == "warning"]
    assert len(warnings) == 1 and warnings[0].line == 1
    assert warnings[0].reason.startswith(f"timestamps read as {unit}: 5 samples")


def test_prometheus_text_expects_milliseconds(tmp_path: Path, load, q, w) -> None:
    con, report = load((w(tmp_path / "scrape.prom", "up 1 1700000000123\nup 0 1700000015123\n"),
                        "openmetrics"))
    assert [r["ts_ms"] for r in q(con, "SELECT ts_ms FROM samples ORDER BY 1")] == [
        1_700_000_000_123, 1_700_000_015_123]
    assert report.files[0].warnings == 0  # ms is the Prometheus text format's unit
    con, report = load((w(tmp_path / "s2.prom", "up 1 1700000000\n"), "openmetrics"))
    assert q(con, "SELECT ts_ms FROM samples")[0]["ts_ms"] == 1_700_000_000_000
    assert report.files[0].issues[0].reason.startswith("timestamps read as seconds")


def test_missing_eof_is_a_warning(tmp_path: Path, load, w) -> None:
    _, report = load((w(tmp_path / "x.om", "up 1 1700000000\n"), "openmetrics"))
    assert [i.reason for i in report.files[0].issues] == [
        "no '# EOF': the file may be truncated; promtool refuses OpenMetrics without it"]


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path, load, q) -> None:
    body = "".join(f'm{{i="{i % 50}"}} {i} {1_700_000_000 + i}\n' for i in range(200_000))
    blob = gzip.compress(body.encode(), compresslevel=1)
    path = tmp_path / "big.om.gz"
    path.write_bytes(blob[: len(blob) // 2])
    con, report = load((path, "openmetrics"))
    kept = q(con, "SELECT count(*) AS n, max(value) AS top FROM samples")[0]
    f = report.files[0]
    assert 50_000 < kept["n"] < 200_000 and kept["n"] == f.records["samples"]
    assert kept["top"] == kept["n"] - 1  # every line before the break, nothing after it
    err = [i for i in f.issues if i.severity == "error"]
    assert len(err) == 1 and err[0].line == kept["n"]
    assert err[0].reason.startswith(f"stopped reading: compressed stream broken after line "
                                    f"{kept['n']}")
    assert err[0].reason.endswith("records before it were kept")
