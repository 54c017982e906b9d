"""The light manifest reader (common/manifest.py): the window without the store's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.manifest import bundle_window_ns, read_manifest
from obsbench_servers.common.timeutil import parse_rfc3339_ns


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "bundle.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_window_in_ns_as_the_store_reads_it(tmp_path: Path) -> None:
    from obsbench_servers.store.bundle import Manifest

    b = _write(tmp_path, 'name = "x"\n[window]\nstart = "2026-03-10T12:00:00Z"\n'
                         'end = "2026-03-10T15:00:00.5+01:00"\n[truth]\nservice = "a"\n'
                         'kind = "deploy"\nonset = "2026-03-10T13:00:00Z"\n')
    start, end = bundle_window_ns(b) or (0, 0)
    assert start == parse_rfc3339_ns("2026-03-10T12:00:00Z")
    assert end == parse_rfc3339_ns("2026-03-10T14:00:00.5Z")
    window = Manifest.load(b).window  # the store's pydantic model agrees
    assert window is not None and (window.start_ns, window.end_ns) == (start, end)


def test_absent_manifest_or_window_is_none(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    assert bundle_window_ns(tmp_path) is None
    assert bundle_window_ns(_write(tmp_path, 'name = "x"\n')) is None


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x\n', "not valid TOML"),
    ('window = "yesterday"\n', "key 'window' must be a table"),
    ('[window]\nstart = "2026-03-10T12:00:00Z"\n', "key 'window.end'"),
    ('[window]\nstart = "noon"\nend = "2026-03-10T12:00:00Z"\n', "key 'window.start'"),
])
def test_bad_manifests_say_which_key(tmp_path: Path, text: str, message: str) -> None:
    b = _write(tmp_path, text)
    with pytest.raises(BadInputError) as err:
        bundle_window_ns(b)
    assert message in err.value.message and str(b / "bundle.toml") in err.value.message
    assert err.value.hint


def test_reading_the_window_imports_nothing_heavy(tmp_path: Path) -> None:
    b = _write(tmp_path, '[window]\nstart = "2026-03-10T12:00:00Z"\n'
                         'end = "2026-03-10T15:00:00Z"\n')
    code = ("import sys\nfrom pathlib import Path\n"
            "from obsbench_servers.common.manifest import bundle_window_ns\n"
            f"assert bundle_window_ns(Path({str(b)!r}))\n"
            "print(sorted({'duckdb', 'pyarrow', 'pydantic', 'obsbench_servers.store'}"
            " & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
