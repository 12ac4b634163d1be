"""Greedy or beam-search continuations of the prompts of a finetuning batch, for any method."""

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence


def prompts_of(batch: dict[str, Any]) -> list[torch.Tensor]:
    """The prompt of each row of a batch: `input_ids[i, :source_lengths[i]]` (bos included, target excluded)."""
    return [ids[:length] for ids, length in zip(batch["input_ids"], batch["source_lengths"].tolist(), strict=True)]


def _left_pad(sequences: list[torch.Tensor], padding_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded stack of sequences (of ids or embeddings) and its attention mask."""
    padded = pad_sequence(sequences, batch_first=True, padding_value=padding_value, padding_side="left")
    lengths = torch.tensor([len(s) for s in sequences], device=padded.device)
    positions = torch.arange(padded.size(1), device=padded.device)
    mask = (positions >= padded.size(1) - lengths[:, None]).long()
    return padded, mask


@torch.no_grad()
def generate_ids(
    model: nn.Module,
    prompts: list[torch.Tensor],
    eos_token_id: int,
    pad_token_id: int,
    max_new_tokens: int,
    num_beams: int = 1,
    synced_gpus: bool = False,
    soft_prompt: torch.Tensor | None = None,
) -> list[list[int]]:
    """The new token ids generated after each prompt, up to its first eos (excluded) or `max_new_tokens`.

    Prompts are left-padded into one `generate` call; with a `soft_prompt` [positions, hidden], `model` reads
    [padding, soft prompt, prompt] embeddings, as in training (a method's `generation_model()` gives both).
    `synced_gpus` keeps every process stepping until all are done, which sharded models (FSDP, DeepSpeed) need.
    """
    options = {
        "max_new_tokens": max_new_tokens,
        "num_beams": num_beams,
        "do_sample": False,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
        "synced_gpus": synced_gpus,
    }
    if soft_prompt is not None:
        embed = model.get_input_embeddings()
        embeds = [torch.cat([soft_prompt, embed(p).to(soft_prompt.dtype)]) for p in prompts]
        inputs_embeds, attention_mask = _left_pad(embeds, 0.0)
        # From embeddings alone, generate returns only the new tokens.
        new = model.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **options)
    else:
        input_ids, attention_mask = _left_pad(prompts, pad_token_id)
        new = model.generate(input_ids=input_ids, attention_mask=attention_mask, **options)[:, input_ids.size(1) :]
    continuations = []
    for row in new.tolist():
        continuations.append(row[: row.index(eos_token_id)] if eos_token_id in row else row)
    return continuations
