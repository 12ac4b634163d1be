"""The paper's recipe, run for real: early stopping ends a point on a small subset sooner than one on a large
subset, and every point (and the untrained backbone) stores its zero-shot score on the related task."""

import math

import pytest
import yaml

from ftscale.sweeps.runner import run_sweep

SPEC = {
    "name": "recipe",
    "base_config": "configs/quickstart.yaml",
    "ladder": "configs/pretrain/test.yaml",
    "methods": {"fmt": {"config": "configs/methods/fmt.yaml", "overrides": {"model.learning_rate": 0.003}}},
    "axes": {"model_size": ["xs"]},
    "default_size": "xs",
    "train_sizes": [8, 512],
    "seeds": [0],
    "held_out": [],
    "data": {"pool_size": 700, "val_size": 32, "test_size": 16, "batch_size": 8},
    "trainer": {"log_every_n_steps": 5},
    # A cap far beyond what either subset needs, so only early stopping ends them.
    "recipe": {"epochs": 100, "min_steps": 200, "max_steps": 200, "val_check_interval": 4,
               "early_stopping": {"patience": 2, "min_delta": 0.0}},
    "transfer": {"data": "configs/eval/world_zero_shot.yaml", "shots": [0]},
}  # fmt: skip


@pytest.mark.slow
def test_early_stopping_ends_the_small_subset_first_and_zero_shot_scores_are_stored(in_repo, test_ladder, tmp_path):
    spec = tmp_path / "recipe.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    rows = run_sweep(spec, tmp_path / "sweep", show_progress=False, wandb="off").rows()
    assert all(row["status"] == "done" for row in rows), [row["error"] for row in rows]

    steps = {row["factors"]["train_size"]: row["metrics"]["steps"] for row in rows if row["method"] == "fmt"}
    # 8 examples are memorised within a few passes and the dev loss turns; 512 keep it falling for longer.
    assert steps[8] < steps[512] < 200, steps

    (base,) = [row for row in rows if row["method"] == "base"]
    for row in rows:
        assert math.isfinite(row["metrics"]["transfer/k0/loss"]), row["method"]
    finetuned = {row["metrics"]["transfer/k0/loss"] for row in rows if row["method"] == "fmt"}
    assert base["metrics"]["transfer/k0/loss"] not in finetuned  # the base model is scored as it is
