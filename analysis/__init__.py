"""Fitting a sweep: its finished points in, one typed `SweepResults` out (serialised as `laws.json`).

The laws of every method along every factor axis (the primary form's two-stage fit with the sharing the spec
names or cross-validation prefers, bootstrap intervals by seed, fit verdicts), the form table chosen by
cross-validation, crossings and decisions between methods, and the paper's five claims judged on intervals.
Pure numbers: figures, report.html and W&B are `ftscale.reports`.
"""

from ftscale.analysis.fit_sweep import fit_sweep
from ftscale.analysis.options import LawOptions, law_options
from ftscale.analysis.results import (
    AxisDecision,
    Claim,
    Critical,
    FormChoice,
    LawFit,
    PointResult,
    Sharing,
    Skipped,
    SweepResults,
)

__all__ = [
    "AxisDecision",
    "Claim",
    "Critical",
    "FormChoice",
    "LawFit",
    "LawOptions",
    "PointResult",
    "Sharing",
    "Skipped",
    "SweepResults",
    "fit_sweep",
    "law_options",
]
