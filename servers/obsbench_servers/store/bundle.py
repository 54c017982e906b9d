"""The bundle manifest (``bundle.toml``) and the layout of a bundle directory.

A bundle is telemetry in standard formats in well-known subdirectories (see
docs/bundles.md). The manifest names it, bounds its window and, for
evaluation only, records the true root cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from obsbench_servers.common.errors import BadInputError
from obsbench_servers.common.manifest import MANIFEST, read_manifest
from obsbench_servers.common.timeutil import TimeParseError, parse_rfc3339_ns

RootCauseKind = Literal[
    "deploy", "config", "cpu", "memory", "network", "dependency", "database", "code",
    "traffic", "disk", "certificate",
]
ROOT_CAUSE_KINDS: tuple[str, ...] = RootCauseKind.__args__  # type: ignore[attr-defined]


def _check_time(value: str) -> str:
    try:
        parse_rfc3339_ns(value)
    except TimeParseError as exc:
        raise ValueError(str(exc)) from exc
    return value


class Window(BaseModel):
    """The bundle's time window (RFC 3339)."""

    model_config = ConfigDict(extra="forbid")
    start: str
    end: str

    _v_start = field_validator("start", "end")(_check_time)

    @property
    def start_ns(self) -> int:
        return parse_rfc3339_ns(self.start)

    @property
    def end_ns(self) -> int:
        return parse_rfc3339_ns(self.end)


class Truth(BaseModel):
    """Ground truth for evaluation. Never shown to an agent."""

    model_config = ConfigDict(extra="forbid")
    service: str
    kind: RootCauseKind
    onset: str
    summary: str = ""
    contributing: list[str] = Field(default_factory=list)
    # What looks guilty but is not (an unrelated deploy, a noisy alert): for evaluators
    # scoring ruled-out hypotheses.
    red_herrings: list[str] = Field(default_factory=list)

    _v_onset = field_validator("onset")(_check_time)


class Manifest(BaseModel):
    """``bundle.toml``: unknown top-level tables are kept (forward compatible)."""

    model_config = ConfigDict(extra="allow")
    name: str
    description: str = ""
    window: Window | None = None
    truth: Truth | None = None

    @classmethod
    def load(cls, bundle_dir: Path) -> Manifest:
        """Read ``bundle.toml``; a missing manifest yields one named after the directory."""
        path = bundle_dir / MANIFEST
        data: dict[str, Any] | None = read_manifest(bundle_dir)  # tomllib, errors with a hint
        if data is None:
            return cls(name=bundle_dir.name)
        data.setdefault("name", bundle_dir.name)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise BadInputError(
                f"{path}: key {key!r}: {first['msg']}",
                "see docs/bundles.md for the manifest keys and their formats",
            ) from exc

    def without_truth(self) -> Manifest:
        """A copy safe to show an agent."""
        return self.model_copy(update={"truth": None})


# subdirectory -> (format name, filename suffixes without .gz). Order = import order.
LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("metrics", "openmetrics", (".om", ".prom", ".txt")),
    ("metrics", "otlp-metrics", (".otlp.json", ".otlp.jsonl")),
    ("logs", "otlp-logs", (".otlp.json", ".otlp.jsonl")),
    ("logs", "jsonl-logs", (".jsonl", ".ndjson")),
    ("traces", "otlp-traces", (".otlp.json", ".otlp.jsonl")),
    ("traces", "jaeger", (".jaeger.json",)),
    ("alerts", "alertmanager", (".json",)),
    ("incidents", "pagerduty", (".json",)),
    ("k8s", "kubernetes", (".json",)),
    ("runbooks", "runbook", (".md", ".markdown")),
)


def classify(bundle_dir: Path, path: Path) -> str | None:
    """The format of a file by its place in the bundle, or None when it is not telemetry."""
    try:
        rel = path.relative_to(bundle_dir)
    except ValueError:
        return None
    if len(rel.parts) < 2:
        return None
    sub = rel.parts[0]
    name = rel.name[:-3] if rel.name.endswith(".gz") else rel.name
    for subdir, fmt, suffixes in LAYOUT:
        # Longest suffix wins: ".otlp.json" before ".json" within a subdirectory.
        if subdir == sub and any(name.endswith(s) for s in suffixes):
            if fmt == "jsonl-logs" and name.endswith((".otlp.json", ".otlp.jsonl")):
                continue
            return fmt
    return None


def bundle_files(bundle_dir: Path) -> list[tuple[Path, str]]:
    """Every telemetry file in the bundle with its format, in a stable import order."""
    order = {fmt: i for i, (_, fmt, _) in enumerate(LAYOUT)}
    found: list[tuple[int, str, Path, str]] = []
    for path in bundle_dir.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        fmt = classify(bundle_dir, path)
        if fmt is not None:
            found.append((order[fmt], str(path.relative_to(bundle_dir)), path, fmt))
    found.sort()
    return [(p, fmt) for _, _, p, fmt in found]


def unrecognised_files(bundle_dir: Path) -> list[Path]:
    """Files in the bundle no importer takes (reported, so nothing is silently ignored)."""
    out = []
    for path in sorted(bundle_dir.rglob("*")):
        if (
            path.is_file()
            and not path.name.startswith(".")
            and path.name != MANIFEST
            and classify(bundle_dir, path) is None
        ):
            out.append(path)
    return out
