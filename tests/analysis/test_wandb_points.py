"""Points read back from W&B runs (what `--from-wandb` adds): a point run's config and summary, merged by id."""

import pytest

from ftscale.analysis import PointResult
from ftscale.analysis.wandb_points import merge_points, parse_path, point_from_run


class FakeRun:
    """The attributes of `wandb.apis.public.Run` that ftscale reads (wandb 0.31)."""

    def __init__(self, config: dict, summary: dict) -> None:
        self.id, self.config, self.summary_metrics = "r1", config, summary


POINT = {"point_id": "ab12", "method": "lora", "axes": ["model_size"], "factors": {"model_size": "s", "train_size": 8}}


def test_a_point_run_becomes_a_point_without_wandb_keys_or_non_finite_values():
    summary = {"test/loss": 2.5, "_step": 7, "_runtime": 3.0, "val/loss": "NaN", "train/loss": float("inf")}
    point = point_from_run(FakeRun(POINT | {"model": {"rank": 4}}, summary))
    assert point == PointResult("ab12", "lora", ("model_size",), {"model_size": "s", "train_size": 8},
                                {"test/loss": 2.5})  # fmt: skip
    assert point_from_run(FakeRun({"method": "lora"}, summary)) is None  # not a point's run


def test_the_store_wins_and_a_resynced_point_counts_once():
    stored = [PointResult("a", "fmt", (), {}, {"test/loss": 1.0})]
    logged = [PointResult(i, "fmt", (), {}, {"test/loss": 9.0}) for i in ("a", "b", "b")]
    merged = merge_points(stored, logged)
    assert [(p.id, p.metrics["test/loss"]) for p in merged] == [("a", 1.0), ("b", 9.0)]


@pytest.mark.parametrize("path", ["team", "team/", "/proj", "team/proj/x"])
def test_a_bad_entity_project_names_the_option(path):
    with pytest.raises(ValueError, match="--from-wandb: expected ENTITY/PROJECT"):
        parse_path(path)
    assert parse_path("team/proj") == ("team", "proj")
