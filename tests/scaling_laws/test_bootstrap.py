"""Bootstrap: seeded and repeatable, independent of worker count, intervals that mean something."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import (
    MULTIPLICATIVE,
    FitResult,
    ScalingLawError,
    bootstrap,
    examples_needed,
    fit,
    percentile_interval,
)

from .conftest import synthetic
from .test_fit import SAME_PARAMS

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
GRID = (np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 7))


@pytest.fixture(scope="module")
def boot() -> tuple[FitResult, tuple]:
    data = synthetic(MULTIPLICATIVE, TRUTH, *GRID, 0.01, seed=5)
    return bootstrap(MULTIPLICATIVE, *data, n=60, seed=7, held_out=["df=max"]), data


def test_intervals_bracket_the_fit_and_match_the_samples(boot):
    r, data = boot
    assert r.n_bootstrap == 60 and len(r.bootstrap_params) == 60 and r.level == 0.95 and r.seed == 7
    point = fit(MULTIPLICATIVE, *data, held_out=["df=max"]).params
    assert r.params == pytest.approx(point, rel=SAME_PARAMS)  # the point estimate is the fit (two solves)
    samples = np.array(r.bootstrap_params)
    for i, (name, (lo, hi)) in enumerate(r.intervals.items()):
        assert lo < r.params[name] < hi
        # Percentiles of the same samples, computed along another axis: the same linear interpolation of the
        # same two order statistics, so equal up to a few roundings (1e-12 is 10^4 ulps).
        assert (lo, hi) == pytest.approx(tuple(np.percentile(samples[:, i], [2.5, 97.5])), rel=1e-12)
        assert (lo, hi) == pytest.approx(percentile_interval(samples[:, i], 0.95), rel=1e-12)
    assert len({tuple(s) for s in r.bootstrap_params}) == 60  # resamples differ


def test_same_seed_same_result_any_worker_count(boot):
    r, data = boot
    # Same resamples by construction; the refits may differ in the last bits between processes.
    again = bootstrap(MULTIPLICATIVE, *data, n=60, seed=7, held_out=["df=max"], workers=2)
    np.testing.assert_allclose(again.bootstrap_params, r.bootstrap_params, rtol=1e-9)
    other = bootstrap(MULTIPLICATIVE, *data, n=60, seed=8, held_out=["df=max"])
    assert np.max(np.abs(np.array(other.bootstrap_params) / r.bootstrap_params - 1)) > 1e-2


def test_held_out_points_are_never_resampled(boot):
    r, data = boot
    x, df, loss = data
    corrupted = loss.copy()
    corrupted[df == df.max()] *= 3  # held out: must not change a single resample
    again = bootstrap(MULTIPLICATIVE, x, df, corrupted, n=60, seed=7, held_out=["df=max"])
    np.testing.assert_allclose(again.bootstrap_params, r.bootstrap_params, rtol=1e-9)


def test_prediction_interval_and_json_round_trip(boot):
    r, _ = boot
    lo, hi = r.predict_interval(3e9, 5e4)
    assert lo < r.predict(3e9, 5e4) < hi
    assert FitResult.from_json(r.to_json()) == r
    need = examples_needed(r, 3e9, float(r.predict(3e9, 5e4)))
    assert need.low < need.examples < need.high
    assert need.examples == pytest.approx(5e4, rel=1e-8)


def test_interval_width_shrinks_with_less_noise():
    # Resampling noise sets the width: 10x less noise must give clearly narrower intervals.
    widths = []
    for noise in (0.01, 0.001):
        r = bootstrap(MULTIPLICATIVE, *synthetic(MULTIPLICATIVE, TRUTH, *GRID, noise, seed=2), n=40, seed=1)
        widths.append(np.diff(r.intervals["beta"])[0])
    assert widths[1] < widths[0] / 3


def test_bad_arguments():
    data = synthetic(MULTIPLICATIVE, TRUTH, *GRID, 0.01, seed=5)
    with pytest.raises(ScalingLawError):
        bootstrap(MULTIPLICATIVE, *data, n=0)
    with pytest.raises(ScalingLawError):
        bootstrap(MULTIPLICATIVE, *data, n=5, level=1.5)
