"""Sweep specs: one-factor-at-a-time expansion, dedup of the shared default point, stable ids, clear errors."""

import copy
import dataclasses
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM

from ftscale.cli.main import main
from ftscale.ladder.shapes import ladder_config
from ftscale.sweeps.cost import sweep_cost
from ftscale.sweeps.spec import load_spec
from tests.hub_cache import use_hub_cache

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
    s = LlamaForCausalLM(ladder_config("s", 1024, 1024, 1, 2, 0))  # the test ladder's vocabulary
    assert all(
        p.factors | {"train_size": 0, "seed": 0}
        == {"model_size": "s", "non_embedding_params": 55536, "pretrain_tokens": 393216, "pet_size": 20}
        | {"model": "s", "revision": None, "total_params": s.num_parameters(), "train_size": 0, "seed": 0}
        | {"full_model_tuning": False}
        for p in default
    )
    assert s.num_parameters(exclude_embeddings=True) == 55536
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
        (
            edit("methods/fmt/learning_rate", 0.1),
            "methods.fmt: unknown field(s) ['learning_rate']; the fields are config, overrides, train_sizes",
        ),
        (edit("methods", {}), "methods:"),
        (edit("axes/model_size", ["xs", "xxl"]), "axes.model_size: expected ladder sizes"),
        (edit("axes/model_size", []), "axes.model_size: expected a non-empty list"),
        (edit("axes/pretrain_tokens", [65536, 12345]), "axes.pretrain_tokens"),
        (edit("axes/pet_size/lora", {"model.rank": []}), "axes.pet_size.lora"),
        (edit("axes/pet_size/lora", {"model.no_such_arg": [1]}), "axes.pet_size.lora"),
        (edit("axes/pet_size/ia3", {"model.rank": [1]}), "axes.pet_size: expected methods listed under methods"),
        (edit("axes/batch", [1]), "axes: unknown field(s) ['batch']; the fields are model_size, pretrain_tokens,"),
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


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("name", 5, "name: expected a string, got 5"),
        ("seeds", [0, True], "seeds: expected a list of integers, got [0, True]"),
        ("train_sizes", "many", "train_sizes: expected a list of positive integers or {min, max, num}, got 'many'"),
        ("train_sizes", {"min": 10, "max": 100}, "train_sizes.num: expected an integer (a required field)"),
        ("methods/fmt/train_sizes", [10, -1], "methods.fmt.train_sizes: expected a list of positive integers or"),
        ("methods/fmt", "configs/methods/fmt.yaml", "methods.fmt: expected a mapping of config, overrides,"),
        ("methods/fmt/config", None, "methods.fmt.config: expected a method config file (a required field)"),
        ("axes/model_size", "s", "axes.model_size: expected a list of ladder sizes, hub ids (org/name) or local"),
        ("held_out", "x=max", "held_out: expected a list of rules KEY=VALUE such as x=max"),
        ("data", [1], "data: expected a mapping of dotted option -> value, got [1]"),
        ("recipe", {"epochs": "two"}, "recipe.epochs: expected a positive number of passes over each point's training"),
        ("transfer", {"data": "configs/eval/world_zero_shot.yaml", "shots": [-1]}, "transfer.shots: expected a list"),
    ],
)
def test_a_mistyped_field_is_one_line_naming_the_file_the_field_and_what_is_valid(
    path, value, message, in_repo, tmp_path
):
    """Types, unknown and missing fields are jsonargparse's checks (sweeps/spec/schema.py), each report one line."""
    spec_file = write_spec(tmp_path, edit(path, value))
    with pytest.raises(ValueError) as error:
        load_spec(spec_file)
    line = str(error.value)
    assert line.startswith(f"{spec_file}: {message}") and "\n" not in line, line


def test_a_data_option_must_be_a_dotted_name(in_repo, tmp_path):
    with pytest.raises(ValueError, match=r"^data: expected a mapping of dotted option -> value, got keys \[1\]"):
        load_spec(write_spec(tmp_path, edit("data", {1: 5})))


