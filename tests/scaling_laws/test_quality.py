"""The fit-quality verdict: every reason for `degenerate` is found, recorded as data, and survives JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftscale.scaling_laws import (
    ADDITIVE,
    MULTIPLICATIVE,
    FitResult,
    as_points,
    bootstrap,
    bootstrap_two_stage,
    fit,
    fit_points,
)
from ftscale.scaling_laws.external import lin2024
from ftscale.scaling_laws.quality import (
    MAX_EXPONENT_WIDTH,
    MAX_FLOOR_DECADES,
    MAX_SCALE_DECADES,
    PREDICTION_FACTOR,
    SIGN_TOLERANCE,
    assess,
    unidentified,
)

from .conftest import synthetic
from .two_stage_data import two_stage_series

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
X, DF = np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6)


def test_a_good_fit_is_ok_and_records_its_fitted_range():
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X, DF, 0.01, seed=2)
    r = fit(MULTIPLICATIVE, x, df, loss, held_out=["x=max"])
    assert r.quality == "ok" and r.quality_reasons == [] and r.at_bound == [] and not r.degenerate
    fitted = x < x.max()
    assert r.ranges == {
        "x": [x[fitted].min(), x[fitted].max()],
        "df": [df.min(), df.max()],
        "loss": [loss[fitted].min(), loss[fitted].max()],
    }


def test_loss_rising_with_data_is_a_wrong_sign():
    xx, dd = (v.ravel() for v in np.meshgrid(X, DF, indexing="ij"))
    r = fit(MULTIPLICATIVE, xx, dd, 0.5 + 0.01 * dd**0.3 * (xx / 1e8) ** -0.2)
    assert r.converged and r.params["beta"] < -SIGN_TOLERANCE
    assert r.quality == "degenerate" and any("beta" in why and "wrong sign" in why for why in r.quality_reasons)
    back = FitResult.from_json(r.to_json())
    assert back.quality_reasons == r.quality_reasons and back.degenerate


def test_a_tiny_negative_exponent_is_a_flat_curve_not_a_wrong_sign():
    xx, dd = (v.ravel() for v in np.meshgrid(X, DF, indexing="ij"))
    r = fit(MULTIPLICATIVE, xx, dd, 0.5 + 5 * dd**-0.3 * (xx / 1e8) ** (SIGN_TOLERANCE / 2))
    assert -SIGN_TOLERANCE < r.params["alpha"] < 0 and r.quality == "ok", r.quality_reasons


def test_parameters_at_the_bound_are_recorded_by_name(lin2024_data):
    # Real curves that push the additive law's A to infinity (and, on some CPUs, E to 0): see test_fit.py.
    r = fit_points(ADDITIVE, lin2024(lin2024_data, "flan")["lamini-gpt"], held_out=["x=max", "df=max"])
    assert "A" in r.at_bound and r.degenerate
    theta = dict(zip(ADDITIVE.params, ADDITIVE.to_internal(r.params), strict=True))
    on_box = [
        p
        for p, (lo, hi) in zip(ADDITIVE.params, ADDITIVE.bounds(), strict=True)
        if min(theta[p] - lo, hi - theta[p]) <= 1e-6
    ]
    assert r.at_bound == on_box
    assert all(any(f"{p} = " in why and "bound" in why for why in r.quality_reasons) for p in r.at_bound)
    assert json.loads(r.to_json())["at_bound"] == r.at_bound


@pytest.mark.parametrize(
    ("name", "interval", "flagged"),
    [
        ("alpha", [0.1, 0.1 + 0.99 * MAX_EXPONENT_WIDTH], False),
        ("alpha", [0.1, 0.1 + 1.01 * MAX_EXPONENT_WIDTH], True),
        ("A", [1.0, 10 ** (0.99 * MAX_SCALE_DECADES)], False),
        ("A", [1.0, 10 ** (1.01 * MAX_SCALE_DECADES)], True),
        ("E", [0.01, 0.01 * 10 ** (0.99 * MAX_FLOOR_DECADES)], False),
        ("E", [0.01, 0.01 * 10 ** (1.01 * MAX_FLOOR_DECADES)], True),
    ],
)
def test_an_interval_too_wide_means_not_identified(name, interval, flagged):
    reasons = unidentified(MULTIPLICATIVE, {name: interval}, 0.95)
    assert bool(reasons) == flagged and all(f"{name} not identified" in why for why in reasons)


def test_predictions_far_outside_the_fitted_losses_are_flagged():
    x, df, loss = synthetic(MULTIPLICATIVE, TRUTH, X, DF, 0.0, seed=0)
    points, held = as_points(x, df, loss), x == x.max()
    good = fit_points(MULTIPLICATIVE, points, held_out=held)
    assert good.quality == "ok"
    # The same law with a steep size exponent and almost no floor predicts, at the held-out (largest) X and at
    # the large-X corner of the fitted box, under half the smallest fitted loss.
    steep = FitResult(**{**good.to_dict(), "params": {**good.params, "alpha": 2.0, "E": 0.01}})
    reasons = assess(steep, points, ~held, held).quality_reasons
    assert any("held-out points" in why and f"factor {PREDICTION_FACTOR:g}" in why for why in reasons), reasons
    assert any("fitted box" in why for why in reasons), reasons


def test_bootstrap_adds_identification():
    # A floor far below every loss, under 3% noise: the resamples cannot tell E from 0.
    x, df, loss = synthetic(MULTIPLICATIVE, {**TRUTH, "E": 0.001}, X[:2], DF, 0.03, seed=1)
    assert fit(MULTIPLICATIVE, x, df, loss).quality == "ok"  # nothing in the point fit shows it
    r = bootstrap(MULTIPLICATIVE, x, df, loss, n=40, seed=0)
    lo, hi = r.intervals["E"]
    assert np.log10(hi / lo) > MAX_FLOOR_DECADES and r.degenerate
    assert [why for why in r.quality_reasons if "not identified" in why] == [r.quality_reasons[0]]
    assert r.quality_reasons[0].startswith("E not identified")


def test_old_json_without_a_verdict_still_loads():
    old = {"law": "multiplicative", "params": TRUTH, "objective": 0.1, "converged": True, "message": ""}
    r = FitResult.from_dict(old)
    assert r.quality is None and r.describe_quality() == "not assessed" and not r.degenerate


def test_two_stage_fits_and_their_shared_stage_have_verdicts():
    series = two_stage_series(3, factors=("model", "pretrain", "pet"))
    boot = bootstrap_two_stage(series, stage1=["model", "pretrain"], n=30, seed=0, refine=4)
    assert boot.stage1_quality == "ok" and boot.stage1_at_bound == []
    assert all(f.quality == "ok" for f in boot.fits.values()), {g: f.quality_reasons for g, f in boot.fits.items()}
    # A shared beta of the wrong sign makes every law that uses it degenerate.
    rising = {}
    for g, p in series.items():  # each factor's law with beta = -0.15: the loss rises with Df
        law = {**fit_points(MULTIPLICATIVE, p).params, "beta": -0.15, "E": 0.5}
        rising[g] = as_points(p.x, p.df, MULTIPLICATIVE.predict(law, p.x, p.df))
    bad = bootstrap_two_stage(rising, stage1=["model", "pretrain"], n=10, seed=0, refine=4)
    assert bad.stage1_quality == "degenerate" and any("beta" in why for why in bad.stage1_reasons)
    assert all(any("beta" in why for why in f.quality_reasons) for f in bad.fits.values())
