"""The fit of a sweep as one W&B run of job type `scaling-law`: the report's tables and figures, and summary
scalars to compare sweeps by. W&B being unreachable or broken never fails the fit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ftscale.analysis import SweepResults
from ftscale.reports.sections import Section
from ftscale.reports.wandb_settings import project, quiet_settings

log = logging.getLogger(__name__)


def log_fit_run(
    results: SweepResults, sections: list[Section], sweep_dir: Path, mode: str, run_id: str | None = None
) -> Path | None:
    """Log the fit under `<sweep_dir>/wandb/` (as run `run_id` if given: a fit run again is the same run); return
    the run's directory, None if disabled or it failed."""
    if mode == "disabled":
        return None
    for attempt in ["online", "offline"] if mode == "online" else [mode]:
        try:
            return _log(results, sections, Path(sweep_dir), attempt, run_id)
        except Exception as err:  # W&B must never fail a fit: unreachable, misconfigured or broken alike.
            then = "logging offline instead" if attempt == "online" else "going on without it"
            log.warning(
                "W&B %s logging failed (%s: %s); %s",
                attempt,
                type(err).__name__,
                (str(err).splitlines() or [""])[0],
                then,
            )
    return None


def _log(results: SweepResults, sections: list[Section], sweep_dir: Path, mode: str, run_id: str | None) -> Path:
    import wandb

    sweep_dir.mkdir(parents=True, exist_ok=True)
    config = {"sweep": results.sweep, "task": results.task, "points": len(results.points)}
    # create_new: a point's run still open in this process (its WandbLogger) is left alone.
    run = wandb.init(
        project=project(),
        dir=sweep_dir,
        mode=mode,
        reinit="create_new",
        id=run_id,
        resume="allow" if run_id else None,
        settings=quiet_settings(),
        group=results.sweep,
        job_type="scaling-law",
        name=f"{results.sweep}-laws",
        config=config,
    )
    try:
        logged: dict[str, Any] = {}
        for section in sections:
            for table in section.tables:
                logged[f"tables/{table.key}"] = wandb.Table(
                    columns=table.columns, data=table.rows, allow_mixed_types=True
                )
            for figure in section.figures:
                if (sweep_dir / figure.path).is_file():
                    logged[f"figures/{figure.key}"] = wandb.Image(str(sweep_dir / figure.path), caption=figure.caption)
        run.log(logged)
        run.summary.update(summary(results))
    finally:
        run.finish()
    return Path(run.dir).parent


def summary(results: SweepResults) -> dict[str, Any]:
    """Scalars: `fit/<method>/<axis>/<delta_e|delta_h|parameter>`, form winners and claim verdicts."""
    out: dict[str, Any] = {"points": len(results.points)}
    for law in results.laws:
        prefix = f"fit/{law.method}/{law.axis}"
        out |= {f"{prefix}/delta_e": law.fit.delta_e, f"{prefix}/delta_h": law.fit.delta_h}
        out |= {f"{prefix}/{name}": value for name, value in law.fit.params.items()}
    out |= {f"form/{f.method}/{f.axis}/winner": f.winner for f in results.forms}
    out |= {f"claims/{c.id}": c.verdict for c in results.claims}
    return out
