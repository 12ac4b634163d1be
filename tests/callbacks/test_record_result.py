"""RecordResult: a finished run's test metrics, best val/loss, parameters, tokens and time land in the store."""

from dataclasses import dataclass

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from ftscale.callbacks.record_result import RecordResult
from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.sweeps.store import Store


@dataclass(frozen=True)
class Point:
    id: str
    method: str = "stub"
    axes: tuple[str, ...] = ("model_size",)
    factors: dict | None = None
    args: tuple[str, ...] = ("fit",)


class Stub(L.LightningModule):
    """A linear model on token ids; one frozen layer, so trainable and total parameters differ."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = torch.nn.Linear(4, 4).requires_grad_(False)
        self.head = torch.nn.Linear(4, 1)

    def loss(self, batch) -> torch.Tensor:
        return self.head(self.frozen(batch["input_ids"].float())).pow(2).mean()

    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.loss(batch))

    def test_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("test/loss", loss)
        self.log("test/ppl", loss.exp())

    def configure_optimizers(self):
        # Ascent: the loss rises, so the best checkpoint's val/loss is not the last one.
        return torch.optim.SGD(self.head.parameters(), lr=0.01, maximize=True)


def loader(packed: bool = False) -> DataLoader:
    # 5 real tokens per batch: masked padding, or (packed) two examples of 3 and 2 tokens and no mask.
    real = (
        {"example_lengths": torch.tensor([3, 2])}
        if packed
        else {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}
    )
    batches = [{"input_ids": torch.arange(8.0).view(2, 4) + i, **real} for i in range(3)]
    return DataLoader(batches, batch_size=None)


@pytest.mark.parametrize(("validated", "packed"), [(True, False), (False, False), (True, True)])
def test_the_test_metrics_and_run_facts_are_recorded(validated, packed, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.add_points([Point("p0")])
    store.claim("runner", lease_s=60)
    record = RecordResult(str(store.path), "p0", "runner")
    checkpoint = ModelCheckpoint(monitor="val/loss", dirpath=tmp_path / "ckpt")
    throughput = TrainingThroughput()
    trainer = L.Trainer(
        max_steps=6,
        val_check_interval=3 if validated else 100,  # 100: no validation, so no best checkpoint
        check_val_every_n_epoch=None,
        callbacks=[record, checkpoint, throughput],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = Stub()
    trainer.fit(model, loader(packed), loader())
    if not validated:
        trainer.validate(model, loader(), verbose=False)
    last = float(trainer.callback_metrics["val/loss"])
    best = float(checkpoint.best_model_score) if validated else last
    trainer.test(model, loader(), verbose=False)

    row = store.get("p0")
    metrics = row["metrics"]
    assert row["status"] == "done" and record.completed_sweep and store.completed_by() == "runner"
    assert metrics["test/loss"] == pytest.approx(float(trainer.callback_metrics["test/loss"]))
    assert metrics["test/ppl"] == pytest.approx(float(trainer.callback_metrics["test/ppl"]))
    assert metrics["val/loss"] == pytest.approx(best)
    assert (best < last) == validated
    assert metrics["trainable_params"] == 5 and metrics["total_params"] == 25
    assert metrics["steps"] == 6 and metrics["tokens_seen"] == 6 * 5
    assert metrics["wall_time_s"] > 0
    rates = throughput.summary()
    assert metrics["train_tokens_per_s"] == pytest.approx(rates["tokens_per_s"]) and rates["tokens_per_s"] > 0
    assert metrics["train_samples_per_s"] == pytest.approx(rates["samples_per_s"]) and rates["samples_per_s"] > 0
    assert metrics["mfu"] is None  # no peak is known for a CPU, and the stub is no Hugging Face model
    assert metrics["padding_fraction"] == pytest.approx(3 / 8)


def test_a_run_whose_lease_was_taken_over_fails_instead_of_overwriting(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.add_points([Point("p0")])
    store.claim("other", lease_s=60)
    trainer = L.Trainer(
        max_steps=1,
        callbacks=[RecordResult(str(store.path), "p0", "runner")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Stub(), loader())
    with pytest.raises(RuntimeError, match="not 'runner'"):
        trainer.test(Stub(), loader(), verbose=False)
    assert store.get("p0")["status"] == "running"
