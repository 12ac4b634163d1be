"""Critical data size and examples needed: closed form, numeric root, no-crossing, inverses; every crossing
with its sides, interval and extrapolation mark."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import FitResult, critical_data_size, crossings, examples_needed


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


# Two laws that cross twice (at every X: neither depends on it): B starts higher, falls faster below A, then
# levels off at a higher floor.
LOW_FLOOR = _fit("multiplicative", A=3.0, alpha=0.0, beta=0.15, E=0.5)
HIGH_FLOOR = _fit("multiplicative", A=30.0, alpha=0.0, beta=0.4, E=0.7)


def test_every_crossing_with_the_better_method_on_each_side():
    found = crossings(LOW_FLOOR, HIGH_FLOOR, 1e9, names=("a", "b"))
    assert len(found) == 2 and found[0].df < found[1].df
    assert found[0].df == pytest.approx(critical_data_size(LOW_FLOOR, HIGH_FLOOR, 1e9), rel=1e-9)
    assert [(c.below, c.above) for c in found] == [("a", "b"), ("b", "a")]
    for c in found:
        assert LOW_FLOOR.predict(1e9, c.df) == pytest.approx(HIGH_FLOOR.predict(1e9, c.df), rel=1e-9)
    between = np.sqrt(found[0].df * found[1].df)
    assert HIGH_FLOOR.predict(1e9, between) < LOW_FLOOR.predict(1e9, between)  # b better between the two
    assert crossings(LOW_FLOOR, HIGH_FLOOR, 1e9, bounds=(1.0, found[0].df / 2)) == []


def test_crossing_intervals_from_paired_resamples_and_the_extrapolation_mark():
    rng = np.random.default_rng(0)

    def resampled(fit: FitResult) -> FitResult:
        rows = [[v * (1 + 0.02 * rng.standard_normal()) for v in fit.params.values()] for _ in range(200)]
        ranges = {"x": [1e8, 1e10], "df": [100.0, 1e5], "loss": [0.5, 3.0]}
        return FitResult(**{**fit.to_dict(), "bootstrap_params": rows, "level": 0.9, "ranges": ranges})

    a, b = resampled(LOW_FLOOR), resampled(HIGH_FLOOR)
    first, second = crossings(a, b, 1e9, names=("a", "b"))
    for c in (first, second):
        assert c.level == 0.9 and c.share > 0.9 and c.low < c.df < c.high
    assert first.extrapolation == [] and first.low > 100  # inside the fitted Df range
    assert len(second.extrapolation) == 2 and all("above" in why and "Df range" in why for why in second.extrapolation)
    outside_x = crossings(a, b, 1e11, names=("a", "b"))[0].extrapolation
    assert any("X = 1e+11 is above the a fit's X range" in why for why in outside_x)
