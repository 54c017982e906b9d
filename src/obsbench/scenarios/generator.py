"""Generating a bundle: scenario + seed + scale -> a directory of standard telemetry files.

The order matters only for what reads what: the model first, then metrics
(their samples feed the alert rules), traces (their ids feed the logs), logs,
Kubernetes objects, alerts, incidents, runbooks, and the manifest last, so a
directory with a ``bundle.toml`` is a finished bundle. A list of the files
written is kept in ``.obsbench-generated`` so regenerating the same scenario
replaces exactly those files and nothing else in the directory.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomlkit

from obsbench import __version__
from obsbench.scenarios import alerting, incidents, k8s, rand, runbooks
from obsbench.scenarios.catalog import SCENARIOS, Ctx, Scenario
from obsbench.scenarios.logs import LogGen, request_log_factor, write_jsonl, write_otlp_logs
from obsbench.scenarios.metrics import write_metrics
from obsbench.scenarios.openmetrics import Recorder
from obsbench.scenarios.sink import FileInfo, Sink, write_json, write_text
from obsbench.scenarios.timeline import Frame, parse_time, rfc3339
from obsbench.scenarios.topology import SERVICES
from obsbench.scenarios.traces import TraceGen
from obsbench.scenarios.world import World
from obsbench_servers.common.errors import BadInputError

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - not POSIX
    _fcntl = None  # type: ignore[assignment]

GENERATED_LIST = ".obsbench-generated"
DEFAULT_SEED = 7


@dataclass(frozen=True, slots=True)
class Scale:
    """Resolution and volume: ``small`` for tests and demos, ``large`` for benchmarks."""

    name: str
    step: int  # scrape / evaluation interval, seconds
    log_lines: int  # request log lines to aim for (the share of requests logged follows)
    error_factor: float  # share of failed requests whose error is logged
    max_errors: int  # error events logged per route and step at most (log rate limiting)
    traces: int  # sampled traces to aim for over the window


SCALES: dict[str, Scale] = {
    "small": Scale("small", 60, 20_000, 0.04, 12, 900),
    "large": Scale("large", 15, 1_050_000, 0.4, 200, 8_500),
}


@dataclass
class GenerationResult:
    """What a generation wrote: files with exact record counts, totals, and the truth."""

    scenario: str
    seed: int
    scale: str
    out_dir: Path
    window: dict[str, str]
    truth: dict[str, Any]
    files: list[FileInfo] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Records per signal: metric samples (plus OTLP data points), log records, spans..."""
        out: dict[str, int] = {}
        for f in self.files:
            key = {"metrics": "metric_samples" if f.format == "openmetrics" else
                   "metric_datapoints", "logs": "log_records", "traces": "spans",
                   "alerts": "alerts", "incidents": f.unit, "k8s": "k8s_objects",
                   "runbooks": "runbooks"}.get(f.signal, f.signal)
            out[key] = out.get(key, 0) + f.records
        return dict(sorted(out.items()))

    def samples_by_file(self) -> dict[str, int]:
        """Exact sample count of every OpenMetrics file (what promtool must load)."""
        return {f.path: f.records for f in self.files if f.format == "openmetrics"}

    def to_dict(self, *, show_truth: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "scenario": self.scenario, "seed": self.seed, "scale": self.scale,
            "out": str(self.out_dir), "window": self.window, "counts": self.counts,
            "files": [f.to_dict() for f in self.files], "seconds": round(self.seconds, 3),
        }
        if show_truth:
            data["truth"] = self.truth
        return data


def suggest(name: str) -> list[str]:
    return difflib.get_close_matches(name, list(SCENARIOS), n=3, cutoff=0.4) or [
        s for s in SCENARIOS if any(part in s for part in name.split("-") if len(part) > 3)][:3]


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        close = suggest(name)
        hint = (f"did you mean {', '.join(close)}? " if close else "") + \
            "`obsbench scenarios list` shows them all"
        raise BadInputError(f"unknown scenario {name!r}", hint) from None


