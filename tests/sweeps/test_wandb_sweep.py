"""`ftscale sweep export-wandb`: a grid over the point ids, and the command an agent runs, run as the agent would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from ftscale.cli.commands import function_parser
from ftscale.cli.main import COMMANDS, main
from ftscale.sweeps.layout import open_store
from ftscale.sweeps.spec import load_spec
from ftscale.sweeps.wandb_sweep import write_sweep_config
from tests.wandb_offline import read_offline_run

ROOT = Path(__file__).resolve().parents[2]
TEST_SPEC = "configs/sweeps/test.yaml"


def agent_command(config: dict, point_id: str) -> list[str]:
    """The command `wandb agent` (0.31, `Agent._command_run`) starts for one run of the grid: macros replaced."""
    sweep_vars = create_sweep_command_args({"args": {"point": {"value": point_id}}})
    sweep_vars |= {"interpreter": ["python"], "program": [config["program"]], "env": ["/usr/bin/env"]}
    command = []
    for part in map(str, config["command"]):
        command += sweep_vars.get(part[2:-1]) or [] if part.startswith("${") and part.endswith("}") else [part]
    return command


def export(tmp_path: Path, sweep_dir: Path) -> dict:
    out = tmp_path / "sweep.yaml"
    assert main(["sweep", "export-wandb", TEST_SPEC, "--out", str(out), "--dir", str(sweep_dir)]) == 0
    return yaml.safe_load(out.read_text())


def test_the_sweep_config_is_a_grid_over_every_point_once(in_repo, tmp_path):
    config = export(tmp_path, tmp_path / "sweep")
    ids = [point.id for point in load_spec(TEST_SPEC).points()]
    assert config["method"] == "grid" and config["name"] == "test"
    assert config["parameters"] == {"point": {"values": ids}} and len(set(ids)) == len(ids)

    command = agent_command(config, ids[3])
    assert command == ["/usr/bin/env", "ftscale", "sweep", "point", TEST_SPEC, "--dir", str(tmp_path / "sweep"),
                       f"--point={ids[3]}"]  # fmt: skip
    subcommand, *argv = command[3:]  # after `/usr/bin/env ftscale sweep`
    function = COMMANDS.commands["sweep"].commands[subcommand].load()
    args = function_parser(function, f"ftscale sweep {subcommand}").parse_args(argv)
    assert (function.__name__, args.spec, args.point, args.dir) == ("point", TEST_SPEC, ids[3], tmp_path / "sweep")


def test_ids_that_yaml_would_read_as_numbers_stay_strings():
    config = {"parameters": {"point": {"values": ["012345678901", "123e45678901", "abcdef012345"]}}}
    assert yaml.safe_load(write_sweep_config(config, None)) == config


@pytest.mark.slow
def test_the_agents_command_runs_its_point_into_the_store_and_logs_it(in_repo, test_ladder, tmp_path):
    sweep_dir = tmp_path / "sweep"
    config = export(tmp_path, sweep_dir)
    point = next(
        p
        for p in load_spec(TEST_SPEC).points()
        if (p.method, p.factors["model_size"], p.factors["train_size"]) == ("fmt", "xs", 8)
    )
    # An agent's machine: the venv's `ftscale` on PATH, no W&B credentials (the point logs offline).
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {"HOME": str(tmp_path)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(agent_command(config, point.id), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"point {point.id}: done" in done.stdout

    rows = {row["id"]: row for row in open_store(sweep_dir).rows()}
    assert rows[point.id]["status"] == "done"
    assert rows[point.id]["attempts"] == 1 and rows[point.id]["metrics"]["steps"] == 4
    assert {row["status"] for key, row in rows.items() if key != point.id} == {"pending"}
    (run_dir,) = (sweep_dir / "wandb").glob("offline-run-*")
    run = read_offline_run(run_dir)
    assert (run["run"]["name"], run["run"]["job_type"], run["run"]["group"]) == (point.id, "finetune", "test")
    assert run["summary"]["test/loss"] == rows[point.id]["metrics"]["test/loss"]
