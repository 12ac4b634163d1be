"""Points that survive preemption: the full training state saved every few minutes or steps, and on SIGTERM or
Ctrl-C."""

from __future__ import annotations

import contextlib
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ftscale.sweeps import interrupts

RESUME_DIR = "resume"  # under the run's directory; `ftscale fit` resumes from `<run dir>/resume/last.ckpt`


def resume_path(run_dir: str | Path) -> Path:
    """Where a run's resumable state is kept."""
    return Path(run_dir) / RESUME_DIR / "last.ckpt"


class ResumeCheckpoint(ModelCheckpoint):
    """Keeps `<run dir>/resume/last.ckpt`: weights (the trained tensors), optimizer, scheduler, step, callbacks'
    and the data loader's position, so a killed or preempted run continues where it was (`ftscale fit` in the same
    directory picks it up); saved every `every_n_steps` steps if set, else every `every_minutes`, and when SIGTERM
    (a SLURM preemption) or Ctrl-C stops training, at the end of the step it came in (for Ctrl-C: under `ftscale`,
    which defers it, see `sweeps/interrupts.py`). Removed once the run is tested; the best checkpoint stays.

    Args:
        every_minutes: Save this often in wall time, when `every_n_steps` is not set (None: never by time).
        every_n_steps: Save every this many optimizer steps instead.
    """

    def __init__(self, every_minutes: float | None = 15.0, every_n_steps: int | None = None) -> None:
        super().__init__(
            filename="last",
            monitor=None,
            save_top_k=1,
            every_n_train_steps=every_n_steps,
            # Lightning takes one trigger: steps when given, else time.
            train_time_interval=timedelta(minutes=every_minutes) if every_minutes and not every_n_steps else None,
            save_on_train_epoch_end=False,
            enable_version_counter=False,
        )
        self.every_minutes = every_minutes
        self._deferral = contextlib.ExitStack()  # Ctrl-C waits for the step's end while training runs
        self._training = False
        self._stopped_whole = False  # training was stopped by Ctrl-C at a step's end: its state is worth keeping

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.dirpath = str(resume_path(trainer.default_root_dir).parent)
        super().setup(trainer, pl_module, stage)

    @property
    def state_key(self) -> str:
        return "ResumeCheckpoint"  # one per run, told apart from the best-checkpoint ModelCheckpoint

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step:
            rank_zero_info(f"resumed from step {trainer.global_step} ({resume_path(trainer.default_root_dir)})")
        self._deferral.enter_context(interrupts.deferred())
        self._training = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args)
        self._stop_if_interrupted(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._stop_if_interrupted(trainer)
        self._end_deferral()

    def _stop_if_interrupted(self, trainer: L.Trainer) -> None:
        """Raise a Ctrl-C that came during training now, at a step's end: every rank at the same step."""
        if self._training and trainer.strategy.reduce_boolean_decision(interrupts.pending(), all=False):
            self._stopped_whole = True
            raise KeyboardInterrupt

    def _end_deferral(self) -> None:
        self._training = False
        self._deferral.close()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._end_deferral()
        # SIGTERM stops training at a step's end (Lightning raises it there), and so does a deferred Ctrl-C.
        whole = isinstance(exception, SIGTERMException) or self._stopped_whole
        if whole and trainer.state.fn == "fit":
            trainer.save_checkpoint(resume_path(trainer.default_root_dir))

    @staticmethod
    def remove(run_dir: str | Path) -> None:
        """Drop a finished run's resumable state."""
        shutil.rmtree(resume_path(run_dir).parent, ignore_errors=True)
