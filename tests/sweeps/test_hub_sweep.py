"""A sweep over three tiny Hugging Face models and two revisions of one, with three methods, end to end: plan,
run, fit, report. The laws' X values are the parameter counts read from the configs and the revisions' tokens."""

import copy
import json

import pytest
import yaml

from ftscale.backbones.params import parameter_counts
from ftscale.cli.main import main
from ftscale.sweeps.layout import open_store
from tests.sweeps.test_hub_axes import hub_spec

TOKENS = {"step1": 1000, "main": 3000}


@pytest.mark.slow
def test_a_hub_ladder_sweep_runs_fits_and_reports(tiny_hub, in_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))  # no W&B credentials: offline
    spec = hub_spec(tiny_hub, axes__pretrain_tokens=dict(TOKENS), axes__pet_size=None, held_out=[],
                    trainer={"max_steps": 2, "val_check_interval": 1, "log_every_n_steps": 1})  # fmt: skip
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(spec), sort_keys=False))
    assert main(["sweep", "plan", str(path)]) == 0
    plan = capsys.readouterr().out
    assert "GPU-hours" in plan and tiny_hub.models["qwen2"] in plan

    sweep = tmp_path / "sweep"
    assert main(["sweep", "run", str(path), "--dir", str(sweep), "--wandb", "offline"]) == 0, capsys.readouterr()
    rows = open_store(sweep).rows()
    assert rows and all(row["status"] == "done" for row in rows), [r["error"] for r in rows if r["error"]][:1]
    assert {row["method"] for row in rows} == {"fmt", "lora", "prompt_tuning"}

    laws = json.loads((sweep / "laws.json").read_text())
    counts = {m: parameter_counts(m).non_embedding for m in tiny_hub.models.values()}
    size_points = [p for p in laws["points"] if "model_size" in p["axes"]]
    assert {p["factors"]["model"]: p["factors"]["non_embedding_params"] for p in size_points} == counts
    token_points = [p for p in laws["points"] if "pretrain_tokens" in p["axes"]]
    assert {p["factors"]["revision"]: p["factors"]["pretrain_tokens"] for p in token_points} == TOKENS
    fitted = {(law["method"], law["axis"]) for law in laws["laws"]}
    assert {("fmt", "model_size"), ("fmt", "pretrain_tokens")} <= fitted
    assert (sweep / "report.html").read_text().startswith("<!DOCTYPE html>")
