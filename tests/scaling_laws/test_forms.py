"""Law forms: predictions match the written formulas, gradients match finite differences, parameters carry
their meanings, and forms register themselves (also from a package outside ftscale)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from ftscale.scaling_laws import (
    ADDITIVE,
    ADDITIVE_TIED,
    DATA_EXPONENT,
    FLOOR,
    FORMS,
    MULTIPLICATIVE,
    POWER,
    RECTIFIED,
    RECTIFIED_JOINT,
    SCALE,
    SIZE_EXPONENT,
    fit,
    forms,
    get_form,
    register_form,
)
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


BUILT_IN = ("multiplicative", "additive", "power", "rectified", "rectified-joint")


def test_every_built_in_form_has_a_formula_check():
    assert set(FORMULAS) == set(BUILT_IN) <= set(FORMS)


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


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_every_parameter_has_a_meaning_and_exponents_a_sign(name):
    form = FORMS[name]
    assert len(form.meanings) == len(form.params)
    assert form.parameter(DATA_EXPONENT) == "beta" and form.parameter(FLOOR) == "E"
    assert form.parameter(SIZE_EXPONENT) == ("alpha" if form.uses_x else None)
    for param, meaning in zip(form.params, form.meanings, strict=True):
        # Exponents are fitted as they are, with the sign of "loss falls as X and Df grow"; the rest as logs.
        assert (meaning.sign == 1) == (not form.positive(param)) == (meaning in (SIZE_EXPONENT, DATA_EXPONENT))


def test_constrained_and_mapped_forms_keep_the_meanings():
    fixed = MULTIPLICATIVE.constrained(fixed={"beta": 0.2})
    assert fixed.parameter(DATA_EXPONENT) == "beta" and fixed.meaning("A") == SCALE
    assert ADDITIVE_TIED.internal == ("a", "alpha", "b", "e")


SHIFTED = '''
import numpy as np
from ftscale.scaling_laws.forms import (AMPLITUDES, DATA_EXPONENT, EXPONENTS, FLOOR, OFFSETS, PRE_POWER, SCALE,
                                        SIZE_EXPONENT, LawForm, register_form)


@register_form
class Shifted(LawForm):
    """A X^-alpha (D_l + Df)^-beta + E, defined outside ftscale."""

    name, formula = "shifted", "L = A X^-alpha (D_l + Df)^-beta + E"
    params = ("A", "alpha", "D_l", "beta", "E")
    meanings = (SCALE, SIZE_EXPONENT, PRE_POWER, DATA_EXPONENT, FLOOR)
    grid_axes = (AMPLITUDES, EXPONENTS, AMPLITUDES, EXPONENTS, OFFSETS)

    def _terms(self, t, lx, ldf):
        a, alpha, d, beta, e = t
        return [a - alpha * lx - beta * np.logaddexp(d, ldf), e]

    def _grads(self, t, lx, ldf):
        a, alpha, d, beta, e = t
        s = np.logaddexp(d, ldf)
        return [[1.0, -lx, -beta * np.exp(d - s), -s, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]
'''


def test_a_form_from_another_package_loads_by_its_class_path_in_a_fresh_process(tmp_path, monkeypatch):
    (tmp_path / "my_laws.py").write_text(SHIFTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A registry of its own for this test, so the form does not join other tests' `--law all`.
    monkeypatch.setattr(forms, "FORMS", dict(forms.FORMS))
    monkeypatch.setattr(forms, "_BY_PATH", dict(forms._BY_PATH))
    form = get_form("my_laws.Shifted")  # imported, instantiated, registered
    truth = {"A": 30.0, "alpha": 0.2, "D_l": 50.0, "beta": 0.3, "E": 0.5}
    _check_gradient(form, form.to_internal(truth))
    xx, dd = (v.ravel() for v in np.meshgrid(X, DF, indexing="ij"))
    r = fit(form, xx, dd, form.predict(truth, xx, dd), refine=4)
    assert r.law == "my_laws.Shifted" and get_form("shifted") is form and r.quality == "ok"
    r.save(tmp_path / "fit.json")
    # Another process that never imported my_laws: load_fit finds the form by the path the fit recorded.
    code = (
        "import sys; from ftscale.scaling_laws import load_fit; r = load_fit(sys.argv[1]); "
        "print(r.form.name, repr(float(r.predict(1e9, 1e4))))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "fit.json")], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    name, value = out.stdout.split()
    assert name == "shifted" and float(value) == pytest.approx(r.predict(1e9, 1e4), rel=1e-12)


def test_registration_errors():
    class Clash(LawForm):
        name, params, meanings, grid_axes = "multiplicative", ("A",), (SCALE,), ((0.0,),)

    with pytest.raises(ScalingLawError, match="already registered"):
        register_form(Clash)

    class Unexplained(LawForm):
        name, params, meanings, grid_axes = "unexplained", ("A", "k"), (SCALE,), ((0.0,), (0.0,))

    with pytest.raises(ScalingLawError, match="one meaning"):
        register_form(Unexplained)
    with pytest.raises(ScalingLawError, match="unknown law"):
        get_form("cubic")
    with pytest.raises(ScalingLawError, match="cannot import"):
        get_form("no_such_package.Law")
