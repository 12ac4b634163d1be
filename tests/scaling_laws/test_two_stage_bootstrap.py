"""Two-stage bootstrap: what is resampled, aligned samples, intervals for every parameter, JSON."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import (
    MULTIPLICATIVE,
    ScalingLawError,
    TwoStageResult,
    as_points,
    bootstrap_two_stage,
    percentile_interval,
)
from ftscale.scaling_laws.draws import draw
from ftscale.scaling_laws.heldout import held_out_mask

from .two_stage_data import XS, two_stage_series

HELD = {"model": ["x=max", "df=max"], "pretrain": [f"x={float(XS['pretrain'][2])!r}", "df=max"], "pet": ["x=max"]}
STAGE1 = ["model", "pretrain"]


@pytest.fixture(scope="module")
def series():
    return two_stage_series(11, factors=("model", "pretrain", "pet"))


@pytest.fixture(scope="module")
def boot(series):
    return bootstrap_two_stage(series, stage1=STAGE1, held_out=HELD, n=100, seed=3, level=0.9)


def test_every_parameter_gets_an_interval_with_real_width(boot):
    assert boot.n_bootstrap == 100 and boot.level == 0.9 and boot.seed == 3
    assert boot.n_bootstrap_failed == 0
    for name in ("beta", "E"):
        lo, hi = boot.shared_intervals[name]
        assert lo < boot.shared[name] < hi and hi - lo > 1e-3 * boot.shared[name]  # not stage-1-fixed
    for factor, fit in boot.fits.items():
        assert fit.n_bootstrap == 100 and len(fit.bootstrap_params) == 100
        assert set(fit.intervals) == {"A", "alpha", "beta", "E"}
        for name in ("beta", "E"):
            assert fit.intervals[name] == pytest.approx(boot.shared_intervals[name], rel=1e-12)
        for name, (lo, hi) in fit.intervals.items():
            assert lo <= fit.params[name] <= hi, (factor, name)
            assert (lo, hi) == pytest.approx(percentile_interval(boot.samples(factor, name), 0.9), rel=1e-12)


def test_samples_are_aligned_across_factors(boot):
    # Row i of every factor comes from draw i: every factor's law in row i uses that row's shared values.
    for name in ("beta", "E"):
        rows = [boot.samples(g, name) for g in boot.fits]
        for other in rows[1:]:
            np.testing.assert_allclose(other, rows[0], rtol=1e-12)
    diff = boot.samples("model", "alpha") - boot.samples("pretrain", "alpha")
    lo, hi = percentile_interval(diff, 0.9)
    assert lo < boot.fits["model"].params["alpha"] - boot.fits["pretrain"].params["alpha"] < hi


def test_delta_h_per_resample_matches_each_resample_law(boot, series):
    assert set(boot.delta_h_samples) == {"model", "pretrain", "pet"}
    for factor, values in boot.delta_h_samples.items():
        pts = series[factor]
        held = held_out_mask(pts, HELD[factor])
        for i in (0, 57):
            law = dict(zip(MULTIPLICATIVE.params, boot.fits[factor].bootstrap_params[i], strict=True))
            expected = np.mean(np.abs(pts.loss[held] - MULTIPLICATIVE.predict(law, pts.x[held], pts.df[held])))
            assert values[i] == pytest.approx(expected, rel=1e-9)


def _weights(series, held_out, n: int, seed: int) -> dict[str, np.ndarray]:
    held = {g: held_out_mask(pts, held_out and held_out[g]) for g, pts in series.items()}
    return draw(series, held, dict.fromkeys(series), n=n, seed=seed).weights


def test_only_fitted_points_are_resampled(series):
    weights = _weights(series, HELD, n=200, seed=5)
    for factor, w in weights.items():
        pts, held = series[factor], held_out_mask(series[factor], HELD[factor])
        assert w.shape == (200, len(pts))
        assert np.all(w[:, held] == 0) and np.all(w.sum(axis=1) == (~held).sum())
        for row in w:  # redrawn until every factor keeps two distinct X and Df values
            assert len(np.unique(pts.x[row > 0])) >= 2 and len(np.unique(pts.df[row > 0])) >= 2
    again = _weights(series, HELD, n=200, seed=5)
    assert all(np.array_equal(again[g], weights[g]) for g in weights)  # integer draws: exact by construction


def test_held_out_points_never_move_a_resample(boot, series):
    corrupted = dict(series)
    pts = series["model"]
    loss = pts.loss.copy()
    loss[held_out_mask(pts, HELD["model"])] *= 3
    corrupted["model"] = as_points(pts.x, pts.df, loss)
    again = bootstrap_two_stage(corrupted, stage1=STAGE1, held_out=HELD, n=100, seed=3, level=0.9)
    for factor, fit in boot.fits.items():
        np.testing.assert_allclose(again.fits[factor].bootstrap_params, fit.bootstrap_params, rtol=1e-9)
    assert min(again.delta_h_samples["model"]) > 2 * max(boot.delta_h_samples["model"])


def test_json_round_trip_keeps_the_bootstrap(boot):
    back = TwoStageResult.from_json(boot.to_json())
    assert back == boot
    np.testing.assert_array_equal(back.samples("pet", "alpha"), boot.samples("pet", "alpha"))


def test_bad_arguments(series):
    with pytest.raises(ScalingLawError):
        bootstrap_two_stage(series, stage1=STAGE1, n=0)
    with pytest.raises(ScalingLawError):
        bootstrap_two_stage(series, stage1=STAGE1, n=10, level=1.0)
    with pytest.raises(ScalingLawError):
        percentile_interval([], 0.9)


def test_same_seed_same_result_any_worker_count(boot, series):
    # Same draws by construction; the refits may differ in the last bits between processes.
    again = bootstrap_two_stage(series, stage1=STAGE1, held_out=HELD, n=100, seed=3, level=0.9, workers=2)
    for factor, fit in boot.fits.items():
        np.testing.assert_allclose(again.fits[factor].bootstrap_params, fit.bootstrap_params, rtol=1e-9)
    other = bootstrap_two_stage(series, stage1=STAGE1, held_out=HELD, n=100, seed=4, level=0.9)
    assert np.max(np.abs(other.samples("model", "beta") / boot.samples("model", "beta") - 1)) > 1e-2
