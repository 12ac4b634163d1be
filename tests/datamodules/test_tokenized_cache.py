"""Tokenized splits are cached on disk: an identical datamodule skips the tokenizer, any change re-tokenizes."""

import shutil

import pytest

from ftscale.datamodules import FinetuneDataModule, SyntheticTranslation, Translation
from tests.datamodules.conftest import split_files


@pytest.fixture
def encode_calls(monkeypatch, tmp_path) -> list[int]:
    """How many examples each run of the tokenizer encoded (the cache skips it), with a cache of the test's own."""
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "cache"))
    calls: list[int] = []
    encode = FinetuneDataModule.encode

    def counting(self, prompts, targets, keep_source_end):
        calls.append(len(prompts))
        return encode(self, prompts, targets, keep_source_end)

    monkeypatch.setattr(FinetuneDataModule, "encode", counting)
    return calls


def translation(tokenizer, files=None, **kwargs) -> Translation:
    data = Translation(str(tokenizer), data_files=files or split_files("wmt_en_de"), train_size=12, **kwargs)
    data.setup()
    return data


def test_identical_datamodule_loads_from_the_cache(world_tokenizer_dir, encode_calls):
    first = translation(world_tokenizer_dir, max_target_tokens=8)
    assert encode_calls == [12, 5, 5]  # the train split tokenizes only its subset
    second = translation(world_tokenizer_dir, max_target_tokens=8)
    assert encode_calls == [12, 5, 5]  # nothing re-tokenized
    for split in ("train", "validation", "test"):
        assert [second.dataset(split)[i] for i in range(len(second.dataset(split)))] == [
            first.dataset(split)[i] for i in range(len(first.dataset(split)))
        ]
    assert second.truncated == first.truncated and first.truncated["train/target"] > 0  # counts are cached too


def test_a_changed_limit_subset_or_file_misses(world_tokenizer_dir, encode_calls, tmp_path):
    translation(world_tokenizer_dir)
    translation(world_tokenizer_dir, max_source_tokens=20)
    assert encode_calls == [12, 5, 5] * 2
    translation(world_tokenizer_dir, subset_seed=1)
    assert encode_calls[6:] == [12]  # another subset; validation and test are unchanged
    folder = tmp_path / "wmt"
    shutil.copytree(split_files("wmt_en_de")["test"].rsplit("/", 1)[0], folder)
    test = folder / "test.jsonl"
    test.write_text(test.read_text(encoding="utf-8").replace("Niemand", "Keiner"), encoding="utf-8")
    files = {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
    translation(world_tokenizer_dir, files=files)
    assert encode_calls[7:] == [5]  # only the edited test split


def test_synthetic_tasks_are_cached_too(world_tokenizer_dir, encode_calls):
    sizes = {"pool_size": 50, "val_size": 10, "test_size": 10, "train_size": 20}
    SyntheticTranslation(str(world_tokenizer_dir), **sizes).setup()
    SyntheticTranslation(str(world_tokenizer_dir), **sizes).setup()
    SyntheticTranslation(str(world_tokenizer_dir), world_seed=1, **sizes).setup()
    assert encode_calls == [20, 10, 10] * 2
