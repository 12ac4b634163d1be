"""`ftscale law fit-sweep DIR`: fit a sweep directory's results now, also a partial sweep (its own module: the fit
and its report load matplotlib and wandb, which the other `law` commands do without)."""

from __future__ import annotations

from pathlib import Path

from ftscale.cli.options import StoreURL, WandbMode
from ftscale.reports.finalize import BOOTSTRAP, finalize_sweep


def fit_sweep(
    sweep_dir: Path,
    *,
    store: StoreURL = None,
    bootstrap: int = BOOTSTRAP,
    wandb: WandbMode = None,
    from_wandb: str | None = None,
    wandb_report: bool = False,
) -> int:
    """Fit every law of a sweep directory's finished points; write laws.json, the figures and report.html.

    Args:
        sweep_dir: the sweep directory (`ftscale sweep run --dir`, default runs/sweeps/<name>)
        bootstrap: resamples per law
        from_wandb: also fit the sweep's finished point runs in this W&B project, ENTITY/PROJECT (e.g. the runs
            other machines ran)
        wandb_report: also save a W&B Report of the fit (needs an online login)
    """
    options = {"bootstrap": bootstrap, "from_wandb": from_wandb, "wandb_report": wandb_report}
    report = finalize_sweep(sweep_dir, store=store, wandb=wandb, **options)
    print(f"laws: {sweep_dir / 'laws.json'}\nreport: {report}")
    return 0
