"""The end of a sweep: fit its laws, write laws.json, figures and report.html, and log them to W&B."""

import argparse
from pathlib import Path

import yaml
from rich.console import Console

from sweeps.laws import fit_sweep, write_laws
from sweeps.report import write_report
from sweeps.runner import SPEC, STORE
from sweeps.spec import SweepSpec, load_spec
from sweeps.store import Store
from sweeps.wandb_log import log_fit, log_point, wandb_mode

BOOTSTRAP = 100  # resamples per law for the parameter intervals


def finished_points(store: Store) -> list[dict]:
    """The done points of a store, in laws.json's point format (factors flattened beside the metrics)."""
    return [
        {"id": r["id"], "method": r["method"], "axes": r["axes"], **r["factors"], "metrics": r["metrics"]}
        for r in store.rows()
        if r["status"] == "done"
    ]


def finalize_sweep(sweep_dir: str | Path, wandb: str | None = None, bootstrap: int = BOOTSTRAP) -> Path:
    """Fit every law of the sweep in `sweep_dir` (also a partial one) and write its report; return its path."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / STORE).is_file():
        raise FileNotFoundError(f"{sweep_dir}: not a sweep directory (no {STORE}); run `ftscale sweep run` first")
    spec = load_spec(sweep_dir / SPEC)
    points = finished_points(Store(sweep_dir / STORE))
    laws = {
        "sweep": spec.name,
        "task": _task(spec),
        **fit_sweep(points, {a: list(r) for a, r in spec.held_out.items()}, sweep_dir, bootstrap),
    }
    write_laws(laws, sweep_dir)
    report = write_report(laws, sweep_dir)
    mode = wandb_mode(wandb)
    for point in points:
        log_point(sweep_dir, spec.name, point, mode)
    log_fit(sweep_dir, laws, mode)
    return report


def _task(spec: SweepSpec) -> str:
    """The finetuning task: the data class of the sweep's base config."""
    data = (yaml.safe_load(Path(spec.base_config).read_text()).get("data") or {}).get("class_path", "unknown")
    return f"{data.rsplit('.', 1)[-1]} ({spec.base_config})"


def report_sweep(sweep_dir: Path, wandb: str | None = None) -> None:
    """`on_complete` hook of the runner: finalize and say where the report is."""
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
    parser.add_argument("--wandb", choices=["online", "offline", "off"], help="W&B mode (default: offline)")
    args = parser.parse_args(argv)
    report = finalize_sweep(args.sweep, args.wandb, args.bootstrap)
    print(f"laws: {args.sweep / 'laws.json'}\nreport: {report}")
    return 0
