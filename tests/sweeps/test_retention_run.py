"""Retention and transfer run for real in a sweep: every finetuned point and the untrained backbone store their
zero- and few-shot losses on both tasks, under their own prefixes."""

import math

import pytest
import yaml

from ftscale.sweeps.runner import run_sweep

SPEC = {
    "name": "retention",
    "base_config": "configs/quickstart.yaml",
    "ladder": "configs/pretrain/test.yaml",
    "methods": {"fmt": {"config": "configs/methods/fmt.yaml", "overrides": {"generation.max_examples": 0}}},
    "axes": {"model_size": ["xs"]},
    "train_sizes": [16],
    "seeds": [0],
    "held_out": [],
    "data": {"pool_size": 64, "val_size": 8, "test_size": 8, "batch_size": 8},
    "trainer": {"max_steps": 4, "val_check_interval": 2, "check_val_every_n_epoch": None},
    "transfer": {"data": "configs/eval/world_zero_shot.yaml", "shots": [0]},
    "retention": {"data": "configs/eval/world_retention.yaml", "shots": [0, 3]},
}


@pytest.mark.slow
def test_every_point_stores_its_retention_and_transfer_losses(in_repo, test_ladder, tmp_path):
    spec = tmp_path / "retention.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    rows = run_sweep(spec, tmp_path / "sweep", show_progress=False, wandb="off").rows()
    assert sorted(row["method"] for row in rows) == ["base", "fmt"]
    assert all(row["status"] == "done" for row in rows), [row["error"] for row in rows]
    for row in rows:
        metrics = row["metrics"]
        losses = [metrics[f"{task}/loss"] for task in ("retention/k0", "retention/k3", "transfer/k0", "test")]
        assert all(math.isfinite(loss) for loss in losses), (row["method"], metrics)
        # Three demonstrations change what the model is scored on: the few-shot loss is a measurement of its own.
        assert metrics["retention/k3/loss"] != metrics["retention/k0/loss"]
