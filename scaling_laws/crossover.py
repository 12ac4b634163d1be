"""Crossovers and planning: the critical finetuning data size between two methods, examples needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.result import FitResult

DF_BOUNDS = (1.0, 1e15)  # Df range searched by the numeric root finders
_SCAN = 600  # log-spaced probes for sign changes (6% apart in Df over DF_BOUNDS); brentq polishes each bracket


def _roots(g, bounds: tuple[float, float]) -> list[float]:
    """Every Df in bounds where g (a function of log Df, vectorised) changes sign, smallest first. A zero
    counts as positive, so curves that touch without crossing, or coincide, give none; two roots closer
    than one probe step may be missed."""
    u = np.linspace(np.log(bounds[0]), np.log(bounds[1]), _SCAN)
    side = np.where(g(u) >= 0, 1, -1)
    return [
        float(np.exp(brentq(lambda s: float(g(np.array([s]))[0]), u[i], u[i + 1], xtol=1e-13, rtol=1e-15)))
        for i in np.flatnonzero(side[:-1] != side[1:])
    ]


def _first_root(g, bounds: tuple[float, float]) -> float | None:
    """Smallest Df in bounds where g (a function of log Df) changes sign, or None."""
    roots = _roots(g, bounds)
    return roots[0] if roots else None


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


@dataclass
class Crossing:
    """Where two methods' laws cross at one X, who is better (lower loss) on each side, how sure."""

    x: float | None
    df: float
    below: str  # the method with the lower predicted loss just below this Df
    above: str  # ... just above it
    low: float | None = None  # percentile interval of the crossing over paired bootstrap resamples
    high: float | None = None
    share: float | None = None  # share of resample pairs that cross the same way (the interval is over those)
    level: float | None = None
    extrapolation: list[str] = field(default_factory=list)  # why it lies outside what the fits measured

    def interval(self, digits: int = 4) -> str:
        """`95% [low, high] in 87% of resamples` (to `digits` significant digits), or '' without resamples."""
        if self.low is None:
            return ""
        low, high = f"{self.low:.{digits}g}", f"{self.high:.{digits}g}"
        return f"{100 * self.level:g}% [{low}, {high}] in {100 * self.share:.0f}% of resamples"


def crossings(
    fit1: FitResult,
    fit2: FitResult,
    x: float | None = None,
    *,
    names: tuple[str, str] = ("method 1", "method 2"),
    bounds: tuple[float, float] = DF_BOUNDS,
    level: float | None = None,
) -> list[Crossing]:
    """Every Df in `bounds` where the two laws predict the same loss at X, smallest first, with the better
    method on each side. When both fits have bootstrap resamples, resample i of one is paired with resample
    i of the other: each crossing's interval is the percentile interval (at `level`, default the fits') of
    the nearest crossing in the same direction in each pair (found on the probe grid, linearly interpolated
    in log Df), and `share` is the share of pairs that have one. A crossing outside the X or Df range either
    fit was fitted on is marked as an extrapolation."""
    require_x({names[0]: fit1, names[1]: fit2}, x)
    level = level or fit1.level or fit2.level or 0.95
    paired = _paired_crossings(fit1, fit2, x, bounds)
    out = []
    for df in _roots(lambda u: _gap(fit1, fit2, x, u)[0], bounds):
        u = np.log(df)
        rising = bool(_gap(fit1, fit2, x, np.array([u - 1e-6]))[0, 0] < 0)  # fit1 lower just below
        c = Crossing(x, df, *(names if rising else names[::-1]))
        if paired is not None:
            matched = np.array([_nearest(roots, ups, u, rising) for roots, ups in paired])
            found = matched[np.isfinite(matched)]
            c.share, c.level = float(found.size / matched.size), level
            if found.size:
                c.low, c.high = (float(np.exp(v)) for v in percentile_interval(found, level))
        c.extrapolation = outside_ranges({names[0]: fit1, names[1]: fit2}, x, df)
        out.append(c)
    return out


