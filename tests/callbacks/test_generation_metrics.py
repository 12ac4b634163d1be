"""`GenerationMetrics` generates for the first test examples and logs BLEU, chrF and ROUGE, per language too."""

import csv
import json

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.loggers import CSVLogger

from ftscale.callbacks.generation_metrics import GenerationMetrics
from ftscale.datamodules import SyntheticSummarization, SyntheticTranslation
from ftscale.evaluation.text_metrics import score_texts
from ftscale.lightning_modules import LoRA

METRICS = {"test/bleu", "test/chrf", "test/rouge1", "test/rouge2", "test/rougeL"}


def run_test(callback: GenerationMetrics, datamodule: L.LightningDataModule, backbone, tmp_path) -> dict[str, float]:
    """`trainer.test` a LoRA model with the callback; the logged test metrics.

    The weights are scaled-up random ones: a tiny random-init model only emits eos, so every text would be empty.
    """
    module = LoRA(backbone=str(backbone))
    module.configure_model()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.model.parameters():
            parameter.normal_(0, 0.3)
    trainer = L.Trainer(
        logger=CSVLogger(tmp_path),
        callbacks=[callback],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (metrics,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return metrics


def translation(backbone, **options) -> SyntheticTranslation:
    sizes = {"pool_size": 8, "val_size": 4, "test_size": 10, "eval_batch_size": 4}
    return SyntheticTranslation(tokenizer=str(backbone), **sizes, **options)


def read_jsonl(path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_logs_metrics_of_the_first_examples_and_writes_them(make_backbone, tmp_path):
    backbone = make_backbone("xs")
    datamodule = translation(backbone)
    metrics = run_test(GenerationMetrics(max_examples=6, max_new_tokens=4), datamodule, backbone, tmp_path)
    assert metrics.keys() >= METRICS and "test/loss" in metrics
    (log_dir,) = (tmp_path / "lightning_logs").iterdir()
    records = read_jsonl(log_dir / "generations.jsonl")
    # Six examples from batches of four: the quota cuts the second batch.
    assert [r["reference"] for r in records] == datamodule.examples("test")["target"][:6]
    assert all(r["prompt"].startswith("Translate from Veloran to Kathuri:") for r in records)
    assert all(r["hypothesis"] for r in records)
    expected = score_texts([r["hypothesis"] for r in records], [r["reference"] for r in records], ["ka"] * 6)
    for name, value in expected.metrics.items():
        assert metrics[f"test/{name}"] == pytest.approx(value)
    hparams = yaml.safe_load((log_dir / "hparams.yaml").read_text())
    assert hparams["generation/bleu_signature"] == expected.signatures["bleu"]
    with (log_dir / "metrics.csv").open() as file:
        assert set(next(csv.reader(file))) >= METRICS


def test_several_languages_are_logged_per_language(make_backbone, tmp_path):
    backbone = make_backbone("xs")
    datamodule = SyntheticSummarization(
        tokenizer=str(backbone), languages=["ve", "ka"], pool_size=4, val_size=2, test_size=4, eval_batch_size=4
    )
    metrics = run_test(GenerationMetrics(max_examples=4, max_new_tokens=3), datamodule, backbone, tmp_path)
    for language in ("ve", "ka"):
        assert {f"test/{language}/rougeL", f"test/{language}/bleu"} <= metrics.keys()


def test_zero_examples_turns_generation_off(make_backbone, tmp_path):
    backbone = make_backbone("xs")
    metrics = run_test(GenerationMetrics(max_examples=0), translation(backbone), backbone, tmp_path)
    assert "test/loss" in metrics and not METRICS & metrics.keys()
    assert not list(tmp_path.rglob("generations.jsonl"))


def test_unconfigured_learned_metrics_are_skipped_with_one_message(make_backbone, tmp_path, caplog):
    backbone = make_backbone("xs")
    with caplog.at_level("INFO", logger="lightning.pytorch.utilities.rank_zero"):
        run_test(GenerationMetrics(max_examples=2, max_new_tokens=2), translation(backbone), backbone, tmp_path)
    skipped = [r.getMessage() for r in caplog.records if "learned metrics skipped" in r.getMessage()]
    assert len(skipped) == 1 and "generation.learned_metrics.bleurt" in skipped[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_examples": -1}, "generation.max_examples=-1"),
        ({"num_beams": 0}, "generation.num_beams=0"),
        ({"learned_metrics": {"bleu": "x"}}, "unknown metric 'bleu'"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        GenerationMetrics(**options)