def test_a_loaded_spec_holds_plain_values_that_yaml_can_write(in_repo, tmp_path):
    """The schema's restricted types (PositiveInt, ...) do not leak into what the sweep stores and logs."""
    recipe = {"epochs": 2, "val_check_interval": 4, "early_stopping": {"patience": 3, "min_delta": 0.01}}
    transfer = {"data": "configs/eval/world_zero_shot.yaml", "shots": [0, 3]}
    spec = edit("trainer", None) | {"train_sizes": [10, 100], "recipe": recipe, "transfer": transfer}
    loaded = load_spec(write_spec(tmp_path, spec))
    values = [[p.factors for p in loaded.points()], dataclasses.asdict(loaded.recipe)]
    values.append(dataclasses.asdict(loaded.transfer) | {"shots": list(loaded.transfer.shots)})
    assert yaml.safe_load(yaml.safe_dump(values)) == values
    assert type(loaded.train_sizes[0]) is int and type(loaded.recipe.epochs) is int


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
    assert len(demo.train_sizes) >= 4  # log-spaced finetuning sizes: enough for a law in Df
    assert all("df=max" in rules for rules in demo.held_out.values())
    assert len({p.factors["model_size"] for p in points}) >= 3
    assert {a for p in points for a in p.axes} == {"model_size", "pretrain_tokens", "pet_size"}
    assert len(load_spec("configs/sweeps/test.yaml").points()) <= 16


def test_plan_prints_points_and_cost_and_bad_specs_end_in_one_error_line(in_repo, tmp_path, capsys):
    assert main(["sweep", "plan", "configs/sweeps/test.yaml"]) == 0
    out = capsys.readouterr().out
    spec = load_spec("configs/sweeps/test.yaml")
    assert all(p.id in out for p in spec.points())
    assert f"runs: {len(spec.points())}" in out and "GPU-hours at 40% MFU" in out

    assert main(["sweep", "plan", str(write_spec(tmp_path, edit("seeds", [])))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: seeds:") and "Traceback" not in err


# Digests of the ordered point ids of a shipped ladder spec, computed by running HEAD's sweeps/spec.py (commit
# d411c0c, before hub models, recipes and transfer) as `sha256(" ".join(ids))[:16]`: the ids must not change.
# (The demo specs themselves changed since, to the paper's recipe: their ids changed with them.)
HEAD_IDS = {"test": (15, "c6cdd8e005b90ffd")}


@pytest.mark.parametrize("name", sorted(HEAD_IDS))
def test_ladder_specs_keep_their_point_ids(name, in_repo):
    ids = [p.id for p in load_spec(f"configs/sweeps/{name}.yaml").points()]
    assert (len(ids), hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16]) == HEAD_IDS[name]


def flags_of(point) -> dict[str, str]:
    """The point's `--flag value` pairs after the subcommand (the last value of a repeated flag)."""
    return dict(zip(point.args[1::2], point.args[2::2], strict=True))


RECIPE = {"epochs": 2, "min_steps": 5, "max_steps": 100, "val_check_interval": 4, "early_stopping": {"patience": 3}}


def test_recipe_caps_steps_by_epochs_of_each_subset_clamped(in_repo, tmp_path):
    spec = edit("trainer", None) | {"recipe": RECIPE}
    spec["methods"]["fmt"]["overrides"] = {"data.batch_size": 4}
    points = points_of(tmp_path, spec)
    steps = {(p.method, p.factors["train_size"]): int(flags_of(p)["--trainer.max_steps"]) for p in points}
    # ceil(2 x Df / batch) clamped to [5, 100]: batch 16 (the base config's) and 4 (fmt's override).
    assert {ts: steps[("lora", ts)] for ts in (10, 100, 1000)} == {10: 5, 100: 13, 1000: 100}
    assert {ts: steps[("fmt", ts)] for ts in (10, 100, 1000)} == {10: 5, 100: 50, 1000: 100}
    for p in points:
        flags = flags_of(p)
        assert flags["--trainer.val_check_interval"] == "4"
        assert flags["--trainer.check_val_every_n_epoch"] == "null"
        assert json.loads(flags["--trainer.callbacks+"]) == {
            "class_path": "lightning.pytorch.callbacks.EarlyStopping",
            "init_args": {"monitor": "val/loss", "patience": 3, "min_delta": 0.0, "mode": "min"},
        }
    assert load_spec(write_spec(tmp_path, spec)).max_steps is None  # steps differ per point


def test_a_recipe_without_epochs_fixes_the_steps(in_repo, tmp_path):
    spec = edit("trainer", None) | {"recipe": {"max_steps": 7}}
    assert {flags_of(p)["--trainer.max_steps"] for p in points_of(tmp_path, spec)} == {"7"}
    assert load_spec(write_spec(tmp_path, spec)).max_steps == 7
    assert all("--trainer.callbacks+" not in p.args for p in points_of(tmp_path, spec))


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"epochs": 0}, "recipe.epochs: expected a positive number"),
        ({"epochs": "two"}, "recipe.epochs"),
        ({"epochs": 1, "min_steps": 0}, "recipe.min_steps: expected a positive integer"),
        (
            {"epochs": 1, "min_steps": 10, "max_steps": 5},
            r"recipe.max_steps: expected at least recipe.min_steps \(10\)",
        ),
        ({"min_steps": 10}, "recipe.min_steps: expected recipe.epochs as well"),
        ({"val_check_interval": 1.5}, "recipe.val_check_interval: expected a positive integer"),
        ({"early_stopping": {"min_delta": 0.1}}, r"recipe.early_stopping.patience: expected .* \(a required field\)"),
        ({"early_stopping": {"patience": 0}}, "recipe.early_stopping.patience"),
        ({"early_stopping": {"patience": 2, "min_delta": -1}}, "recipe.early_stopping.min_delta"),
        ({"epochs": 1, "warmup": 3}, r"recipe: unknown field\(s\) \['warmup'\]; the fields are epochs, min_steps,"),
        ({}, "recipe: expected a mapping"),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_field(recipe, message, in_repo, tmp_path):
    with pytest.raises(ValueError, match=message):
        load_spec(write_spec(tmp_path, edit("trainer", None) | {"recipe": recipe}))


