"""A method defined outside the package (docs/architecture.md's "add a PET method" recipe, written into a temporary
directory on PYTHONPATH) and named by `class_path` is first-class in a sweep, as are the shipped IA3, DoRA and
prefix tuning: its PET-size axis, its trainable parameters and FLOPs in `sweep plan`, its runs. So is a law form
defined there (docs/scaling_laws.md's "add a form" example) and named in the spec's `laws.forms`: fitted in the
form table, shown in laws.json and the report with what each of its parameters means."""

import copy
import json
import math
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest
import yaml
from peft import LoraConfig, TaskType, get_peft_model
from transformers import LlamaForCausalLM

from ftscale.cli.main import main
from ftscale.ladder.shapes import ladder_config
from ftscale.scaling_laws import forms
from ftscale.sweeps.cost import sweep_cost
from ftscale.sweeps.layout import open_store
from ftscale.sweeps.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "docs" / "architecture.md"
FORM_RECIPE = ROOT / "docs" / "scaling_laws.md"
PLUGIN = "rslora"
LAW = "my_laws.Shifted"  # the form's class path: its module is the user's, outside ftscale
SEQUENCE = 48 + 48  # the spec's max source + target tokens


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch) -> Path:
    """The recipes' method module and config and law-form module, in a directory outside the package that is on the
    import path (the form registered in a registry of this test's own)."""
    text = RECIPE.read_text()
    (code,) = re.findall(r"```python\n# my_methods\.py\n(.*?)```", text, flags=re.S)
    (config,) = re.findall(r"```yaml\n# my_method\.yaml\n(.*?)```", text, flags=re.S)
    pattern = r"```python\n(import numpy as np\nfrom ftscale\.scaling_laws\.forms import .*?)```"
    (law,) = re.findall(pattern, FORM_RECIPE.read_text(), flags=re.S)
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "my_methods.py").write_text(code)
    (folder / "my_method.yaml").write_text(config)
    (folder / "my_laws.py").write_text(law)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "my_laws", raising=False)
    monkeypatch.setattr(forms, "FORMS", dict(forms.FORMS))
    monkeypatch.setattr(forms, "_BY_PATH", dict(forms._BY_PATH))
    return folder


def plugin_spec(plugin_dir: Path) -> dict:
    """The plugin method beside the three shipped ones, each with a size on the pet_size axis (IA3 has none), and
    the plugin law form beside the paper's (the plugin's PET-size law has 3 x 2 fitted cells: enough for its 5
    parameters)."""
    return {
        "name": "plugin",
        "base_config": "configs/quickstart.yaml",
        "ladder": "configs/pretrain/test.yaml",
        "methods": {
            PLUGIN: {"config": str(plugin_dir / "my_method.yaml")},
            "ia3": {"config": "configs/methods/ia3.yaml"},
            "dora": {"config": "configs/methods/dora.yaml"},
            "prefix_tuning": {"config": "configs/methods/prefix_tuning.yaml"},
        },
        "axes": {"model_size": ["xs"], "pet_size": {PLUGIN: [1, 2, 4], "dora": [1, 2], "prefix_tuning": [2, 4]}},
        "default_size": "xs",
        "train_sizes": [8, 16, 32],
        "seeds": [0],
        "held_out": ["df=max"],
        "data": {"pool_size": 64, "val_size": 16, "test_size": 16, "batch_size": 8, "max_source_tokens": 48,
                 "max_target_tokens": 48},
        "trainer": {"max_steps": 2, "val_check_interval": 2, "log_every_n_steps": 1},
        "laws": {"forms": ["multiplicative", LAW]},
    }  # fmt: skip


def write(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def peft_trainable(size: str, peft_config) -> tuple[int, int]:
    """peft's own count of what `peft_config` trains on ladder model `size` (the test ladder's vocabulary), and
    the parameters a token multiplies through (tied embeddings: all of them)."""
    model = LlamaForCausalLM(ladder_config(size, 1024, 1024, 1, 2, 0))
    per_token = model.num_parameters()
    return get_peft_model(model, peft_config).get_nb_trainable_parameters()[0], per_token


def test_plan_counts_the_plugin_method_as_peft_does(plugin_dir, in_repo, tmp_path, capsys):
    path = write(tmp_path, plugin_spec(plugin_dir))
    spec = load_spec(path)
    methods = {m.name: m for m in spec.methods}
    points = {p.id: p for p in spec.points()}
    rows = [r for r in sweep_cost(spec).rows if r.method == PLUGIN]
    assert {points[r.point_id].factors["pet_size"] for r in rows} == {1, 2, 4, 8}  # the axis, and the default
    for row in rows:
        factors = points[row.point_id].factors
        # Built independently of the plugin class: the LoRA its docstring describes.
        config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=factors["pet_size"],
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            use_rslora=True,
        )
        trainable, per_token = peft_trainable(factors["model_size"], config)
        assert row.trainable_params == trainable
        assert row.flops == (4 * per_token + 6 * trainable) * 2 * 8 * SEQUENCE  # steps x batch x sequence
    for name in ("ia3", "dora", "prefix_tuning"):  # the shipped ones, through their own peft configs
        for row in (r for r in sweep_cost(spec).rows if r.method == name):
            factors = points[row.point_id].factors
            peft_config = methods[name].module("unused", factors["pet_size"]).peft_config()
            trainable, per_token = peft_trainable(factors["model_size"], peft_config)
            assert row.trainable_params == trainable
            # Multi-head attention: a prefix's keys and values cost what an adapter's parameters do.
            assert row.flops == (4 * per_token + 6 * trainable) * 2 * 8 * SEQUENCE

    assert main(["sweep", "plan", str(path)]) == 0
    table = [line.replace("│", " ").split() for line in capsys.readouterr().out.splitlines()]
    printed = {cells[0]: cells for cells in table if cells}
    for row in rows:  # the plan's columns: ... trainable, steps, FLOPs, GPU-h
        assert printed[row.point_id][-4:-1] == [str(row.trainable_params), "2", f"{row.flops:.4g}"]


