"""The fitter: score every grid start at once, refine the best few with L-BFGS-B, polish the winner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ftscale.scaling_laws.blas import single_threaded_blas
from ftscale.scaling_laws.forms import LawForm
from ftscale.scaling_laws.heldout import held_out_mask, mean_abs_deviation
from ftscale.scaling_laws.objective import Objective, SumObjective
from ftscale.scaling_laws.points import Points, as_points, check_fittable
from ftscale.scaling_laws.result import FitResult

# Tight stopping rules: the summed Huber objective is ~1e-3, so scipy's defaults (absolute ftol
# 2.2e-9 for f < 1) would stop far from the optimum; polishing restarts catch stalled line searches.
LBFGS_OPTIONS = {"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 20}
# Distinct grid starts refined per fit: cheap insurance (about 0.1 s more than 8 on Chinchilla); the
# benchmark and tests check it reaches the optimum of refining every start.
REFINE = 16
POLISH_ROUNDS = 5
# A line-search stall ("ABNORMAL") counts as converged when every gradient component is below this
# fraction of the largest it could be (all residuals at full Huber slope): the optimum is then
# reached to the precision of floating point, which is what stalls the line search.
STALL_GRADIENT = 1e-6


@dataclass
class Optimum:
    """Best internal parameter vector found, and how the search went."""

    theta: np.ndarray
    value: float
    converged: bool
    message: str
    n_starts: int
    n_refined: int


def _lbfgs(objective: Objective | SumObjective, start: np.ndarray, bounds):
    return minimize(objective.value_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds, options=LBFGS_OPTIONS)


@single_threaded_blas()  # see ftscale.scaling_laws.blas: threaded BLAS makes these tiny fits 5-25x slower
def minimise(
    objective: Objective | SumObjective,
    starts: np.ndarray,
    *,
    bounds: Sequence[tuple[float, float]],
    names: Sequence[str],
    refine: int | None = REFINE,
    warm: Sequence[np.ndarray] = (),
) -> Optimum:
    """Score all starts vectorised, refine the `refine` best (all if None) plus `warm` ones, polish.

    bounds and names: the box and the names of the internal parameters (names go into messages).
    """
    scores = objective.values(starts)
    order = np.argsort(scores, kind="stable")  # stable: ties keep grid order, so runs are repeatable
    order = order[np.isfinite(scores[order])]
    # Starts whose power terms vanish on the data (e.g. A X^-alpha Df^-beta ~ 1e-20) all score the
    # same constant-E fit and have zero gradient: refining several of them wastes the budget on one
    # plateau. Keep one start per distinct score so the refined set spans different shapes.
    if refine is not None and order.size:
        scale = max(scores[order[0]], np.finfo(float).tiny)  # the best score may be exactly 0
        _, first = np.unique(np.round(scores[order] / scale, 9), return_index=True)
        order = order[np.sort(first)][:refine]
    candidates = [np.asarray(w, float) for w in warm] + [starts[i] for i in order]
    if not candidates:
        return Optimum(starts[0], np.inf, False, "no start gives a finite objective", len(starts), 0)
    best = min((_lbfgs(objective, c, bounds) for c in candidates), key=lambda r: r.fun)
    for _ in range(POLISH_ROUNDS):  # a fresh L-BFGS memory sometimes still finds a little descent
        again = _lbfgs(objective, best.x, bounds)
        if not again.fun < best.fun:
            break
        best = again
    return Optimum(best.x, float(best.fun), *_verdict(objective, best, bounds, names), len(starts), len(candidates))


def _verdict(objective, best, bounds, names) -> tuple[bool, str]:
    """Converged or not, and a message that says why, including parameters stopped at the box."""
    grad = objective.value_and_grad(best.x)[1]
    lo, hi = np.array(bounds).T
    at_bound = np.isclose(best.x, lo, rtol=0, atol=1e-6) | np.isclose(best.x, hi, rtol=0, atol=1e-6)
    relative = np.abs(grad) / np.maximum(objective.gradient_scale(best.x), np.finfo(float).tiny)
    stalled = np.all(relative[~at_bound] <= STALL_GRADIENT)
    converged = bool(np.isfinite(best.fun) and (best.success or stalled))
    message = str(best.message)
    if not best.success:
        verdict = "stationary to float precision" if stalled else "did not converge"
        message = f"{verdict}: {message} (max relative |gradient| {relative[~at_bound].max(initial=0):.2g})"
    for name, value, b in zip(names, best.x, at_bound, strict=True):
        if b:
            message += f"; {name} = {value:g} at its bound (degenerate direction)"
    return converged, message


def fit(
    form: LawForm,
    x,
    df,
    loss,
    *,
    loss_kind: str = "log-huber",
    delta: float = 1e-3,
    grid: np.ndarray | None = None,
    held_out: Sequence[str] | np.ndarray | None = None,
    weights: np.ndarray | None = None,
    refine: int | None = REFINE,
    warm: Sequence[np.ndarray] = (),
) -> FitResult:
    """Fit `form` to (X, Df, loss) by summed Huber; X may be None for single-factor forms."""
    return fit_points(
        form,
        as_points(x, df, loss),
        loss_kind=loss_kind,
        delta=delta,
        grid=grid,
        held_out=held_out,
        weights=weights,
        refine=refine,
        warm=warm,
    )


def fit_points(
    form: LawForm,
    points: Points,
    *,
    loss_kind: str = "log-huber",
    delta: float = 1e-3,
    grid: np.ndarray | None = None,
    held_out: Sequence[str] | np.ndarray | None = None,
    weights: np.ndarray | None = None,
    refine: int | None = REFINE,
    warm: Sequence[np.ndarray] = (),
) -> FitResult:
    """Fit `form` to validated points by summed Huber (the work behind `fit`).

    held_out: rules such as ["x=max", "df=max"] (see heldout.RULE_HELP) or a boolean mask; those points
    are left out of the fit and scored as Delta_h. grid: start points (G, p) in internal coordinates
    (form.grid() by default). weights: per-point multiplicities (bootstrap). refine: how many of the
    best-scoring starts L-BFGS-B refines (None: every start). warm: extra starts, refined first.
    """
    rules = [] if held_out is None or isinstance(held_out, np.ndarray) else list(held_out)
    mask = held_out if isinstance(held_out, np.ndarray) else held_out_mask(points, rules)
    keep = ~mask
    check_fittable(points, keep, len(form.free), form.uses_x, form.label)
    w = None if weights is None else np.asarray(weights, float)[keep]
    objective = Objective.on_points(form, points, keep, kind=loss_kind, delta=delta, weights=w)
    starts = form.grid() if grid is None else np.atleast_2d(grid)
    opt = minimise(objective, starts, bounds=form.bounds(), names=form.internal, refine=refine, warm=warm)
    params = form.to_natural(opt.theta)
    return FitResult(
        law=form.name,
        params=params,
        objective=opt.value,
        converged=opt.converged,
        message=opt.message,
        loss_kind=loss_kind,
        delta=delta,
        delta_e=mean_abs_deviation(form, params, points, keep),
        delta_h=mean_abs_deviation(form, params, points, mask),
        n_fit=int(keep.sum()),
        n_held_out=int(mask.sum()),
        held_out=rules,
        tied=[list(p) for p in getattr(form, "tied", [])],
        fixed=dict(getattr(form, "fixed", {})),
        n_starts=opt.n_starts,
        n_refined=opt.n_refined,
    )
