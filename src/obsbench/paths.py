"""Where obsbench finds its shipped data and keeps its state."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_PKG = Path(__file__).resolve().parent


def themes_dir() -> Path:
    """The shipped themes: ``obsbench/themes`` in a wheel, ``themes/`` in a checkout."""
    installed = _PKG / "themes"
    if installed.is_dir():
        return installed
    return _PKG.parent.parent / "themes"


def state_dir() -> Path:
    """Audit trail, secrets fallback and history: ``$OBSBENCH_STATE_DIR`` or the platform dir."""
    env = os.environ.get("OBSBENCH_STATE_DIR")
    path = Path(env) if env else Path(platformdirs.user_state_dir("obsbench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Generated demo bundles and exports: under the cache dir (safe to delete)."""
    env = os.environ.get("OBSBENCH_CACHE_DIR")
    path = Path(env) if env else Path(platformdirs.user_cache_dir("obsbench"))
    path.mkdir(parents=True, exist_ok=True)
    return path