def test_the_pet_size_axis_is_the_argument_the_class_declares(plugin_dir, in_repo, tmp_path):
    spec = plugin_spec(plugin_dir)
    points = load_spec(write(tmp_path, spec)).points()
    for point in (p for p in points if p.method == PLUGIN):
        flags = dict(zip(point.args[1::2], point.args[2::2], strict=False))
        assert int(flags.get("--model.rank", 8)) == point.factors["pet_size"]
    spec["axes"]["pet_size"][PLUGIN] = {"model.alpha": [1, 2]}
    with pytest.raises(ValueError, match=r"axes\.pet_size\.rslora: expected model\.rank \(the PET-size argument"):
        load_spec(write(tmp_path, spec))


def test_a_method_without_a_pet_size_is_refused_on_that_axis(plugin_dir, in_repo, tmp_path):
    spec = plugin_spec(plugin_dir)
    spec["axes"]["pet_size"]["ia3"] = [1, 2]
    with pytest.raises(ValueError, match=r"axes\.pet_size\.ia3: .*ftscale\.lightning_modules\.IA3 has no PET size"):
        load_spec(write(tmp_path, spec))


def test_a_class_that_is_no_method_is_refused(plugin_dir, in_repo, tmp_path):
    (plugin_dir / "not_a_method.yaml").write_text("class_path: ftscale.datamodules.SyntheticTranslation\n")
    spec = plugin_spec(plugin_dir)
    spec["methods"][PLUGIN]["config"] = str(plugin_dir / "not_a_method.yaml")
    with pytest.raises(ValueError, match=r"methods\.rslora\.config: expected a method config whose class_path is a"):
        load_spec(write(tmp_path, spec))


def test_base_points_run_with_the_first_method_that_keeps_the_backbone(plugin_dir, in_repo, tmp_path):
    spec = copy.deepcopy(plugin_spec(plugin_dir)) | {"transfer": {"data": "configs/eval/world_zero_shot.yaml"}}
    spec["methods"] = {name: spec["methods"][name] for name in ("prefix_tuning", PLUGIN, "ia3", "dora")}
    base = [p for p in load_spec(write(tmp_path, spec)).points() if p.method == "base"]
    assert base and all(p.args[p.args.index("--model") + 1] == spec["methods"][PLUGIN]["config"] for p in base)


@pytest.mark.slow
def test_a_sweep_of_the_plugin_and_the_new_methods_runs_every_point(plugin_dir, in_repo, test_ladder, tmp_path):
    path = write(tmp_path, plugin_spec(plugin_dir))
    sweep = tmp_path / "sweep"
    # A user's run: the plugin is found through PYTHONPATH alone.
    env = os.environ | {"PYTHONPATH": str(plugin_dir), "WANDB_MODE": "disabled"}
    run = subprocess.run(
        [sys.executable, "-m", "ftscale.cli", "sweep", "run", str(path), "--dir", str(sweep)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    planned = {r.point_id: r for r in sweep_cost(load_spec(path)).rows}
    rows = open_store(sweep).rows()
    assert {r["id"] for r in rows} == set(planned)
    assert {r["method"] for r in rows} == {PLUGIN, "ia3", "dora", "prefix_tuning"}
    for row in rows:
        assert row["status"] == "done", row["error"]
        assert row["metrics"]["trainable_params"] == planned[row["id"]].trainable_params  # the plan's count
        assert math.isfinite(row["metrics"]["test/loss"])
    # The law form from the user's module: a candidate of the plugin's PET-size law, with its meanings.
    form = forms.get_form(LAW)
    meanings = {param: meaning.label for param, meaning in zip(form.params, form.meanings, strict=True)}
    laws = json.loads((sweep / "laws.json").read_text())
    assert laws["law_forms"][LAW] == {"name": "shifted", "formula": form.formula, "parameters": meanings}
    (table,) = [f for f in laws["forms"] if (f["method"], f["axis"]) == (PLUGIN, "pet_size")]
    assert {c["law"] for c in table["candidates"]} == {"multiplicative", LAW}
    report = (sweep / "report.html").read_text()
    for param, meaning in meanings.items():
        row = [form.name, LAW, form.formula, param, meaning]
        assert "".join(f"<td>{escape(cell)}</td>" for cell in row) in report
    assert f"<td>{LAW}</td>" in report.split("Law forms")[0]  # and in the plugin law's form table


def test_the_spec_names_the_plugin_law_form(plugin_dir, in_repo, tmp_path):
    spec = plugin_spec(plugin_dir)
    assert load_spec(write(tmp_path, spec)).laws.forms == ("multiplicative", LAW)
    spec["laws"]["forms"].append("my_laws.Missing")
    with pytest.raises(ValueError, match=r"laws\.forms: law 'my_laws\.Missing': cannot import it"):
        load_spec(write(tmp_path, spec))