def test_a_recipe_and_the_trainer_may_not_both_set_the_steps(in_repo, tmp_path):
    with pytest.raises(ValueError, match=r"recipe: .*trainer also sets \['trainer.max_steps'\]"):
        load_spec(write_spec(tmp_path, BASE | {"recipe": {"epochs": 1}}))


def test_transfer_on_the_ladder_scores_each_checkpoint_once(in_repo, tmp_path):
    spec = BASE | {"transfer": {"data": "configs/eval/world_zero_shot.yaml", "shots": [0, 3]}}
    points = points_of(tmp_path, spec)
    base = [p for p in points if p.method == "base"]
    used = {flags_of(p)["--model.backbone"] for p in points if p.method != "base"}
    assert sorted(flags_of(p)["--model.backbone"] for p in base) == sorted(used)
    assert len(used) == 3 + 3 - 1  # model sizes at the largest budget, budgets of s; (s, largest) once
    for p in points:
        assert (flags_of(p)["--transfer.data"], flags_of(p)["--transfer.shots"]) == (
            "configs/eval/world_zero_shot.yaml",
            "[0, 3]",
        )
    assert all(p.args[0] == "test" and p.args[6] == "configs/methods/fmt.yaml" for p in base)
    finetuned = [p.id for p in points if p.method != "base"]
    assert not set(finetuned) & {p.id for p in points_of(tmp_path, BASE)}  # the transfer flags are part of the id


