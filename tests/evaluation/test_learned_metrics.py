"""Learned metrics run only when installed and configured; otherwise one message says what to do."""

import pytest

from ftscale.evaluation import learned_metrics
from ftscale.evaluation.learned_metrics import (
    LearnedMetric,
    check_learned_metrics,
    learned_metrics_to_run,
    score_learned,
)


def overlap(checkpoint: str, hypotheses: list[str], references: list[str], sources: list[str]) -> float:
    """A stand-in learned metric: the fraction of exact matches (checkpoint and sources unused)."""
    return sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(hypotheses)


@pytest.fixture
def registry(monkeypatch):
    """An installed metric (its module is `json`) and one whose package is missing."""
    metrics = {
        "installed": LearnedMetric("json", "pip install installed", "an installed checkpoint", overlap),
        "missing": LearnedMetric("no_such_package_xyz", "pip install missing-metric", "a missing checkpoint", overlap),
    }
    monkeypatch.setattr(learned_metrics, "LEARNED_METRICS", metrics)
    return metrics


def test_unconfigured_metrics_are_named_in_one_message_with_what_to_configure():
    runnable, message = learned_metrics_to_run({})
    assert runnable == {}
    assert message.startswith("learned metrics skipped:")
    assert "generation.learned_metrics.bleurt" in message and "BLEURT-20" in message
    assert "generation.learned_metrics.comet" in message


def test_a_configured_metric_without_its_package_says_what_to_install(registry, tmp_path):
    runnable, message = learned_metrics_to_run({"installed": str(tmp_path), "missing": str(tmp_path)})
    assert runnable == {"installed": str(tmp_path)}
    assert "missing (package 'no_such_package_xyz' is not installed: pip install missing-metric)" in message
    assert "installed" not in message.replace("not installed", "")


def test_runnable_metrics_are_scored(registry, tmp_path):
    runnable, _ = learned_metrics_to_run({"installed": str(tmp_path), "missing": str(tmp_path)})
    assert score_learned(runnable, ["a", "b"], ["a", "c"], ["x", "y"]) == {"installed": 0.5}


def test_unknown_metric_and_missing_checkpoint_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown metric 'bertscore'; valid: bleurt, comet"):
        check_learned_metrics({"bertscore": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r"generation\.learned_metrics\.bleurt='/no/such/dir' does not exist"):
        check_learned_metrics({"bleurt": "/no/such/dir"})
