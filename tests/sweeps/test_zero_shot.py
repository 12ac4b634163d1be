"""`ftscale test` of a finetuned checkpoint on another datamodule: the zero-shot command of docs/evaluation.md."""

import csv
import json

import pytest

from ftscale.cli.main import main

SMALL_DATA = ["--data.pool_size", "32", "--data.val_size", "8", "--data.test_size", "8", "--data.train_size", "16"]


def logged_metrics(log_dir) -> dict[str, float]:
    """The last value of every metric in a CSVLogger's metrics.csv."""
    with (log_dir / "metrics.csv").open() as file:
        return {key: float(value) for row in csv.DictReader(file) for key, value in row.items() if value}


@pytest.mark.slow
def test_a_finetuned_checkpoint_is_tested_zero_shot_on_another_source_language(in_repo, make_backbone, tmp_path):
    run = ["--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "CSVLogger"]
    fit = ["fit", "--config", "configs/quickstart.yaml", "--model.init_args.backbone", str(make_backbone("xs"))]
    steps = ["--trainer.max_steps", "4", "--trainer.val_check_interval", "2", "--generation.max_new_tokens", "4"]
    assert main([*fit, *SMALL_DATA, *steps, *run, "--trainer.logger.save_dir", str(tmp_path)]) == 0
    fitted = tmp_path / "lightning_logs" / "version_0"
    assert {"test/loss", "test/bleu"} <= logged_metrics(fitted).keys()

    zero_shot = ["--data", "configs/eval/world_zero_shot.yaml"]
    ckpt = ["--config", str(fitted / "config.yaml"), "--ckpt_path", str(fitted / "checkpoints" / "best.ckpt")]
    assert main(["test", *ckpt, *zero_shot]) == 0
    tested = tmp_path / "lightning_logs" / "version_1"
    assert {"test/loss", "test/bleu", "test/chrf", "test/rougeL"} <= logged_metrics(tested).keys()
    generations = [json.loads(line) for line in (tested / "generations.jsonl").read_text().splitlines()]
    # The run's other options are kept (test_size 8); only the source language changed.
    assert len(generations) == 8
    assert all(g["prompt"].startswith("Translate from Morundi to Kathuri:") for g in generations)
