"""Checkpoints at token budgets: saved at the right step, loadable, and training stops after the last."""

import lightning as L
from torch.utils.data import DataLoader
from transformers import AutoModelForCausalLM

from ftscale.ladder.token_budget import TokenBudgetCheckpoint
from ftscale.lightning_modules import FullFinetune
from tests.helpers import make_batch


def test_checkpoints_are_saved_at_each_budget_and_training_stops_after_the_last(make_backbone, tmp_path):
    batch = make_batch(vocab=200, batch=2, length=8)
    tokens_per_step = int(batch["attention_mask"].sum())
    seen: list[int] = []
    callback = TokenBudgetCheckpoint(
        [2 * tokens_per_step, 5 * tokens_per_step], lambda t: tmp_path / f"tokens-{t}", seen.append
    )
    trainer = L.Trainer(
        max_steps=100,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(FullFinetune(backbone=str(make_backbone("xs"))), DataLoader([batch] * 100, batch_size=None))
    assert trainer.global_step == 5
    assert seen == [tokens_per_step] * 5
    for budget in (2, 5):
        assert AutoModelForCausalLM.from_pretrained(tmp_path / f"tokens-{budget * tokens_per_step}")
