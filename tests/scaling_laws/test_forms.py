"""Law forms: predictions match the written formulas, gradients match finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import ADDITIVE, ADDITIVE_TIED, FORMS, MULTIPLICATIVE, POWER, RECTIFIED, RECTIFIED_JOINT
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.forms import LawForm

X = np.array([1e8, 3e8, 1e9, 5e9])
DF = np.array([200.0, 3e3, 5e4, 1e6])

# Each formula written out independently of the engine's log-sum-exp machinery.
FORMULAS = {
    "multiplicative": (
        {"A": 40.0, "alpha": 0.2, "beta": 0.15, "E": 0.7},
        lambda p, x, d: p["A"] * x ** -p["alpha"] * d ** -p["beta"] + p["E"],
    ),
    "additive": (
        {"A": 400.0, "alpha": 0.34, "B": 2000.0, "beta": 0.37, "E": 1.8},
        lambda p, x, d: p["A"] / x ** p["alpha"] + p["B"] / d ** p["beta"] + p["E"],
    ),
    "power": ({"A": 3.0, "beta": 0.3, "E": 0.5}, lambda p, x, d: p["A"] * d ** -p["beta"] + p["E"]),
    "rectified": (
        {"B": 30.0, "D_l": 50.0, "beta": 0.4, "E": 0.6},
        lambda p, x, d: p["B"] / (p["D_l"] + d ** p["beta"]) + p["E"],
    ),
    "rectified-joint": (
        {"A": 300.0, "alpha": 0.1, "D_l": 20.0, "beta": 0.3, "E": 0.4},
        lambda p, x, d: p["A"] * x ** -p["alpha"] / (p["D_l"] + d ** p["beta"]) + p["E"],
    ),
}


def test_every_registered_form_has_a_formula_check():
    assert set(FORMULAS) == set(FORMS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_predict_matches_formula(name):
    params, formula = FORMULAS[name]
    np.testing.assert_allclose(FORMS[name].predict(params, X, DF), formula(params, X, DF), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_internal_natural_round_trip(name):
    form, params = FORMS[name], FORMULAS[name][0]
    back = form.to_natural(form.to_internal(params))
    assert back.keys() == params.keys()
    np.testing.assert_allclose(list(back.values()), list(params.values()), rtol=1e-14)


def _check_gradient(form: LawForm, theta: np.ndarray) -> None:
    lx, ldf = np.log(X), np.log(DF)
    value, grad = form.log_predict_grad(theta, lx, ldf)
    np.testing.assert_allclose(value[0], form.log_predict(theta, lx, ldf)[0], rtol=1e-13)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        numeric = (form.log_predict(theta + step, lx, ldf) - form.log_predict(theta - step, lx, ldf))[0] / 2e-6
        np.testing.assert_allclose(grad[0, :, i], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_gradient_matches_finite_differences(name):
    form = FORMS[name]
    _check_gradient(form, form.to_internal(FORMULAS[name][0]))


def test_constrained_forms_gradient_and_tying():
    tied = ADDITIVE_TIED
    assert tied.free == ("A", "alpha", "B", "E")
    _check_gradient(tied, np.array([6.0, 0.3, 7.0, 0.5]))
    params = tied.to_natural(np.array([6.0, 0.3, 7.0, 0.5]))
    assert params["beta"] == params["alpha"] == 0.3
    fixed = MULTIPLICATIVE.constrained(fixed={"beta": 0.2, "E": 0.9})
    assert fixed.free == ("A", "alpha")
    _check_gradient(fixed, np.array([4.0, 0.3]))
    assert fixed.to_natural(np.array([4.0, 0.3]))["E"] == pytest.approx(0.9, rel=1e-15)


def test_chinchilla_grid_has_4500_starts_and_tied_grid_drops_beta():
    grid = ADDITIVE.grid()
    assert grid.shape == (4500, 5)
    assert set(grid[:, 1]) == {0.0, 0.5, 1.0, 1.5, 2.0}  # alpha
    assert set(grid[:, 0]) == {0.0, 5.0, 10.0, 15.0, 20.0, 25.0}  # a
    assert set(grid[:, 4]) == {-1.0, -0.5, 0.0, 0.5, 1.0}  # e
    assert ADDITIVE_TIED.grid().shape == (900, 4)


def test_single_factor_forms_ignore_x():
    for form in (POWER, RECTIFIED):
        params = FORMULAS[form.name][0]
        np.testing.assert_array_equal(form.predict(params, None, DF), form.predict(params, X * 7, DF))


def test_unknown_names_are_errors():
    with pytest.raises(ScalingLawError, match="no parameter"):
        MULTIPLICATIVE.constrained(fixed={"B": 1.0})
    with pytest.raises(ScalingLawError, match="needs parameters"):
        RECTIFIED_JOINT.predict({"A": 1.0}, 1.0, 1.0)
