"""A W&B sweep config of a sweep spec: a grid over its point ids whose agents run one point each with the CLI."""

from pathlib import Path
from typing import Any

import yaml

from ftscale.sweeps.spec import SweepSpec

PROGRAM = "ftscale"
SWEEP_PARAMETER = "point"  # the grid's one parameter: the point id (not a factor)


def sweep_config(
    spec: SweepSpec, spec_path: str | Path, project: str, sweep_dir: str | Path | None = None
) -> dict[str, Any]:
    """`wandb sweep` config of W&B project `project`: method grid over every point id; each agent run is
    `/usr/bin/env ftscale sweep point SPEC [--dir DIR] --point=<id>` (`${args}` is `--point=<id>`)."""
    command = ["${env}", "${program}", "sweep", "point", str(spec_path)]
    if sweep_dir is not None:
        command += ["--dir", str(sweep_dir)]
    return {
        "name": spec.name,
        "project": project,
        "program": PROGRAM,
        "method": "grid",
        "metric": {"name": "test/loss", "goal": "minimize"},
        "parameters": {SWEEP_PARAMETER: {"values": [point.id for point in spec.points()]}},
        "command": [*command, "${args}"],
    }


def write_sweep_config(config: dict[str, Any], out: Path | None) -> str:
    """The config as YAML (ids quoted where YAML would read them as numbers), also written to `out` if given."""
    text = yaml.safe_dump(config, sort_keys=False)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return text
