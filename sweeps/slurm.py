"""Runners as a SLURM job array (submitit): every array task drains the sweep's shared store, and a task that is
preempted or reaches its time limit is requeued and drains again."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit
from submitit.helpers import Checkpointable

from ftscale.errors import InputError
from ftscale.sweeps.adaptive import Adaptive
from ftscale.sweeps.executors import Executor, Job, run_isolated
from ftscale.sweeps.layout import Target
from ftscale.sweeps.runner import FitSweep, drain, prepare_sweep, pretrain_spec
from ftscale.sweeps.spec import load_spec
from ftscale.sweeps.store.url import parse, store_url

JOBS = "slurm.json"  # the array tasks submitted for a sweep, in its directory (read by `ftscale sweep status`)
FOLDER = "slurm"  # submitit's pickles and the tasks' logs, under the sweep directory (seen by every node)
CLUSTERS = ("slurm", "local")  # submitit's executors: the cluster, or this machine's processes (tests)
JOB_CLASSES = {"slurm": submitit.SlurmJob, "local": submitit.LocalJob}
# A task drains until the store is empty, so a sweep longer than the time limit times out as its normal course;
# a point that never fits in it is failed by the store after three interrupted attempts, not by this limit.
REQUEUES = 100
TIME_MIN = 240  # submitit would write its own default, 5 minutes, into every sbatch file


@dataclass(frozen=True)
class Resources:
    """What every array task asks SLURM for (None: the partition's default); `extra` holds further sbatch
    options by name (`qos: high` is `#SBATCH --qos=high`; True is a bare flag)."""

    partition: str | None = None
    gpus_per_node: int | None = None
    time_min: int = TIME_MIN
    account: str | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    extra: dict[str, str | bool] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """submitit's AutoExecutor parameters: one node, one task (the runner; a point's own processes are
        Lightning's), the shared ones by their generic names, the SLURM-only ones prefixed `slurm_`."""
        return {
            "nodes": 1,
            "tasks_per_node": 1,
            "timeout_min": self.time_min,
            "gpus_per_node": self.gpus_per_node,
            "cpus_per_task": self.cpus_per_task,
            "mem_gb": self.mem_gb,
            "slurm_partition": self.partition,
            "slurm_account": self.account,
            "slurm_additional_parameters": dict(self.extra) or None,
        }


def parse_extra(items: list[str]) -> dict[str, str | bool]:
    """`KEY=VALUE` (or a bare `KEY`, a flag) per item, as sbatch options; ValueError naming a malformed one."""
    extra: dict[str, str | bool] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise InputError(f"--slurm-extra {item!r}: expected KEY=VALUE (e.g. qos=high) or a bare flag KEY")
        extra[key] = value if sep else True
    return extra


@dataclass(frozen=True)
class _ExpireOnRequeue:
    """An executor that ends its point's lease when submitit exits the task to requeue it, so that the next claim
    (the requeued task's, or another task's) takes the point over at once instead of after the lease."""

    execute: Executor

    def __call__(self, job: Job) -> None:
        try:
            self.execute(job)
        except SystemExit:  # raised by submitit's signal handler; `run_isolated` kills the point's process on it
            job.target.open().expire(job.point_id, job.owner)
            raise


class DrainTask(Checkpointable):
    """One array task: claim and run points of the sweep until none is left; return how many it ran.

    On a time limit or preemption submitit calls `checkpoint()` (inherited: the same task again), requeues the
    task and exits it; the requeued task drains again.
    """

    def __init__(self, target: Target, execute: Executor = run_isolated, fit: FitSweep | None = None):
        self.target = target
        self.execute = execute
        self.fit = fit

    def __call__(self) -> int:
        if "SLURM_JOB_ID" in os.environ:
            # A point's processes are Lightning's own on this node: the job name Lightning documents for that,
            # else its SLURMEnvironment takes this runner's one srun task as the point's world (devices=1).
            os.environ["SLURM_JOB_NAME"] = "interactive"
        return drain(self.target, execute=_ExpireOnRequeue(self.execute), fit=self.fit)


def submit_array(
    spec_path: str | Path,
    sweep_dir: str | Path | None = None,
    workers: int = 1,
    resources: Resources | None = None,
    store: str | None = None,
    wandb: str | None = None,
    fit: FitSweep | None = None,
    retry_failed: bool = False,
    pretrain: bool = True,
    cluster: str = "slurm",
    execute: Executor = run_isolated,
    adaptive: Adaptive | None = None,
) -> tuple[Target, list[submitit.Job]]:
    """Put a sweep's points in its store and submit `workers` array tasks that drain it; return the sweep's target
    and the submitted jobs (their ids also appended to `<sweep_dir>/slurm.json`).

    `cluster` is submitit's executor: "slurm", or "local" (the tasks as processes of this machine). On "slurm" the
    store must be PostgreSQL: ValueError, before anything is written, for an SQLite one. `adaptive` makes it an
    adaptive sweep (`sweeps/adaptive.py`): the tasks drain it stage by stage.
    """
    if workers < 1:
        raise InputError(f"--workers={workers}: use at least 1 array task")
    if cluster not in CLUSTERS:
        raise InputError(f"submitit executor {cluster!r}: expected one of {', '.join(CLUSTERS)}")
    if cluster == "slurm" and parse(store_url(store, Path())).scheme == "sqlite":
        raise InputError(
            "--launcher slurm needs a PostgreSQL store (--store postgresql://USER@HOST/DB or $FTSCALE_STORE): "
            "the tasks run on several nodes, and SQLite over a network file system can give one point to two "
            "runners (docs/clusters.md)"
        )
    # prepare_sweep makes the directory only through an SQLite store inside it; a PostgreSQL one needs it too.
    sweep_dir = Path(sweep_dir or Path("runs") / "sweeps" / load_spec(spec_path).name).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    spec, target = prepare_sweep(spec_path, sweep_dir, store, wandb, adaptive)  # absolute: tasks may start elsewhere
    if retry_failed:
        target.open().retry_failed()
    if pretrain:
        pretrain_spec(spec)
    folder = target.sweep_dir / FOLDER
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, **{f"{cluster}_max_num_timeout": REQUEUES})
    executor.update_parameters(name=f"ftscale-{spec.name}", **(resources or Resources()).parameters())
    task = DrainTask(target, execute, fit)
    jobs = executor.submit_array([task] * workers)  # one array on SLURM (one sbatch), one process each locally
    _record(target.sweep_dir, cluster, folder, [job.job_id for job in jobs])
    return target, jobs


def _record(sweep_dir: Path, cluster: str, folder: Path, job_ids: list[str]) -> None:
    """Append the submitted tasks to the sweep's slurm.json (a later submission adds tasks to the same sweep)."""
    path = sweep_dir / JOBS
    earlier = json.loads(path.read_text())["jobs"] if path.is_file() else []
    path.write_text(json.dumps({"cluster": cluster, "folder": str(folder), "jobs": earlier + job_ids}, indent=2))


def array_tasks(sweep_dir: str | Path) -> list[tuple[str, str]]:
    """The sweep's submitted tasks as (job id, state from submitit's `Job.state`: sacct's on SLURM, UNKNOWN when
    it cannot be asked); empty when the sweep was not submitted as an array."""
    path = Path(sweep_dir) / JOBS
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    jobs = [JOB_CLASSES[record["cluster"]](record["folder"], job_id) for job_id in record["jobs"]]
    if jobs:
        # One forced sacct call answers for every registered task; `state` then reads that answer.
        jobs[0].get_info(mode="force")
    return [(job.job_id, job.state) for job in jobs]
