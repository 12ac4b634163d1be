"""The fitter: score every grid start at once, refine the best few with L-BFGS-B, polish the winner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from ftscale.scaling_laws import memo
from ftscale.scaling_laws.blas import single_threaded_blas
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.forms import LawForm
from ftscale.scaling_laws.heldout import held_out_mask, mean_abs_deviation
from ftscale.scaling_laws.objective import Objective, SumObjective
from ftscale.scaling_laws.points import Points, as_points, check_fittable, group_cells
from ftscale.scaling_laws.quality import assess
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
    at_bound: list[int]  # indices of the parameters that ended on the box


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

    bounds and names: the box and the names of the internal parameters (names go into messages). Inside a
    `memo.shared_optima` block a search already made on identical input is not made again.
    """
    known = memo.active()
    if known is None:
        return _search(objective, starts, bounds, names, refine, warm)
    box = tuple((float(lo), float(hi)) for lo, hi in bounds)
    key = memo.digest(
        objective, np.asarray(starts, float), box, tuple(names), refine, [np.asarray(w, float) for w in warm]
    )
    if key not in known:
        known[key] = _search(objective, starts, bounds, names, refine, warm)
    return replace(known[key], theta=known[key].theta.copy(), at_bound=list(known[key].at_bound))


def _search(
    objective: Objective | SumObjective,
    starts: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    names: Sequence[str],
    refine: int | None,
    warm: Sequence[np.ndarray],
) -> Optimum:
    """`minimise`'s search itself."""
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
        return Optimum(starts[0], np.inf, False, "no start gives a finite objective", len(starts), 0, [])
    best = min((_lbfgs(objective, c, bounds) for c in candidates), key=lambda r: r.fun)
    for _ in range(POLISH_ROUNDS):  # a fresh L-BFGS memory sometimes still finds a little descent
        again = _lbfgs(objective, best.x, bounds)
        if not again.fun < best.fun:
            break
        best = again
    converged, message, at_bound = _verdict(objective, best, bounds, names)
    return Optimum(best.x, float(best.fun), converged, message, len(starts), len(candidates), at_bound)


def _verdict(objective, best, bounds, names) -> tuple[bool, str, list[int]]:
    """Converged or not, a message that says why, and which parameters stopped at the box (also named in it)."""
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
    return converged, message, [int(i) for i in np.flatnonzero(at_bound)]


def fit(form: LawForm, x, df, loss, *, groups=None, **fit_kw) -> FitResult:
    """Fit `form` to (X, Df, loss) by summed Huber; X may be None for single-factor forms, groups an optional
    replicate id per row. fit_kw: the options of `fit_points` (loss_kind, delta, grid, held_out, weights,
    refine, warm)."""
    return fit_points(form, as_points(x, df, loss, groups=groups), **fit_kw)


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
    assess_quality: bool = True,
) -> FitResult:
    """Fit `form` to validated points by summed Huber (the work behind `fit`).

    held_out: rules such as ["x=max", "df=max"] (see heldout.RULE_HELP) or a boolean mask; those points
    are left out of the fit and scored as Delta_h. grid: start points (G, p) in internal coordinates
    (form.grid() by default). weights: per-point multiplicities (bootstrap). refine: how many of the
    best-scoring starts L-BFGS-B refines (None: every start). warm: extra starts, refined first.
    Grouped points (`points.groups`) are fitted as one mean per (X, Df) cell; the result records the noise
    floor. The result carries its fit-quality verdict (scaling_laws.quality; `assess_quality=False` skips it,
    for bootstrap refits whose verdict nobody reads).
    """
    rules = [] if held_out is None or isinstance(held_out, np.ndarray) else list(held_out)
    mask = held_out_mask(points, held_out)
    noise_floor, n_groups = None, 0
    if points.groups is not None:  # replicates: fit the cell means (see points.group_cells)
        if weights is not None:
            raise ScalingLawError("fit: per-point weights cannot be combined with groups (fit the cell means)")
        cells = group_cells(points)
        mask, points = cells.cell_mask(mask), cells.points
        noise_floor, n_groups = cells.noise_floor(), len(cells.groups)
    keep = ~mask
    check_fittable(points, keep, len(form.free), form.uses_x, form.label)
    w = None if weights is None else np.asarray(weights, float)[keep]
    objective = Objective.on_points(form, points, keep, kind=loss_kind, delta=delta, weights=w)
    starts = form.grid() if grid is None else np.atleast_2d(grid)
    opt = minimise(objective, starts, bounds=form.bounds(), names=form.internal, refine=refine, warm=warm)
    params = form.to_natural(opt.theta)
    result = FitResult(
        law=form.key,
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
        at_bound=[form.free[i] for i in opt.at_bound],
        ranges=fitted_ranges(points, keep),
        noise_floor=noise_floor,
        n_groups=n_groups,
    )
    return assess(result, points, keep, mask) if assess_quality else result


def fitted_ranges(points: Points, keep: np.ndarray) -> dict[str, list[float]]:
    """[low, high] of X (when there is one), Df and the loss over the kept points."""
    cols = {"x": points.x, "df": points.df, "loss": points.loss}
    return {k: [float(v[keep].min()), float(v[keep].max())] for k, v in cols.items() if v is not None}
