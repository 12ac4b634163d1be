"""The paper's two-stage fit: shared beta and E from the model-size and pretraining factors."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, ScalingLawError, TwoStageResult, as_points, fit_two_stage

from .conftest import synthetic
from .test_fit import SAME_PARAMS

SHARED = {"beta": 0.15, "E": 0.75}
OWN = {"model": {"A": 40.0, "alpha": 0.35}, "pretrain": {"A": 15.0, "alpha": 0.12}, "pet": {"A": 2.0, "alpha": 0.01}}
XS = {"model": np.geomspace(1e9, 1.6e10, 5), "pretrain": np.geomspace(1e10, 2e11, 5), "pet": np.geomspace(50, 600, 5)}


def _series(noise: float) -> dict:
    df = np.geomspace(8e3, 1e6, 8)
    return {
        k: as_points(*synthetic(MULTIPLICATIVE, {**OWN[k], **SHARED}, XS[k], df, noise, seed=i))
        for i, k in enumerate(OWN)
    }


def test_noiseless_two_stage_recovers_every_parameter():
    r = fit_two_stage(_series(0.0), stage1=["model", "pretrain"])
    assert r.stage1_converged and r.stage1_factors == ["model", "pretrain"]
    for k, v in SHARED.items():
        assert r.shared[k] == pytest.approx(v, rel=1e-6)
    for factor, own in OWN.items():
        fitted = r.fits[factor]
        assert fitted.fixed == r.shared and fitted.converged
        # beta is copied into the fixed form (exact by construction); E goes through log and exp.
        assert fitted.params["beta"] == r.shared["beta"] and fitted.params["E"] == pytest.approx(r.shared["E"])
        for k, v in own.items():
            assert fitted.params[k] == pytest.approx(v, rel=1e-5, abs=1e-7), (factor, k)


def test_pet_factor_does_not_steer_stage_one():
    series = _series(0.01)
    both = fit_two_stage(series, stage1=["model", "pretrain"])
    series["pet"] = as_points(series["pet"].x, series["pet"].df, series["pet"].loss * 1.3)
    # Stage 1 sees the same points, so it solves the same problem; two solves may differ in the last bits of a
    # sum and L-BFGS-B's path with them: the optimum agrees to the stopping rule's precision (see test_fit.py).
    assert fit_two_stage(series, stage1=["model", "pretrain"]).shared == pytest.approx(both.shared, rel=SAME_PARAMS)
    assert TwoStageResult.from_json(both.to_json()) == both


def test_unknown_factor_is_an_error():
    with pytest.raises(ScalingLawError, match="unknown"):
        fit_two_stage(_series(0.0), stage1=["model", "lora"])


def test_held_out_rules_can_differ_per_factor():
    series = _series(0.0)
    xs = {g: sorted(set(pts.x.tolist())) for g, pts in series.items()}
    interior = xs["pretrain"][1]
    r = fit_two_stage(series, held_out={"model": ["x=max"], "pretrain": [f"x={interior!r}"]})
    assert r.fits["model"].n_held_out == int((series["model"].x == xs["model"][-1]).sum())
    assert r.fits["pretrain"].n_held_out == int((series["pretrain"].x == interior).sum())


def test_own_fits_kept_across_options_give_the_fits_computed_afresh():
    series = _series(0.01)
    kept: dict = {}
    for shared in (("beta", "E"), ("E",)):
        for held_out in (None, ["x=max"]):
            memoised = fit_two_stage(series, shared=shared, held_out=held_out, own_fits=kept)
            fresh = fit_two_stage(series, shared=shared, held_out=held_out)
            assert memoised.shared == fresh.shared
            assert {g: f.params for g, f in memoised.fits.items()} == {g: f.params for g, f in fresh.fits.items()}
    assert len(kept) == 2 * len(series)  # one own fit per factor and held-out mask, whatever is shared
