"""`ftscale demo`: the study end to end on the embedded world -- pretrain, sweep, fit, report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ftscale.cli import parsing
from ftscale.reports.finalize import finalize_sweep
from ftscale.sweeps.cores import available_cpus
from ftscale.sweeps.runner import run_sweep

MAX_WORKERS = 4
SPECS = {False: Path("configs/sweeps/demo.yaml"), True: Path("configs/sweeps/demo_quick.yaml")}


def main(argv: list[str]) -> int:
    command = parsing.parser(
        "ftscale demo",
        "Pretrain the embedded ladder (cached), finetune it with FMT, prompt tuning and LoRA over the model-size, "
        "pretraining-data and PET-size axes at log-spaced finetuning sizes, fit the scaling laws and write "
        "report.html. Rerunning resumes. Run it from the repository root.",
    )
    command.add_argument("--quick", action="store_true", help="a reduced demo (configs/sweeps/demo_quick.yaml)")
    parsing.add_sweep_dir(command, "runs/demo or runs/demo-quick")
    # Tiny models train faster side by side, one per core, than one at a time on all cores.
    parsing.add_workers(command, default=min(available_cpus(), MAX_WORKERS))
    parsing.add_wandb(command)
    args = command.parse_args(argv)
    spec = SPECS[args.quick]
    if not spec.is_file():
        raise FileNotFoundError(f"{spec} not found: run `ftscale demo` from the ftscale repository root")
    sweep_dir = args.dir or Path("runs") / ("demo-quick" if args.quick else "demo")
    store = run_sweep(spec, sweep_dir, workers=args.workers, wandb=args.wandb)
    # Fitted here rather than only by the run that completes the sweep, so a rerun of a finished demo reports too.
    if store.completed_by() is None or not (sweep_dir / "laws.json").is_file():
        finalize_sweep(sweep_dir, wandb=args.wandb)
    counts = store.counts()
    console = Console()
    console.print(f"points: {counts['done']} done, {counts['failed']} failed")
    console.print(f"laws: {sweep_dir / 'laws.json'}\nreport: {sweep_dir / 'report.html'}")
    return 1 if counts["failed"] else 0
