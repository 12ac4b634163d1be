"""The fit-quality verdict: `ok`, or `degenerate` with every reason a fitted law should not be trusted.

A fit is degenerate when the optimiser did not converge; when an exponent has the wrong sign (the loss
rises with X or Df); when a parameter ends on the optimiser's box (the data push it to infinity or zero, so
its value is the box's, not the data's); when a bootstrap interval shows a parameter is not identified; or
when the law predicts losses far outside the fitted ones inside the fitted X x Df box or at the held-out
points. The thresholds are fixed here, each with its reason, and never chosen on a data set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ftscale.scaling_laws.forms import FLOOR, LawForm
from ftscale.scaling_laws.points import Points
from ftscale.scaling_laws.result import FitResult

OK, DEGENERATE = "ok", "degenerate"
# An exponent counts as wrong-signed below -0.01: |exponent| 0.01 moves the power term by under 7% over a
# 1000-fold range of its factor (1000^0.01 = 1.07), within run-to-run noise, so a slightly negative value is
# a flat curve (the paper's own PET-size exponents are of that size, both signs), not a law running backwards.
SIGN_TOLERANCE = 0.01
# An exponent is not identified when its interval is wider than 1: the exponents of finetuning and
# pretraining laws lie between 0 and about 1, so an interval that wide admits every plausible law.
MAX_EXPONENT_WIDTH = 1.0
# An amplitude (A, B, D_l) is not identified when its interval spans more than 4 orders of magnitude. A is the
# power term at X = Df = 1, far outside the data, so its interval inherits the exponents' width times the
# data's log scale (an alpha interval 0.3 wide at X ~ 1e9 already spans 2.7 decades of a well-pinned A);
# beyond 4 decades the amplitude itself is not pinned.
MAX_SCALE_DECADES = 4.0
# The floor is on the scale of the measured losses: an interval spanning a factor 100 cannot tell it from 0.
MAX_FLOOR_DECADES = 2.0
# A law whose exponents have the expected signs predicts, inside its fitted box, losses within the fitted ones
# up to the noise (a few percent), and one grid step beyond (the held-out points) changes by tens of percent;
# a prediction over twice the largest fitted loss or under half the smallest is not a law of these data.
PREDICTION_FACTOR = 2.0
BOX_STEPS = 9  # log-spaced probes per factor over the fitted box


def assess(
    result: FitResult,
    points: Points,
    fitted: np.ndarray,
    held: np.ndarray | None = None,
    *,
    extra: Sequence[str] = (),
) -> FitResult:
    """`result` with its verdict: `points` are those it was fitted to (one per cell), `fitted` and `held` masks
    over them. Reads the fitted points' positions and losses and the held-out points' positions, never the
    held-out losses. `extra`: reasons found elsewhere (a shared stage of a two-stage fit)."""
    reasons = list(extra) + parameter_reasons(
        result.form,
        result.params,
        converged=result.converged,
        at_bound=result.at_bound,
        intervals=result.intervals,
        level=result.level,
    )
    reasons += _out_of_range(result, points, fitted, np.zeros(len(points), bool) if held is None else held)
    return replace(result, quality=verdict(reasons), quality_reasons=reasons)


def verdict(reasons: Sequence[str]) -> str:
    """`degenerate` when there is any reason, else `ok`."""
    return DEGENERATE if reasons else OK


def parameter_reasons(
    form: LawForm,
    params: Mapping[str, float],
    *,
    converged: bool,
    at_bound: Sequence[str],
    intervals: Mapping[str, Sequence[float]] | None = None,
    level: float | None = None,
) -> list[str]:
    """The reasons that need only the parameters (of a whole law, or of a shared stage): not converged, a
    parameter on the box, an exponent of the wrong sign, an interval too wide."""
    reasons = [] if converged else ["the optimiser did not converge (see its message)"]
    for name in at_bound:
        value = f" = {params[name]:.4g}" if name in params else ""
        reasons.append(f"{name}{value} is at the optimiser's bound (the data push it to 0 or infinity)")
    return reasons + wrong_signs(form, params) + unidentified(form, intervals, level)


def wrong_signs(form: LawForm, params: Mapping[str, float]) -> list[str]:
    """A reason for each exponent among `params` whose sign says the loss rises with its factor."""
    out = []
    for name, value in params.items():
        meaning = form.meaning(name)
        if meaning.sign and value * meaning.sign < -SIGN_TOLERANCE:
            out.append(f"{name} = {value:.4g} < 0: the loss rises with {meaning.factor} (wrong sign)")
    return out


def unidentified(form: LawForm, intervals: Mapping[str, Sequence[float]] | None, level: float | None) -> list[str]:
    """A reason for each parameter whose bootstrap interval is too wide to identify it."""
    out = []
    shown_level = f"{100 * (level or 0.95):g}%"
    for name, (lo, hi) in (intervals or {}).items():
        meaning = form.meaning(name)
        shown = f"its {shown_level} interval [{lo:.3g}, {hi:.3g}]"
        if meaning.positive:
            limit = MAX_FLOOR_DECADES if meaning == FLOOR else MAX_SCALE_DECADES
            decades = np.inf if lo <= 0 else np.log10(hi / lo)
            if decades > limit:
                out.append(f"{name} not identified: {shown} spans {decades:.3g} orders of magnitude (limit {limit:g})")
        elif hi - lo > MAX_EXPONENT_WIDTH:
            out.append(f"{name} not identified: {shown} is {hi - lo:.3g} wide (limit {MAX_EXPONENT_WIDTH:g})")
    return out


def _out_of_range(result: FitResult, points: Points, fitted: np.ndarray, held: np.ndarray) -> list[str]:
    loss = points.loss[fitted]
    low, high = loss.min() / PREDICTION_FACTOR, loss.max() * PREDICTION_FACTOR
    df = np.geomspace(points.df[fitted].min(), points.df[fitted].max(), BOX_STEPS)
    if points.x is not None and result.form.uses_x:
        x = np.geomspace(points.x[fitted].min(), points.x[fitted].max(), BOX_STEPS)
        box_x, box_df = (v.ravel() for v in np.meshgrid(x, df, indexing="ij"))
        held_x = points.x[held]
    else:
        box_x, box_df, held_x = None, df, None
    out = []
    for where, x, d in (("the fitted box", box_x, box_df), ("the held-out points", held_x, points.df[held])):
        if not len(d):
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            pred = np.asarray(result.predict(x, d), float)
        bad = ~np.isfinite(pred) | (pred > high) | (pred < low)
        if bad.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                far = np.where(np.isfinite(pred) & (pred > 0), np.abs(np.log(pred / loss.mean())), np.inf)
            i = int(np.argmax(np.where(bad, far, -1.0)))  # the worst probe is the one shown
            at = ("" if x is None else f"X = {x[i]:.4g}, ") + f"Df = {d[i]:.4g}"
            out.append(
                f"predicts {pred[i]:.4g} at {at} ({where}; {int(bad.sum())} of {len(d)} probes), outside the fitted "
                f"losses [{loss.min():.4g}, {loss.max():.4g}] by more than a factor {PREDICTION_FACTOR:g}"
            )
    return out
