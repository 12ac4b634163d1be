"""The end of a sweep: fit its laws, write laws.json, figures and report.html, and log them to W&B."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml
from rich.console import Console

from ftscale.sweeps.laws import fit_sweep, point_record, write_laws
from ftscale.sweeps.report import write_report
from ftscale.sweeps.runner import SPEC, STORE
from ftscale.sweeps.spec import SweepSpec, load_spec
from ftscale.sweeps.store import Store
from ftscale.sweeps.wandb_log import log_fit, project, run_id, wandb_mode
from ftscale.sweeps.wandb_points import log_unlogged_points
from ftscale.sweeps.wandb_report import publish_report
from ftscale.sweeps.wandb_runs import merge_points, parse_path, points_from_wandb

BOOTSTRAP = 100  # resamples per law for the parameter intervals
# Set by `wandb agent` for the process it starts: a W&B run made there becomes the agent's run.
AGENT_ENV = ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH")


def finished_points(store: Store) -> list[dict]:
    """The done points of a store, in laws.json's point format (factors flattened beside the metrics)."""
    return [point_record(r) for r in store.rows() if r["status"] == "done"]


def finalize_sweep(
    sweep_dir: str | Path,
    wandb: str | None = None,
    bootstrap: int = BOOTSTRAP,
    from_wandb: str | None = None,
    wandb_report: bool = False,
) -> Path:
    """Fit every law of the sweep in `sweep_dir` (also a partial one) and write its report; return its path.

    `from_wandb` (ENTITY/PROJECT) adds the sweep's finished W&B point runs the store lacks (other machines');
    `wandb_report` also saves a W&B Report and prints its URL (or one line saying why not).
    """
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / STORE).is_file():
        raise FileNotFoundError(f"{sweep_dir}: not a sweep directory (no {STORE}); run `ftscale sweep run` first")
    if from_wandb is not None:
        parse_path(from_wandb)
    spec = load_spec(sweep_dir / SPEC)
    store = Store(sweep_dir / STORE)
    points = finished_points(store)
    if from_wandb is not None:
        points = merge_points(points, points_from_wandb(from_wandb, spec.name))
    laws = {
        "sweep": spec.name,
        "task": _task(spec),
        **fit_sweep(points, {a: list(r) for a, r in spec.held_out.items()}, sweep_dir, bootstrap),
    }
    write_laws(laws, sweep_dir)
    report = write_report(laws, sweep_dir)
    mode = wandb_mode(wandb)
    log_unlogged_points(sweep_dir, store, spec.name, mode)
    fit_run = log_fit(sweep_dir, laws, mode)
    if wandb_report:
        entity, wandb_project = parse_path(from_wandb) if from_wandb else (None, project())
        fit_run_id = run_id(fit_run) if fit_run is not None and mode == "online" else None
        print(publish_report(laws, mode, wandb_project, entity, fit_run_id))
    return report


def _task(spec: SweepSpec) -> str:
    """The finetuning task: the data class of the sweep's base config."""
    data = (yaml.safe_load(Path(spec.base_config).read_text()).get("data") or {}).get("class_path", "unknown")
    return f"{data.rsplit('.', 1)[-1]} ({spec.base_config})"


def report_sweep(sweep_dir: Path, wandb: str | None = None) -> None:
    """`on_complete` hook of the runner: finalize and say where the report is.

    Under `wandb agent` the fit runs in a process of its own without the agent's variables: in this one,
    its `scaling-law` run would become the agent's point run.
    """
    if any(name in os.environ for name in AGENT_ENV):
        env = {name: value for name, value in os.environ.items() if name not in AGENT_ENV}
        mode = ["--wandb", wandb] if wandb else []
        command = [sys.executable, "-m", "ftscale.sweeps.cli", "law", "fit", "--sweep", str(sweep_dir), *mode]
        subprocess.run(command, env=env, check=False)
        return
    report = finalize_sweep(sweep_dir, wandb)
    Console(stderr=True).print(f"laws: {sweep_dir / 'laws.json'}\nreport: {report}")


def main(argv: list[str]) -> int:
    """`ftscale law fit --sweep DIR`: fit a sweep directory's results (also a partial sweep) now."""
    parser = argparse.ArgumentParser(
        prog="ftscale law fit --sweep",
        description="Fit every law of a sweep directory's finished points; write laws.json, figures, report.html.",
    )
    parser.add_argument("--sweep", type=Path, required=True, help="sweep directory (holds results.sqlite)")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help=f"bootstrap resamples (default {BOOTSTRAP})")
    parser.add_argument(
        "--wandb",
        choices=["online", "offline", "off"],
        help="W&B mode (default: online with credentials, else offline)",
    )
    parser.add_argument(
        "--from-wandb",
        metavar="ENTITY/PROJECT",
        help="also fit the sweep's finished point runs in this W&B project (e.g. those other machines ran)",
    )
    parser.add_argument(
        "--wandb-report", action="store_true", help="also save a W&B Report of the fit (needs an online login)"
    )
    args = parser.parse_args(argv)
    report = finalize_sweep(args.sweep, args.wandb, args.bootstrap, args.from_wandb, args.wandb_report)
    print(f"laws: {args.sweep / 'laws.json'}\nreport: {report}")
    return 0
