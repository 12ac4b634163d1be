"""Extrapolating partial loss curves to a larger Df: the power-phase line of Lin et al. (ICML 2024), alone or pooled.

A predictor maps candidates' curves (mean log loss at each distinct log Df) and a log target Df per candidate to
the predicted log loss there.

- `tail` is the fit of Lin et al.'s AtS ("Accept then Stop", their `ats_select`): walk back from the largest Df,
  accepting points while a log-log line through the points accepted so far predicts the next smaller one within
  `DELTA` residual standard deviations (at least `K` points are accepted first); the points after the first
  rejected one are the power phase, and the line through them (ordinary least squares in log-log) is extrapolated.
- `tail-pooled` shrinks each candidate's tail slope toward what comparable candidates' slopes say (empirical
  Bayes meta-regression of the slopes on the candidates' pool, model size and zero-shot gap), by how uncertain
  its own slope is. A slope from three noisy points borrows strength from its pool; a well-measured one stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError

K, DELTA = 3, 5.0  # AtS's hyper-parameters (Lin et al.'s defaults, used for their Table 1)
MIN_RESIDUAL_DOF = 3  # a meta-regression keeps a covariate only with this many slopes to spare
SE2_FLOOR = 1e-12  # a slope through collinear points is exact, not infinitely precise


@dataclass(frozen=True)
class Curves:
    """Candidates' curves as predictors see them: each candidate's distinct log Df (ascending) and mean log loss
    there, and what candidates share (pool label, log model size, log zero-shot loss; None when unknown)."""

    log_df: list[np.ndarray]
    log_loss: list[np.ndarray]
    pools: list[str | None]
    log_size: list[float | None]
    log_loss0: list[float | None]

    def __len__(self) -> int:
        return len(self.log_df)

    def upto(self, log_cut: np.ndarray) -> Curves:
        """Each candidate's points with log Df <= its entry of log_cut (a backtest's view of the curves)."""
        keep = [x <= c for x, c in zip(self.log_df, log_cut, strict=True)]
        return Curves(
            [x[k] for x, k in zip(self.log_df, keep, strict=True)],
            [y[k] for y, k in zip(self.log_loss, keep, strict=True)],
            self.pools,
            self.log_size,
            self.log_loss0,
        )


@dataclass(frozen=True)
class Lines:
    """Per candidate, the least-squares line through its power-phase points: centroid, slope, slope variance."""

    x_mean: np.ndarray
    y_mean: np.ndarray
    slope: np.ndarray
    slope_var: np.ndarray  # NaN where the line has no residual degree of freedom (two points)

    def at(self, log_target: np.ndarray, slope: np.ndarray | None = None) -> np.ndarray:
        """log L at log_target along each line (or along the given slopes through the same centroids)."""
        return self.y_mean + (self.slope if slope is None else slope) * (log_target - self.x_mean)


def power_phase_start(lx: np.ndarray, ly: np.ndarray, k: int = K, delta: float = DELTA) -> int:
    """Index of the first point of the power phase, by AtS's rule (see the module docstring).

    As in Lin et al.'s code: with at most k points all are used; when no point is rejected, the smallest Df is still
    left out (the walk stops one point early); a zero residual spread rejects any point off the line.
    """
    m = len(lx)
    if m <= k:
        return 0
    for accepted in range(k, m):
        x, y = lx[-accepted:], ly[-accepted:]
        slope, intercept = np.polyfit(x, y, 1)
        spread = (y - (intercept + slope * x)).std()
        nxt = m - accepted - 1
        miss = abs(ly[nxt] - (intercept + slope * lx[nxt]))
        if miss > delta * spread:
            break
    return m - accepted


def tail_lines(curves: Curves) -> Lines:
    """The power-phase line of every candidate."""
    rows = []
    for lx, ly in zip(curves.log_df, curves.log_loss, strict=True):
        start = power_phase_start(lx, ly)
        x, y = lx[start:], ly[start:]
        sxx = ((x - x.mean()) ** 2).sum()
        slope = ((x - x.mean()) * (y - y.mean())).sum() / sxx
        residual = y - y.mean() - slope * (x - x.mean())
        var = (residual @ residual) / (len(x) - 2) / sxx if len(x) > 2 else np.nan
        rows.append((x.mean(), y.mean(), slope, var))
    return Lines(*(np.array(col) for col in zip(*rows, strict=True)))


def tail(curves: Curves, log_target: np.ndarray) -> np.ndarray:
    """AtS's prediction: each candidate's power-phase line, extrapolated."""
    return tail_lines(curves).at(log_target)


def tail_pooled(curves: Curves, log_target: np.ndarray) -> np.ndarray:
    """Each candidate's power-phase line with its slope shrunk toward the meta-regression of all slopes."""
    lines = tail_lines(curves)
    return lines.at(log_target, shrunk_slopes(lines, covariates(curves)))


