"""The claims: each judged on the interval of its own quantity, holds / does not hold / inconclusive."""

import numpy as np
import pytest

from ftscale.analysis import LawFit
from ftscale.analysis.claims import judge_claims
from ftscale.scaling_laws import FitResult

N = 400


def law(method: str, axis: str, alpha: float, beta: float, spread: float, seed: int) -> LawFit:
    """A law whose bootstrap resamples scatter around its parameters by `spread`."""
    rng = np.random.default_rng(seed)
    params = {"A": 10.0, "alpha": alpha, "beta": beta, "E": 1.5}
    rows = [[10.0, alpha + spread * z1, beta + spread * z2, 1.5] for z1, z2 in rng.standard_normal((N, 2))]
    fit = FitResult("multiplicative", params, 0.0, True, "", delta_h=0.01, n_held_out=3, bootstrap_params=rows)
    return LawFit(method, axis, fit)


def laws(alpha_m: float, alpha_p: float, spread: float) -> list[LawFit]:
    return [
        law("fmt", "model_size", alpha_m, 0.3, spread, 0),
        law("fmt", "pretrain_tokens", alpha_p, 0.3, spread, 1),
        law("lora", "model_size", alpha_m, 0.1, spread, 2),
        law("lora", "pretrain_tokens", alpha_p, 0.1, spread, 3),
        law("lora", "pet_size", 0.001, 0.1, spread / 10, 4),
    ]


@pytest.mark.parametrize(
    ("alpha_m", "alpha_p", "spread", "verdict"),
    [(0.3, 0.1, 0.01, "holds"), (0.1, 0.3, 0.01, "does not hold"), (0.2, 0.19, 0.05, "inconclusive")],
)
def test_claim_2_follows_the_interval_of_alpha_m_minus_alpha_p(alpha_m, alpha_p, spread, verdict):
    claim = next(c for c in judge_claims(laws(alpha_m, alpha_p, spread), {}, [], 0.95) if c.id == 2)
    assert claim.verdict == verdict and set(claim.verdicts.values()) == {verdict}
    for method in ("fmt", "lora"):
        low, high = claim.intervals[method]
        assert low < alpha_m - alpha_p < high
        assert claim.values[method] == pytest.approx(alpha_m - alpha_p)


def test_claims_3_and_4_judge_their_own_quantities():
    claims = {c.id: c for c in judge_claims(laws(0.3, 0.1, 0.01), {}, [], 0.95)}
    assert claims[3].verdict == "holds" and claims[3].values["lora"] == pytest.approx(0.001 / 0.3)
    assert claims[4].verdict == "holds" and claims[4].values["lora"] == pytest.approx(0.2)
    low, high = claims[4].intervals["lora"]
    assert 0 < low < 0.2 < high


def test_claim_1_uses_the_held_out_error_of_each_resample():
    held = {"fmt/model_size": np.full(N, 0.2), "lora/model_size": np.linspace(0.0, 0.02, N)}
    claim = next(c for c in judge_claims(laws(0.3, 0.1, 0.01), held, [], 0.95) if c.id == 1)
    assert claim.verdicts["fmt/model_size"] == "does not hold" and claim.verdicts["lora/model_size"] == "holds"
    assert claim.verdict == "inconclusive"  # one law extrapolates, another does not
