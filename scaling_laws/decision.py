"""Answers a practitioner acts on: predictions over a grid, and which method to use at a target (X, Df).

Both read saved fits only. A fit whose verdict is `degenerate` is never used silently: predictions from it
are marked, and a decision resting on it is `not decidable`, with the reasons (its numbers are still given,
for reference only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ftscale.scaling_laws.crossover import DF_BOUNDS, Crossing, crossings, log_losses, outside_ranges, require_x
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.result import FitResult


@dataclass
class Predicted:
    """The predicted loss at one (X, Df), with its bootstrap interval when the fit has resamples."""

    x: float | None
    df: float
    loss: float
    low: float | None = None
    high: float | None = None
    level: float | None = None
    extrapolation: list[str] = field(default_factory=list)  # why (X, Df) lies outside the fitted range


def predict_table(
    fit: FitResult, xs: Sequence[float | None], dfs: Sequence[float], *, level: float | None = None
) -> list[Predicted]:
    """L_hat on the grid xs x dfs (X-major), with percentile intervals over the fit's bootstrap resamples at
    `level` (default the fit's) when it has them."""
    for x in xs:
        require_x({"": fit}, x)
    level = level or fit.level or 0.95
    u = np.log(np.asarray(dfs, float))
    rows = []
    for x in xs:
        loss = np.exp(log_losses(fit, x, u))[0]
        if fit.bootstrap_params:
            lo, hi = percentile_interval(np.exp(log_losses(fit, x, u, np.asarray(fit.bootstrap_params))), level)
        for j, df in enumerate(dfs):
            p = Predicted(x, float(df), float(loss[j]), extrapolation=outside_ranges({"": fit}, x, df))
            if fit.bootstrap_params:
                p.low, p.high, p.level = float(lo[j]), float(hi[j]), level
            rows.append(p)
    return rows


@dataclass
class Decision:
    """Which method is predicted best at a target (X, Df), by how much, how sure, and what would change it."""

    x: float | None
    df: float
    predicted: dict[str, float]  # method -> predicted loss at the target
    intervals: dict[str, list[float]]  # method -> [low, high] (methods with bootstrap resamples)
    best: str
    runner_up: str | None
    margin: float | None  # runner-up's loss minus the best's
    margin_interval: list[float] | None  # over paired resamples
    p_best: dict[str, float] | None  # share of paired resamples in which each method is best
    n_resamples: int  # paired resamples behind p_best (0: the fits have none)
    level: float
    next_crossing: Crossing | None  # the smallest Df above the target where another method overtakes the best
    extrapolation: list[str]  # why the target lies outside what the fits measured
    degenerate: dict[str, list[str]]  # method -> reasons its fit is degenerate

    @property
    def decidable(self) -> bool:
        """False when a fit the decision rests on is degenerate."""
        return not self.degenerate

    def summary(self) -> str:
        """The decision in plain words, one sentence per line."""
        at = ("" if self.x is None else f"X = {self.x:.4g}, ") + f"Df = {self.df:.4g}"
        lines = []
        if self.degenerate:
            why = "; ".join(f"the {m} fit is degenerate: {'; '.join(r)}" for m, r in self.degenerate.items())
            lines += [f"not decidable: {why}", "for reference only:"]
        head = f"at {at}: {self.best} is predicted best (loss {self.predicted[self.best]:.4g}{self._iv(self.best)})"
        if self.runner_up is not None:
            head += f", {self.margin:.4g} below {self.runner_up}"
            if self.margin_interval is not None:
                lo, hi = self.margin_interval
                head += f" ({100 * self.level:g}% [{lo:.4g}, {hi:.4g}])"
        lines.append(head)
        if self.p_best is not None:
            lines.append(
                f"how sure: {self.best} is best in {100 * self.p_best[self.best]:.1f}% of {self.n_resamples} "
                "paired bootstrap resamples"
            )
        else:
            lines.append("how sure: unknown (the fits have no bootstrap resamples; fit with --bootstrap N)")
        if self.extrapolation:
            lines.append("the target is an extrapolation: " + "; ".join(self.extrapolation))
        c = self.next_crossing
        if c is None:
            lines.append(f"no other method overtakes {self.best} at this X up to Df = {DF_BOUNDS[1]:g}")
        else:
            line = f"next crossing: {c.above} overtakes {self.best} at Df = {c.df:.4g}"
            if c.low is not None:
                line += f" ({c.interval()})"
            if c.extrapolation:
                line += " -- an extrapolation: " + "; ".join(c.extrapolation)
            lines.append(line)
        return "\n".join(lines)

    def _iv(self, method: str) -> str:
        iv = self.intervals.get(method)
        return "" if iv is None else f", {100 * self.level:g}% [{iv[0]:.4g}, {iv[1]:.4g}]"


def decide(fits: Mapping[str, FitResult], x: float | None, df: float, *, level: float | None = None) -> Decision:
    """Compare the methods' fitted laws at (X, Df): the best, its margin over the runner-up (with an interval
    over paired resamples: resample i of every fit together), the share of paired resamples in which each
    method is best, and the next crossing above Df between the best and any other method."""
    if len(fits) < 2:
        raise ScalingLawError(f"decide needs the fits of at least two methods, got {len(fits)}")
    require_x(fits, x)
    names = list(fits)
    level = level or next((f.level for f in fits.values() if f.level), None) or 0.95
    u = np.array([np.log(df)])
    predicted = {m: float(np.exp(log_losses(f, x, u))[0, 0]) for m, f in fits.items()}
    ranked = sorted(names, key=predicted.__getitem__)
    best, runner_up = ranked[0], ranked[1]
    n = min(len(f.bootstrap_params or []) for f in fits.values())
    intervals, margin_iv, p_best = {}, None, None
    for m, f in fits.items():
        if f.bootstrap_params:
            samples = np.exp(log_losses(f, x, u, np.asarray(f.bootstrap_params)))[:, 0]
            intervals[m] = list(percentile_interval(samples, level))
    if n:
        paired = np.stack(
            [np.exp(log_losses(fits[m], x, u, np.asarray(fits[m].bootstrap_params[:n])))[:, 0] for m in names]
        )
        winners = np.argmin(paired, axis=0)
        p_best = {m: float(np.mean(winners == i)) for i, m in enumerate(names)}
        margin_iv = list(percentile_interval(paired[names.index(runner_up)] - paired[names.index(best)], level))
    ahead = [
        c
        for m in names
        if m != best
        for c in crossings(fits[best], fits[m], x, names=(best, m), level=level)
        if c.df > df * (1 + 1e-9) and c.above == m
    ]
    return Decision(
        x=x,
        df=df,
        predicted=predicted,
        intervals=intervals,
        best=best,
        runner_up=runner_up,
        margin=predicted[runner_up] - predicted[best],
        margin_interval=margin_iv,
        p_best=p_best,
        n_resamples=n,
        level=level,
        next_crossing=min(ahead, key=lambda c: c.df, default=None),
        extrapolation=outside_ranges(fits, x, df),
        degenerate={m: f.quality_reasons for m, f in fits.items() if f.degenerate},
    )
