"""Files far larger than it would be sane to load whole: memory must not grow with them.

Each import runs in a child process that reports its own peak RSS (``VmHWM``;
``wait4``'s ``ru_maxrss`` would include the parent's pages the child started
from, since exec keeps that maximum). The same format is imported at two
sizes: if anything held the file (or its rows) in memory, the larger one would
cost hundreds of MB more. For scale: the 300 MB JSONL file parsed with orjson
into a list of dicts takes 1.1 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _generate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM"),
]

CHILD = """
import json, sys
from pathlib import Path
from obsbench_servers.store.ingest import import_files, new_database
con = new_database(sys.argv[3])
report = import_files(con, [(Path(sys.argv[1]), sys.argv[2])])
con.close()
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
              if line.startswith("VmHWM:"))
print(json.dumps({"records": report.records(), "skipped": report.skipped,
                  "issues": [i.reason for i in report.issues()], "peak_mb": hwm_kb / 1024}))
"""


def _import_in_child(path: Path, fmt: str, db: Path) -> tuple[dict, float]:
    """Import ``path`` in a fresh interpreter: (its report, its peak RSS in MB)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), fmt, str(db)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    return report, report["peak_mb"]


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("big")


def test_jsonl_logs_300mb_stream_in_bounded_memory(big_dir: Path) -> None:
    small, large = big_dir / "small.jsonl", big_dir / "large.jsonl"
    _generate.jsonl_logs(small, 380_000)
    _generate.jsonl_logs(large, 1_150_000)
    assert large.stat().st_size > 280 * 2**20
    rep_small, rss_small = _import_in_child(small, "jsonl-logs", big_dir / "s.duckdb")
    rep_large, rss_large = _import_in_child(large, "jsonl-logs", big_dir / "l.duckdb")
    assert rep_small["records"] == {"logs": 380_000}
    assert rep_large["records"] == {"logs": 1_150_000} and rep_large["skipped"] == 0
    assert rss_large < 560, rss_large
    assert rss_large - rss_small < 100, (rss_small, rss_large)  # 3x the data, flat memory


def test_single_otlp_document_streams_in_bounded_memory(big_dir: Path) -> None:
    small, large = big_dir / "small.otlp.json", big_dir / "large.otlp.json"
    _generate.otlp_traces_document(small, 50_000)
    _generate.otlp_traces_document(large, 150_000, per_resource=150_000)  # one huge array
    assert large.stat().st_size > 55 * 2**20
    rep_small, rss_small = _import_in_child(small, "otlp-traces", big_dir / "so.duckdb")
    rep_large, rss_large = _import_in_child(large, "otlp-traces", big_dir / "lo.duckdb")
    assert rep_small["records"] == {"spans": 50_000}
    assert rep_large["records"] == {"spans": 150_000} and rep_large["issues"] == []
    assert rss_large < 400, (rss_small, rss_large)
    # Loading the 55+ MB array whole would add several hundred MB; allocator noise on a
    # loaded machine is tens of MB (80.3 MB was seen once in CI).
    assert rss_large - rss_small < 120, (rss_small, rss_large)
