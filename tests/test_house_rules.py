"""The house rules of design.md, checked on the source tree and on a cold start."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    """Every module name imported by a file, including imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _py_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_servers_never_import_the_workbench() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(
            m for m in _imports(p) if m == "obsbench" or m.startswith("obsbench.")
        )
        for p in _py_files(REPO / "servers")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_tui_imports_textual() -> None:
    tui = REPO / "src" / "obsbench" / "tui"
    offenders = {}
    for p in _py_files(REPO / "src") + _py_files(REPO / "servers"):
        if tui in p.parents:
            continue
        bad = sorted(m for m in _imports(p) if m.split(".")[0] in {"textual", "textual_plotext"})
        if bad:
            offenders[str(p.relative_to(REPO))] = bad
    assert offenders == {}


def test_cli_help_starts_without_heavy_imports() -> None:
    """`obsbench --help` must not pay for duckdb, pyarrow, mcp, anthropic or textual."""
    code = (
        "import sys\n"
        "from obsbench.cli.main import app\n"
        "heavy = {'duckdb', 'pyarrow', 'mcp', 'anthropic', 'textual', 'httpx2'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("theme", sorted((REPO / "themes").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_themes_are_complete(theme: Path) -> None:
    from obsbench.paths import themes_dir

    assert themes_dir() == REPO / "themes"
    data = tomllib.loads(theme.read_text(encoding="utf-8"))
    assert data["name"] == theme.stem
    for key in ("primary", "secondary", "accent", "foreground", "background", "surface",
                "panel", "success", "warning", "error"):
        value = data[key]
        assert value.startswith("#") and len(value) == 7, (key, value)
        int(value[1:], 16)
    assert isinstance(data["dark"], bool)


def test_at_least_three_themes_ship() -> None:
    names = {p.stem for p in (REPO / "themes").glob("*.toml")}
    assert {"obsbench-dark", "obsbench-light", "obsbench-high-contrast"} <= names