@pytest.mark.parametrize(
    ("transfer", "message"),
    [
        ({"data": "configs/eval/nope.yaml"}, "transfer.data: expected an existing file"),
        (
            {"data": "configs/methods/fmt.yaml"},
            "transfer.data: expected a datamodule config whose class_path is a FinetuneDataModule",
        ),
        ({"data": "configs/pretrain/test.yaml"}, "transfer.data: expected a datamodule config with a class_path"),
        ({"data": "configs/eval/world_zero_shot.yaml", "shots": [0, 0]}, "transfer.shots"),
        ({"data": "configs/eval/world_zero_shot.yaml", "shots": [-1]}, "transfer.shots"),
        ({"data": "configs/eval/world_zero_shot.yaml", "shots": []}, "transfer.shots"),
        ({"shots": [0]}, "transfer.data: expected a datamodule config file (a required field)"),
    ],
)
def test_a_bad_transfer_is_refused_naming_the_field(transfer, message, in_repo, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_spec(write_spec(tmp_path, BASE | {"transfer": transfer}))


def test_a_task_file_replaces_the_data_class_and_methods_can_have_their_own_sizes(in_repo, tmp_path):
    spec = copy.deepcopy(BASE) | {"task": "configs/tasks/wmt14_en_de.yaml", "data": {"drop_empty": True}}
    spec["methods"]["fmt"]["train_sizes"] = {"min": 2000, "max": 20000, "num": 2}
    points = points_of(tmp_path, spec)
    assert all(p.args[9:11] == ("--data", "configs/tasks/wmt14_en_de.yaml") for p in points)
    assert {p.factors["train_size"] for p in points if p.method == "fmt"} == {2000, 20000}
    assert {p.factors["train_size"] for p in points if p.method == "lora"} == {10, 100, 1000}
    with pytest.raises(ValueError, match=r"data: 'data\.drop_empty' is not an argument"):  # not of the synthetic task
        load_spec(write_spec(tmp_path, edit("data", {"drop_empty": True})))


def test_cost_of_the_test_spec(in_repo):
    spec = load_spec("configs/sweeps/test.yaml")
    cost = sweep_cost(spec, mfu=0.4, peak_flops=989e12)
    assert len(cost.rows) == len(spec.points()) and cost.unknown == 0
    for row, point in zip(cost.rows, spec.points(), strict=True):
        size = point.factors["model_size"]
        model = LlamaForCausalLM(ladder_config(size, 1024, 1024, 1, 2, 0))
        n = model.num_parameters()  # tied embeddings: every parameter is in a per-token matmul
        tokens = 4 * 8 * (48 + 48)  # max_steps x batch x (max source + target tokens)
        if point.method == "fmt":
            assert row.flops == pytest.approx(6 * n * tokens, rel=1e-12)
        else:  # the frozen model forward and backward, and LoRA's own parameters trained
            lora = get_peft_model(model, LoraConfig(r=point.factors["pet_size"], target_modules="all-linear"))
            trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
            assert row.flops == pytest.approx((4 * n + 6 * trainable) * tokens, rel=1e-12)
        assert row.gpu_hours == pytest.approx(row.flops / (0.4 * 989e12) / 3600, rel=1e-12)
    assert cost.flops == pytest.approx(sum(r.flops for r in cost.rows), rel=1e-12)
    assert sweep_cost(spec, mean_sequence_tokens=48).flops == pytest.approx(cost.flops / 2, rel=1e-12)
    with pytest.raises(ValueError, match="mfu"):
        sweep_cost(spec, mfu=0)


SHIPPED_HUB_SPECS = ["pythia_wmt14", "qwen25_wmt19", "mlsum_cnndm"]


@pytest.mark.parametrize("name", SHIPPED_HUB_SPECS)
def test_shipped_hub_specs_parse_without_the_hub_and_fail_clearly_offline(name, in_repo, tmp_path, monkeypatch):
    spec = load_spec(f"configs/sweeps/{name}.yaml", resolve=False)
    points = spec.points()
    assert len(spec.seeds) == 3 and spec.recipe is not None and spec.recipe.patience
    methods = {m.name: m for m in spec.methods}
    assert spec.batch_size_of(methods["fmt"]) == 128 and spec.batch_size_of(methods["lora"]) == 16
    assert all(flags_of(p)["--model.optimizer"] == "adafactor" for p in points)
    assert methods["prompt_tuning"].pet_sizes[0] == 50 and methods["prompt_tuning"].pet_sizes[-1] == 600
    assert methods["lora"].pet_sizes[0] == 4 and methods["lora"].pet_sizes[-1] == 128
    assert all(
        "df=max" in spec.held_out[a] and any(r.startswith("x=") for r in spec.held_out[a])
        for a in spec.held_out
        if spec.held_out[a]
    )
    use_hub_cache(monkeypatch, tmp_path)  # an empty cache, offline
    with pytest.raises(FileNotFoundError, match=r"axes.model_size: '[\w.-]+/[\w.-]+': not a local model directory"):
        load_spec(f"configs/sweeps/{name}.yaml")
