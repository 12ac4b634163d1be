"""Length grouping: seeded, every example once per epoch, and less padding than random batches."""

import torch

from ftscale.datamodules import SyntheticTranslation
from ftscale.datamodules.length_grouping import SeededLengthGroupedSampler

BATCH = 8


def lengths(n: int = 400) -> list[int]:
    return torch.randint(4, 120, (n,), generator=torch.Generator().manual_seed(0)).tolist()


def padding(order: list[int], sizes: list[int]) -> int:
    batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    return sum(len(b) * max(sizes[i] for i in b) - sum(sizes[i] for i in b) for b in batches)


def test_grouped_epochs_cover_every_example_once_seeded_and_reshuffled():
    sizes = lengths()
    sampler = SeededLengthGroupedSampler(sizes, BATCH, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(len(sizes)))
    assert list(SeededLengthGroupedSampler(sizes, BATCH, seed=3)) == first  # same seed, same order
    assert list(SeededLengthGroupedSampler(sizes, BATCH, seed=4)) != first
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(len(sizes))) and second != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # an epoch's order depends on (seed, epoch) only: ranks and resumed runs agree


def test_grouped_batches_pad_less_than_random_ones():
    sizes = lengths()
    random_order = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(0)).tolist()
    grouped = list(SeededLengthGroupedSampler(sizes, BATCH, seed=0))
    assert padding(grouped, sizes) < padding(random_order, sizes) / 3


def test_datamodule_groups_and_packs_only_training_batches(world_tokenizer_dir):
    small = {"pool_size": 300, "val_size": 20, "test_size": 20, "train_size": 96, "batch_size": 8}
    plain = SyntheticTranslation(str(world_tokenizer_dir), **small)
    grouped = SyntheticTranslation(str(world_tokenizer_dir), group_by_length=True, pack=True, **small)
    positions = {}
    for name, data in (("plain", plain), ("grouped", grouped)):
        data.setup("fit")
        batches = list(data.train_dataloader())
        references = sorted(r for batch in batches for r in batch["references"])
        assert references == sorted(data.dataset("train").table["target"])  # each example once per epoch
        positions[name] = sum(batch["input_ids"].numel() for batch in batches)
    assert "position_ids" in batches[0] and "attention_mask" in next(iter(grouped.val_dataloader()))
    assert positions["grouped"] < positions["plain"]
