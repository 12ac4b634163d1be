"""Tokenized splits are cached on disk: an identical datamodule skips the tokenizer, sweep points share chunks of
their nested subsets, and any change that alters the ids re-tokenizes."""

import os
import shutil

import pytest

from ftscale.datamodules import FinetuneDataModule, SyntheticTranslation, Translation
from ftscale.datamodules import finetune as finetune_module
from ftscale.datamodules.tokenizing import FIRST_CHUNK, PARALLEL_MIN_ROWS, chunk_bounds, processes
from tests.datamodules.conftest import split_files


@pytest.fixture
def encoded(monkeypatch, tmp_path) -> list[int]:
    """How many examples each call of the tokenizer encoded, with a cache of the test's own."""
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "cache"))
    calls: list[int] = []
    encode = FinetuneDataModule.encode

    def counting(self, prompts, targets, keep_source_end):
        calls.append(len(prompts))
        return encode(self, prompts, targets, keep_source_end)

    monkeypatch.setattr(FinetuneDataModule, "encode", counting)
    return calls


def items(data: FinetuneDataModule, split: str) -> list[dict]:
    dataset = data.dataset(split)
    return [dataset[i] for i in range(len(dataset))]


def translation(tokenizer, files=None, **kwargs) -> Translation:
    data = Translation(str(tokenizer), data_files=files or split_files("wmt_en_de"), train_size=12, **kwargs)
    data.setup()
    return data


def test_identical_datamodule_loads_from_the_cache(world_tokenizer_dir, encoded):
    first = translation(world_tokenizer_dir, max_target_tokens=8)
    assert encoded == [20, 5, 5]  # the training split's first chunk (all 20), validation, test
    second = translation(world_tokenizer_dir, max_target_tokens=8)
    assert encoded == [20, 5, 5]  # nothing re-tokenized
    for split in ("train", "validation", "test"):
        assert items(second, split) == items(first, split)
    assert second.truncated == first.truncated and first.truncated["train/target"] > 0


def test_a_changed_limit_subset_or_file_misses(world_tokenizer_dir, encoded, tmp_path):
    translation(world_tokenizer_dir)
    translation(world_tokenizer_dir, max_source_tokens=20)
    assert encoded == [20, 5, 5] * 2
    translation(world_tokenizer_dir, subset_seed=1)
    assert encoded[6:] == [20]  # another subset order; validation and test are unchanged
    folder = tmp_path / "wmt"
    shutil.copytree(split_files("wmt_en_de")["test"].rsplit("/", 1)[0], folder)
    files = {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
    translation(world_tokenizer_dir, files=files)
    assert encoded[7:] == [20, 5, 5]  # other files (keyed by path, modification time and size)
    test = folder / "test.jsonl"
    test.write_text(test.read_text(encoding="utf-8").replace("Niemand", "Keiner"), encoding="utf-8")
    translation(world_tokenizer_dir, files=files)
    assert encoded[10:] == [5]  # only the edited test split


def test_sweep_points_share_the_chunks_of_their_nested_subsets(world_tokenizer_dir, encoded):
    sizes = {"pool_size": 3000, "val_size": 10, "test_size": 10}
    small = SyntheticTranslation(str(world_tokenizer_dir), train_size=100, **sizes)
    small.setup("fit")
    assert sum(encoded) == FIRST_CHUNK + 10  # the first chunk of the subset order, and validation
    encoded.clear()
    large = SyntheticTranslation(str(world_tokenizer_dir), train_size=1500, **sizes)
    large.setup("fit")
    assert sum(encoded) == FIRST_CHUNK  # only the second chunk [1024, 2048): the first is shared
    assert items(large, "train")[:100] == items(small, "train")  # nested: the same examples, the same ids
    encoded.clear()
    SyntheticTranslation(str(world_tokenizer_dir), train_size=2000, **sizes).setup("fit")
    SyntheticTranslation(str(world_tokenizer_dir), train_size=700, world_seed=0, **sizes).setup("fit")
    assert encoded == []
    SyntheticTranslation(str(world_tokenizer_dir), train_size=700, subset_seed=1, **sizes).setup("fit")
    assert sum(encoded) == FIRST_CHUNK  # another seed is another order


def test_chunks_double_and_stop_at_the_split():
    assert chunk_bounds(1, 10) == [(0, 10)]
    assert chunk_bounds(1500, 3000) == [(0, 1024), (1024, 2048)]
    assert chunk_bounds(100_000, 10**6)[-1] == (65536, 131072)
    assert chunk_bounds(3000, 3000) == [(0, 1024), (1024, 2048), (2048, 3000)]


def test_processes_start_only_for_large_splits():
    assert processes(PARALLEL_MIN_ROWS - 1, None) == 1
    assert processes(10**9, None) >= 1 and processes(10, 3) == 3


def test_tokenizing_processes_give_the_same_ids(world_tokenizer_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "cache"))
    sizes = {"pool_size": 200, "val_size": 30, "test_size": 10, "train_size": 150, "num_shots": 2}
    one = SyntheticTranslation(str(world_tokenizer_dir), num_proc=1, **sizes)
    one.setup("fit")
    shutil.rmtree(tmp_path / "cache" / "tokenized")
    two = SyntheticTranslation(str(world_tokenizer_dir), num_proc=2, **sizes)  # the datamodule goes to 2 workers
    environ = os.environ
    two.setup("fit")
    assert os.environ is environ  # datasets' map rebinds it: the monkeypatch's undo would miss the process's
    for split in ("train", "validation"):
        assert items(two, split) == items(one, split)


def test_synthetic_tasks_are_cached_too(world_tokenizer_dir, encoded):
    sizes = {"pool_size": 50, "val_size": 10, "test_size": 10, "train_size": 20}
    SyntheticTranslation(str(world_tokenizer_dir), **sizes).setup()
    SyntheticTranslation(str(world_tokenizer_dir), **sizes).setup()
    SyntheticTranslation(str(world_tokenizer_dir), world_seed=1, **sizes).setup()
    assert encoded == [50, 10, 10] * 2


def test_tokenizer_revision_reaches_from_pretrained(world_tokenizer_dir, monkeypatch):
    calls = []
    load = finetune_module.AutoTokenizer.from_pretrained

    def recording(name, **kwargs):
        calls.append(kwargs)
        return load(name, **kwargs)

    monkeypatch.setattr(finetune_module.AutoTokenizer, "from_pretrained", recording)
    assert SyntheticTranslation(str(world_tokenizer_dir), tokenizer_revision="step1000").hf_tokenizer is not None
    assert calls == [{"revision": "step1000"}]
