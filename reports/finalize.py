"""The end of a sweep: fit its laws, write laws.json, the figures and report.html, and log them to W&B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ftscale.analysis import PointResult, fit_sweep, law_options
from ftscale.analysis.options import LawOptions
from ftscale.analysis.wandb_points import merge_points, parse_path, points_from_wandb
from ftscale.reports.adaptive import adaptive_sections
from ftscale.reports.figures import draw_figures
from ftscale.reports.html import write_html
from ftscale.reports.sections import build_sections
from ftscale.reports.wandb_report import publish_report
from ftscale.reports.wandb_run import log_fit_run
from ftscale.reports.wandb_settings import AGENT_ENV, project, under_agent, wandb_mode
from ftscale.sweeps.cores import available_cpus
from ftscale.sweeps.layout import LAWS, SUPERSEDED, fit_run_id, open_store, set_aside, sweep_spec_path
from ftscale.sweeps.spec import held_out_rules

BOOTSTRAP = 1000  # resamples per law for the intervals of the parameters and of the claims
# A fit under `wandb agent` runs in a process of its own (see `complete_sweep`), given its arguments as JSON.
FIT_PROCESS = "import json, sys; from ftscale.reports.finalize import _fit; _fit(**json.loads(sys.argv[1]))"


def finalize_sweep(
    sweep_dir: str | Path,
    store: str | None = None,
    wandb: str | None = None,
    bootstrap: int = BOOTSTRAP,
    from_wandb: str | None = None,
    wandb_report: bool = False,
    run_id: str | None = None,
) -> Path:
    """Fit every law of the sweep in `sweep_dir` (also a partial one) and write its report; return its path.

    `from_wandb` (ENTITY/PROJECT) adds the sweep's finished W&B point runs the store lacks (other machines');
    `wandb_report` also saves a W&B Report and prints its URL (or one line saying why not); `run_id` is the W&B
    `scaling-law` run's id (default: a new run).
    """
    sweep_dir = Path(sweep_dir)
    if from_wandb is not None:
        parse_path(from_wandb)
    spec, points, held_out, options = sweep_inputs(sweep_dir, store)
    if from_wandb is not None:
        points = merge_points(points, points_from_wandb(from_wandb, spec["name"]))
    cpus = available_cpus()
    results = fit_sweep(spec["name"], _task(spec), points, held_out, bootstrap, workers=cpus, options=options)
    results.save(sweep_dir / LAWS)
    sections = build_sections(results, draw_figures(results, sweep_dir, held_out))
    sections += adaptive_sections(open_store(sweep_dir, store))  # an adaptive sweep's path
    report = write_html(sections, f"ftscale sweep {results.sweep}", sweep_dir)
    mode = wandb_mode(wandb)
    fit_run = log_fit_run(results, sections, sweep_dir, mode, run_id)
    if wandb_report:
        entity, wandb_project = parse_path(from_wandb) if from_wandb else (None, project())
        logged = run_id or fit_run.name.rsplit("-", 1)[-1] if fit_run is not None and mode == "online" else None
        print(publish_report(sections, results.sweep, mode, wandb_project, entity, logged))
    return report


def sweep_inputs(sweep_dir: Path, store: str | None = None) -> tuple[dict, list[PointResult], dict, LawOptions]:
    """What the fit of a sweep reads: its spec, its done points, its held-out rules and its `laws` options."""
    spec = yaml.safe_load(sweep_spec_path(sweep_dir).read_text())
    points = [PointResult.from_row(r) for r in open_store(sweep_dir, store).rows() if r["status"] == "done"]
    return spec, points, held_out_rules(spec.get("held_out", [])), law_options(spec.get("laws"))


def complete_sweep(
    sweep_dir: str | Path, store: str | None = None, wandb: str | None = None, fit_id: str | None = None
) -> None:
    """The fit of a completed sweep, as the store's fit task runs it (once per completion `fit_id`): finalize it
    as W&B run `fit_run_id(fit_id)`, after setting aside what an earlier attempt that was killed left (its W&B
    run directory, under `<sweep_dir>/superseded/fit/`), and say where the report is.

    Under `wandb agent` the fit runs in a process of its own without the agent's variables: in the agent's
    process every new W&B run becomes the agent's point run. RuntimeError if that process fails.
    """
    sweep_dir = Path(sweep_dir)
    run_id = None if fit_id is None else fit_run_id(fit_id)
    if run_id is not None:
        set_aside(sweep_dir, run_id, sweep_dir / SUPERSEDED / "fit")
    arguments = {"sweep_dir": str(sweep_dir), "store": store, "wandb": wandb, "run_id": run_id}
    if not under_agent():
        _fit(**arguments)
        return
    env = {name: value for name, value in os.environ.items() if name not in AGENT_ENV}
    code = subprocess.run([sys.executable, "-c", FIT_PROCESS, json.dumps(arguments)], env=env).returncode
    if code:
        raise RuntimeError(f"the fit of {sweep_dir} (a process of its own under `wandb agent`) exited with {code}")


def _fit(sweep_dir: str, store: str | None, wandb: str | None, run_id: str | None) -> None:
    report = finalize_sweep(sweep_dir, store, wandb, run_id=run_id)
    print(f"laws: {Path(sweep_dir) / LAWS}\nreport: {report}", file=sys.stderr)


def _task(spec: dict) -> str:
    """The finetuning task: the data class of the sweep's base config."""
    base = Path(spec.get("base_config", ""))
    data = (yaml.safe_load(base.read_text()) or {}).get("data") or {} if base.is_file() else {}
    return f"{str(data.get('class_path', 'unknown')).rsplit('.', 1)[-1]} ({base})"
