"""Claim 5 on synthetic points: judged on the retention task, zero- and few-shot; transfer shown, not judged."""

import numpy as np
import pytest

from ftscale.analysis import PointResult
from ftscale.analysis.claims import judge_claims

BASE_LOSS = {"s": 4.0, "m": 3.5}


def points(rise: dict[str, dict[str, float]], tasks=("retention/k0", "retention/k3", "transfer/k0")) -> list:
    """Base points of two backbones, and FMT and LoRA points on 2 backbones x 3 sizes x 3 seeds whose evaluation
    losses rise over their backbone's by `rise[task][method]` (plus noise)."""
    rng = np.random.default_rng(0)
    out = [
        PointResult(f"base-{size}", "base", (), {"model_size": size}, {f"{t}/loss": loss for t in tasks})
        for size, loss in BASE_LOSS.items()
    ]
    for method in ("fmt", "lora"):
        for size in BASE_LOSS:
            for train_size in (20, 60, 200):
                for seed in (0, 1, 2):
                    factors = {"model_size": size, "train_size": train_size, "seed": seed}
                    metrics = {
                        f"{t}/loss": BASE_LOSS[size] + rise[t][method] + 0.05 * rng.standard_normal() for t in tasks
                    }
                    out.append(PointResult(f"{method}-{size}-{train_size}-{seed}", method, ("model_size",), factors,
                                           metrics))  # fmt: skip
    return out


def claim_5(results: list[PointResult]):
    return next(c for c in judge_claims([], {}, results, 0.95) if c.id == 5)


# The transfer task improves under finetuning, FMT most (shared target language): the opposite of forgetting.
TRANSFER = {"fmt": -0.6, "lora": -0.2}


def test_a_smaller_retention_rise_for_pet_holds_zero_and_few_shot_whatever_the_transfer_task_shows():
    claim = claim_5(points({"retention/k0": {"fmt": 0.5, "lora": 0.1}, "retention/k3": {"fmt": 0.4, "lora": 0.1},
                            "transfer/k0": TRANSFER}))  # fmt: skip
    assert claim.verdict == "holds"
    assert claim.values["retention k=0: lora"] == pytest.approx(0.4, abs=0.05)
    assert claim.values["retention k=3: lora"] == pytest.approx(0.3, abs=0.05)
    assert claim.verdicts["retention k=0: lora"] == claim.verdicts["retention k=3: lora"] == "holds"
    # Shown beside it, with its own interval, but not part of the verdict.
    assert claim.values["transfer k=0: lora"] == pytest.approx(-0.4, abs=0.05)
    assert claim.verdicts["transfer k=0: lora"] == "does not hold"
    low, high = claim.intervals["retention k=0: lora"]
    assert low < 0.4 < high and low > 0


def test_a_larger_retention_rise_for_pet_does_not_hold():
    claim = claim_5(points({"retention/k0": {"fmt": 0.1, "lora": 0.5}, "retention/k3": {"fmt": 0.0, "lora": 0.3},
                            "transfer/k0": TRANSFER}))  # fmt: skip
    assert claim.verdict == "does not hold"
    assert claim.values["retention k=0: lora"] == pytest.approx(-0.4, abs=0.05)


def test_zero_and_few_shot_disagreeing_is_inconclusive():
    claim = claim_5(points({"retention/k0": {"fmt": 0.5, "lora": 0.1}, "retention/k3": {"fmt": 0.1, "lora": 0.5},
                            "transfer/k0": TRANSFER}))  # fmt: skip
    assert claim.verdicts == {
        "retention k=0: lora": "holds",
        "retention k=3: lora": "does not hold",
        "transfer k=0: lora": "does not hold",
    }
    assert claim.verdict == "inconclusive"


def test_without_a_retention_task_the_claim_is_not_testable_and_says_why():
    claim = claim_5(points({"transfer/k0": TRANSFER}, tasks=("transfer/k0",)))
    assert claim.verdict == "not testable"
    assert "spec field `retention`" in claim.evidence and "measures transfer, not retention" in claim.evidence
    assert not claim.values


def test_points_are_compared_on_the_same_backbone_subset_and_seed():
    results = points({"retention/k0": {"fmt": 0.5, "lora": 0.1}}, tasks=("retention/k0",))
    # A LoRA point only on the PET-size axis (FMT has none to match) and one whose backbone has no base point.
    extra = {"model_size": "s", "train_size": 20, "seed": 0, "pet_size": 64}
    results.append(PointResult("lora-rank", "lora", ("pet_size",), extra, {"retention/k0/loss": 9.0}))
    unmatched = extra | {"model_size": "l"}
    results.append(PointResult("lora-l", "lora", ("model_size",), unmatched, {"retention/k0/loss": 9.0}))
    assert claim_5(results).values["retention k=0: lora"] == pytest.approx(0.4, abs=0.05)
    without_base = [p for p in results if p.method != "base"]
    assert claim_5(without_base).verdict == "not testable"
