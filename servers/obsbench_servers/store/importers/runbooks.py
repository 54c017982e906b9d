"""Runbooks (``runbooks/*.md``) into the ``runbooks`` table.

A runbook is markdown with optional front matter, YAML between ``---`` lines
or TOML between ``+++`` lines, naming the alerts it covers (``alerts: [..]``)
and optionally ``services`` and ``title``. The title defaults to the first
``# heading``, then to the file name. Front matter that does not parse is a
warning, not a skip: the runbook is still worth finding by its text.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from obsbench_servers.store.context import ImportContext
from obsbench_servers.store.importers._common import dumps
from obsbench_servers.store.reader import iter_line_blocks, strip_gz

MAX_RUNBOOK_BYTES = 1 << 20


def _names(value: Any) -> list[str]:
    """``alerts``/``services`` as a list of strings (a single name or a comma list too)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value)]


def split_front_matter(text: str) -> tuple[str | None, str, str]:
    """``(kind, front_matter, body)``; kind is ``yaml``, ``toml`` or None."""
    lines = text.split("\n")
    for fence, kind in (("---", "yaml"), ("+++", "toml")):
        if lines[0].rstrip() == fence:
            for i in range(1, len(lines)):
                if lines[i].rstrip() == fence:
                    return kind, "\n".join(lines[1:i]), "\n".join(lines[i + 1:])
    return None, "", text


def import_runbook(path: Path, ctx: ImportContext) -> None:
    """One runbook file into one row."""
    parts: list[bytes] = []
    size = 0
    for _, lines in iter_line_blocks(path):
        for line in lines:
            size += len(line) + 1
            if size > MAX_RUNBOOK_BYTES:
                break
            parts.append(line)
        if size > MAX_RUNBOOK_BYTES:
            ctx.warn(0, f"runbook too long: kept the first {MAX_RUNBOOK_BYTES // 1024} KB")
            break
    text = b"\n".join(parts).decode("utf-8", "replace").lstrip("\ufeff")
    kind, fm_text, body = split_front_matter(text)
    front: dict[str, Any] = {}
    if kind:
        try:
            loaded = yaml.safe_load(fm_text) if kind == "yaml" else tomllib.loads(fm_text)
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            ctx.warn(1, f"bad front matter: not valid {kind.upper()} "
                     f"({str(exc).splitlines()[0]}); imported without alerts")
            loaded = {}
        if isinstance(loaded, dict):
            front = loaded
        elif loaded is not None:
            ctx.warn(1, f"bad front matter: expected a mapping, found {type(loaded).__name__}")
    alerts = _names(front.get("alerts") or front.get("alert"))
    services = _names(front.get("services") or front.get("service"))
    title = front.get("title")
    if not title:
        for text_line in body.splitlines():
            if text_line.startswith("# "):
                title = text_line[2:].strip()
                break
    if not title:
        title = strip_gz(path.name).rsplit(".", 1)[0]
    if not alerts:
        ctx.warn(0, "no alerts: the front matter names no alerts (alerts: [NAME, ...]); the "
                 "runbook is found by text only")
    ctx.writer("runbooks").append(
        ctx.current.path, str(title), dumps(alerts), dumps(services),
        dumps(front) if front else None, body.strip("\n"),
    )
    ctx.count("runbooks")
