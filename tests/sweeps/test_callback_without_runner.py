"""ScalingLawCallback without the runner: each point a plain `ftscale fit` process, as in a user's own SLURM
array or loop; the run whose write completes the sweep fits it, exactly once, also when that run failed."""

import json
import os
import shlex
import subprocess
import sys
from collections import Counter

import pytest

from ftscale.sweeps.layout import open_store
from ftscale.sweeps.store.url import parse
from tests.wandb_offline import read_offline_run, run_job_type

SPEC = "configs/sweeps/three_points.yaml"


def ftscale(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftscale.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_three_fit_processes_record_their_points_and_one_fits_the_sweep(in_repo, test_ladder, tmp_path, postgres_url):
    # On PostgreSQL, the store of launchers on many machines (each store's own concurrency: test_runner_backends.py).
    store = postgres_url
    env = os.environ | {"HOME": str(tmp_path), "WANDB_MODE": "offline"}  # no credentials: offline W&B
    env.pop("WANDB_API_KEY", None)
    env["PGPASSWORD"] = parse(store).password  # `sweep init` prints the commands without it: the launcher gives it
    sweep = tmp_path / "sweep"
    init = ftscale("sweep", "init", SPEC, "--dir", str(sweep), "--store", store, env=env)
    commands = [shlex.split(line)[1:] for line in init.stdout.splitlines()]
    assert init.returncode == 0 and len(commands) == 3, init.stderr

    # The second point's training raises (its subset is larger than the data), and the last one fails too.
    failing = ["--data.train_size", "100000"]
    runs = [ftscale(*commands[0], env=env), ftscale(*commands[1], *failing, env=env)]
    results = open_store(sweep, store)
    assert results.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 1}
    assert not (sweep / "laws.json").exists()  # not complete yet: nobody fits
    runs.append(ftscale(*commands[2], *failing, env=env))
    assert all(run.returncode != 0 for run in runs[1:]) and runs[0].returncode == 0, runs[0].stderr[-2000:]

    rows = {row["id"]: row for row in results.rows()}
    failed = [row for row in rows.values() if row["status"] == "failed"]
    assert len(failed) == 2 and all("train_size=100000" in row["error"] for row in failed)
    assert results.completed_by() is not None  # the last, failing run completed the sweep and fitted it
    laws = json.loads((sweep / "laws.json").read_text())
    assert [p["id"] for p in laws["points"]] == [row["id"] for row in rows.values() if row["status"] == "done"]
    assert (sweep / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert sum("report:" in run.stderr for run in runs) == 1  # exactly one run fitted

    run_dirs = list((sweep / "wandb").glob("offline-run-*"))
    assert Counter(run_job_type(path) for path in run_dirs) == {"finetune": 3, "scaling-law": 1}
    done_id = next(row["id"] for row in rows.values() if row["status"] == "done")
    (done,) = [read_offline_run(path) for path in run_dirs if path.name.split("-")[-2] == done_id]
    steps = [row["_step"] for row in done["history"] if "train/loss" in row]
    assert len(steps) > 1 and any("val/loss" in row for row in done["history"])  # live curves, not a summary
    assert done["config"]["point_id"] in rows and done["run"]["group"] == "three-points"
