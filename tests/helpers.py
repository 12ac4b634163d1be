"""Small builders shared by tests."""

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from ftscale.datamodules.batching import IGNORE_INDEX


def make_batch(vocab: int = 200, batch: int = 3, length: int = 11, source: int = 4) -> dict[str, torch.Tensor]:
    """A seeded finetuning batch: `source` unlabelled tokens per row, and right padding on the first row."""
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab, (batch, length), generator=gen)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, -3:] = 0
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
    labels[:, :source] = IGNORE_INDEX
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def train_on(
    module: L.LightningModule, batches: list[dict], root: Path, callbacks: Sequence[L.Callback] = ()
) -> L.Trainer:
    """Fit `module` one optimizer step per batch, quietly (no logger, bars, summary or validation)."""
    trainer = L.Trainer(
        max_steps=len(batches),
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=list(callbacks),
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    return trainer
