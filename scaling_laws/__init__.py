"""ftscale's scaling-law engine: fit, compare, bootstrap and use finetuning scaling laws.

Pure numpy/scipy (matplotlib only inside `plots`). Typical use::

    from ftscale.scaling_laws import MULTIPLICATIVE, fit, bootstrap, critical_data_size
    r = fit(MULTIPLICATIVE, x, df, loss, held_out=["x=max", "df=max"])
    r.params, r.objective, r.converged, r.delta_e, r.delta_h
    r = bootstrap(MULTIPLICATIVE, x, df, loss, n=1000, seed=0)   # adds r.intervals
    two = bootstrap_two_stage({"model_size": pts_m, "pretrain_tokens": pts_p}, n=1000)  # both stages per resample
    crossings(r_fmt, r_lora, x=8e9, names=("fmt", "lora"))         # every Df where the methods cross
    compare_forms(x, df, loss, held_out=["x=max"]).winner          # the form chosen by cross-validation
    decide({"fmt": r_fmt, "lora": r_lora}, x=8e9, df=1e4).summary()  # which method, how sure

Forms: MULTIPLICATIVE (the paper's), ADDITIVE, POWER, RECTIFIED (Lin 2024), RECTIFIED_JOINT, and
ADDITIVE_TIED (alpha = beta); `form.constrained(tied=..., fixed=...)` makes more. A new form is one
subclass of `LawForm` with `@register_form`; `form.parameter(SIZE_EXPONENT)` names a meaning's parameter.
Every fit carries a verdict (`quality`: ok or degenerate, with reasons). Bad input raises ScalingLawError
(a ValueError) with a one-line message.
"""

from ftscale.scaling_laws.compare import Comparison, compare_forms, compare_points
from ftscale.scaling_laws.crossover import Crossing, Needed, critical_data_size, crossings, examples_needed
from ftscale.scaling_laws.crossval import Choice, Fold, Selection, choose, cross_validate, extrapolation_folds
from ftscale.scaling_laws.decision import Decision, Predicted, decide, predict_table
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import fit, fit_points
from ftscale.scaling_laws.forms import (
    ADDITIVE,
    ADDITIVE_TIED,
    DATA_EXPONENT,
    DATA_SCALE,
    FLOOR,
    FORMS,
    MULTIPLICATIVE,
    POWER,
    PRE_POWER,
    RECTIFIED,
    RECTIFIED_JOINT,
    SCALE,
    SIZE_EXPONENT,
    LawForm,
    Meaning,
    get_form,
    register_form,
)
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.io import load_fit, read_points
from ftscale.scaling_laws.joint import TwoStageResult, fit_two_stage, reduce_groups
from ftscale.scaling_laws.joint_bootstrap import bootstrap_two_stage
from ftscale.scaling_laws.points import Cells, Points, as_points, group_cells
from ftscale.scaling_laws.resampling import bootstrap, bootstrap_points
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
    "DATA_EXPONENT",
    "DATA_SCALE",
    "FLOOR",
    "FORMS",
    "MULTIPLICATIVE",
    "POWER",
    "PRE_POWER",
    "RECTIFIED",
    "RECTIFIED_JOINT",
    "SCALE",
    "SIZE_EXPONENT",
    "Cells",
    "Choice",
    "Comparison",
    "Crossing",
    "Decision",
    "FitResult",
    "Fold",
    "LawForm",
    "Meaning",
    "Needed",
    "Points",
    "Predicted",
    "ScalingLawError",
    "Selection",
    "TwoStageResult",
    "as_points",
    "bootstrap",
    "bootstrap_points",
    "bootstrap_two_stage",
    "choose",
    "compare_forms",
    "compare_points",
    "critical_data_size",
    "cross_validate",
    "crossings",
    "decide",
    "examples_needed",
    "extrapolation_folds",
    "fit",
    "fit_points",
    "fit_two_stage",
    "get_form",
    "group_cells",
    "held_out_mask",
    "load_fit",
    "percentile_interval",
    "plot_critical",
    "plot_fit",
    "predict_table",
    "read_points",
    "reduce_groups",
    "register_form",
]
