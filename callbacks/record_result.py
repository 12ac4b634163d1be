"""Recording a finished sweep point's metrics in the sweep's results store."""

import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.datamodules.batching import example_lengths
from ftscale.sweeps.store import Store


class RecordResult(Callback):
    """When testing ends, write the point's metrics to the store and mark it done.

    Recorded: every `test/*` metric, `val/loss` of the best checkpoint (the one tested), trainable and total
    parameters, training steps, tokens seen in training (real tokens, source and target, padded or packed), the
    wall time from setup to the end of testing and, when the run has a `TrainingThroughput` callback, its
    `train_tokens_per_s`, `train_samples_per_s`, `mfu` and `padding_fraction`.

    Args:
        store_path: The sweep's `results.sqlite`.
        point_id: The point this run is.
        owner: The runner holding the point's lease.
    """

    def __init__(self, store_path: str, point_id: str, owner: str) -> None:
        self.store_path = store_path
        self.point_id = point_id
        self.owner = owner
        self.tokens_seen = 0  # over all processes, summed once when training ends
        self._local_tokens = 0
        self.started: float | None = None
        self.last_val_loss: float | None = None
        self.completed_sweep = False  # whether this run's result was the one that completed the sweep

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        self._local_tokens += int(example_lengths(batch).sum())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # One collective per run, not one per step.
        self.tokens_seen = int(pl_module.all_gather(torch.tensor(self._local_tokens)).sum())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        # Kept here: testing clears the trainer's metrics, and an unvalidated-best run tests its end state.
        val_loss = trainer.callback_metrics.get("val/loss")
        self.last_val_loss = None if val_loss is None else float(val_loss)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
        # Without a best checkpoint (a run shorter than one validation interval) the end state was validated.
        val_loss = best if best is not None else self.last_val_loss
        params = list(pl_module.parameters())
        metrics.update(
            {
                "val/loss": None if val_loss is None else float(val_loss),
                "trainable_params": sum(p.numel() for p in params if p.requires_grad),
                "total_params": sum(p.numel() for p in params),
                "steps": trainer.global_step,
                "tokens_seen": self.tokens_seen,
                "wall_time_s": time.perf_counter() - (self.started or time.perf_counter()),
            }
        )
        throughput = next((c for c in trainer.callbacks if isinstance(c, TrainingThroughput)), None)
        if throughput is not None:
            rates = throughput.summary()
            metrics.update(
                {
                    "train_tokens_per_s": rates["tokens_per_s"],
                    "train_samples_per_s": rates["samples_per_s"],
                    "mfu": rates["mfu"],
                    "padding_fraction": rates["padding_fraction"],
                }
            )
        self.completed_sweep = Store(self.store_path).finish(self.point_id, self.owner, metrics)
