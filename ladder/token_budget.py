"""Saving Hugging Face checkpoints at pretraining token budgets (the paper's pretraining-data factor)."""

from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from ftscale.datamodules.batching import example_lengths


class TokenBudgetCheckpoint(Callback):
    """Count trained tokens; at each budget, save the model to `dirname(budget)` and stop after the last.

    Every process trains on a batch of the same token count (pretraining packs fixed-length sequences), so the
    global count is this process's times the world size, with no collective per step.

    Args:
        budgets: Token counts to checkpoint at; each must be a multiple of the tokens in one step.
        dirname: Maps a budget to the directory its checkpoint is written to.
        on_tokens: Called with the number of tokens of every step (for progress display).
    """

    def __init__(
        self,
        budgets: Sequence[int],
        dirname: Callable[[int], Path],
        on_tokens: Callable[[int], None] | None = None,
    ) -> None:
        self.budgets = sorted(budgets)
        self.dirname = dirname
        self.on_tokens = on_tokens
        self.tokens_seen = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        tokens = int(example_lengths(batch).sum()) * trainer.world_size
        self.tokens_seen += tokens
        if self.on_tokens is not None:
            self.on_tokens(tokens)
        while self.budgets and self.tokens_seen >= self.budgets[0]:
            budget = self.budgets.pop(0)
            if trainer.is_global_zero:
                pl_module.export(self.dirname(budget))
        if not self.budgets:
            trainer.should_stop = True
