"""Finetuning datamodules: masking, subsets, errors, templates, truncation statistics."""

import csv

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from transformers import AutoTokenizer

from ftscale.datamodules import FinetuneDataModule, SyntheticSummarization, SyntheticTranslation
from ftscale.datamodules.batching import IGNORE_INDEX
from tests.datamodules.conftest import as_examples

SMALL = {"pool_size": 600, "val_size": 40, "test_size": 40}


@pytest.fixture(scope="module")
def translation(world_tokenizer_dir) -> SyntheticTranslation:
    data = SyntheticTranslation(str(world_tokenizer_dir), train_size=100, batch_size=8, **SMALL)
    data.setup("fit")
    return data


def test_batches_mask_source_and_padding(translation, world_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(world_tokenizer_dir)
    batch = next(iter(translation.val_dataloader()))
    tensors = {"input_ids", "attention_mask", "labels"}
    assert set(batch) == tensors | {"source_lengths", "references", "languages"}
    assert all(batch[k].dtype == torch.long and batch[k].shape == batch["input_ids"].shape for k in tensors)
    examples = as_examples(translation.examples("validation"))
    assert batch["references"] == [e.target for e in examples[: len(batch["references"])]]
    assert batch["languages"] == [e.language for e in examples[: len(batch["languages"])]]
    for row, example in enumerate(examples[: len(batch["input_ids"])]):
        ids, mask, labels = batch["input_ids"][row], batch["attention_mask"][row], batch["labels"][row]
        length = int(mask.sum())
        assert mask[:length].all() and not mask[length:].any()  # right padded
        assert (ids[length:] == tokenizer.pad_token_id).all()
        source = [
            tokenizer.bos_token_id,
            *tokenizer(translation.render_source(example), add_special_tokens=False)["input_ids"],
        ]
        target = [*tokenizer(example.target, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        assert ids[:length].tolist() == source + target
        assert batch["source_lengths"][row] == len(source)
        assert (labels[: len(source)] == IGNORE_INDEX).all()
        assert labels[len(source) : length].tolist() == target  # target and eos are learned
        assert (labels[length:] == IGNORE_INDEX).all()


def test_train_subset_is_nested_stratified_and_shuffled(world_tokenizer_dir, translation):
    assert translation.num_train_examples == 100
    assert len(translation.dataset("train")) == 100
    larger = SyntheticTranslation(str(world_tokenizer_dir), train_size=300, **SMALL)
    assert larger.train_indices()[:100].tolist() == translation.train_indices().tolist()
    other = SyntheticTranslation(str(world_tokenizer_dir), train_size=100, subset_seed=1, **SMALL)
    assert set(other.train_indices()) != set(translation.train_indices())
    whole = SyntheticTranslation(str(world_tokenizer_dir), **SMALL)
    assert whole.num_train_examples == 600
    seen = sum(len(batch["input_ids"]) for batch in translation.train_dataloader())
    assert seen == 100


def test_hyperparameters_are_saved(translation):
    assert translation.hparams["train_size"] == 100 and translation.hparams["source_lang"] == "ve"


@pytest.mark.parametrize("train_size", [0, -3, 601])
def test_train_size_out_of_range_fails_before_training(world_tokenizer_dir, train_size):
    with pytest.raises(ValueError, match=rf"data\.train_size={train_size}"):
        data = SyntheticTranslation(str(world_tokenizer_dir), train_size=train_size, **SMALL)
        data.setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_lang": "xx"}, r"data\.source_lang: unknown language code 'xx'; valid codes: ve"),
        ({"target_lang": ""}, r"data\.target_lang: unknown language code ''"),
        ({"source_lang": "ka", "target_lang": "ka"}, "pick two languages"),
        ({"pool_size": 0}, r"data\.pool_size=0"),
    ],
)
def test_bad_translation_arguments_fail_in_init(world_tokenizer_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticTranslation(str(world_tokenizer_dir), **kwargs)


@pytest.mark.parametrize(("languages", "message"), [([], "is empty"), (["ve", "zz"], "unknown language code 'zz'")])
def test_bad_summarization_languages_fail_in_init(world_tokenizer_dir, languages, message):
    with pytest.raises(ValueError, match=message):
        SyntheticSummarization(str(world_tokenizer_dir), languages=languages)


def test_summarization_uses_the_paper_prefix_and_stratifies(world_tokenizer_dir):
    data = SyntheticSummarization(
        str(world_tokenizer_dir), languages=["ve", "ka", "mo"], train_size=31, pool_size=90, val_size=9, test_size=9
    )
    data.setup("test")
    example = as_examples(data.examples("test"))[0]
    assert data.render_source(example) == f"Summarize the following document in Veloran:\n{example.source}\n"
    train = data.examples("train")["language"]
    counts = {code: sum(train[i] == code for i in data.train_indices()) for code in ("ve", "ka", "mo")}
    assert sorted(counts.values()) == [10, 10, 11]
    assert set(data.examples("test")["language"]) == {"ve", "ka", "mo"}


def test_truncation_is_counted(world_tokenizer_dir):
    data = SyntheticSummarization(
        str(world_tokenizer_dir), max_source_tokens=24, max_target_tokens=6, pool_size=20, val_size=10, test_size=10
    )
    with pytest.warns(UserWarning, match="truncated"):
        data.setup("validate")
    assert data.truncated["validation/source"] == 10 and data.truncated["validation/target"] > 0
    batch = next(iter(data.val_dataloader()))
    assert batch["input_ids"].shape[1] <= 24 + 6
    assert ((batch["labels"] != IGNORE_INDEX).sum(1) <= 6).all()
    assert (batch["labels"] == data.hf_tokenizer.eos_token_id).sum() == 10  # eos survives truncation


def test_base_class_needs_a_task(world_tokenizer_dir):
    with pytest.raises(NotImplementedError):
        FinetuneDataModule(str(world_tokenizer_dir)).setup("fit")


def test_truncation_counts_reach_the_trainers_loggers(world_tokenizer_dir, tmp_path):
    data = SyntheticSummarization(
        str(world_tokenizer_dir), max_source_tokens=24, max_target_tokens=6, pool_size=20, val_size=10, test_size=10
    )
    trainer = L.Trainer(logger=CSVLogger(tmp_path), default_root_dir=tmp_path, enable_progress_bar=False)
    data.trainer = trainer
    with pytest.warns(UserWarning, match="truncated"):
        data.setup("fit")
    trainer.logger.save()
    (row,) = csv.DictReader(next(tmp_path.rglob("metrics.csv")).open())
    for split in ("train", "validation"):
        for side in ("source", "target"):
            cut = data.truncated[f"{split}/{side}"]
            assert float(row[f"data/{split}_truncated_{side}"]) == cut
            assert float(row[f"data/{split}_truncated_{side}_fraction"]) == cut / len(data.dataset(split))
    assert float(row["data/validation_truncated_source_fraction"]) == 1.0  # every document is cut at 24 tokens
    assert not any(key.startswith("data/test_") for key in row)  # fit logs only the splits it set up
