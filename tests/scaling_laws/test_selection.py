"""`select`: candidates' losses at a target Df from partial curves, the backtest that picks the predictor, the
bootstrap of the choice, and the budget it never reads beyond."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.selection import Curve, select
from ftscale.scaling_laws.tails import Curves, Lines, power_phase_start, shrunk_slopes, tail

DF = 200.0 * 2.0 ** np.arange(14)  # Lin et al.'s grid: 200 ... 1,638,400
TARGET = DF[-1]


def power_law(a: float, slope: float, df=DF) -> np.ndarray:
    return a * df**slope


def noisy_candidates(n: int = 6, noise: float = 0.01, seed: int = 0) -> dict[str, Curve]:
    """Power laws of different levels and slopes, multiplicative noise; losses at every Df of the grid."""
    rng = np.random.default_rng(seed)
    return {
        f"m{i}": Curve(DF, power_law(4 + i / 3, -0.05 - 0.02 * i) * np.exp(noise * rng.standard_normal(len(DF))))
        for i in range(n)
    }


def test_power_phase_starts_after_the_flat_phase():
    lx = np.log(DF[:10])
    wiggle = 1e-3 * np.array([1, -1, 1, -1, 1, -1, 1, -1, 1, -1])
    ly = np.where(np.arange(10) < 4, np.log(3.0), np.log(2.5) - 0.2 * (lx - lx[4])) + wiggle  # flat, then a power law
    assert power_phase_start(lx, ly) == 4
    # the prediction is the least-squares line through the power phase alone
    curves = Curves([lx], [ly], [None], [None], [None])
    slope, intercept = np.polyfit(lx[4:], ly[4:], 1)
    np.testing.assert_allclose(tail(curves, np.log([TARGET])), intercept + slope * np.log(TARGET), rtol=1e-12)


def test_without_a_transition_the_smallest_df_is_still_left_out_as_in_lins_code():
    lx = np.log(DF[:8])
    ly = np.log(power_law(3.0, -0.1, DF[:8])) + 1e-3 * np.array([1, -1, 1, -1, 1, -1, 1, -1])
    assert power_phase_start(lx, ly) == 1
    assert power_phase_start(lx[:3], ly[:3]) == 0  # at most K points: all of them


def test_exact_power_laws_are_extrapolated_exactly_and_the_crossing_is_found():
    # A is lower where both were measured; B falls faster and is lower at the target.
    curves = {"A": Curve(DF, power_law(3.0, -0.05)), "B": Curve(DF, power_law(8.0, -0.13))}
    result = select(curves, TARGET, budget=1 / 64)
    seen = DF <= TARGET / 64
    assert power_law(3.0, -0.05, DF[seen][-1]) < power_law(8.0, -0.13, DF[seen][-1])
    np.testing.assert_allclose(result.loss, [power_law(3.0, -0.05, TARGET), power_law(8.0, -0.13, TARGET)], rtol=1e-9)
    assert result.leader == "B" and result.p_best.tolist() == [0.0, 1.0]
    assert result.verdict() == "choose B (P = 1.00)"
    assert result.worse_than_leader(0.95) == ["A"]


def test_columns_beyond_the_budget_are_never_read():
    clean = noisy_candidates()
    budget = 1 / 32
    outside = budget * TARGET < DF
    garbage = [np.nan, "garbage", None, -1.0, np.inf, "", object()]
    dirty = {
        name: Curve(
            c.df,
            [garbage[i % len(garbage)] if out else v for i, (v, out) in enumerate(zip(c.loss, outside, strict=True))],
        )
        for name, c in clean.items()
    }
    a, b = select(clean, TARGET, budget=budget), select(dirty, TARGET, budget=budget)
    assert a.predictor == b.predictor
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.draws, b.draws)
    # and the hidden columns are not used through the back door: changing them changes nothing either
    shifted = {n: Curve(c.df, np.where(outside, np.asarray(c.loss) * 0.1, c.loss)) for n, c in clean.items()}
    np.testing.assert_array_equal(select(shifted, TARGET, budget=budget).loss, a.loss)


def test_replicates_at_one_df_are_averaged():
    loss = np.asarray(noisy_candidates(1)["m0"].loss)
    seeds = Curve(np.r_[DF, DF], np.r_[loss * 1.01, loss * 0.99])  # two seeds whose mean is `loss`
    result = select({"seeds": seeds, "mean": Curve(DF, loss)}, TARGET, budget=1 / 8)
    np.testing.assert_allclose(result.loss[0], result.loss[1], rtol=1e-12)


def test_probabilities_and_intervals_are_consistent():
    result = select(noisy_candidates(noise=0.02), TARGET, budget=1 / 16, n_bootstrap=500, seed=3)
    assert result.p_best.sum() == pytest.approx(1.0)
    assert np.all(result.low <= result.loss) and np.all(result.loss <= result.high)
    leader = result.candidates.index(result.leader)
    assert result.p_worse[leader] == 0 and result.rank[leader] == 1
    worse = result.worse_than_leader(0.5)
    assert all(result.p_worse[result.candidates.index(c)] >= 0.5 for c in worse)
    # the same seed gives the same draws
    np.testing.assert_array_equal(
        result.draws, select(noisy_candidates(noise=0.02), TARGET, budget=1 / 16, n_bootstrap=500, seed=3).draws
    )


def test_an_error_every_candidate_shares_widens_no_interval():
    steepening = 1 / (50 + DF**0.3)  # the same curved shape at three levels: every line misses it alike
    curves = {f"m{i}": Curve(DF, (1 + i) * steepening) for i in range(3)}
    result = select(curves, TARGET, budget=1 / 64)
    assert result.backtest_spread["tail"] < 1e-12
    np.testing.assert_allclose(result.low, result.loss, rtol=1e-12)
    np.testing.assert_allclose(result.high, result.loss, rtol=1e-12)
    assert result.verdict() == "choose m0 (P = 1.00)"


def test_intervals_widen_with_the_extrapolation():
    candidates = noisy_candidates(noise=0.02)
    near = select(candidates, TARGET / 8, budget=1 / 4)
    far = select(candidates, TARGET, budget=1 / 32)  # the same points seen, 8x further to go
    assert np.all(far.high / far.low > near.high / near.low)


def test_the_predictor_is_chosen_by_the_smallest_backtest_spread():
    result = select(noisy_candidates(noise=0.03), TARGET, budget=1 / 8)
    assert set(result.backtest_spread) == {"tail", "tail-pooled"}
    assert result.predictor == min(result.backtest_spread, key=result.backtest_spread.get)
    only = select(noisy_candidates(noise=0.03), TARGET, budget=1 / 8, predictors=["tail"])
    assert only.predictor == "tail" and list(only.backtest_spread) == ["tail"]


def test_pooled_slopes_move_uncertain_slopes_toward_the_others():
    slopes = np.array([-0.10, -0.11, -0.09, -0.10, -0.30])
    variance = np.array([1e-6, 1e-6, 1e-6, 1e-6, 1.0])  # the last slope is barely measured
    lines = Lines(np.zeros(5), np.zeros(5), slopes, variance)
    pooled = shrunk_slopes(lines, np.ones((5, 1)))
    assert abs(pooled[4] - (-0.10)) < 0.01
    # the well-measured slopes differ by more than their noise (tau^2 > 0), so they stay where they are
    np.testing.assert_allclose(pooled[:4], slopes[:4], atol=1e-3)


def test_slopes_that_agree_within_their_noise_are_pooled_to_one():
    slopes = np.array([-0.10, -0.105, -0.095, -0.10, -0.102, -0.098])
    lines = Lines(np.zeros(6), np.zeros(6), slopes, np.full(6, 0.01**2))  # spread below the noise
    pooled = shrunk_slopes(lines, np.ones((6, 1)))
    np.testing.assert_allclose(pooled, slopes.mean(), atol=1e-12)


@pytest.mark.parametrize(
    ("curves", "target", "budget", "message"),
    [
        ({"a": Curve(DF, power_law(3, -0.1))}, 1e5, None, "target Df 100000 is below the largest Df measured"),
        ({"a": Curve(DF[:2], [3.0, 2.9])}, 1e6, None, "'a' has 2 distinct Df value(s); select needs at least 3"),
        ({"a": Curve(DF, power_law(3, -0.1))}, TARGET, 1 / 4096, "has 2 distinct Df value(s) within the budget"),
        ({"a": Curve(DF, power_law(3, -0.1))}, TARGET, 0.0, "the budget must be in (0, 1]"),
        ({"a": Curve(DF, power_law(3, -0.1))}, TARGET, 1.5, "the budget must be in (0, 1]"),
        ({"a": Curve(DF[:4], [3.0, np.nan, 2.8, 2.7])}, 1e6, None, "'a': the loss at Df 400 is nan"),
        ({"a": Curve(DF[:4], [3.0, "x", 2.8, 2.7])}, 1e6, None, "'a': the loss at Df 400 is 'x', not a number"),
        ({"a": Curve([0, 200, 400, 800], [4, 3, 2.9, 2.8])}, 1e6, None, "Df must be finite and > 0"),
        ({"a": Curve(DF, power_law(3, -0.1), size=-1.0)}, TARGET, None, "'a': size is -1.0"),
        ({}, TARGET, None, "at least one candidate"),
    ],
)
def test_bad_input_is_one_clear_line(curves, target, budget, message):
    with pytest.raises(ScalingLawError) as error:
        select(curves, target, budget=budget)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_predictor_names_the_known_ones():
    with pytest.raises(ScalingLawError, match="known predictors: tail, tail-pooled"):
        select(noisy_candidates(), TARGET, budget=1 / 8, predictors=["rectified"])
