"""Packing the examples of one batch into fewer rows, each example attending only to itself."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ftscale.datamodules.batching import IGNORE_INDEX
from ftscale.errors import InputError


def pack_rows(lengths: list[int]) -> list[list[int]]:
    """Indices of `lengths` grouped into rows no longer than the longest one (first-fit decreasing)."""
    width = max(lengths)
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, free in enumerate(room) if free >= lengths[index]), None)
        if row is None:
            rows.append([])
            room.append(width)
            row = len(rows) - 1
        rows[row].append(index)
        room[row] -= lengths[index]
    return rows


@dataclass(frozen=True)
class PackCollator:
    """Packs items of `TokenizedPairs` into rows as wide as the longest item, several items per row.

    Tensors [R, T] with R <= B: `input_ids`, `labels` (as `PadCollator`'s, and IGNORE_INDEX on the first token
    of every item, so no item is predicted from the one before it) and `position_ids`, which restart at 0 for
    every item and for the padding at a row's end. There is no `attention_mask`: from such position ids
    transformers builds the block-diagonal causal mask itself (`masking_utils.find_packed_sequence_indices`
    for sdpa and eager). Also `example_lengths` [B] and the lists `references` and `languages`, in item order.

    Rows keep the width of the longest item rather than one [1, sum of lengths] row (transformers'
    `DataCollatorWithFlattening`): sdpa and eager attend over the whole row, so one long row would cost B times
    the attention; flash_attention_2 reads packed position ids only from a single row, so under it a model
    should flatten these rows to [1, R * T] before the forward (the labels need no change).
    """

    pad_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = [len(item["ids"]) for item in items]
        rows = pack_rows(lengths)
        width = max(lengths)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        position_ids = torch.zeros((len(rows), width), dtype=torch.long)
        for row, members in enumerate(rows):
            start = 0
            for index in members:
                ids, source_length = torch.tensor(items[index]["ids"], dtype=torch.long), items[index]["source_length"]
                end = start + len(ids)
                input_ids[row, start:end] = ids
                labels[row, start + source_length : end] = ids[source_length:]
                labels[row, start] = IGNORE_INDEX  # also where a corpus labels every token
                position_ids[row, start:end] = torch.arange(len(ids))
                start = end
            position_ids[row, start:] = torch.arange(width - start)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": position_ids,
            "example_lengths": torch.tensor(lengths, dtype=torch.long),
            "references": [item["reference"] for item in items],
            "languages": [item["language"] for item in items],
        }


def check_packable(model: nn.Module | None) -> None:
    """Raise if `model` cannot train on packed rows: peft prompt learning prepends one soft prompt per row."""
    config = getattr(model, "active_peft_config", None)
    if config is not None and config.is_prompt_learning:
        raise InputError(
            "data.pack=true does not work with prompt tuning: peft prepends one soft prompt per row and drops "
            "position_ids, so packed examples would share a prompt and attend to each other; use "
            "data.group_by_length=true to cut padding instead"
        )
