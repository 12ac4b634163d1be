"""Fitting a sweep: its finished points in, one typed `SweepResults` out (serialised as `laws.json`).

The laws of every method along every factor axis (the paper's two-stage fit, bootstrap intervals, form
ranking), the critical data sizes between methods, and the paper's five claims judged on intervals.
Pure numbers: figures, report.html and W&B are `ftscale.reports`.
"""

from ftscale.analysis.fit_sweep import fit_sweep
from ftscale.analysis.results import Claim, Critical, FormRanking, LawFit, PointResult, Skipped, SweepResults

__all__ = ["Claim", "Critical", "FormRanking", "LawFit", "PointResult", "Skipped", "SweepResults", "fit_sweep"]
