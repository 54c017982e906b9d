"""Shared test fixtures: isolated cache/config dirs, the shared fixtures folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """``$OBSBENCH_SHARED`` or ``../shared`` next to the repository, when present."""
    env = os.environ.get("OBSBENCH_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    return path if (path / "fixtures").is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (upstream fixtures, Loghub data); skips where it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip("../shared (or $OBSBENCH_SHARED) is absent in this clone; CI always has it")
    return path


@pytest.fixture(scope="session")
def fixtures(shared: Path) -> Path:
    return shared / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own cache and config dir and the null keyring backend."""
    base = tmp_path_factory.mktemp("obsbench-home")
    monkeypatch.setenv("OBSBENCH_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("OBSBENCH_CONFIG", str(base / "config" / "config.toml"))
    monkeypatch.setenv("OBSBENCH_STATE_DIR", str(base / "state"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
