"""The claims: each judged on the interval of its own quantity, holds / does not hold / inconclusive; parameters
read by their meaning, full-model tuning found by what the method declares, not testable where a law lacks what
the claim reads."""

import numpy as np
import pytest

from ftscale.analysis import LawFit, PointResult
from ftscale.analysis.claims import judge_claims
from ftscale.scaling_laws import FitResult, forms
from ftscale.scaling_laws.forms import (
    AMPLITUDES,
    EXPONENTS,
    FLOOR,
    OFFSETS,
    PRE_POWER,
    SCALE,
    SIZE_EXPONENT,
    LawForm,
    register_form,
)

N = 400
SHARED = ["beta", "E"]  # the paper's two-stage fit


def declared(*full_model: str) -> list[PointResult]:
    """Points saying which methods' classes declare full-model tuning."""
    return [PointResult(m, m, ("model_size",), {"full_model_tuning": True}, {}) for m in full_model]


def law(method: str, axis: str, alpha: float, beta: float, spread: float, seed: int, shared=SHARED) -> LawFit:
    """A law whose bootstrap resamples scatter around its parameters by `spread`."""
    rng = np.random.default_rng(seed)
    params = {"A": 10.0, "alpha": alpha, "beta": beta, "E": 1.5}
    rows = [[10.0, alpha + spread * z1, beta + spread * z2, 1.5] for z1, z2 in rng.standard_normal((N, 2))]
    fit = FitResult(
        "multiplicative", params, 0.0, True, "", delta_h=0.01, n_held_out=3, bootstrap_params=rows, quality="ok"
    )
    return LawFit(method, axis, fit, list(shared))


def laws(alpha_m: float, alpha_p: float, spread: float, fmt: str = "fmt") -> list[LawFit]:
    return [
        law(fmt, "model_size", alpha_m, 0.3, spread, 0),
        law(fmt, "pretrain_tokens", alpha_p, 0.3, spread, 1),
        law("lora", "model_size", alpha_m, 0.1, spread, 2),
        law("lora", "pretrain_tokens", alpha_p, 0.1, spread, 3),
        law("lora", "pet_size", 0.001, 0.1, spread / 10, 4),
    ]


def claims_of(fitted: list[LawFit], points=None, delta_h=None) -> dict:
    return {c.id: c for c in judge_claims(fitted, delta_h or {}, declared("fmt") if points is None else points, 0.95)}


@pytest.mark.parametrize(
    ("alpha_m", "alpha_p", "spread", "verdict"),
    [(0.3, 0.1, 0.01, "holds"), (0.1, 0.3, 0.01, "does not hold"), (0.2, 0.19, 0.05, "inconclusive")],
)
def test_claim_2_follows_the_interval_of_alpha_m_minus_alpha_p(alpha_m, alpha_p, spread, verdict):
    claim = claims_of(laws(alpha_m, alpha_p, spread))[2]
    assert claim.verdict == verdict and set(claim.verdicts.values()) == {verdict}
    for method in ("fmt", "lora"):
        low, high = claim.intervals[method]
        assert low < alpha_m - alpha_p < high
        assert claim.values[method] == pytest.approx(alpha_m - alpha_p)


def test_claims_3_and_4_judge_their_own_quantities():
    claims = claims_of(laws(0.3, 0.1, 0.01))
    assert claims[3].verdict == "holds" and claims[3].values["lora"] == pytest.approx(0.001 / 0.3)
    assert claims[4].verdict == "holds" and claims[4].values["lora"] == pytest.approx(0.2)
    low, high = claims[4].intervals["lora"]
    assert 0 < low < 0.2 < high


def test_claim_1_uses_the_held_out_error_of_each_resample():
    held = {"fmt/model_size": np.full(N, 0.2), "lora/model_size": np.linspace(0.0, 0.02, N)}
    claim = claims_of(laws(0.3, 0.1, 0.01), delta_h=held)[1]
    assert claim.verdicts["fmt/model_size"] == "does not hold" and claim.verdicts["lora/model_size"] == "holds"
    assert claim.verdict == "inconclusive"  # one law extrapolates, another does not


def test_full_model_tuning_is_found_by_what_the_method_declares_not_by_its_name():
    fitted = laws(0.3, 0.1, 0.01, fmt="full")
    claim = claims_of(fitted, declared("full"))[4]
    assert claim.values == {"lora": pytest.approx(0.2)} and claim.verdict == "holds"
    # A method called "fmt" whose class does not declare full-model tuning is a PET method like any other.
    named = claims_of(laws(0.3, 0.1, 0.01), points=[])[4]
    assert named.verdict == "not testable" and "declares full-model tuning" in named.evidence


def test_a_data_exponent_not_shared_across_axes_is_compared_on_each_axis():
    fitted = [
        law(m, a, 0.3, beta, 0.01, i, shared=["E"])
        for i, (m, a, beta) in enumerate([("fmt", "model_size", 0.3), ("fmt", "pretrain_tokens", 0.5),
                                           ("lora", "model_size", 0.1), ("lora", "pretrain_tokens", 0.1)])
    ]  # fmt: skip
    claim = claims_of(fitted)[4]
    assert claim.values == {"lora (model_size)": pytest.approx(0.2), "lora (pretrain_tokens)": pytest.approx(0.4)}


class Hyperbolic(LawForm):
    """A X^-alpha / (D_l + Df) + E: the loss falls with Df at a fixed rate, so the form has no data exponent."""

    name, formula = "hyperbolic-test", "L = A X^-alpha / (D_l + Df) + E"
    params = ("A", "alpha", "D_l", "E")
    meanings = (SCALE, SIZE_EXPONENT, PRE_POWER, FLOOR)
    grid_axes = (AMPLITUDES, EXPONENTS, AMPLITUDES, OFFSETS)


def test_a_form_without_the_meaning_a_claim_reads_makes_it_not_testable_with_the_reason(monkeypatch):
    monkeypatch.setattr(forms, "FORMS", dict(forms.FORMS))
    monkeypatch.setattr(forms, "_BY_PATH", dict(forms._BY_PATH))
    register_form(Hyperbolic)
    fitted = []
    for source in laws(0.3, 0.1, 0.01):
        rows = [[r[0], r[1], 20.0, r[3]] for r in source.fit.bootstrap_params]
        params = {"A": 10.0, "alpha": source.fit.params["alpha"], "D_l": 20.0, "E": 1.5}
        fit = FitResult(Hyperbolic.name, params, 0.0, True, "", bootstrap_params=rows, quality="ok")
        fitted.append(LawFit(source.method, source.axis, fit, ["D_l", "E"]))
    claims = claims_of(fitted)
    assert claims[4].verdict == "not testable"
    why = "the hyperbolic-test form has no data exponent"
    assert claims[4].reasons == {"lora (model_size)": why, "lora (pretrain_tokens)": why}
    assert claims[2].verdict == "holds"  # it has a size exponent: claims 2 and 3 read it
