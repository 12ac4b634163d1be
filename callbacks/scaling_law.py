"""The design card's callback: record a sweep point's result in the sweep's store, and fit the sweep's power
laws when that result completes the sweep (the store's fit task), whoever launched the point."""

from __future__ import annotations

import contextlib
import time
import traceback
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ftscale.callbacks.throughput import TrainingThroughput
from ftscale.datamodules.batching import example_lengths
from ftscale.errors import InputError
from ftscale.sweeps.layout import open_store, point_run_id, sweep_name
from ftscale.sweeps.store import LEASE_S, LeaseLost, Store, fit_when_due, lease_owner
from ftscale.sweeps.store.lease import renewing
from ftscale.sweeps.store.url import parse

# The zero- and few-shot evaluations on other tasks (`ftscale fit --transfer.data/--retention.data`).
EVALUATIONS = ("transfer/", "retention/")


class ScalingLawCallback(Callback):
    """Records the point's metrics in the store after testing (rank 0), or its failure from `on_exception`;
    when the store says that write completed the sweep, runs the sweep's fit (a task of the store, run once:
    `laws.json`, the figures, `report.html` and the W&B `scaling-law` run), also one whose earlier process died.

    Recorded: every `test/*`, `transfer/*` and `retention/*` metric, `val/loss` of the checkpoint tested,
    trainable and total parameters, steps, tokens trained on, wall time, and the `TrainingThroughput` rates when it
    is attached.

    Args:
        sweep_dir: The sweep directory (`ftscale sweep run` makes it; the fit writes there).
        point_id: The point this run is (`ftscale sweep plan SPEC` lists them).
        store: The store's URL, without a password (this argument is saved with the run's config): libpq finds
            it in $PGPASSWORD, ~/.pgpass or a service file (docs/clusters.md); default $FTSCALE_STORE, else the
            sweep directory's `results.sqlite`.
        owner: The lease holder when a runner claimed the point for this run. Without it the callback claims
            the point itself at setup (it must be pending, failed points need `ftscale sweep run --retry-failed`)
            and renews the lease while the run lasts.
        wandb: W&B mode of the fit: `online`, `offline` or `off` (default: online with credentials, else offline).
    """

    def __init__(
        self,
        sweep_dir: str,
        point_id: str,
        store: str | None = None,
        owner: str | None = None,
        wandb: str | None = None,
    ) -> None:
        if store is not None and parse(store).password is not None:
            raise InputError(
                "ScalingLawCallback store: a URL with a password would be saved with the run's config; give it "
                "without one and the password in $PGPASSWORD or ~/.pgpass (docs/clusters.md)"
            )
        self.sweep_dir = sweep_dir
        self.point_id = point_id
        self.store_url = store
        self.owner = owner
        self.wandb = wandb
        self.completed_sweep = False  # whether this run's write was the one that completed the sweep
        self._recorded = False
        self._started: float | None = None
        self._local_tokens = 0
        self._tokens_seen = 0
        self._last_val_loss: float | None = None
        self._transfer: dict[str, float] = {}
        self._claimed_here = False  # this callback leased the point (no runner did)
        self._renewal = contextlib.ExitStack()  # renews that lease while the run lasts

    @property
    def store(self) -> Store:
        return open_store(self.sweep_dir, self.store_url)

    def point(self) -> dict[str, Any]:
        """The point's row in the store; an InputError naming the store if it has no such point."""
        row = self.store.get(self.point_id)
        if row is None:
            raise InputError(
                f"no point {self.point_id!r} in the store of {self.sweep_dir}; `ftscale sweep plan` lists them"
            )
        return row

    def wandb_init(self) -> dict[str, Any]:
        """Arguments for this point's `WandbLogger`: group = the sweep, job type `finetune`, config = the point.

        The run id is fixed per point and store, so a resumed point continues its run and a point is one run.
        """
        row = self.point()
        store = self.store
        config = {"point_id": row["id"], "method": row["method"], "axes": row["axes"], "factors": row["factors"]}
        return {
            "group": sweep_name(self.sweep_dir),
            "job_type": "finetune",
            "name": row["id"],
            "config": config,
            "id": point_run_id(row["id"], store.sweep_uid()),
            "resume": "allow",
        }

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._started is None:
            self._started = time.perf_counter()
        if self.owner is None and trainer.is_global_zero:
            self._claim()

    def _claim(self) -> None:
        owner = lease_owner()
        if self.store.claim_point(self.point_id, owner, LEASE_S) is None:
            row = self.point()
            raise RuntimeError(
                f"point {self.point_id} is {row['status']}"
                + (f" under {row['lease_owner']}" if row["status"] == "running" else "")
                + "; it is not run again (a failed point reruns with `ftscale sweep run --retry-failed`)"
            )
        self.owner = owner
        self._claimed_here = True
        self._renewal.enter_context(renewing(lambda: self.store.heartbeat(self.point_id, owner, LEASE_S)))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        self._local_tokens += int(example_lengths(batch).sum())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # One collective per run, not one per step.
        self._tokens_seen = int(pl_module.all_gather(torch.tensor(self._local_tokens)).sum())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and "val/loss" in trainer.callback_metrics:
            # Kept here: testing clears the trainer's metrics, and a run without a best checkpoint tests its end.
            self._last_val_loss = float(trainer.callback_metrics["val/loss"])

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("test/", *EVALUATIONS))}
        self._transfer |= {k: v for k, v in metrics.items() if k.startswith(EVALUATIONS)}
        # Transfer evaluations run before the task's own test, which is the one that settles the point.
        if trainer.is_global_zero and "test/loss" in metrics and not self._recorded:
            self._record(trainer, pl_module, metrics | self._transfer)

    def _record(self, trainer: L.Trainer, pl_module: L.LightningModule, metrics: dict[str, float]) -> None:
        best = next((c.best_model_score for c in trainer.checkpoint_callbacks if c.monitor == "val/loss"), None)
        params = list(pl_module.parameters())
        metrics |= {
            "val/loss": float(best) if best is not None else self._last_val_loss,
            "trainable_params": sum(p.numel() for p in params if p.requires_grad),
            "total_params": sum(p.numel() for p in params),
            "steps": trainer.global_step,
            "tokens_seen": self._tokens_seen,
            "wall_time_s": time.perf_counter() - (self._started or time.perf_counter()),
        }
        throughput = next((c for c in trainer.callbacks if isinstance(c, TrainingThroughput)), None)
        if throughput is not None:
            metrics |= {f"train_{k}" if k in ("tokens_per_s", "samples_per_s") else k: v
                        for k, v in throughput.summary().items()}  # fmt: skip
        for logger in trainer.loggers:  # the run's own summary (W&B) holds what the store holds
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "summary"):
                experiment.summary.update({k: v for k, v in metrics.items() if v is not None})
        self._settle(lambda store: store.finish(self.point_id, self.owner, metrics))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._stop_heartbeat()
        if not trainer.is_global_zero or self._recorded:
            return
        if self.owner is None:  # it failed before this callback's setup (Lightning sets the datamodule up first)
            try:
                self._claim()
            except RuntimeError:  # done, or another run holds it: not ours to record
                return
            self._stop_heartbeat()
        if isinstance(exception, KeyboardInterrupt):
            if self._claimed_here:  # our own claim, interrupted rather than failed: pending again (a runner's
                self.store.release(self.point_id, self.owner)  # claim is given back by the runner)
            return
        if isinstance(exception, SIGTERMException):  # preempted: the next claim resumes it (an attempt counted)
            self.store.expire(self.point_id, self.owner)
            return
        error = "".join(traceback.format_exception(exception)).rstrip()
        self._settle(lambda store: store.fail(self.point_id, self.owner, error))

    def _settle(self, write) -> None:
        """Write the point's outcome; if that write completed the sweep (decided by the store, which then leases
        the sweep's fit to this run), or the sweep's fit is due otherwise, run the fit here."""
        self._stop_heartbeat()
        self._recorded = True
        store = self.store
        with contextlib.suppress(LeaseLost):  # another runner took the point over: its outcome counts
            self.completed_sweep = bool(write(store))
        # A failed fit is recorded in the store and logged there: it must not fail the point, which is recorded.
        fit_when_due(store, self._fit, self.owner)

    def _fit(self, fit_id: str) -> None:
        from ftscale.reports.finalize import complete_sweep  # the fit's imports are paid by one run only

        complete_sweep(self.sweep_dir, self.store_url, self.wandb, fit_id=fit_id)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._recorded:
            self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        self._renewal.close()
