"""The fit of a sweep as one W&B run of job type `scaling-law`: the report's tables and figures, and summary
scalars to compare sweeps by. W&B being unreachable or broken never fails the fit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ftscale.analysis import SweepResults
from ftscale.reports.sections import Figure, Section
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
                rows = [[_cell(value, sweep_dir, wandb) for value in row] for row in table.rows]
                logged[f"tables/{table.key}"] = wandb.Table(columns=table.columns, data=rows, allow_mixed_types=True)
            for figure in section.figures:
                if (sweep_dir / figure.path).is_file():
                    logged[f"figures/{figure.key}"] = wandb.Image(str(sweep_dir / figure.path), caption=figure.caption)
        run.log(logged)
        run.summary.update(summary(results))
    finally:
        run.finish()
    return Path(run.dir).parent


def _cell(value: Any, sweep_dir: Path, wandb: Any) -> Any:
    """A table cell as W&B takes it: a figure as an image (a missing one as its path)."""
    if not isinstance(value, Figure):
        return value
    path = sweep_dir / value.path
    return wandb.Image(str(path), caption=value.caption) if path.is_file() else value.path


def summary(results: SweepResults) -> dict[str, Any]:
    """Scalars to compare sweeps by: per law `fit/<method>/<axis>/` its parameters, delta_e, delta_h, noise floor and
    verdict (`quality`, `quality_reasons`); per law the form chosen by cross-validation, its CV score and held-out
    Delta_h, and the held-out ranking (`form/.../held_out_ranking_diagnostic`: chose nothing); per method the sharing
    and why; the claims' verdicts; per axis the method predicted best at the decision's target."""
    out: dict[str, Any] = {"points": len(results.points), "primary_form": results.primary}
    for law in results.laws:
        prefix = f"fit/{law.method}/{law.axis}"
        fit = law.fit
        out |= {f"{prefix}/delta_e": fit.delta_e, f"{prefix}/delta_h": fit.delta_h}
        out |= {f"{prefix}/noise_floor": fit.noise_floor, f"{prefix}/quality": fit.quality}
        out |= {f"{prefix}/quality_reasons": "; ".join(fit.quality_reasons)}
        out |= {f"{prefix}/{name}": value for name, value in fit.params.items()}
    for f in results.forms:
        prefix = f"form/{f.method}/{f.axis}"
        out |= {f"{prefix}/chosen": f.chosen, f"{prefix}/chosen_by": f.ranked_by}
        out |= {f"{prefix}/cv_score": f.chosen_cv_score, f"{prefix}/chosen_delta_h": f.chosen_delta_h}
        out |= {f"{prefix}/held_out_ranking_diagnostic": ", ".join(f.held_out_ranking)}
    for s in results.sharing:
        prefix = f"sharing/{s.method}"
        out |= {f"{prefix}/shared": ", ".join(s.shared) or "none", f"{prefix}/chosen_by": s.chosen_by}
        out |= {f"{prefix}/cv/{o['name']}": o["score"] for o in s.options}
    out |= {f"claims/{c.id}": c.verdict for c in results.claims}
    for d in results.decisions:
        out |= {f"decision/{d.axis}/best": d.decision.best, f"decision/{d.axis}/decidable": d.decision.decidable}
    return out
