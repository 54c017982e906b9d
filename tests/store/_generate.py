"""Generated inputs for the store tests and throughput measurements.

Big inputs are written from a few templates so that generating hundreds of MB
takes seconds, not minutes. Run as a script to write measurement files:

    python tests/store/_generate.py openmetrics 1000000 /tmp/m.om
    python tests/store/_generate.py jsonl 1000000 /tmp/l.jsonl
    python tests/store/_generate.py otlp-traces 100000 /tmp/t.otlp.json
    python tests/store/_generate.py measure /tmp/m.om openmetrics

``measure`` imports one file into a fresh store and prints lines/s of the
importer alone and of the whole import (with the final sort and checkpoint).
"""

from __future__ import annotations

import sys
from pathlib import Path

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
SERVICES = ("frontend", "api-gateway", "checkout", "payment", "user-api", "orders", "inventory")
LEVELS = ("info", "info", "info", "debug", "warn", "error")


def openmetrics(path: Path, lines: int, *, series_per_family: int = 10, step_s: int = 15) -> int:
    """OpenMetrics with timestamps in seconds; returns the number of sample lines written."""
    families = max(1, lines // (series_per_family * 500))
    per_series = max(1, lines // (families * series_per_family))
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for fam in range(families):
            name = f"http_requests_{fam}"
            f.write(f"# HELP {name} Requests handled.\n# TYPE {name} counter\n")
            keys = [
                f'{name}_total{{service="{SERVICES[s % len(SERVICES)]}",code="{200 + s}",'
                f'instance="10.0.{fam % 250}.{s}:8080"}}'
                for s in range(series_per_family)
            ]
            buf = []
            for i in range(per_series):
                ts = T0 + i * step_s
                for s, key in enumerate(keys):
                    buf.append(f"{key} {i * 3 + s} {ts}\n")
                if len(buf) > 50_000:
                    f.write("".join(buf))
                    written += len(buf)
                    buf.clear()
            f.write("".join(buf))
            written += len(buf)
        f.write("# EOF\n")
    return written


def jsonl_logs(path: Path, lines: int, *, pad: int = 0) -> int:
    """JSONL logs with RFC 3339 times (ms precision); ``pad`` adds a filler label (bytes/line)."""
    filler = "x" * pad
    block = 10_000
    with path.open("w", encoding="utf-8") as f:
        done = 0
        while done < lines:
            n = min(block, lines - done)
            buf = []
            for j in range(done, done + n):
                sec, ms = divmod(j, 1000)
                hh, rem = divmod(sec % 86400, 3600)
                mm, ss = divmod(rem, 60)
                svc = SERVICES[j % len(SERVICES)]
                lvl = LEVELS[j % len(LEVELS)]
                extra = f',"filler":"{filler}"' if pad else ""
                buf.append(
                    f'{{"ts":"2026-01-01T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z","service":"{svc}",'
                    f'"level":"{lvl}","message":"GET /api/v1/items/{j % 977} returned 200 in '
                    f'{j % 431} ms","trace_id":"{j:032x}","span_id":"{j:016x}",'
                    f'"pod":"{svc}-7d9c6b5f4-{j % 5}","http_method":"GET","status":200{extra}}}\n'
                )
            f.write("".join(buf))
            done += n
    return lines


def otlp_traces_document(path: Path, spans: int, *, per_resource: int = 50_000) -> int:
    """One pretty-printed ExportTraceServiceRequest with ``spans`` spans (single document)."""
    with path.open("w", encoding="utf-8") as f:
        f.write('{\n  "resourceSpans": [\n')
        done = 0
        r = 0
        while done < spans:
            n = min(per_resource, spans - done)
            svc = SERVICES[r % len(SERVICES)]
            if r:
                f.write(",\n")
            f.write(
                '    {\n      "resource": {"attributes": [{"key": "service.name", "value": '
                f'{{"stringValue": "{svc}"}}}}]}},\n      "scopeSpans": [\n        {{\n'
                '          "scope": {"name": "gen", "version": "1"},\n          "spans": [\n'
            )
            buf = []
            for k in range(done, done + n):
                start = (T0 * 1_000_000_000) + k * 1_000_000
                parent = f'"parentSpanId": "{k:016x}", ' if k % 10 else ""
                buf.append(
                    f'            {{"traceId": "{k // 10 + 1:032x}", '
                    f'"spanId": "{k + 1:016x}", {parent}'
                    f'"name": "GET /items/{k % 97}", "kind": {1 + k % 5}, '
                    f'"startTimeUnixNano": "{start}", "endTimeUnixNano": "{start + 5_000_000}", '
                    '"attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}, '
                    f'{{"key": "http.status_code", "value": {{"intValue": "{200 + k % 3}"}}}}], '
                    f'"status": {{"code": {2 if k % 50 == 0 else 0}}}}}'
                )
            f.write(",\n".join(buf))
            f.write("\n          ]\n        }\n      ]\n    }")
            done += n
            r += 1
        f.write("\n  ]\n}\n")
    return spans


def measure(path: Path, fmt: str) -> str:
    """Import ``path`` as ``fmt`` into a throwaway store; a one-line throughput summary."""
    import tempfile
    import time

    from obsbench_servers.store.ingest import import_files, new_database

    with path.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        con = new_database(Path(tmp) / "m.duckdb")
        report = import_files(con, [(path, fmt)])
        con.close()
        total = time.perf_counter() - t0
    own = report.files[0].seconds
    return (f"{fmt}: {lines:,} lines, {dict(report.records())}, {report.skipped} skipped; "
            f"importer {own:.2f}s = {lines / own:,.0f} lines/s; whole import (sort, "
            f"checkpoint) {total:.2f}s = {lines / total:,.0f} lines/s")


def main(argv: list[str]) -> None:
    if argv[0] == "measure":
        print(measure(Path(argv[1]), argv[2]))
        return
    kind, count, out = argv[0], int(argv[1]), Path(argv[2])
    fn = {"openmetrics": openmetrics, "jsonl": jsonl_logs, "otlp-traces": otlp_traces_document}
    written = fn[kind](out, count)
    print(f"{kind}: {written} records -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
