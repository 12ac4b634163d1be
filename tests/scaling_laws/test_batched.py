"""The batched solver reaches the scipy fitter's optimum on every resample, single law and two-stage."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, as_points, bootstrap_two_stage, fit_points
from ftscale.scaling_laws.batched import Part, solve
from ftscale.scaling_laws.draws import draw
from ftscale.scaling_laws.fitter import minimise
from ftscale.scaling_laws.joint import stage1_columns, stage1_view
from ftscale.scaling_laws.joint_bootstrap import _job
from ftscale.scaling_laws.objective import Objective, SumObjective

from .conftest import synthetic
from .two_stage_data import two_stage_series

TRUTH = {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7}
K = 30
STAGE1 = ["model", "pretrain"]


@pytest.mark.parametrize(("kind", "delta"), [("log-huber", 1e-3), ("huber", 1e-2)])
def test_single_law_matches_the_fitter_on_each_resample(kind, delta):
    pts = as_points(*synthetic(MULTIPLICATIVE, TRUTH, np.geomspace(1e8, 1e10, 4), np.geomspace(1e3, 1e6, 6), 0.01, 4))
    full = MULTIPLICATIVE.to_internal(fit_points(MULTIPLICATIVE, pts, loss_kind=kind, delta=delta).params)
    weights = np.random.default_rng(0).multinomial(len(pts), np.full(len(pts), 1 / len(pts)), K).astype(float)
    part = Part.on_points(MULTIPLICATIVE, pts, np.arange(len(pts)), weights)
    opt = solve([part], np.tile(full, (K, 1)), bounds=MULTIPLICATIVE.bounds(), kind=kind, delta=delta)
    assert opt.converged.all()
    for i in range(K):  # against the bootstrap's scipy refit: warm start plus the best grid start
        ref = fit_points(MULTIPLICATIVE, pts, loss_kind=kind, delta=delta, weights=weights[i], warm=[full], refine=1)
        # Equal objectives to 1e-9; parameters to 1e-4 (the objective is that flat over ~1e-5 of log A,
        # while another local optimum of a resample lies 1e-2 or more away).
        assert abs(opt.value[i] / ref.objective - 1) < 1e-9, i
        np.testing.assert_allclose(opt.theta[i], MULTIPLICATIVE.to_internal(ref.params), rtol=0, atol=1e-4)


def test_two_stage_resamples_match_the_fitter():
    # Stage 1 against scipy's L-BFGS-B from the bootstrap's scipy starts, stage 2 (the PET factor, not in
    # stage 1) against fit_points with the resample's shared values fixed: the same objective values.
    series = two_stage_series(12, factors=("model", "pretrain", "pet"))
    boot = bootstrap_two_stage(series, stage1=STAGE1, n=K, seed=1)
    assert boot.n_bootstrap_fallback == 0 and boot.n_bootstrap_failed == 0
    held = {g: np.zeros(len(pts), bool) for g, pts in series.items()}
    weights = draw(series, held, dict.fromkeys(series), n=K, seed=1).weights
    job = _job(series, held, boot, MULTIPLICATIVE, ("beta", "E"), {})
    views = [stage1_view(MULTIPLICATIVE, job.shared, STAGE1, k) for k in range(len(STAGE1))]
    box = MULTIPLICATIVE.bounds()
    bounds = [box[c] for c in stage1_columns(MULTIPLICATIVE, job.shared, STAGE1)]
    internal = {g: _internal(boot.fits[g].bootstrap_params) for g in series}
    for i in range(K):
        objective = SumObjective(
            [
                Objective.on_points(v, series[g], job.fitted[g], weights=weights[g][i, job.fitted[g]])
                for v, g in zip(views, STAGE1, strict=True)
            ]
        )
        ref = minimise(
            objective, job.starts1, bounds=bounds, names=list(views[0].internal), refine=1, warm=[job.start1]
        )
        mine = np.concatenate([internal["model"][i, 2:], internal["model"][i, :2], internal["pretrain"][i, :2]])
        assert abs(objective.values(mine)[0] / ref.value - 1) < 1e-9, i
        np.testing.assert_allclose(mine, ref.theta, rtol=0, atol=1e-4)
        row = dict(zip(MULTIPLICATIVE.params, boot.fits["pet"].bootstrap_params[i], strict=True))
        fixed = MULTIPLICATIVE.constrained(fixed={"beta": row["beta"], "E": row["E"]})
        pet = fit_points(fixed, series["pet"], weights=weights["pet"][i], warm=[internal["pet"][i, :2]], refine=1)
        on_pet = Objective.on_points(
            MULTIPLICATIVE, series["pet"], np.arange(len(series["pet"])), weights=weights["pet"][i]
        )
        assert abs(on_pet.values(internal["pet"][i])[0] / pet.objective - 1) < 1e-9, i


def _internal(rows: list[list[float]]) -> np.ndarray:
    return np.array([MULTIPLICATIVE.to_internal(dict(zip(MULTIPLICATIVE.params, r, strict=True))) for r in rows])
