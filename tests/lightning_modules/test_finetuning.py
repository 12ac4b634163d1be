"""Finetuning behaves as the study needs: pretraining helps, more data helps; every method's README line trains,
and its checkpoint reloads and exports."""

import math
import re
import shlex

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from ftscale.backbones.params import parameter_counts
from ftscale.cli.lightning import FtscaleCLI
from ftscale.cli.main import main
from ftscale.lightning_modules import PeftMethod, load_method
from tests.conftest import ROOT, TEST_LADDER


def fit(tmp_path, backbone: str, train_size: int) -> FtscaleCLI:
    return FtscaleCLI(
        ["fit", "--config", "configs/quickstart.yaml", "--ladder", str(TEST_LADDER),
         "--model", "configs/methods/fmt.yaml", "--model.backbone", backbone,
         "--data.train_size", str(train_size), "--trainer.max_steps", "60", "--trainer.val_check_interval", "30",
         "--trainer.default_root_dir", str(tmp_path / f"{backbone}-{train_size}")]
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


README_FIT_LINES = re.compile(r"^ftscale fit (.*--model configs/methods/.*)$", re.M)


@pytest.mark.slow
def test_the_readmes_fit_line_of_every_method_trains_saves_reloads_and_exports(in_repo, test_ladder, tmp_path):
    lines = README_FIT_LINES.findall((ROOT / "README.md").read_text())
    shipped = {path.stem for path in (ROOT / "configs" / "methods").glob("*.yaml")}
    assert {re.search(r"configs/methods/(\w+)\.yaml", line)[1] for line in lines} == shipped
    for i, line in enumerate(lines):
        out = tmp_path / str(i)
        # The README's line, on the test ladder's xs model and a few steps.
        cli = FtscaleCLI(
            ["fit", *shlex.split(line, comments=True), "--ladder", str(TEST_LADDER), "--model.backbone", "ladder:xs",
             "--data.train_size", "32", "--trainer.max_steps", "4", "--trainer.val_check_interval", "2",
             "--trainer.default_root_dir", str(out), "--wandb", "off", "--generation.max_examples", "4"]
        )  # fmt: skip
        module = cli.model
        assert math.isfinite(cli.trainer.callback_metrics["test/loss"]), line
        config = parameter_counts(module.hparams.backbone).config
        assert module.count_trainable_parameters(config) == module.trainable_parameters, line
        best = cli.trainer.checkpoint_callback.best_model_path
        reloaded = load_method(best).eval()
        assert type(reloaded) is type(module), line
        assert main(["export", best, str(out / "export")]) == 0
        if getattr(module.hparams, "quantization", None):  # a 4-bit base: its logits differ from the export's
            continue
        if isinstance(reloaded, PeftMethod):
            base = AutoModelForCausalLM.from_pretrained(module.hparams.backbone)
            exported = PeftModel.from_pretrained(base, out / "export")
        else:
            exported = AutoModelForCausalLM.from_pretrained(out / "export")
        batch = next(iter(cli.datamodule.test_dataloader()))
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with torch.no_grad():
            torch.testing.assert_close(exported.eval()(**inputs).logits, reloaded.model(**inputs).logits)
