"""`ftscale demo`: the study end to end on the embedded world -- pretrain, sweep, fit, report."""

import argparse
import functools
from pathlib import Path

from rich.console import Console

from ftscale.sweeps.finalize import finalize_sweep
from ftscale.sweeps.runner import run_sweep
from ftscale.sweeps.wandb_points import log_finished_point

SPECS = {False: Path("configs/sweeps/demo.yaml"), True: Path("configs/sweeps/demo_quick.yaml")}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftscale demo",
        description="Pretrain the embedded ladder (cached), finetune it with FMT, prompt tuning and LoRA over "
        "the model-size, pretraining-data and PET-size axes at log-spaced finetuning sizes, fit the scaling "
        "laws and write report.html. Rerunning resumes. Run it from the repository root.",
    )
    parser.add_argument("--quick", action="store_true", help="a reduced demo (configs/sweeps/demo_quick.yaml)")
    parser.add_argument("--dir", type=Path, help="sweep directory (default: runs/demo or runs/demo-quick)")
    parser.add_argument("--workers", type=int, default=1, help="runner processes (default: 1)")
    parser.add_argument(
        "--wandb", choices=["online", "offline", "off"], help="W&B mode (default: offline without credentials)"
    )
    return parser


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    spec = SPECS[args.quick]
    if not spec.is_file():
        raise FileNotFoundError(f"{spec} not found: run `ftscale demo` from the ftscale repository root")
    sweep_dir = args.dir or Path("runs") / ("demo-quick" if args.quick else "demo")
    # Each point's W&B run is logged as it finishes, so a dashboard follows the demo live.
    store = run_sweep(
        spec, sweep_dir, workers=args.workers, on_done=functools.partial(log_finished_point, wandb=args.wandb)
    )
    # Fitted here rather than by the runner's completion hook, so a rerun of a finished demo reports too.
    report = finalize_sweep(sweep_dir, args.wandb)
    console = Console()
    counts = store.counts()
    console.print(f"points: {counts['done']} done, {counts['failed']} failed")
    console.print(f"laws: {sweep_dir / 'laws.json'}")
    console.print(f"report: {report}")
    return 1 if counts["failed"] else 0
