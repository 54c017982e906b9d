"""``obsbench eval``: how often an investigator names the true root cause.

Scenario bundles are generated (or taken from ``--bundles DIR``), made blind
(a neutral name, the ground truth moved out of the bundle, so no tool output
can reveal the scenario), investigated, and scored against the truth.
"""

from obsbench.eval.runner import Case, CaseScore, EvalReport, blind_copy, run_eval, score_case

__all__ = ["Case", "CaseScore", "EvalReport", "blind_copy", "run_eval", "score_case"]
