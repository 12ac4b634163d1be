"""Critical data size and examples needed: closed form, numeric root, no-crossing, inverses."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import FitResult, critical_data_size, examples_needed


def _fit(law: str, **params) -> FitResult:
    return FitResult(law=law, params=params, objective=0.0, converged=True, message="")


FMT = _fit("multiplicative", A=60.0, alpha=0.5, beta=0.15, E=0.75)
PET = _fit("multiplicative", A=4.0, alpha=0.4, beta=0.05, E=0.75)


def test_closed_form_matches_paper_formula_and_equal_losses():
    x = 8e9
    h = (60.0 / 4.0) ** (1 / (0.15 - 0.05))
    gamma = (0.4 - 0.5) / (0.15 - 0.05)
    dfc = critical_data_size(FMT, PET, x)
    assert dfc == pytest.approx(h * x**gamma, rel=1e-12)
    assert FMT.predict(x, dfc) == pytest.approx(PET.predict(x, dfc), rel=1e-12)


def test_numeric_root_agrees_with_closed_form():
    # Same laws, but E differs by 1e-15 relative: the closed form no longer applies, the root finder runs.
    pet = _fit("multiplicative", **{**PET.params, "E": 0.75 * (1 + 1e-15)})
    for x in (1e9, 8e9, 6e10):
        assert critical_data_size(FMT, pet, x) == pytest.approx(critical_data_size(FMT, PET, x), rel=1e-6)


def test_numeric_crossing_of_different_forms():
    rect = _fit("rectified", B=400.0, D_l=30.0, beta=0.35, E=0.6)  # starts above, ends below
    add = _fit("additive", A=50.0, alpha=0.2, B=3.0, beta=0.1, E=0.5)
    x = 1e9
    dfc = critical_data_size(rect, add, x)
    assert dfc is not None
    assert rect.predict(x, dfc) == pytest.approx(add.predict(x, dfc), rel=1e-10)
    below = np.geomspace(1, dfc * 0.999, 50)
    gap = rect.predict(x, below) - add.predict(x, below)
    assert np.all(gap > 0) or np.all(gap < 0)  # the first crossing


def test_never_crossing_is_none():
    worse = _fit("multiplicative", A=90.0, alpha=0.5, beta=0.15, E=0.9)  # above FMT everywhere
    assert critical_data_size(FMT, worse, 8e9) is None


def test_examples_needed_inverts_predict():
    for df in (3e3, 2e5, 7e7):
        assert examples_needed(FMT, 8e9, float(FMT.predict(8e9, df))).examples == pytest.approx(df, rel=1e-9)
    assert examples_needed(FMT, 8e9, 0.7).examples is None  # below E: never
    assert examples_needed(FMT, 8e9, 100.0).examples == 1.0  # reached with one example
