"""Generate, blind, investigate and score: the evaluation loop behind ``obsbench eval``."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from obsbench.agent.base import Brief
from obsbench.agent.model import InvestigationResult
from obsbench_servers.common.errors import BadInputError
from obsbench_servers.store.bundle import MANIFEST, Manifest, Truth

QUESTION = "An incident is under way. What is the root cause, and what should we do?"


@dataclass
class Case:
    """One blind bundle and the truth kept away from it."""

    case_id: str
    bundle: Path
    truth: Truth
    source: str  # "scenario:seed" or the original bundle directory


@dataclass
class CaseScore:
    case_id: str
    source: str
    truth_service: str
    truth_kind: str
    service: str | None
    kind: str | None
    confidence: float | None
    service_ok: bool
    kind_ok: bool
    service_rank: int | None  # 1-based rank of the true service among the root causes
    red_herrings: int
    red_herrings_ruled_out: int
    unresolved_citations: int
    tool_calls: int
    elapsed_s: float
    error: str | None = None


@dataclass
class EvalReport:
    agent: str
    cases: list[CaseScore] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        n = len(self.cases)
        ok = [c for c in self.cases if c.error is None]

        def share(pred: Callable[[CaseScore], bool]) -> float:
            return round(sum(1 for c in self.cases if pred(c)) / n, 4) if n else 0.0

        herrings = sum(c.red_herrings for c in ok)
        return {
            "cases": n, "errors": n - len(ok),
            "service_accuracy": share(lambda c: c.service_ok),
            "kind_accuracy": share(lambda c: c.kind_ok),
            "service_top3": share(lambda c: c.service_rank is not None and c.service_rank <= 3),
            "red_herrings_ruled_out": round(
                sum(c.red_herrings_ruled_out for c in ok) / herrings, 4) if herrings else None,
            "unresolved_citations": sum(c.unresolved_citations for c in ok),
            "mean_elapsed_s": round(sum(c.elapsed_s for c in ok) / len(ok), 3) if ok else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "summary": self.summary,
                "cases": [asdict(c) for c in self.cases]}


def blind_copy(bundle: Path, dest_root: Path) -> Case:
    """A copy of ``bundle`` (hard links where possible) named neutrally, truth removed."""
    manifest = Manifest.load(bundle)
    if manifest.truth is None:
        raise BadInputError(f"{bundle}: bundle.toml has no [truth]",
                            "eval needs bundles with ground truth (scenario bundles have it)")
    digest = hashlib.sha256(f"{bundle.resolve()}".encode()).hexdigest()[:10]
    case_id = f"case-{digest}"
    dest = dest_root / case_id
    if dest.exists():
        shutil.rmtree(dest)
    for src in sorted(bundle.rglob("*")):
        rel = src.relative_to(bundle)
        target = dest / rel
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if rel.as_posix() == MANIFEST or rel.parts[0].startswith("."):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copy2(src, target)
    raw = tomllib.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    doc = tomlkit.document()
    doc["name"] = case_id
    doc["description"] = "evaluation case"
    if "window" in raw:
        doc["window"] = raw["window"]
    (dest / MANIFEST).write_text(tomlkit.dumps(doc), encoding="utf-8")
    return Case(case_id, dest, manifest.truth, str(bundle))


def _herring_subject(text: str) -> list[str]:
    """The names a red-herring line is about ("deploy frontend: ..." -> ["frontend"])."""
    head = text.split(":", 1)[0].split()
    words = [w for w in head if w not in {"deploy", "alert", "on", "flapping", "config"}]
    return [w.lower() for w in words]


def score_case(case: Case, result: InvestigationResult | None, *, elapsed_s: float,
               error: str | None = None) -> CaseScore:
    truth = case.truth
    roots = result.root_causes if result else []
    top = roots[0] if roots else None
    rank = next((i for i, r in enumerate(roots, 1) if r.service == truth.service), None)
    ruled_text = " ".join(f.summary for f in (result.ruled_out if result else [])).lower()
    ruled = sum(1 for h in truth.red_herrings
                if (subj := _herring_subject(h)) and all(s in ruled_text for s in subj))
    return CaseScore(
        case_id=case.case_id, source=case.source, truth_service=truth.service,
        truth_kind=truth.kind, service=top.service if top else None,
        kind=top.kind if top else None, confidence=top.confidence if top else None,
        service_ok=bool(top and top.service == truth.service),
        kind_ok=bool(top and top.service == truth.service and top.kind == truth.kind),
        service_rank=rank, red_herrings=len(truth.red_herrings), red_herrings_ruled_out=ruled,
        unresolved_citations=len(result.unresolved_citations) if result else 0,
        tool_calls=result.tool_calls if result else 0, elapsed_s=round(elapsed_s, 3),
        error=error)


Investigate = Callable[[Path, Brief], Any]  # async (bundle, brief) -> InvestigationResult


async def run_eval(cases: Sequence[Case], investigate: Investigate, *, agent: str,
                   on_case: Callable[[CaseScore], None] | None = None) -> EvalReport:
    """Investigate every case in turn (a failure scores as a miss and the run goes on)."""
    report = EvalReport(agent)
    for case in cases:
        started = time.perf_counter()
        try:
            result = await investigate(case.bundle, Brief(QUESTION))
            score = score_case(case, result, elapsed_s=time.perf_counter() - started)
        except Exception as exc:  # one broken case must not end the evaluation
            score = score_case(case, None, elapsed_s=time.perf_counter() - started,
                               error=f"{type(exc).__name__}: {exc}")
        report.cases.append(score)
        if on_case is not None:
            on_case(score)
    return report
