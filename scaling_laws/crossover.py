"""Crossovers and planning: the critical finetuning data size between two methods, examples needed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ftscale.scaling_laws.result import FitResult

DF_BOUNDS = (1.0, 1e15)  # Df range searched by the numeric root finders
_SCAN = 600  # log-spaced probes for sign changes; brentq then polishes the first bracket


def _first_root(g, bounds: tuple[float, float]) -> float | None:
    """Smallest Df in bounds where g (a function of log Df) changes sign, or None."""
    u = np.linspace(np.log(bounds[0]), np.log(bounds[1]), _SCAN)
    v = g(u)
    if v[0] == 0:
        return float(np.exp(u[0]))
    change = np.flatnonzero(np.sign(v[:-1]) * np.sign(v[1:]) <= 0)
    if not change.size:
        return None
    i = int(change[0])
    if v[i + 1] == 0:
        return float(np.exp(u[i + 1]))
    return float(np.exp(brentq(lambda s: float(g(np.array([s]))[0]), u[i], u[i + 1], xtol=1e-13, rtol=1e-15)))


def _closed_form(fit1: FitResult, fit2: FitResult, x: float | None) -> float | None:
    """PAPER.md closed form Df_c = H X^gamma: both multiplicative, same E, different beta."""
    p1, p2 = fit1.params, fit2.params
    if fit1.law != "multiplicative" or fit2.law != "multiplicative" or x is None:
        return None
    if p1["E"] != p2["E"] or p1["beta"] == p2["beta"]:
        return None
    h = (p1["A"] / p2["A"]) ** (1 / (p1["beta"] - p2["beta"]))
    gamma = (p2["alpha"] - p1["alpha"]) / (p1["beta"] - p2["beta"])
    return float(h * x**gamma)


def critical_data_size(
    fit1: FitResult, fit2: FitResult, x: float | None = None, *, bounds: tuple[float, float] = DF_BOUNDS
) -> float | None:
    """Smallest Df where the two fitted laws predict the same loss at X; None if they never cross.

    Uses the closed form when it applies (two multiplicative laws sharing E), else a numeric root
    in log Df over `bounds`.
    """
    exact = _closed_form(fit1, fit2, x)
    if exact is not None:
        return exact
    return _first_root(lambda u: fit1.predict(x, np.exp(u)) - fit2.predict(x, np.exp(u)), bounds)


@dataclass
class Needed:
    """Examples needed to reach a loss: point estimate and bootstrap interval (None: never reached)."""

    examples: float | None
    low: float | None = None
    high: float | None = None  # None here means some resamples never reach the loss
    level: float | None = None


def _solve(fit: FitResult, params: dict[str, float], x, target: float, bounds) -> float | None:
    form = fit.form
    if form.predict(params, x, bounds[0]) <= target:  # reached already at the smallest size
        return bounds[0]
    return _first_root(lambda u: target - form.predict(params, x, np.exp(u)), bounds)


def examples_needed(
    fit: FitResult,
    x: float | None,
    target_loss: float,
    *,
    level: float | None = None,
    bounds: tuple[float, float] = DF_BOUNDS,
) -> Needed:
    """Smallest Df whose predicted loss at X is at most target_loss, with a percentile interval over
    the fit's bootstrap resamples when it has them (level defaults to the fit's)."""
    best = _solve(fit, fit.params, x, target_loss, bounds)
    if not fit.bootstrap_params:
        return Needed(best)
    level = level or fit.level or 0.95
    found = [_solve(fit, s, x, target_loss, bounds) for s in fit.samples()]
    never = 10 * bounds[1]  # finite stand-in for "never", so percentiles do not meet inf - inf
    values = np.array([never if f is None else f for f in found])
    q = 50 * (1 - level)
    lo, hi = (float(v) if v <= bounds[1] else None for v in np.percentile(values, [q, 100 - q]))
    return Needed(best, lo, hi, level)
