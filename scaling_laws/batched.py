"""Many reweighted refits of one objective at once: batched Levenberg-Marquardt in numpy.

A bootstrap refits the same law on hundreds of reweighted copies of the same points, each starting
next to its optimum (the full-data fit). One L-BFGS-B call per resample costs ~10 ms; here every
resample takes damped Gauss-Newton steps together, vectorised, on the fitter's objective (summed
weighted Huber of log or linear residuals, the same box). A step is kept only where it lowers the
objective; a problem is converged when every component of its gradient is below `gtol` of the largest
it could be (`Objective.gradient_scale`), except components pinned at the box by a gradient pointing
out of it. Problems that do not converge are flagged so the caller can hand them to the scipy fitter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.forms import LawForm
from ftscale.scaling_laws.objective import huber
from ftscale.scaling_laws.points import Points

GTOL = 1e-7  # relative gradient of a converged problem (the fitter's stall rule accepts 1e-6)
MAX_ITER = 1500
FTOL = 1e-12  # ... or |gradient| below this fraction of the objective (see _stationary)
AT_BOUND = 1e-6  # a parameter this close to its bound is at the box
_LAMBDA0, _LAMBDA_MAX = 1e-3, 1e12
_STEPS = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])
_CONTINUATION = (100.0, 10.0, 3.0)  # wider deltas, as multiples of delta, each descended briefly first
_CONTINUATION_GTOL, _CONTINUATION_ITER = 1e-3, 10


@dataclass(frozen=True)
class Part:
    """Points of one block of the objective, and K weight vectors (one per problem) over them."""

    form: LawForm  # may be a Mapped view (stage 1 of the two-stage fit)
    lx: np.ndarray  # (n,) log X
    ldf: np.ndarray  # (n,) log Df
    loss: np.ndarray  # (K, n): each problem's losses (a group bootstrap resamples the cell means)
    weights: np.ndarray  # (K, n)

    @classmethod
    def on_points(
        cls, form: LawForm, points: Points, keep: np.ndarray, weights: np.ndarray, losses: np.ndarray | None = None
    ) -> Part:
        """The kept points (boolean mask or indices) with per-problem weights (K, len(points)) and losses
        (K, len(points); the points' own losses for every problem by default)."""
        loss = np.broadcast_to(points.loss, weights.shape) if losses is None else losses
        return cls(form, points.log_x()[keep], np.log(points.df[keep]), loss[:, keep], weights[:, keep])

    def rows(self, rows: np.ndarray) -> Part:
        """The same points for a subset of the problems."""
        return Part(self.form, self.lx, self.ldf, self.loss[rows], self.weights[rows])


@dataclass
class BatchOptimum:
    """Per problem: the parameters reached, the objective there, and whether it converged."""

    theta: np.ndarray  # (K, p)
    value: np.ndarray  # (K,)
    converged: np.ndarray  # (K,) bool


class _Problems:
    """The summed objective of all parts for a subset of the problems, with Gauss-Newton pieces."""

    def __init__(self, parts: Sequence[Part], kind: str, delta: float, free: np.ndarray):
        self.parts, self.kind, self.delta, self.free = parts, kind, delta, free
        # Each part's targets (K, n) in the objective's scale, computed once.
        self.targets = [np.log(p.loss) if kind == "log-huber" else p.loss for p in parts]

    def _residuals(self, k: int, logl: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
        """Residuals of part k's problems `rows` in the objective's scale, and the factor that turns d log L
        into d prediction."""
        if self.kind == "log-huber":
            return self.targets[k][rows] - logl, 1.0
        pred = np.exp(logl)
        return self.targets[k][rows] - pred, pred[..., None]

    def value(self, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Objective (k,) of problems `rows` at theta (k, p); inf where it overflows."""
        total = np.zeros(len(rows))
        with np.errstate(over="ignore", invalid="ignore"):
            for k, part in enumerate(self.parts):
                r, _ = self._residuals(k, part.form.log_predict(theta, part.lx, part.ldf), rows)
                total += (huber(r, self.delta) * part.weights[rows]).sum(1)
        return np.where(np.isfinite(total), total, np.inf)

    def pieces(self, theta: np.ndarray, rows: np.ndarray):
        """Value (k,), gradient (k, q), Gauss-Newton matrix of the inliers (k, q, q), curvature of each
        parameter over all points and gradient scales (k, q)."""
        k, q = len(rows), len(self.free)
        value, grad, scale, curv = np.zeros(k), np.zeros((k, q)), np.zeros((k, q)), np.zeros((k, q))
        hess = np.zeros((k, q, q))
        for i, part in enumerate(self.parts):
            logl, jac = part.form.log_predict_grad(theta, part.lx, part.ldf)
            r, factor = self._residuals(i, logl, rows)
            jac = jac[..., self.free] * factor
            w = part.weights[rows]
            value += (huber(r, self.delta) * w).sum(1)
            grad -= np.einsum("kn,knp->kp", np.clip(r, -self.delta, self.delta) * w, jac)
            hess += np.einsum("kn,kni,knj->kij", w * (np.abs(r) <= self.delta), jac, jac)
            curv += np.einsum("kn,knp->kp", w, jac * jac)
            scale += self.delta * np.einsum("kn,knp->kp", w, np.abs(jac))
        return value, grad, hess, curv, scale


def solve(
    parts: Sequence[Part],
    start: np.ndarray,
    *,
    bounds: Sequence[tuple[float, float]],
    free: Sequence[int] | None = None,
    kind: str = "log-huber",
    delta: float = 1e-3,
    gtol: float = GTOL,
    max_iter: int = MAX_ITER,
) -> BatchOptimum:
    """Minimise each problem's summed weighted Huber from `start` (K, p), moving only the `free` columns.

    The other columns stay at their start values, which may differ per problem (the stage-2 refits hold
    each resample's own shared beta and E). bounds: the box of all p internal parameters. Each problem
    first descends briefly with wider Huber deltas (a continuation: the smoother objective settles sooner
    which residuals sit inside the band).
    """
    free_idx = np.arange(start.shape[1]) if free is None else np.asarray(free, int)
    lo, hi = (np.array(b, float)[free_idx] for b in zip(*bounds, strict=True))
    theta = np.array(start, float)
    for wider in _CONTINUATION:
        theta = _descend(
            parts, theta, free_idx, lo, hi, kind, wider * delta, _CONTINUATION_GTOL, _CONTINUATION_ITER
        ).theta
    return _descend(parts, theta, free_idx, lo, hi, kind, delta, gtol, max_iter)


def _descend(
    parts: Sequence[Part],
    start: np.ndarray,
    free_idx: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    kind: str,
    delta: float,
    gtol: float,
    max_iter: int,
) -> BatchOptimum:
    """Damped Gauss-Newton with a multi-step line search, every problem at once, from `start` (K, p)."""
    theta = np.array(start, float)
    k = len(theta)
    problems = _Problems(parts, kind, delta, free_idx)
    rows = np.arange(k)
    value, grad, hess, curv, scale = problems.pieces(theta, rows)
    lam = np.full(k, _LAMBDA0)
    done = np.zeros(k, bool)
    converged = np.zeros(k, bool)
    eye = np.eye(len(free_idx))
    for _ in range(max_iter):
        pinned = _pinned(theta[:, free_idx], grad, lo, hi)
        done |= _stationary(grad, scale, value, pinned, gtol)
        converged |= done & np.isfinite(value)
        active = np.flatnonzero(~done)
        if not active.size:
            break
        # Marquardt damping, scaled by each parameter's curvature over all points (inliers alone may
        # leave a direction unconstrained). Parameters pinned at the box are held where they are.
        move = (~pinned[active]).astype(float)
        damp = lam[active, None] * np.maximum(curv[active], 1e-12 * curv[active].max(axis=1, keepdims=True))
        system = hess[active] + (damp + np.finfo(float).tiny)[:, :, None] * eye
        system = system * move[:, :, None] * move[:, None, :] + (1 - move)[:, :, None] * eye
        step = np.linalg.solve(system, -(grad[active] * move)[..., None])[..., 0]
        # Try several multiples of the step at once and keep the best: the objective is nearly piecewise
        # linear (most residuals sit on Huber's linear part), so the Gauss-Newton model is often too
        # short along a valley (E -> 0) and too long across kinks.
        trials = np.repeat(theta[active][None], len(_STEPS), axis=0)
        trials[:, :, free_idx] = np.clip(trials[:, :, free_idx] + _STEPS[:, None, None] * step, lo, hi)
        values = problems.value(trials.reshape(-1, trials.shape[-1]), np.tile(active, len(_STEPS)))
        values = values.reshape(len(_STEPS), active.size)
        best = np.argmin(values, axis=0)
        better = values[best, np.arange(active.size)] < value[active]
        lam[active] = np.where(better & (_STEPS[best] >= 1), np.maximum(lam[active] / 3, 1e-15), lam[active])
        lam[active] = np.where(~better | (_STEPS[best] < 0.5), lam[active] * 4, lam[active])
        moved = active[better]
        if moved.size:
            theta[moved] = trials[best[better], np.flatnonzero(better)]
            value[moved], grad[moved], hess[moved], curv[moved], scale[moved] = problems.pieces(theta[moved], moved)
        done |= lam > _LAMBDA_MAX  # no step lowers the objective: stalled away from a stationary point
    return BatchOptimum(theta, value, converged)


def _pinned(theta: np.ndarray, grad: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Parameters at a bound whose gradient points out of the box: the optimum along them is the bound."""
    return ((theta - lo <= AT_BOUND) & (grad > 0)) | ((hi - theta <= AT_BOUND) & (grad < 0))


def _stationary(grad: np.ndarray, scale: np.ndarray, value: np.ndarray, pinned: np.ndarray, gtol: float) -> np.ndarray:
    """Every unpinned gradient component below gtol of its largest possible size, or so small that a unit
    move of that parameter changes the objective by under FTOL of itself (a term fading out, e.g. E -> 0)."""
    tiny = np.abs(grad) <= np.maximum(gtol * scale, FTOL * np.abs(value)[:, None])
    return np.all(tiny | pinned, axis=1)