def _prepare_out(out: Path, name: str, force: bool) -> None:
    """Refuse to overwrite what is not ours; clear what a previous generation of it wrote."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out} exists and is not a directory", "choose another --out")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    previous = _generated_by(out)
    if previous != name and not force:
        what = f"a bundle of scenario {previous!r}" if previous else "not a generated bundle"
        raise BadInputError(f"{out} is not empty and is {what}",
                            "choose an empty or new --out directory, or pass --force to write "
                            "into it anyway")
    listing = out / GENERATED_LIST
    if listing.exists():
        try:
            previous_files = [f["path"] for f in orjson.loads(listing.read_bytes())["files"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            previous_files = []
        for rel in previous_files:
            target = out / rel
            if target.is_file() and target.resolve().is_relative_to(out.resolve()):
                target.unlink()
        listing.unlink()


def _generated_by(out: Path) -> str | None:
    manifest = out / "bundle.toml"
    if not manifest.exists():
        return None
    try:
        doc = tomlkit.parse(manifest.read_text(encoding="utf-8"))
    except Exception:
        return None
    gen = doc.get("generator")
    if isinstance(gen, dict) and isinstance(gen.get("scenario"), str):
        return str(gen["scenario"])
    return None


def build_world(sc: Scenario, seed: int, scale: Scale,
                end: str | None = None) -> tuple[World, int, list[str]]:
    """The computed model of a scenario (used by generation and by tests of the model)."""
    try:
        end_ts = parse_time(end) if end else parse_time(sc.anchor_end)
    except ValueError:
        raise BadInputError(f"cannot read --end {end!r}",
                            "use RFC 3339 (2026-03-10T15:00:00Z) or epoch seconds") from None
    end_ts = end_ts // 60 * 60
    start = int(end_ts - sc.hours * 3600)
    onset_rng = rand.stream(sc.name, seed, "onset")
    jitter = round(onset_rng.uniform(-sc.onset_jitter_min, sc.onset_jitter_min) * 60) \
        if sc.onset_jitter_min else 0
    onset = int(end_ts - sc.onset_before_end_min * 60 + jitter)
    w = World(sc.name, seed, Frame(start, end_ts, scale.step))
    ctx = Ctx(onset, start, end_ts, rand.stream(sc.name, seed, "magnitudes"))
    herrings = sc.build(w, ctx)
    w.compute()
    return w, onset, herrings


def generate(name: str, out_dir: Path | str, *, seed: int = DEFAULT_SEED,
             scale: str = "small", end: str | None = None, gz: bool = False,
             force: bool = False) -> GenerationResult:
    """Write the bundle of scenario ``name`` into ``out_dir`` and say what was written."""
    t0 = time.perf_counter()
    sc = get_scenario(name)
    if scale not in SCALES:
        raise BadInputError(f"unknown scale {scale!r}", f"use one of: {', '.join(SCALES)}")
    sc_scale = SCALES[scale]
    out = Path(out_dir).expanduser()
    # Everything that can fail on bad input fails before the directory is touched.
    w, onset, herrings = build_world(sc, seed, sc_scale, end)
    _prepare_out(out, name, force)
    files: list[FileInfo] = []

    rec = Recorder(alerting.RECORDED)
    files.extend(write_metrics(w, out, gz, rec))

    sink = Sink(out, "traces/otel-collector.otlp.json", "traces", "otlp-traces", gz=gz,
                unit="spans")
    index = TraceGen(w, sc_scale.traces).run(sink)
    files.append(sink.close())

    gen = LogGen(w, index, request_log_factor(w, sc_scale.log_lines), sc_scale.error_factor,
                 sc_scale.max_errors)
    for s in SERVICES:
        if not w.pods.get(s.name):
            continue
        if s.name == "notification":
            sink = Sink(out, "logs/notification.otlp.json", "logs", "otlp-logs", gz=gz,
                        unit="log records")
            write_otlp_logs(gen, s, sink)
        else:
            sink = Sink(out, f"logs/{s.name}.jsonl", "logs", "jsonl-logs", gz=gz,
                        unit="log records")
            write_jsonl(gen, s, sink)
        files.append(sink.close())

    files.extend(k8s.write_all(w, out, gz))
    fired = alerting.evaluate(w, rec)
    alerts = alerting.alertmanager_payload(w, fired)
    files.append(write_json(out, "alerts/alertmanager.json", "alerts", "alertmanager", alerts,
                            len(alerts), gz=gz))
    incs, entries = incidents.build(w, fired)
    files.append(write_json(out, "incidents/pagerduty-incidents.json", "incidents", "pagerduty",
                            {"incidents": incs, "limit": 100, "offset": 0, "total": len(incs),
                             "more": False}, len(incs), gz=gz))
    files[-1].unit = "incidents"
    files.append(write_json(out, "incidents/pagerduty-log-entries.json", "incidents",
                            "pagerduty", {"log_entries": entries, "limit": 100, "offset": 0,
                                          "total": len(entries), "more": False},
                            len(entries), gz=gz))
    files[-1].unit = "incident_log_entries"
    files.extend(runbooks.write_all(out))

    window_start = int(w.history_start) if w.history_start is not None else w.frame.start
    window = {"start": rfc3339(window_start), "end": rfc3339(w.frame.end)}
    truth: dict[str, Any] = {
        "service": sc.truth_service, "kind": sc.kind, "onset": rfc3339(onset),
        "summary": sc.summary.format(onset=rfc3339(onset), onset_hhmm=rfc3339(onset)[11:16]),
        "contributing": list(sc.contributing), "red_herrings": herrings,
    }
    files.append(_write_manifest(out, sc, seed, scale, window, truth))
    result = GenerationResult(sc.name, seed, scale, out, window, truth, files,
                              time.perf_counter() - t0)
    # What was generated, for regeneration in place and ensure_bundle; nothing machine- or
    # time-specific, so the directory stays byte-identical across runs.
    record = result.to_dict(show_truth=True)
    del record["out"], record["seconds"]
    record["version"] = __version__
    (out / GENERATED_LIST).write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return result


def load_result(out_dir: Path | str) -> GenerationResult | None:
    """The GenerationResult a finished generation left in ``out_dir``, or None."""
    out = Path(out_dir)
    try:
        data = orjson.loads((out / GENERATED_LIST).read_bytes())
        files = [FileInfo(f["path"], f["signal"], f["format"], f["records"], f["unit"],
                          f["bytes"], dict(f.get("detail", {}))) for f in data["files"]]
        if not (out / "bundle.toml").exists() or data.get("version") != __version__:
            return None
        return GenerationResult(data["scenario"], int(data["seed"]), data["scale"], out,
                                data["window"], data["truth"], files, 0.0)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def ensure_bundle(name: str, out_dir: Path | str, *, seed: int = DEFAULT_SEED,
                  scale: str = "small") -> GenerationResult:
    """Generate unless ``out_dir`` already holds this very generation (name, seed, scale).

    Safe when several processes ask for the same bundle at once (test workers,
    an evaluation run): one generates, the others wait and reuse it.
    """
    out = Path(out_dir).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / f".{out.name}.lock"):
        existing = load_result(out)
        if existing is not None and (existing.scenario, existing.seed, existing.scale) == (
                name, seed, scale) and all((out / f.path).exists() for f in existing.files):
            return existing
        return generate(name, out, seed=seed, scale=scale)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (no-op where fcntl does not exist)."""
    with path.open("a") as fh:
        if _fcntl is None:  # pragma: no cover - not POSIX
            yield
            return
        _fcntl.flock(fh, _fcntl.LOCK_EX)
        try:
            yield
        finally:
            _fcntl.flock(fh, _fcntl.LOCK_UN)


def _write_manifest(  # noqa: PLR0917
        out: Path, sc: Scenario, seed: int, scale: str, window: dict[str, str],
                    truth: dict[str, Any]) -> FileInfo:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Generated by `obsbench scenarios generate {sc.name} --seed {seed} "
                            f"--scale {scale}`. [truth] is for evaluation only."))
    doc["name"] = sc.name
    doc["description"] = sc.incident
    win = tomlkit.table()
    win["start"] = window["start"]
    win["end"] = window["end"]
    doc["window"] = win
    tr = tomlkit.table()
    for k in ("service", "kind", "onset", "summary"):
        tr[k] = truth[k]
    tr["contributing"] = truth["contributing"]
    arr = tomlkit.array()
    arr.multiline(True)
    for h in truth["red_herrings"]:
        arr.append(h)
    tr["red_herrings"] = arr
    doc["truth"] = tr
    gen = tomlkit.table()
    gen["tool"] = "obsbench scenarios generate"
    gen["version"] = __version__
    gen["scenario"] = sc.name
    gen["seed"] = seed
    gen["scale"] = scale
    doc["generator"] = gen
    return write_text(out, "bundle.toml", "manifest", "toml", tomlkit.dumps(doc), 1)
