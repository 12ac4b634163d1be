"""ftscale's scaling-law engine: fit, compare, bootstrap and use finetuning scaling laws.

Pure numpy/scipy (matplotlib only inside `plots`). Typical use::

    from ftscale.scaling_laws import MULTIPLICATIVE, fit, bootstrap, critical_data_size
    r = fit(MULTIPLICATIVE, x, df, loss, held_out=["x=max", "df=max"])
    r.params, r.objective, r.converged, r.delta_e, r.delta_h
    r = bootstrap(MULTIPLICATIVE, x, df, loss, n=1000, seed=0)   # adds r.intervals
    two = bootstrap_two_stage({"model_size": pts_m, "pretrain_tokens": pts_p}, n=1000)  # both stages per resample
    critical_data_size(r_fmt, r_lora, x=8e9)                      # Df where the methods cross

Forms: MULTIPLICATIVE (the paper's), ADDITIVE, POWER, RECTIFIED (Lin 2024), RECTIFIED_JOINT, and
ADDITIVE_TIED (alpha = beta); `form.constrained(tied=..., fixed=...)` makes more. A new form is one
subclass of `LawForm`. Bad input raises ScalingLawError (a ValueError) with a one-line message.
"""

from ftscale.scaling_laws.compare import Comparison, compare_forms
from ftscale.scaling_laws.crossover import Needed, critical_data_size, examples_needed
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import fit, fit_points
from ftscale.scaling_laws.forms import (
    ADDITIVE,
    ADDITIVE_TIED,
    FORMS,
    MULTIPLICATIVE,
    POWER,
    RECTIFIED,
    RECTIFIED_JOINT,
    LawForm,
    get_form,
)
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.io import load_fit, read_points
from ftscale.scaling_laws.joint import TwoStageResult, fit_two_stage
from ftscale.scaling_laws.joint_bootstrap import bootstrap_two_stage
from ftscale.scaling_laws.points import Points, as_points
from ftscale.scaling_laws.resampling import bootstrap
from ftscale.scaling_laws.result import FitResult


def plot_fit(*args, **kwargs):
    """Loss vs Df per X with fitted curves (see ftscale.scaling_laws.plots.plot_fit; imports matplotlib)."""
    from ftscale.scaling_laws.plots import plot_fit as _plot_fit

    return _plot_fit(*args, **kwargs)


def plot_critical(*args, **kwargs):
    """Critical data size vs X (see ftscale.scaling_laws.plots.plot_critical; imports matplotlib)."""
    from ftscale.scaling_laws.plots import plot_critical as _plot_critical

    return _plot_critical(*args, **kwargs)


__all__ = [
    "ADDITIVE",
    "ADDITIVE_TIED",
    "FORMS",
    "MULTIPLICATIVE",
    "POWER",
    "RECTIFIED",
    "RECTIFIED_JOINT",
    "Comparison",
    "FitResult",
    "LawForm",
    "Needed",
    "Points",
    "ScalingLawError",
    "TwoStageResult",
    "as_points",
    "bootstrap",
    "bootstrap_two_stage",
    "compare_forms",
    "critical_data_size",
    "examples_needed",
    "fit",
    "fit_points",
    "fit_two_stage",
    "get_form",
    "held_out_mask",
    "load_fit",
    "percentile_interval",
    "plot_critical",
    "plot_fit",
    "read_points",
]
