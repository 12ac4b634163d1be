"""Tokenized (source, target) examples and their padded, source-masked batches."""

from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset

IGNORE_INDEX = -100  # label of positions the loss skips (torch's cross-entropy default)


class TokenizedPairs(Dataset):
    """Tokenized examples of a split, read from their memory-mapped Arrow table (`tokenizing.py`).

    An item is a dict: `ids` (`[bos] + source + target + [eos]`), `source_length`, `reference` (the untruncated
    target text, for generation metrics) and `language` (the target's language code).
    """

    def __init__(self, table: datasets.Dataset) -> None:
        self.table = table.select_columns(["input_ids", "source_length", "target", "language"])

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """A batch of items in one Arrow take (the DataLoader fetches whole batches through it)."""
        columns = self.table[list(indices)]
        return [
            {"ids": ids, "source_length": length, "reference": reference, "language": language}
            for ids, length, reference, language in zip(
                columns["input_ids"], columns["source_length"], columns["target"], columns["language"], strict=True
            )
        ]

    @property
    def lengths(self) -> np.ndarray:
        """Tokens of every item, in item order (for length grouping)."""
        return pc.list_value_length(self.table.data.column("input_ids")).to_numpy()

    @property
    def ids(self) -> list[list[int]]:
        """Token ids of every item (a Python list: for small splits and benchmarks)."""
        return self.table["input_ids"]

    @property
    def source_lengths(self) -> list[int]:
        """Source length of every item (a Python list)."""
        return self.table["source_length"]


@dataclass(frozen=True)
class PadCollator:
    """Right-pads items of `TokenizedPairs` into a batch.

    Tensors [B, T]: `input_ids`, `attention_mask`, and `labels` (the ids on target positions, IGNORE_INDEX on
    source and padding, so the loss is the conditional log-likelihood of the target; the model shifts labels
    itself). Also `source_lengths` [B] (the prompt is `input_ids[i, :source_lengths[i]]`), and the lists
    `references` and `languages` for generation metrics.
    """

    pad_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(item["ids"]) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for row, item in enumerate(items):
            ids, source_length = torch.tensor(item["ids"], dtype=torch.long), item["source_length"]
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
            labels[row, source_length : len(ids)] = ids[source_length:]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "source_lengths": torch.tensor([item["source_length"] for item in items], dtype=torch.long),
            "references": [item["reference"] for item in items],
            "languages": [item["language"] for item in items],
        }


def example_lengths(batch: dict[str, Any]) -> torch.Tensor:
    """Length in real (non-padding) tokens of every example of a padded or a packed batch, [B]."""
    if "example_lengths" in batch:  # packed: several examples per row and no attention mask
        return batch["example_lengths"]
    if "attention_mask" in batch:
        return batch["attention_mask"].sum(dim=1)
    return torch.full((batch["input_ids"].size(0),), batch["input_ids"].size(1))