def covariates(curves: Curves) -> np.ndarray:
    """Design matrix of the slopes' meta-regression: an intercept per pool (one intercept without pools), then
    log model size and the log zero-shot gap (log L(0) - log L at the smallest Df) where every candidate has them.
    Columns are dropped from the right until MIN_RESIDUAL_DOF slopes are left over and the matrix has full rank."""
    n = len(curves)
    labels = sorted({p for p in curves.pools if p is not None})
    if len(labels) > 1 and None not in curves.pools:
        columns = [np.array([p == label for p in curves.pools], float) for label in labels]
    else:
        columns = [np.ones(n)]
    if None not in curves.log_size:
        columns.append(np.array(curves.log_size, float))
    if None not in curves.log_loss0:
        columns.append(np.array(curves.log_loss0, float) - np.array([y[0] for y in curves.log_loss]))
    while len(columns) > 1:
        z = np.column_stack(columns)
        if n - z.shape[1] >= MIN_RESIDUAL_DOF and np.linalg.matrix_rank(z) == z.shape[1]:
            return z
        columns.pop()
    return np.column_stack(columns)


def shrunk_slopes(lines: Lines, z: np.ndarray) -> np.ndarray:
    """Empirical-Bayes slopes: slope_i ~ N(z_i g, tau^2) with sampling variance v_i; tau^2 by DerSimonian and Laird's
    moment estimator for meta-regression; each slope moves toward z_i g by v_i / (v_i + tau^2).

    Lines without a residual degree of freedom take the median variance of the others; with no variance known, or
    too few candidates to estimate tau^2, the slopes are returned as they are."""
    b, v = lines.slope, lines.slope_var.copy()
    n, p = z.shape
    if n - p < 1 or not np.isfinite(v).any():
        return b
    v = np.maximum(np.where(np.isfinite(v), v, np.median(v[np.isfinite(v)])), SE2_FLOOR)
    w = 1 / v
    fixed = _wls(z, b, w)
    q = (w * (b - z @ fixed) ** 2).sum()
    zw = z * w[:, None]
    trace = w.sum() - np.trace(np.linalg.solve(z.T @ zw, zw.T @ zw))
    tau2 = max(0.0, (q - (n - p)) / trace) if trace > 0 else 0.0
    prior = z @ _wls(z, b, 1 / (v + tau2))
    return (tau2 * b + v * prior) / (tau2 + v)


def _wls(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    zw = z * w[:, None]
    return np.linalg.solve(z.T @ zw, zw.T @ y)


Predictor = Callable[[Curves, np.ndarray], np.ndarray]
PREDICTORS: dict[str, Predictor] = {"tail": tail, "tail-pooled": tail_pooled}


def get_predictors(names: Sequence[str] | None) -> dict[str, Predictor]:
    """The named predictors (all of them for None), in menu order; ScalingLawError naming the known ones otherwise."""
    if names is None:
        return dict(PREDICTORS)
    unknown = [n for n in names if n not in PREDICTORS]
    if unknown or not names:
        raise ScalingLawError(f"unknown predictor(s) {unknown}; known predictors: {', '.join(PREDICTORS)}")
    return {n: PREDICTORS[n] for n in names}
