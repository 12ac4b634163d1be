"""Sweep specs: one-factor-at-a-time expansion, dedup of the shared default point, stable ids, clear errors."""

import copy
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ftscale.sweeps.cli import main
from ftscale.sweeps.spec import load_spec

BASE = {
    "name": "unit",
    "base_config": "configs/quickstart.yaml",
    "ladder": "configs/pretrain/test.yaml",
    "methods": {
        "fmt": {"config": "configs/methods/fmt.yaml"},
        "prompt_tuning": {"config": "configs/methods/prompt_tuning.yaml"},
        "lora": {"config": "configs/methods/lora.yaml", "overrides": {"model.learning_rate": 0.01}},
    },
    "axes": {
        "model_size": ["xs", "s", "m"],
        "pretrain_tokens": [65536, 196608, 393216],
        "pet_size": {
            "prompt_tuning": {"model.num_virtual_tokens": [5, 10, 20, 40]},  # holds the default, 20
            "lora": {"model.rank": [1, 2]},  # the default rank 4 is not on the axis
        },
    },
    "default_size": "s",
    "train_sizes": {"min": 10, "max": 1000, "num": 3},
    "seeds": [0, 1],
    "held_out": ["x=max", "df=max"],
    "trainer": {"max_steps": 10},
}


def write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def points_of(tmp_path: Path, spec: dict) -> list:
    return load_spec(write_spec(tmp_path, spec)).points()


def test_expansion_is_one_factor_at_a_time_with_the_default_point_kept_once(in_repo, tmp_path):
    points = points_of(tmp_path, BASE)
    runs = 3 * 2  # train sizes x seeds
    per_method = Counter(p.method for p in points)
    # model_size (3) + pretrain_tokens (3) share the default point; prompt tuning's length axis holds it too.
    assert per_method == {
        "fmt": (3 + 3 - 1) * runs,
        "prompt_tuning": (3 + 3 + 4 - 2) * runs,
        "lora": (3 + 3 + 2 - 1) * runs,
    }
    assert len({p.id for p in points}) == len(points)
    default = [p for p in points if p.method == "prompt_tuning" and len(p.axes) == 3]
    assert len(default) == runs
    assert all(
        p.factors | {"train_size": 0, "seed": 0}
        == {"model_size": "s", "non_embedding_params": 55536, "pretrain_tokens": 393216, "pet_size": 20}
        | {"train_size": 0, "seed": 0}
        for p in default
    )
    assert sorted({p.factors["train_size"] for p in points}) == [10, 100, 1000]
    lora_ranks = Counter(p.factors["pet_size"] for p in points if p.method == "lora")
    assert lora_ranks == {4: 5 * runs, 1: runs, 2: runs}  # off its axis, LoRA uses the method config's rank
    assert {p.factors["pet_size"] for p in points if p.method == "fmt"} == {None}
    # The pretraining-data axis is at default_size, the model-size axis at the largest budget.
    for p in points:
        if p.axes == ("pretrain_tokens",):
            assert p.factors["model_size"] == "s"
        if "model_size" in p.axes:
            assert p.factors["pretrain_tokens"] == 393216


def test_cli_args_of_a_point(in_repo, tmp_path):
    point = next(
        p
        for p in points_of(tmp_path, BASE)
        if p.method == "lora" and p.axes == ("pet_size",) and p.factors["train_size"] == 100
    )
    args = point.cli_args(tmp_path / "sweep")
    assert args[:8] == [
        "fit", "--config", "configs/quickstart.yaml", "--ladder", "configs/pretrain/test.yaml",
        "--model", "configs/methods/lora.yaml", "--model.backbone",
    ]  # fmt: skip
    flags = dict(zip(args[7::2], args[8::2], strict=True))
    assert flags["--model.backbone"] == "ladder:s@393216"
    assert flags["--model.rank"] == str(point.factors["pet_size"])
    assert flags["--model.learning_rate"] == "0.01"
    assert flags["--data.train_size"] == "100"
    assert flags["--data.subset_seed"] == str(point.factors["seed"])
    assert flags["--trainer.max_steps"] == "10"
    assert flags["--trainer.default_root_dir"] == str(tmp_path / "sweep" / "points" / point.id)


def test_ids_are_stable_and_change_with_the_resolved_arguments(in_repo, tmp_path):
    ids = [p.id for p in points_of(tmp_path, BASE)]
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    assert [p.id for p in points_of(tmp_path, BASE)] == ids

    reordered = copy.deepcopy(BASE)
    reordered["trainer"] = {"val_check_interval": 5, "max_steps": 10}
    swapped = copy.deepcopy(BASE)
    swapped["trainer"] = {"max_steps": 10, "val_check_interval": 5}
    assert [p.id for p in points_of(tmp_path, reordered)] == [p.id for p in points_of(tmp_path, swapped)]

    changed = copy.deepcopy(BASE)
    changed["methods"]["lora"]["overrides"]["model.learning_rate"] = 0.02
    before = {p.id: p.method for p in points_of(tmp_path, BASE)}
    after = {p.id: p.method for p in points_of(tmp_path, changed)}
    assert {i for i, m in before.items() if m != "lora"} == {i for i, m in after.items() if m != "lora"}
    assert not {i for i, m in before.items() if m == "lora"} & set(after)


