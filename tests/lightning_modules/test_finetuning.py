"""Finetuning behaves as the study needs: pretraining helps, more data helps, checkpoints export."""

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from ftscale.cli.lightning import FtscaleCLI
from ftscale.cli.main import main
from ftscale.lightning_modules import load_method
from tests.conftest import TEST_LADDER


def fit(tmp_path, backbone: str, train_size: int, method: str = "fmt", *extra: str) -> FtscaleCLI:
    return FtscaleCLI(
        ["fit", "--config", "configs/quickstart.yaml", "--ladder", str(TEST_LADDER),
         "--model", f"configs/methods/{method}.yaml", "--model.backbone", backbone,
         "--data.train_size", str(train_size), "--trainer.max_steps", "60", "--trainer.val_check_interval", "30",
         "--trainer.default_root_dir", str(tmp_path / f"{backbone}-{train_size}-{method}"), *extra]
    )  # fmt: skip


def final_test_loss(cli: FtscaleCLI) -> float:
    return float(cli.trainer.callback_metrics["test/loss"])


@pytest.mark.slow
def test_pretrained_backbone_beats_random_init_and_more_data_beats_less(in_repo, test_ladder, tmp_path):
    pretrained_large = final_test_loss(fit(tmp_path, "ladder:s", 2000))
    random_large = final_test_loss(fit(tmp_path, "ladder:s@0", 2000))
    pretrained_small = final_test_loss(fit(tmp_path, "ladder:s", 20))
    assert pretrained_large < random_large
    assert pretrained_large < pretrained_small


@pytest.mark.slow
def test_exported_lora_checkpoint_reloads_with_identical_logits(in_repo, test_ladder, tmp_path):
    cli = fit(tmp_path, "ladder:xs", 200, "lora")
    best = cli.trainer.checkpoint_callback.best_model_path
    assert best.endswith("best.ckpt")
    assert main(["export", best, str(tmp_path / "adapter")]) == 0
    base = cli.model.hparams.backbone
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), tmp_path / "adapter").eval()
    # The exported adapter is the best checkpoint's: compare against that checkpoint, reloaded by Lightning.
    reference = load_method(best).eval()
    assert type(reference) is type(cli.model)
    batch = next(iter(cli.datamodule.test_dataloader()))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, reference.model(**inputs).logits)
