"""`ftscale demo`: the study end to end on the embedded world -- pretrain, sweep, fit, report (a typed function,
`cli/commands.py`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console

from ftscale.cli.main import quiet_libraries
from ftscale.cli.options import SweepDir, WandbMode, Workers
from ftscale.cli.sweep import in_process
from ftscale.configs import config_path
from ftscale.errors import InputError, MissingFileError
from ftscale.reports.finalize import complete_sweep
from ftscale.reports.terminal import sweep_lines
from ftscale.sweeps.cores import available_cpus
from ftscale.sweeps.layout import LAWS
from ftscale.sweeps.runner import run_sweep
from ftscale.sweeps.spec import read_yaml
from ftscale.sweeps.store import FitTask

MAX_WORKERS = 4
WORKERS = min(available_cpus(), MAX_WORKERS)  # the default: one runner per core, at most MAX_WORKERS
# Each profile's spec and sweep directory under runs/.
PROFILES = {
    "full": (Path("configs/sweeps/demo.yaml"), "demo"),
    "quick": (Path("configs/sweeps/demo_quick.yaml"), "demo-quick"),
    "study": (Path("configs/sweeps/study.yaml"), "study"),
}


def demo(
    *,
    quick: bool = False,
    study: bool = False,
    world_seed: int | None = None,
    dir: SweepDir = None,
    workers: Workers = WORKERS,
    wandb: WandbMode = None,
) -> int:
    """The study end to end on the embedded world: pretrain, sweep, fit, report.html.

    Pretrain the embedded ladder (cached), finetune it with FMT, prompt tuning and LoRA over the model-size,
    pretraining-data and PET-size axes at log-spaced finetuning sizes, fit the scaling laws and write report.html.
    Rerunning resumes. Runs go to ./runs/ (--dir); the specs are ftscale's own (configs/sweeps/). --quick and
    --study exclude one another; neither: the full demo (configs/sweeps/demo.yaml).

    Args:
        quick: a reduced demo (configs/sweeps/demo_quick.yaml)
        study: the study that can settle the paper's claims on the embedded world: 5 sizes pretrained alike, 3
            subset seeds, a retention task (configs/sweeps/study.yaml; about 45 minutes on 2 cores, docs/science.md)
        world_seed: another embedded world (its words, sentences and pretraining corpus): the profile's spec and
            ladder config are written with this seed into the sweep directory (not given: runs/<profile>-w<N>), so
            the ladder, the points and the sweep's name are its own
        dir: sweep directory; not given: runs/demo, runs/demo-quick or runs/study
        workers: runner processes (tiny models train faster side by side, one per core, than one at a time on all
            cores)
    """
    if quick and study:
        raise InputError("--quick and --study exclude one another: give one of them, or neither for the full demo")
    given, name = PROFILES["quick" if quick else "study" if study else "full"]
    spec = config_path(given)  # a configs/ folder here wins; else ftscale's installed copy
    if not spec.is_file():
        raise MissingFileError(f"{given} not found, neither here nor in ftscale's installed configs")
    if world_seed is not None and world_seed != world_seed_of(spec):
        name = f"{name}-w{world_seed}"
        spec = with_world_seed(spec, world_seed, dir or Path("runs") / name)
    sweep_dir = dir or Path("runs") / name
    # The sweep is fitted once, by the run that completes it (or by this one, if that run's fit did not finish).
    store = run_sweep(spec, sweep_dir, workers, in_process(), complete_sweep, wandb=wandb,
                      worker_setup=quiet_libraries)  # fmt: skip
    counts, fit_error = store.counts(), FitTask(store).state()["fit_error"]
    console = Console()
    console.print(f"points: {counts['done']} done, {counts['failed']} failed")
    if fit_error is not None:
        console.print(f"the fit failed (above); fit again with ftscale law fit-sweep {sweep_dir}", markup=False)
    console.print(f"laws: {sweep_dir / 'laws.json'}\nreport: {sweep_dir / 'report.html'}", markup=False)
    if fit_error is None and (sweep_dir / LAWS).is_file():  # the claims and the decision, one line each
        for line in sweep_lines(sweep_dir):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 1 if counts["failed"] or fit_error is not None else 0


def world_seed_of(spec: Path) -> int:
    """The world seed a demo spec runs on: its ladder config's (the spec's data must agree; see with_world_seed)."""
    return int(read_yaml(config_path(read_yaml(spec)["ladder"])).get("world_seed", 0))


def with_world_seed(spec: Path, seed: int, directory: Path) -> Path:
    """`spec` and its ladder config on world `seed`, written into `directory`; returns the new spec's path.

    The ladder's corpus and tokenizer (its cache key), the task's data, its transfer and retention evaluations (they
    take the run's data options) and the sweep's name (`<name>-w<seed>`, so its points' ids) all change with it.
    """
    raw = read_yaml(spec)
    directory.mkdir(parents=True, exist_ok=True)
    ladder = directory / f"ladder-w{seed}.yaml"
    ladder.write_text(yaml.safe_dump(read_yaml(config_path(raw["ladder"])) | {"world_seed": seed}, sort_keys=False))
    raw |= {
        "name": f"{raw['name']}-w{seed}",
        "ladder": str(ladder),
        "data": (raw.get("data") or {}) | {"world_seed": seed},
    }
    path = directory / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
