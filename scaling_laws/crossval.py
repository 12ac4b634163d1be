"""Choosing among fits (law forms, shared parameters, any option) by cross-validation on the fitted points.

The held-out points are never read: each fold leaves some *fitted* points out, refits every option on the
rest, and scores the mean |L - L_hat| on the points it left out. The folds are extrapolations like the
held-out test itself: leave the largest fitted X out (all its Df), and leave the largest fitted Df out (all
X). An option's score is the mean of its fold errors; an option that cannot be fitted on some fold gets no
score (with the reason). Options whose fit on all fitted points is degenerate rank after the ok ones, and
options without a score after both.

An option is a function from the points to leave out (series -> boolean mask) to the fitted laws (series
-> FitResult), so one machinery chooses a law form (`compare.compare_points`) or which parameters the laws
of several factors share (a `fit_two_stage` call per option).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.points import Points
from ftscale.scaling_laws.result import FitResult

# An option: the points to leave out per series (held-out and fold points) -> the fitted law per series.
FitFn = Callable[[dict[str, np.ndarray]], Mapping[str, FitResult]]


@dataclass(frozen=True)
class Fold:
    """Fitted points one fold leaves out and predicts, per series."""

    name: str
    test: dict[str, np.ndarray]  # series -> boolean mask over its points


@dataclass
class Choice:
    """One option's cross-validation score and the verdict of its fit on all fitted points."""

    name: str
    score: float | None  # mean over folds of the fold's mean |L - L_hat| on its left-out points
    folds: dict[str, float | None] = field(default_factory=dict)  # fold -> its error (None: not fitted)
    reason: str | None = None  # why there is no score
    degenerate: bool = False  # its fit on all fitted points is degenerate (ranks after the ok ones)


@dataclass
class Selection:
    """Options ranked best first; the chosen one is first. `fits` holds each option's laws fitted on all
    fitted points (held-out points still left out); `ranked_by` says how they were ranked."""

    ranking: list[Choice]
    fits: dict[str, Mapping[str, FitResult]]
    folds: list[str]
    notes: list[str]  # folds that could not be formed, and why
    ranked_by: str  # "cross-validation", or "delta_e" when no fold could be formed

    @property
    def chosen(self) -> str:
        """The name of the chosen option."""
        return self.ranking[0].name


def extrapolation_folds(series: Mapping[str, Points], held: Mapping[str, np.ndarray]) -> tuple[list[Fold], list[str]]:
    """The folds "largest X" (each series' largest fitted X left out) and "largest Df" (its largest fitted Df
    left out), and a note for each fold not formed: a fold must leave every series two distinct X (when it has
    X) and two distinct Df among its remaining fitted points, or no joint law could be refitted."""
    folds, notes = [], []
    for name, column in (("largest X", "x"), ("largest Df", "df")):
        test, why = {}, None
        for g, pts in series.items():
            values = getattr(pts, column)
            if values is None:
                why = f"the {name} fold needs an X column"
                break
            fitted = ~held[g]
            test[g] = fitted & (values == values[fitted].max())
            rest = fitted & ~test[g]
            for label, col in (("X", pts.x), ("Df", pts.df)):
                if col is not None and len(np.unique(col[rest])) < 2:
                    why = f"the {name} fold would leave{f' {g}' if g else ''} one distinct {label}"
            if why:
                break
        if why:
            notes.append(why)
        else:
            folds.append(Fold(name, test))
    return folds, notes


def cross_validate(
    fit_fn: FitFn, series: Mapping[str, Points], held: Mapping[str, np.ndarray], folds: Sequence[Fold]
) -> Choice:
    """Score one option: refit it on each fold (the fold's points and the held-out points left out) and
    average the fold errors. The held-out points are left out of every refit and never scored."""
    errors: dict[str, float | None] = {}
    reasons = []
    for fold in folds:
        try:
            fits = fit_fn({g: held[g] | fold.test[g] for g in series})
        except ScalingLawError as error:
            errors[fold.name] = None
            reasons.append(f"cannot be fitted without the {fold.name}: {error}")
            continue
        residuals = []
        for g, pts in series.items():
            test = fold.test[g]
            x = None if pts.x is None else pts.x[test]
            with np.errstate(over="ignore", invalid="ignore"):
                residuals.append(np.abs(pts.loss[test] - np.asarray(fits[g].predict(x, pts.df[test]), float)))
        error = float(np.mean(np.concatenate(residuals)))
        errors[fold.name] = error if np.isfinite(error) else None
        if not np.isfinite(error):
            reasons.append(f"predicts no finite loss for the {fold.name}")
    if not folds or reasons:
        return Choice("", None, errors, "; ".join(reasons) or "no cross-validation fold")
    return Choice("", float(np.mean(list(errors.values()))), errors)


def choose(
    options: Mapping[str, FitFn],
    series: Mapping[str, Points],
    held: Mapping[str, np.ndarray],
    folds: Sequence[Fold] | None = None,
) -> Selection:
    """Fit every option on all fitted points and cross-validate it; rank: ok options by score, then degenerate
    ones by score, then those without a score (in the given order). Without any fold (too few distinct X or
    Df), options are ranked by their Delta_e instead, and the selection says so. folds: the extrapolation
    folds by default."""
    notes: list[str] = []
    if folds is None:
        folds, notes = extrapolation_folds(series, held)
    fits, choices = {}, []
    for name, fit_fn in options.items():
        fits[name] = fit_fn(dict(held))
        choice = cross_validate(fit_fn, series, held, folds)
        choice.name, choice.degenerate = name, any(f.degenerate for f in fits[name].values())
        choices.append(choice)
    ranked_by = "cross-validation"
    if not folds:
        ranked_by = "delta_e"
        for choice in choices:
            choice.score, choice.reason = float(np.mean([f.delta_e for f in fits[choice.name].values()])), None
    order = sorted(choices, key=lambda c: (c.score is None, c.degenerate, np.inf if c.score is None else c.score))
    return Selection(order, fits, [f.name for f in folds], notes, ranked_by)
