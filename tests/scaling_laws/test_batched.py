"""The batched solver reaches the scipy fitter's optimum on every resample, single law and two-stage."""

from __future__ import annotations

import numpy as np

from ftscale.scaling_laws import MULTIPLICATIVE, as_points, fit_points
from ftscale.scaling_laws.batched import Part, solve
from ftscale.scaling_laws.fitter import minimise
from ftscale.scaling_laws.joint import fit_two_stage, stage1_columns, stage1_view
from ftscale.scaling_laws.joint_bootstrap import _job, _stage1, resample_weights
from ftscale.scaling_laws.objective import Objective, SumObjective

from .conftest import synthetic
from .two_stage_data import two_stage_series

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
K = 30


def test_single_law_matches_the_fitter_on_each_resample():
    pts = as_points(*synthetic(MULTIPLICATIVE, TRUTH, np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6), 0.01, 4))
    full = MULTIPLICATIVE.to_internal(fit_points(MULTIPLICATIVE, pts).params)
    weights = np.random.default_rng(0).multinomial(len(pts), np.full(len(pts), 1 / len(pts)), K).astype(float)
    part = Part.on_points(MULTIPLICATIVE, pts, np.arange(len(pts)), weights)
    opt = solve([part], np.tile(full, (K, 1)), bounds=MULTIPLICATIVE.bounds())
    assert opt.converged.all()
    for i in range(K):
        ref = fit_points(MULTIPLICATIVE, pts, weights=weights[i], warm=[full], refine=1)  # the bootstrap's refit
        assert abs(opt.value[i] / ref.objective - 1) < 1e-9, i
        np.testing.assert_allclose(opt.theta[i], MULTIPLICATIVE.to_internal(ref.params), rtol=0, atol=1e-5)


def test_two_stage_resamples_match_the_fitter():
    # Stage 1 against scipy's L-BFGS-B from the same starts, stage 2 against fit_points with each
    # resample's shared values fixed: the same objective values (1e-9) and parameters (1e-5).
    series = two_stage_series(12)
    point = fit_two_stage(series)
    weights, _ = resample_weights(series, None, n=K, seed=1)
    job = _job(series, point, None, MULTIPLICATIVE, ("beta", "E"), {})
    theta, ok, fallback = _stage1(job, weights)
    assert ok.all() and not fallback.any()
    views = [stage1_view(MULTIPLICATIVE, job.shared, job.names, k) for k in range(len(job.names))]
    box = MULTIPLICATIVE.bounds()
    bounds = [box[c] for c in stage1_columns(MULTIPLICATIVE, job.shared, job.names)]
    for i in range(K):
        objective = SumObjective(
            [
                Objective.on_points(v, series[g], job.fitted[g], weights=weights[g][i, job.fitted[g]])
                for v, g in zip(views, job.names, strict=True)
            ]
        )
        ref = minimise(
            objective, job.starts1, bounds=bounds, names=list(views[0].internal), refine=1, warm=[job.start1]
        )
        assert abs(objective.values(theta[i])[0] / ref.value - 1) < 1e-9, i
        np.testing.assert_allclose(theta[i], ref.theta, rtol=0, atol=1e-5)
