"""The evidence list: every item with id, tool, time range and coverage; select to show it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from obsbench.evidence import Evidence


def _short_range(ev: Evidence) -> str:
    tr = ev.time_range or {}
    start, end = str(tr.get("start") or ""), str(tr.get("end") or "")
    return f"{start[11:16]}–{end[11:16]}" if start and end else ""


def evidence_label(ev: Evidence) -> Text:
    text = Text()
    text.append(f"{ev.id:<4}", style="bold")
    text.append(f"{ev.server}.{ev.tool}", style="bold" if not ev.is_error else "bold red")
    if ev.is_error:
        text.append(" error")
    rng = _short_range(ev)
    if rng:
        text.append(f" {rng}", style="dim")
    summary = ev.summary if len(ev.summary) < 90 else ev.summary[:89] + "…"
    text.append(f"\n    {summary}", style="")
    if ev.coverage_line:
        cov = ev.coverage_line if len(ev.coverage_line) < 90 else ev.coverage_line[:89] + "…"
        text.append(f"\n    {cov}", style="dim")
    return text


class EvidenceList(OptionList):
    """Options are evidence ids; highlighting one follows the selection from elsewhere."""

    def add_evidence(self, ev: Evidence) -> None:
        self.add_option(Option(evidence_label(ev), id=ev.id))

    def select_id(self, ev_id: str) -> None:
        try:
            self.highlighted = self.get_option_index(ev_id)
        except Exception:  # an id not (yet) listed: nothing to highlight
            return
