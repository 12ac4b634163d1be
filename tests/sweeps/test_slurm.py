"""`--launcher slurm` without a cluster: array tasks on submitit's LocalExecutor drain a PostgreSQL store (one of
them preempted and requeued), and the CLI's sbatch file, job ids and status through stand-in sbatch/sacct."""

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from ftscale.cli.main import main
from ftscale.sweeps import slurm
from ftscale.sweeps.layout import Target
from ftscale.sweeps.slurm import Resources, submit_array
from tests.sweeps.test_runner import BLOCK_AT, RUNNERS, events, fake_execute, hook, hook_calls
from tests.sweeps.test_runner_backends import named_spec

POINTS = 15  # in configs/sweeps/test.yaml


def submit_local(tmp_path: Path, url: str) -> tuple[Target, list]:
    """Submit the test sweep as two array tasks on this machine (submitit's LocalExecutor), training faked."""
    spec = named_spec(tmp_path, f"slurm-{tmp_path.name}")
    return submit_array(spec, tmp_path / "s", 2, Resources(time_min=10), store=url, fit=hook,
                        pretrain=False, cluster="local", execute=fake_execute)  # fmt: skip


def test_two_array_tasks_drain_a_postgres_store_and_the_sweep_is_fitted_once(
    in_repo, tmp_path, postgres_url, monkeypatch, capsys
):
    monkeypatch.setenv(RUNNERS, "2")  # both tasks hold a point at once before either finishes one
    target, jobs = submit_local(tmp_path, postgres_url)
    assert sum(job.result() for job in jobs) == POINTS  # each task returns how many points it ran
    rows = target.open().rows()
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    ends = [(point, owner.split(":")[1]) for event, point, owner in events(target.sweep_dir) if event == "end"]
    assert Counter(point for point, _ in ends) == Counter({r["id"]: 1 for r in rows})
    assert len({pid for _, pid in ends}) == 2 and hook_calls(target.sweep_dir) == 1
    recorded = json.loads((target.sweep_dir / slurm.JOBS).read_text())
    assert recorded["cluster"] == "local" and recorded["jobs"] == [job.job_id for job in jobs]

    assert main(["sweep", "status", str(target.sweep_dir), "--store", postgres_url]) == 0
    out = capsys.readouterr().out
    assert f"0 pending, 0 running, {POINTS} done, 0 failed (complete)" in out
    assert all(f"{job.job_id} " in out and "FINISHED" in out for job in jobs)


def test_a_preempted_task_is_requeued_and_its_point_taken_over(in_repo, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv(BLOCK_AT, "3")  # the third point started hangs until its task is signalled
    target, jobs = submit_local(tmp_path, postgres_url)
    while sum(e[0] == "start" for e in events(target.sweep_dir)) < 3:
        assert not all(job.done() for job in jobs), "the array tasks ended before they started three points"
        time.sleep(0.1)
    _, blocked, owner = [e for e in events(target.sweep_dir) if e[0] == "start"][2]
    # What SLURM sends before the time limit (and submitit's preemption signal): checkpoint, requeue, exit.
    os.kill(int(owner.split(":")[1]), signal.SIGUSR2)
    for job in jobs:  # the requeued task's result counts only what its rerun ran
        job.result()
    store = target.open()
    assert all(r["status"] == "done" for r in store.rows()) and hook_calls(target.sweep_dir) == 1
    starts = Counter(point for event, point, _ in events(target.sweep_dir) if event == "start")
    ends = Counter(point for event, point, _ in events(target.sweep_dir) if event == "end")
    assert starts[blocked] == 2 and store.get(blocked)["attempts"] == 2
    assert ends == Counter({r["id"]: 1 for r in store.rows()})
    logs = [path.read_text() for path in (target.sweep_dir / slurm.FOLDER).glob("*_0_log.*")]
    assert sum("Requeued job" in log for log in logs) == 1  # submitit's own requeue, of the same task (checkpoint)


def fake_slurm(bin_dir: Path, job_id: str) -> None:
    """Stand-ins for SLURM's commands: srun (its presence is what submitit looks for), sbatch keeping the script
    it is given, and sacct answering for three array tasks."""
    bin_dir.mkdir()
    scripts = {
        "srun": "exit 0",
        "sbatch": f'cp "$1" {bin_dir}/submitted.sh; echo "Submitted batch job {job_id}"',
        "sacct": f"printf 'JobID|State|NodeList\\n{job_id}_0|RUNNING|n1\\n{job_id}_1|PENDING|\\n"
        f"{job_id}_2|COMPLETED|n2\\n'",
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_the_cli_submits_one_array_with_the_slurm_options_and_status_shows_its_tasks(
    in_repo, tmp_path, postgres_url, monkeypatch, capsys
):
    fake_slurm(tmp_path / "bin", "4242")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    pretrained = []
    monkeypatch.setattr(slurm, "pretrain_spec", lambda spec: pretrained.append(spec.name))
    spec, sweep_dir = named_spec(tmp_path, f"cli-{tmp_path.name}"), tmp_path / "s"
    options = ["--partition", "gpu", "--account", "lab", "--gpus-per-node", "2", "--cpus-per-task", "8",
               "--mem-gb", "64", "--time", "90", "--slurm-extra", "qos=high", "--slurm-extra", "requeue"]  # fmt: skip
    code = main(["sweep", "run", str(spec), "--dir", str(sweep_dir), "--store", postgres_url, "--launcher", "slurm",
                 "--workers", "3", *options])  # fmt: skip
    assert code == 0 and pretrained == [f"cli-{tmp_path.name}"]
    assert "submitted 3 array tasks: 4242_0 4242_1 4242_2" in capsys.readouterr().out
    assert json.loads((sweep_dir / slurm.JOBS).read_text())["jobs"] == ["4242_0", "4242_1", "4242_2"]
    sbatch = (tmp_path / "bin" / "submitted.sh").read_text().splitlines()
    for line in ("--array=0-2%3", "--partition=gpu", "--account=lab", "--gpus-per-node=2", "--cpus-per-task=8",
                 "--mem=64GB", "--time=90", "--qos=high", "--requeue", "--nodes=1", "--ntasks-per-node=1",
                 f"--job-name=ftscale-cli-{tmp_path.name}"):  # fmt: skip
        assert f"#SBATCH {line}" in sbatch
    assert len(list((sweep_dir / slurm.FOLDER).glob("4242_*_submitted.pkl"))) == 3  # one task per array index

    assert main(["sweep", "status", str(sweep_dir), "--store", postgres_url]) == 0
    out = capsys.readouterr().out
    assert f"{POINTS} pending" in out
    for task, state in (("4242_0", "RUNNING"), ("4242_1", "PENDING"), ("4242_2", "COMPLETED")):
        assert any(task in line and state in line for line in out.splitlines())


def test_slurm_without_postgres_or_options_without_slurm_are_refused(in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FTSCALE_STORE", raising=False)
    spec = named_spec(tmp_path, "refused")
    assert main(["sweep", "run", str(spec), "--dir", str(tmp_path / "s"), "--launcher", "slurm"]) == 2
    assert "--launcher slurm needs a PostgreSQL store" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # refused before anything was written
    assert main(["sweep", "run", str(spec), "--dir", str(tmp_path / "s"), "--partition", "gpu"]) == 2
    assert "--partition: SLURM options need --launcher slurm" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
