"""Reports built from an investigation and its evidence: investigation report, post-mortem,
capacity recommendation (markdown + JSON). Every line cites evidence; nothing is invented."""

from obsbench.reports.capacity import CapacityReport, build_capacity_report
from obsbench.reports.investigation import InvestigationReport, build_investigation_report
from obsbench.reports.postmortem import PostMortem, build_postmortem
from obsbench.reports.timeline import Timeline, TimelineEntry, build_timeline

__all__ = [
    "CapacityReport",
    "InvestigationReport",
    "PostMortem",
    "Timeline",
    "TimelineEntry",
    "build_capacity_report",
    "build_investigation_report",
    "build_postmortem",
    "build_timeline",
]
