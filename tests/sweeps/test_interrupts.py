"""Ctrl-C is harmless: SIGINT to a runner's process group, as a terminal sends it, during pretraining and during
points stops it with one line and exit code 130 and fails nothing; a plain rerun then completes the sweep."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftscale.sweeps.interrupts import INTERRUPTED
from ftscale.sweeps.layout import Target
from ftscale.sweeps.spec import load_spec
from tests.sweeps.test_runner import ROOT, TEST_SPEC

LINE = "interrupted: run the same command again to resume"


def command(sweep_dir: Path) -> list[str]:
    """`ftscale sweep run` of the test sweep with two runner processes."""
    return [sys.executable, "-m", "ftscale.cli", "sweep", "run", TEST_SPEC, "--dir", str(sweep_dir), "--workers", "2",
            "--wandb", "offline"]  # fmt: skip


def start(sweep_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    """The sweep's runner in a process group of its own, as a terminal's job."""
    return subprocess.Popen(command(sweep_dir), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip


def ctrl_c(runner: subprocess.Popen) -> str:
    """Send SIGINT to the runner's whole process group; return what it printed, after checking how it ended."""
    os.killpg(runner.pid, signal.SIGINT)
    out, err = runner.communicate()
    assert runner.returncode == INTERRUPTED, out + err
    assert "Traceback" not in out + err and err.strip().splitlines()[-1] == LINE, out + err
    return out + err


def wait_for(runner: subprocess.Popen, ready) -> None:
    while not ready():
        assert runner.poll() is None, runner.communicate()
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_during_pretraining_and_during_points_then_a_rerun_completes_the_sweep(in_repo, tmp_path):
    cache, sweep_dir = tmp_path / "cache", tmp_path / "sweep"
    env = os.environ | {"FTSCALE_CACHE": str(cache), "HOME": str(tmp_path)}  # nothing pretrained yet, no W&B login
    env.pop("WANDB_API_KEY", None)
    points = len(load_spec(TEST_SPEC).points())

    runner = start(sweep_dir, env)
    wait_for(runner, lambda: any(cache.rglob("tokens-0")))  # a size's pretraining has begun
    ctrl_c(runner)
    store = Target(sweep_dir).open()
    assert store.counts() == {"pending": points, "running": 0, "done": 0, "failed": 0}

    runner = start(sweep_dir, env)
    wait_for(runner, lambda: store.counts()["running"] > 0)  # points are running (in-process, in both runners)
    ctrl_c(runner)
    counts = store.counts()
    assert counts["running"] == counts["failed"] == 0 and counts["pending"] > 0  # the points in flight given back
    assert all(row["attempts"] == (row["status"] == "done") for row in store.rows())  # no attempt counted

    rerun = subprocess.run(command(sweep_dir), cwd=ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert store.counts() == {"pending": 0, "running": 0, "done": points, "failed": 0}
    assert (sweep_dir / "laws.json").is_file()
