"""Read a bundle's ``bundle.toml`` without the store: tomllib and the time parser only.

The workbench needs a bundle's window (what ``--at now-30m`` is relative to) before its
first paint; importing ``obsbench_servers.store`` for that pulls in DuckDB and pyarrow.
The store's pydantic ``Manifest`` (store/bundle.py) reads the file through here and
validates every key; this module checks only what it returns.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.timeutil import TimeParseError, parse_rfc3339_ns

MANIFEST = "bundle.toml"


def read_manifest(bundle_dir: Path) -> dict[str, Any] | None:
    """The manifest as parsed TOML, or None when the bundle has none."""
    path = bundle_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"{path}: not valid TOML: {exc}", "fix the syntax or delete the file"
        ) from exc


def bundle_window_ns(bundle_dir: Path) -> tuple[int, int] | None:
    """``[window]`` start and end in ns; None when the manifest or its window is absent."""
    data = read_manifest(bundle_dir)
    window = (data or {}).get("window")
    if window is None:
        return None
    path = bundle_dir / MANIFEST
    if not isinstance(window, dict):
        raise BadInputError(f"{path}: key 'window' must be a table with start and end",
                            "see docs/bundles.md for the manifest keys and their formats")
    bounds = []
    for key in ("start", "end"):
        value = window.get(key)
        if not isinstance(value, str):
            raise BadInputError(f"{path}: key 'window.{key}' must be an RFC 3339 time string",
                                "see docs/bundles.md for the manifest keys and their formats")
        try:
            bounds.append(parse_rfc3339_ns(value))
        except TimeParseError as exc:
            raise BadInputError(f"{path}: key 'window.{key}': {exc}",
                                "see docs/bundles.md for the manifest keys and their formats"
                                ) from exc
    return bounds[0], bounds[1]