def edit(path: str, value):
    """A copy of BASE with the dotted `path` set to `value` (None deletes it)."""
    spec = copy.deepcopy(BASE)
    *parents, last = path.split("/")
    node = spec
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (edit("methods/fmt/config", "configs/methods/nope.yaml"), "methods.fmt.config"),
        (edit("methods/fmt/learning_rate", 0.1), "methods.fmt: expected only `config` and `overrides`"),
        (edit("methods", {}), "methods:"),
        (edit("axes/model_size", ["xs", "xxl"]), "axes.model_size: expected ladder sizes"),
        (edit("axes/model_size", []), "axes.model_size: expected a non-empty list"),
        (edit("axes/pretrain_tokens", [65536, 12345]), "axes.pretrain_tokens"),
        (edit("axes/pet_size/lora", {"model.rank": []}), "axes.pet_size.lora"),
        (edit("axes/pet_size/lora", {"model.no_such_arg": [1]}), "axes.pet_size.lora"),
        (edit("axes/pet_size/ia3", {"model.rank": [1]}), "axes.pet_size: expected methods listed under methods"),
        (edit("axes/batch", [1]), "axes: expected one of"),
        (edit("axes", {}), "axes:"),
        (edit("default_size", None), "default_size"),
        (edit("default_size", "xl"), "default_size"),
        (edit("train_sizes", [10, 100, 10]), "train_sizes: expected distinct sizes"),
        (edit("train_sizes", {"min": 10, "max": 30000, "num": 3}), "data.pool_size=20000"),
        (edit("train_sizes", {"min": 10, "max": 5}), "train_sizes"),
        (edit("seeds", []), "seeds"),
        (edit("held_out", ["xmax"]), "held_out"),
        (edit("base_config", "configs/nope.yaml"), "base_config"),
        (edit("ladder", "configs/pretrain/nope.yaml"), "ladder"),
        (edit("name", ""), "name"),
        (edit("methods_typo", 1), "unknown field(s) ['methods_typo']"),
        (edit("methods/lora/overrides", {"model.lr": 0.1}), "methods.lora.overrides: 'model.lr' is not an argument"),
        (edit("methods/fmt/overrides", {"data.batch": 8}), "methods.fmt.overrides: 'data.batch' is not an argument"),
        (edit("trainer", {"max_step": 5}), "trainer: 'trainer.max_step' is not an argument"),
        (edit("data", {"pool": 5}), "data: 'data.pool' is not an argument"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(spec, message, in_repo, tmp_path):
    with pytest.raises(ValueError) as error:
        load_spec(write_spec(tmp_path, spec))
    assert message in str(error.value)


def test_options_of_base_classes_are_accepted(in_repo, tmp_path):
    spec = edit("methods/lora/overrides", {"model.learning_rate": 0.1, "model.init_args.alpha": 4.0})
    spec["methods"]["fmt"]["overrides"] = {"data.batch_size": 4}  # the paper's batch size differs per method
    spec["data"] = {"val_size": 50}
    assert len(points_of(tmp_path, spec)) == len(points_of(tmp_path, BASE))


def test_train_sizes_are_checked_against_the_data_pool_of_the_spec(in_repo, tmp_path):
    spec = edit("train_sizes", [8, 100]) | {"data": {"pool_size": 64}}
    with pytest.raises(ValueError, match=r"train_sizes: .*data.pool_size=64.*100"):
        load_spec(write_spec(tmp_path, spec))


def test_shipped_specs_load(in_repo):
    demo = load_spec("configs/sweeps/demo.yaml")
    points = demo.points()
    assert {m.name for m in demo.methods} == {"fmt", "prompt_tuning", "lora"}
    assert len(demo.train_sizes) >= 5
    assert all("df=max" in rules for rules in demo.held_out.values())
    assert {p.factors["model_size"] for p in points} == {"xs", "s", "m"}
    assert {a for p in points for a in p.axes} == {"model_size", "pretrain_tokens", "pet_size"}
    assert len(load_spec("configs/sweeps/test.yaml").points()) <= 16


def test_plan_prints_points_and_cost_and_bad_specs_end_in_one_error_line(in_repo, tmp_path, capsys):
    assert main(["sweep", "plan", "configs/sweeps/test.yaml"]) == 0
    out = capsys.readouterr().out
    spec = load_spec("configs/sweeps/test.yaml")
    assert all(p.id in out for p in spec.points())
    assert f"runs: {len(spec.points())}" in out and f"training steps: {len(spec.points()) * spec.max_steps}" in out

    assert main(["sweep", "plan", str(write_spec(tmp_path, edit("seeds", [])))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: seeds:") and "Traceback" not in err
