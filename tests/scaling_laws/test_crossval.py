"""Selection by cross-validation on the fitted points: the held-out points never move a choice."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import (
    ADDITIVE,
    MULTIPLICATIVE,
    POWER,
    RECTIFIED_JOINT,
    Comparison,
    as_points,
    choose,
    compare_points,
    extrapolation_folds,
    fit_points,
    fit_two_stage,
    held_out_mask,
)

from .conftest import synthetic
from .two_stage_data import two_stage_series

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
X, DF = np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6)
FORMS = (MULTIPLICATIVE, ADDITIVE, RECTIFIED_JOINT)
HELD = ["x=max", "df=max"]
# CV scores of the same fits on the same fitted points: the same computation, but two solves may differ in
# the last bits (see test_fit.py's SAME_PARAMS); a score is a mean |L - L_hat|, linear in the parameters.
SAME_SCORE = 1e-6


def _permuted_held_out(points, rules, seed: int):
    held = np.flatnonzero(held_out_mask(points, rules))
    loss = points.loss.copy()
    loss[held] = loss[np.random.default_rng(seed).permutation(held)] * 1.5  # permuted, and off the law
    return as_points(points.x, points.df, loss)


def test_permuting_the_held_out_losses_changes_no_selected_form():
    points = as_points(*synthetic(MULTIPLICATIVE, TRUTH, X, DF, 0.02, seed=8))
    one = compare_points(points, FORMS, held_out=HELD, refine=4)
    two = compare_points(_permuted_held_out(points, HELD, 0), FORMS, held_out=HELD, refine=4)
    assert [c.name for c in one.cv] == [c.name for c in two.cv]
    for a, b in zip(one.cv, two.cv, strict=True):
        assert a.degenerate == b.degenerate and (a.score is None) == (b.score is None)
        assert a.score is None or a.score == pytest.approx(b.score, rel=SAME_SCORE)
    assert [f.delta_h for f in one.fits] != pytest.approx([f.delta_h for f in two.fits], rel=0.01)  # Delta_h moved


def test_permuting_the_held_out_losses_changes_no_chosen_sharing():
    # The same machinery chooses which parameters the laws of several factors share.
    series = two_stage_series(4, factors=("model", "pretrain"))
    rules = {"model": HELD, "pretrain": HELD}

    def options(data):
        return {
            shared: lambda leave_out, s=shared: fit_two_stage(data, held_out=leave_out, shared=s, refine=4).fits
            for shared in (("beta", "E"), ("E",))
        }

    def selection(data):
        held = {g: held_out_mask(p, rules[g]) for g, p in data.items()}
        return choose(options(data), data, held)

    one = selection(series)
    two = selection({g: _permuted_held_out(p, rules[g], 1) for g, p in series.items()})
    assert one.ranked_by == "cross-validation" and one.folds == ["largest X", "largest Df"]
    assert [c.name for c in one.ranking] == [c.name for c in two.ranking]
    assert [c.score for c in one.ranking] == pytest.approx([c.score for c in two.ranking], rel=SAME_SCORE)


def test_when_held_out_ranking_and_cross_validation_disagree_the_cv_choice_is_reported():
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X, DF, 0.01, seed=3)
    points = as_points(x, df, loss)
    held = held_out_mask(points, HELD)
    # Make the held-out points exactly what the additive law (fitted on the fitted points) predicts there.
    additive = fit_points(ADDITIVE, points, held_out=held, refine=4)
    loss = loss.copy()
    loss[held] = additive.predict(x[held], df[held])
    c = compare_points(as_points(x, df, loss), FORMS, held_out=HELD, refine=4)
    assert c.held_out_ranking[0] == "additive" and c.fits[[ch.name for ch in c.cv].index("additive")].delta_h < 1e-9
    assert c.cv[0].name != "additive" and c.winner.law == c.cv[0].name
    saved = Comparison.from_json(c.to_json())
    assert saved.winner.law == c.cv[0].name and saved.held_out_ranking == c.held_out_ranking


def test_folds_that_cannot_be_formed_are_noted_and_unfittable_forms_get_no_score():
    # 3 X x 3 Df with the largest X held out: 2 fitted X, so the largest-X fold would leave one; the Df fold
    # leaves 4 points, too few for the 5-parameter forms.
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X[:3], DF[:3], 0.01, seed=5)
    points = as_points(x, df, loss)
    folds, notes = extrapolation_folds({"": points}, {"": held_out_mask(points, ["x=max"])})
    assert [f.name for f in folds] == ["largest Df"] and notes == ["the largest X fold would leave one distinct X"]
    c = compare_points(points, FORMS, held_out=["x=max"], refine=4)
    unscored = {ch.name: ch.reason for ch in c.cv if ch.score is None}
    assert set(unscored) == {"additive", "rectified-joint"}
    assert all("largest Df" in why and "need at least 5" in why for why in unscored.values())
    assert c.cv[-2].score is None and c.cv[-1].score is None  # ranked after every scored form


def test_without_any_fold_forms_are_ranked_by_delta_e_and_say_so():
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X[:2], DF[:2], 0.01, seed=5)
    c = compare_points(as_points(x, df, loss), (MULTIPLICATIVE, POWER), refine=4)
    assert c.ranked_by == "delta_e" and c.folds == [] and len(c.notes) == 2
    assert [ch.score for ch in c.cv] == sorted(f.delta_e for f in c.fits)
