"""Small builders shared by tests."""

import torch

from datamodules.batching import IGNORE_INDEX


def make_batch(vocab: int = 200, batch: int = 3, length: int = 11, source: int = 4) -> dict[str, torch.Tensor]:
    """A seeded finetuning batch: `source` unlabelled tokens per row, and right padding on the first row."""
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab, (batch, length), generator=gen)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -3:] = 0
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
    labels[:, :source] = IGNORE_INDEX
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
