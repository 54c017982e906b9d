"""Colour themes as data: ``themes/*.toml`` (shipped) and a user directory, as Textual Themes.

Colours live in TOML, never in the ``.tcss``: the stylesheet names variables
(``$log-error``, ``$critical-path``) that every theme defines under
``[variables]``. A user theme with the name of a shipped one replaces it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.theme import Theme

from obsbench.paths import themes_dir

# The variables the stylesheet and the panels use; a theme missing one inherits the dark value.
REQUIRED_VARIABLES = ("critical-path", "log-debug", "log-info", "log-warn", "log-error",
                      "series-1", "series-2", "series-3", "series-4", "series-5", "series-6")
_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
           "success", "warning", "error", "boost")


class ThemeFileError(ValueError):
    """A theme file that cannot be turned into a Theme (path and reason in the message)."""


def user_themes_dir(configured: Path | None = None) -> Path:
    """``[ui] themes_dir`` when set, else ``themes/`` next to the config file."""
    if configured is not None:
        return configured
    from obsbench.config import config_path  # noqa: PLC0415 - config pulls pydantic

    return config_path().parent / "themes"


def theme_from_toml(path: Path, defaults: dict[str, str] | None = None) -> Theme:
    """One theme file -> a Textual Theme; ``defaults`` fills variables the file omits."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeFileError(f"{path}: {exc}") from None
    if "primary" not in data:
        raise ThemeFileError(f"{path}: a theme needs at least `primary = \"#RRGGBB\"`")
    variables = {**(defaults or {}),
                 **{str(k): str(v) for k, v in dict(data.get("variables") or {}).items()}}
    kwargs: dict[str, Any] = {k: str(data[k]) for k in _FIELDS if k in data}
    try:
        return Theme(name=str(data.get("name") or path.stem), dark=bool(data.get("dark", True)),
                     variables=variables, **kwargs)
    except Exception as exc:  # Textual rejects bad colours with its own errors
        raise ThemeFileError(f"{path}: {exc}") from None


def load_themes(user_dir: Path | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Every shipped and user theme by name, and the problems found (shown, not fatal)."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    defaults: dict[str, str] = {}
    dirs = [themes_dir()] + ([user_dir] if user_dir is not None and user_dir.is_dir() else [])
    for d in dirs:
        for path in sorted(d.glob("*.toml")):
            try:
                theme = theme_from_toml(path, defaults)
            except ThemeFileError as exc:
                problems.append(str(exc))
                continue
            if not defaults:
                defaults = dict(theme.variables)
            themes[theme.name] = theme
    # The shipped dark theme is the base every other theme's missing variables come from.
    dark = themes.get("obsbench-dark")
    if dark is not None:
        for theme in themes.values():
            for key in REQUIRED_VARIABLES:
                theme.variables.setdefault(key, dark.variables.get(key, "#888888"))
    return themes, problems
