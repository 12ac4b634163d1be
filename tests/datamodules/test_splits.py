"""Stored splits at scale: few large record batches, rows gathered by streaming the file, and a warm run that needs
neither the subset order nor a pass over the split."""

import itertools

import datasets
import numpy as np
import pyarrow as pa
import pytest

from ftscale.datamodules import FinetuneDataModule, SyntheticSummarization, SyntheticTranslation
from ftscale.datamodules import splits as splits_module
from ftscale.datamodules.sources import Dropped
from ftscale.datamodules.splits import cached_split, gather, split_blocks, split_languages
from ftscale.datamodules.tokenizing import GATHER_ROWS, MAX_CHUNK, chunk_bounds, gather_groups


def blocks(n: int, per_block: int) -> list[pa.Table]:
    """n numbered pairs in blocks of `per_block` rows."""
    ranges = [range(start, min(n, start + per_block)) for start in range(0, n, per_block)]
    return [pa.table({"source": [f"s{i}" for i in r], "target": [f"t{i}" for i in r]}) for r in ranges]


@pytest.fixture
def stored(monkeypatch, tmp_path) -> datasets.Dataset:
    """1,000 pairs given in 100 blocks of 10 rows, stored with batches of about 2 KB."""
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(splits_module, "BATCH_BYTES", 2_000)
    return cached_split("pairs", lambda: (iter(blocks(1000, 10)), "de", Dropped()))


def test_small_blocks_are_stored_as_larger_batches(stored):
    sizes = [len(block) for block in split_blocks(stored)]
    assert sum(sizes) == 1000
    assert 5 <= len(sizes) <= 20  # regrouped to about 2 KB each, not the 100 blocks given
    assert stored["source"][:3] == ["s0", "s1", "s2"] and stored["language"][-1] == "de"


@pytest.mark.parametrize("in_memory", [False, True])
def test_gather_gives_the_rows_in_the_order_asked(stored, in_memory):
    split = datasets.Dataset(stored.data.table) if in_memory else stored  # without files: read through `datasets`
    rows = np.random.default_rng(0).permutation(1000)[:137]
    table = gather(split, rows)
    assert table.column("source").to_pylist() == [f"s{i}" for i in rows]
    assert table.column("target").to_pylist() == [f"t{i}" for i in rows]
    assert gather(split, np.array([999, 0])).column("source").to_pylist() == ["s999", "s0"]


def test_languages_come_from_the_stored_notes(world_tokenizer_dir, monkeypatch):
    data = SyntheticSummarization(str(world_tokenizer_dir), languages=["mo", "ve"], pool_size=20)
    train = data.examples("train")

    def no_column_scan(*args, **kwargs):
        raise AssertionError("the languages of stored splits are in their notes")

    with monkeypatch.context() as patch:
        patch.setattr(splits_module.pc, "unique", no_column_scan)
        assert split_languages(train) == ["mo", "ve"]
    assert split_languages(train.select(range(3))) == ["mo"]  # a selection is scanned
    assert split_languages(datasets.Dataset(train.data.table)) == ["mo", "ve"]


def test_a_warm_run_needs_no_subset_order(world_tokenizer_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "cache"))
    sizes = {"pool_size": 3000, "val_size": 10, "test_size": 10, "train_size": 1500}
    cold = SyntheticTranslation(str(world_tokenizer_dir), **sizes)
    cold.setup("fit")
    expected = list(cold.examples("train").select(cold.train_indices())["target"])
    assert list(cold.dataset("train").table["target"]) == expected  # the gathered chunks are in subset order

    def no_subset(self, size):
        raise AssertionError("every chunk is cached: no order is needed")

    monkeypatch.setattr(FinetuneDataModule, "subset", no_subset)
    warm = SyntheticTranslation(str(world_tokenizer_dir), **sizes)
    warm.setup("fit")
    assert list(warm.dataset("train").table["target"]) == expected
    assert list(warm.dataset("train").ids) == list(cold.dataset("train").ids)


def test_chunks_stop_doubling_and_passes_are_bounded():
    bounds = chunk_bounds(10**6, 10**6)
    assert bounds[0] == (0, 1024) and bounds[-1][1] == 10**6
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # contiguous
    assert max(end - start for start, end in bounds) == MAX_CHUNK
    groups = gather_groups(bounds)
    assert [chunk for group in groups for chunk in group] == bounds
    assert all(sum(end - start for start, end in group) <= GATHER_ROWS for group in groups)
    assert len(groups) < len(bounds)  # small chunks share a pass
