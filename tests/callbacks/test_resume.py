"""Points that survive preemption: kill -9 a run after its first save, run it again in its directory, and it
resumes from that step and ends where an uninterrupted run ends; Ctrl-C stops training at a step's end, saved."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from ftscale.callbacks.resume import ResumeCheckpoint, resume_path
from ftscale.sweeps.interrupts import interruptible

ARGS = [
    "fit", "--config", "configs/quickstart.yaml", "--ladder", "configs/pretrain/test.yaml",
    "--model", "configs/methods/fmt.yaml", "--model.backbone", "ladder:xs", "--data.pool_size", "64",
    "--data.train_size", "32", "--data.batch_size", "8", "--data.val_size", "16", "--data.test_size", "16",
    "--trainer.max_steps", "6", "--trainer.val_check_interval", "3", "--trainer.enable_progress_bar", "false",
    "--generation.max_examples", "0", "--resume.every_n_steps", "2", "--wandb", "off",
]  # fmt: skip


class CtrlCAtBatch(L.Callback):
    """Sends this process a SIGINT, as Ctrl-C does, when batch `index` starts."""

    def __init__(self, index: int) -> None:
        self.index = index

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.index:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_in_training_stops_at_the_end_of_its_step_and_saves_the_whole_state(tmp_path):
    trainer = L.Trainer(
        default_root_dir=tmp_path, max_steps=10, limit_val_batches=0, logger=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[ResumeCheckpoint(every_minutes=None), CtrlCAtBatch(2)],
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt), interruptible():  # as under `ftscale`: Lightning's exit(1) is the interrupt
        trainer.fit(BoringModel())
    saved = torch.load(resume_path(tmp_path), weights_only=False)
    assert saved["global_step"] == 3  # batches 0, 1 and 2: the step in which Ctrl-C came was finished


def start(run_dir: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "ftscale.cli", *ARGS, "--trainer.default_root_dir", str(run_dir)]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)


def final_loss(run_dir: Path) -> float:
    # The killed run and the resumed one each log a version; only the finished one tested.
    rows = [r for path in run_dir.glob("lightning_logs/version_*/metrics.csv") for r in csv.DictReader(path.open())]
    (loss,) = [float(r["test/loss"]) for r in rows if r.get("test/loss")]
    return loss


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_save_and_matches_an_uninterrupted_one(in_repo, test_ladder, tmp_path):
    whole = start(tmp_path / "whole", tmp_path / "whole.log")
    assert whole.wait(timeout=600) == 0, (tmp_path / "whole.log").read_text()[-2000:]

    run_dir = tmp_path / "killed"
    first = start(run_dir, tmp_path / "first.log")
    deadline = time.monotonic() + 600
    while not resume_path(run_dir).is_file():
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-2000:]
        time.sleep(0.005)
    # Freeze it at once: on a fast machine the 6 steps can end (and drop the state) within a fraction of a second.
    # Lightning writes the file through a temporary and a rename, so once it exists it is whole.
    os.kill(first.pid, signal.SIGSTOP)
    assert first.poll() is None, "the run ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL

    again = start(run_dir, tmp_path / "again.log")
    assert again.wait(timeout=600) == 0, (tmp_path / "again.log").read_text()[-2000:]
    log = (tmp_path / "again.log").read_text()
    step = int(log.split("resumed from step ")[1].split()[0])
    assert 0 < step < 6
    assert abs(final_loss(run_dir) - final_loss(tmp_path / "whole")) < 1e-4
    assert not resume_path(run_dir).exists()  # the resumable state is dropped once the run is tested
