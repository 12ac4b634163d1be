"""Held-out rules select the right points; Delta_h is measured on exactly those."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, ScalingLawError, as_points, fit, held_out_mask

from .conftest import synthetic

X = np.array([1e8, 1e8, 1e9, 1e9, 1e10, 1e10])
DF = np.array([1e3, 1e4, 1e3, 1e4, 1e3, 1e4])
POINTS = as_points(X, DF, np.ones(6))


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (["x=max"], X == 1e10),
        (["x=min"], X == 1e8),
        (["df=max"], DF == 1e4),
        (["x=1e9"], X == 1e9),
        (["x=1e8,1e10"], X != 1e9),
        (["row=0,5"], np.isin(np.arange(6), [0, 5])),
        (["x=max", "df=max"], (X == 1e10) | (DF == 1e4)),
        ([], np.zeros(6, bool)),
    ],
)
def test_rules(rules, expected):
    np.testing.assert_array_equal(held_out_mask(POINTS, rules), expected)


@pytest.mark.parametrize("rule", ["x=3e9", "size=max", "row=9", "x", "df=big"])
def test_bad_rules(rule):
    with pytest.raises(ScalingLawError, match="held-out rule"):
        held_out_mask(POINTS, [rule])


def test_delta_h_is_on_held_out_points_only():
    truth = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
    x, df, loss = synthetic(MULTIPLICATIVE, truth, np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6), 0.01, 1)
    loss = loss.copy()
    loss[x == x.max()] *= 1.5  # corrupt only the held-out model: must not move the fit, only Delta_h
    r = fit(MULTIPLICATIVE, x, df, loss, held_out=["x=max"])
    clean = fit(MULTIPLICATIVE, x[x < x.max()], df[x < x.max()], loss[x < x.max()])
    assert r.n_held_out == 6 and r.n_fit == 18 and r.held_out == ["x=max"]
    assert r.params == pytest.approx(clean.params, rel=1e-10)  # same points, same fit, up to rounding
    held = x == x.max()
    assert r.delta_h == pytest.approx(np.mean(np.abs(loss[held] - r.predict(x[held], df[held]))), rel=1e-12)
    assert r.delta_h > 10 * r.delta_e