def require_x(fits: Mapping[str, FitResult], x: float | None) -> None:
    """ScalingLawError when X is missing for a law that depends on it."""
    joint = [f"the {name + ' ' if name else ''}fit's {fit.law} law" for name, fit in fits.items() if fit.form.uses_x]
    if x is None and joint:
        verb = "are" if len(joint) > 1 else "is"
        raise ScalingLawError(f"{' and '.join(joint)} {verb} joint in X and Df: give a value of X (--x)")


def outside_ranges(fits: Mapping[str, FitResult], x: float | None, df: float) -> list[str]:
    """Why (X, Df) lies outside the points each fit was fitted on, in words (empty when inside all)."""
    out = []
    for name, fit in fits.items():
        if fit.ranges is None:
            out.append(f"the {name + ' ' if name else ''}fit does not record the range it was fitted on")
            continue
        checks = [("Df", df, fit.ranges["df"])]
        if x is not None and "x" in fit.ranges and fit.form.uses_x:
            checks.insert(0, ("X", x, fit.ranges["x"]))
        for label, value, (lo, hi) in checks:
            if not lo * (1 - _RANGE_RTOL) <= value <= hi * (1 + _RANGE_RTOL):
                side = "below" if value < lo else "above"
                whose = f"the {name} fit's" if name else "the fit's"
                out.append(f"{label} = {value:.4g} is {side} {whose} {label} range [{lo:.4g}, {hi:.4g}]")
    return out


_RANGE_RTOL = 1e-9  # a value typed with fewer digits than the fit stored still counts as inside


def log_losses(fit: FitResult, x: float | None, u: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """log L at X and each log Df in u (m,) for the fit's parameters (1, m), or for each row of natural
    parameters `rows` (k, p) in the fit's parameter order (its bootstrap resamples) (k, m)."""
    form = fit.form
    params = np.atleast_2d(np.array(list(fit.params.values())) if rows is None else rows)
    positive = np.array([form.positive(p) for p in form.params])
    theta = np.where(positive, np.log(np.where(positive, params, 1.0)), params)
    lx = np.zeros_like(u) if x is None or not form.uses_x else np.full_like(u, np.log(x))
    return form.log_predict(theta, lx, u)


def _gap(fit1: FitResult, fit2: FitResult, x: float | None, u: np.ndarray, paired: int = 0) -> np.ndarray:
    """L1 - L2 at X and log Df u: (1, m) for the fits, (paired, m) for their first `paired` resample pairs."""
    if not paired:
        return np.exp(log_losses(fit1, x, u)) - np.exp(log_losses(fit2, x, u))
    rows = [np.asarray(f.bootstrap_params, float)[:paired] for f in (fit1, fit2)]
    return np.exp(log_losses(fit1, x, u, rows[0])) - np.exp(log_losses(fit2, x, u, rows[1]))


def _paired_crossings(fit1, fit2, x, bounds) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per resample pair: its crossings in log Df and whether each rises (fit1 lower below); None without
    resamples in both fits."""
    if not fit1.bootstrap_params or not fit2.bootstrap_params:
        return None
    u = np.linspace(np.log(bounds[0]), np.log(bounds[1]), _SCAN)
    gap = _gap(fit1, fit2, x, u, paired=min(len(fit1.bootstrap_params), len(fit2.bootstrap_params)))
    out = []
    for g in gap:
        side = np.where(g >= 0, 1, -1)
        i = np.flatnonzero(side[:-1] != side[1:])
        roots = u[i] + (u[i + 1] - u[i]) * g[i] / np.where(g[i] == g[i + 1], 1.0, g[i] - g[i + 1])
        out.append((roots, side[i] < 0))
    return out


def _nearest(roots: np.ndarray, rising: np.ndarray, u: float, want_rising: bool) -> float:
    """The root nearest u among those crossing in the wanted direction; NaN when there is none."""
    same = roots[rising == want_rising]
    return float(same[np.argmin(np.abs(same - u))]) if same.size else np.nan
