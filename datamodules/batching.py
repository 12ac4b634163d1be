"""Tokenized (source, target) examples and their padded, source-masked batches."""

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

IGNORE_INDEX = -100  # label of positions the loss skips (torch's cross-entropy default)


class TokenizedPairs(Dataset):
    """Token ids of `source + target` per example, with where the target starts."""

    def __init__(self, ids: list[list[int]], source_lengths: list[int]) -> None:
        self.ids = ids
        self.source_lengths = source_lengths

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.ids[index], self.source_lengths[index]


@dataclass(frozen=True)
class PadCollator:
    """Right-pads a list of (ids, source length) into `input_ids`, `attention_mask` and `labels` [B, T].

    Labels are the ids on target positions and IGNORE_INDEX on source and padding, so the loss is the
    conditional log-likelihood of the target (the model shifts labels itself).
    """

    pad_token_id: int

    def __call__(self, items: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for row, (ids, source_length) in enumerate(items):
            tensor = torch.tensor(ids, dtype=torch.long)
            input_ids[row, : len(ids)] = tensor
            attention_mask[row, : len(ids)] = 1
            labels[row, source_length : len(ids)] = tensor[source_length:]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
