"""Answers to act on: predictions over a grid, and which method to use at a target, how sure, and until when."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import FitResult, ScalingLawError, crossings, decide, predict_table

RANGES = {"x": [1e8, 1e10], "df": [100.0, 1e5], "loss": [0.5, 5.0]}


def _fit(params: dict, *, samples: int = 0, quality: str = "ok", reasons=(), seed: int = 0) -> FitResult:
    rng = np.random.default_rng(seed)
    rows = [[v * (1 + 0.01 * rng.standard_normal()) for v in params.values()] for _ in range(samples)] or None
    return FitResult(
        "multiplicative", params, 0.0, True, "", bootstrap_params=rows, level=0.9 if rows else None,
        quality=quality, quality_reasons=list(reasons), ranges=RANGES,
    )  # fmt: skip


FMT = {"A": 60.0, "alpha": 0.2, "beta": 0.3, "E": 0.6}  # steep in Df: worst at small Df, best at large Df
LORA = {"A": 8.0, "alpha": 0.2, "beta": 0.1, "E": 0.6}
PROMPT = {"A": 10.0, "alpha": 0.2, "beta": 0.08, "E": 0.7}


def test_predict_table_covers_the_grid_with_intervals_and_marks():
    fit = _fit(FMT, samples=100)
    rows = predict_table(fit, [1e9, 1e11], [1e3, 1e6])
    assert [(r.x, r.df) for r in rows] == [(1e9, 1e3), (1e9, 1e6), (1e11, 1e3), (1e11, 1e6)]
    for r in rows:
        assert r.loss == pytest.approx(fit.predict(r.x, r.df), rel=1e-12)  # the same formula, another route
        assert r.low < r.loss < r.high and r.level == 0.9
    assert [bool(r.extrapolation) for r in rows] == [False, True, True, True]
    assert predict_table(_fit(FMT), [1e9], [1e3])[0].low is None  # no resamples, no interval


def test_decide_names_the_best_method_its_margin_how_sure_and_the_next_crossing():
    fits = {"fmt": _fit(FMT, samples=300, seed=1), "lora": _fit(LORA, samples=300, seed=2)}
    fits["prompt"] = _fit(PROMPT, samples=300, seed=3)
    d = decide(fits, 1e9, 1e3)
    losses = {m: f.predict(1e9, 1e3) for m, f in fits.items()}
    assert d.best == min(losses, key=losses.get) == "lora" and d.decidable
    assert d.margin == pytest.approx(sorted(losses.values())[1] - losses["lora"], rel=1e-12)
    assert d.margin_interval[0] < d.margin < d.margin_interval[1]
    assert sum(d.p_best.values()) == pytest.approx(1.0) and d.p_best["lora"] > 0.5 and d.n_resamples == 300
    # The next crossing: the first Df above the target where another method goes below lora.
    ahead = [c for m in ("fmt", "prompt") for c in crossings(fits["lora"], fits[m], 1e9, names=("lora", m))]
    first = min((c for c in ahead if c.df > 1e3 and c.above != "lora"), key=lambda c: c.df)
    assert d.next_crossing.df == pytest.approx(first.df) and d.next_crossing.above == first.above
    text = d.summary()
    assert "lora is predicted best" in text and "of 300 paired bootstrap resamples" in text
    assert f"overtakes lora at Df = {first.df:.4g}" in text


def test_a_decision_resting_on_a_degenerate_fit_says_so():
    bad = _fit({**FMT, "beta": -0.5}, quality="degenerate", reasons=["beta = -0.5 < 0: the loss rises with Df"])
    d = decide({"fmt": bad, "lora": _fit(LORA)}, 1e9, 1e3)
    assert not d.decidable
    assert d.summary().startswith("not decidable: the fmt fit is degenerate: beta = -0.5 < 0")
    assert "how sure: unknown" in d.summary()  # no resamples
    with pytest.raises(ScalingLawError, match="at least two"):
        decide({"fmt": bad}, 1e9, 1e3)


def test_a_joint_law_needs_x():
    with pytest.raises(ScalingLawError, match="joint in X and Df: give a value of X"):
        predict_table(_fit(FMT), [None], [1e3])
    with pytest.raises(ScalingLawError, match="the fmt fit's multiplicative law and the lora"):
        decide({"fmt": _fit(FMT), "lora": _fit(LORA)}, None, 1e3)
