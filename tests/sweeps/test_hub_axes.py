"""Hub models and their revisions on a sweep's factor axes, on the tiny offline hub (move to tests/sweeps once the
tiny_hub fixture is in tests/conftest.py)."""

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from huggingface_hub import scan_cache_dir
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from ftscale.backbones.params import parameter_counts
from ftscale.sweeps.cost import sweep_cost
from ftscale.sweeps.spec import load_spec

TOKENS = {"step1": 1000, "step2": 2000, "main": 3000}


def hub_spec(hub, **changes) -> dict:
    neox, qwen, llama = (hub.models[a] for a in ("gpt_neox", "qwen2", "llama"))
    spec = {
        "name": "hub",
        "base_config": "configs/quickstart.yaml",
        "task": str(hub.task),
        "methods": {
            "prompt_tuning": {"config": "configs/methods/prompt_tuning.yaml"},
            "fmt": {"config": "configs/methods/fmt.yaml"},
            "lora": {"config": "configs/methods/lora.yaml"},
        },
        "axes": {
            "model_size": [neox, qwen, llama],
            "pretrain_tokens": dict(TOKENS),
            "pet_size": {"lora": {"model.rank": [1, 2]}},
        },
        "default_model": neox,
        "default_revision": "main",
        "train_sizes": [8, 16],
        "data": {"batch_size": 4},
        "trainer": {"max_steps": 5},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = spec
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return spec


def load(tmp_path: Path, spec: dict, resolve: bool = True):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(spec), sort_keys=False))
    return load_spec(path, resolve=resolve)


def snapshot(hub, arch: str, revision: str) -> str:
    repo = next(r for r in scan_cache_dir(hub.cache).repos if r.repo_id == hub.models[arch])
    return str(next(r.snapshot_path for r in repo.revisions if revision in r.refs))


def test_hub_models_and_revisions_expand_with_their_counts_and_tokens(tiny_hub, in_repo, tmp_path):
    spec = load(tmp_path, hub_spec(tiny_hub))
    points = spec.points()
    # 3 models at main + 3 revisions of the default model, sharing (default model, main); LoRA adds 2 ranks.
    assert Counter(p.method for p in points) == {"prompt_tuning": 5 * 2, "fmt": 5 * 2, "lora": 7 * 2}
    assert len({p.id for p in points}) == len(points)
    neox = tiny_hub.models["gpt_neox"]
    for p in points:
        f = p.factors
        counts = parameter_counts(f["model"], f["revision"])
        assert (f["non_embedding_params"], f["total_params"]) == (counts.non_embedding, counts.total)
        assert f["pretrain_tokens"] == TOKENS[f["revision"]]
        flags = dict(zip(p.args[5::2], p.args[6::2], strict=False))
        assert p.args[3:9] == ("--model", p.args[4], "--model.backbone", f["model"], "--model.revision", f["revision"])
        assert p.args[9:11] == ("--data", str(tiny_hub.task))  # before data options: it replaces the data class
        assert flags["--data.train_size"] == str(f["train_size"])
    along = {(p.factors["revision"], p.factors["pretrain_tokens"]) for p in points if "pretrain_tokens" in p.axes}
    assert along == set(TOKENS.items())
    assert all(p.factors["model"] == neox for p in points if "pretrain_tokens" in p.axes)
    sizes = Counter(p.factors["non_embedding_params"] for p in points if "model_size" in p.axes)
    assert len(sizes) == 3  # X of the model-size axis: three distinct non-embedding counts
    shared = [p for p in points if p.method == "fmt" and set(p.axes) == {"model_size", "pretrain_tokens"}]
    assert len(shared) == 2 and all(p.factors["model"] == neox and p.factors["revision"] == "main" for p in shared)


def test_pythia_steps_name_revisions_and_their_tokens(tiny_hub, in_repo, tmp_path):
    spec = load(tmp_path, hub_spec(tiny_hub, axes__pretrain_tokens={"pythia_steps": [1, 2]}, default_revision=None))
    along = {
        (p.factors["revision"], p.factors["pretrain_tokens"]) for p in spec.points() if p.axes == ("pretrain_tokens",)
    }
    assert along == {("step1", 2_097_152), ("step2", 4_194_304)}
    # Off that axis the models are at the hub's main, whose token count the spec does not give.
    assert {p.factors["pretrain_tokens"] for p in spec.points() if p.axes == ("model_size",)} == {None}


def test_local_checkpoint_directories_on_the_pretraining_axis(tiny_hub, in_repo, tmp_path):
    dirs = {snapshot(tiny_hub, "gpt_neox", r): tokens for r, tokens in TOKENS.items() if r != "main"}
    spec = load(tmp_path, hub_spec(tiny_hub, axes__pretrain_tokens=dirs))
    along = [p for p in spec.points() if p.axes == ("pretrain_tokens",)]
    assert {(p.factors["model"], p.factors["pretrain_tokens"]) for p in along} == set(dirs.items())
    assert all(p.factors["model_size"] == tiny_hub.models["gpt_neox"] and p.factors["revision"] is None for p in along)
    assert all("--model.revision" not in p.args for p in along)
    neox = parameter_counts(tiny_hub.models["gpt_neox"])
    assert {p.factors["non_embedding_params"] for p in along} == {neox.non_embedding}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"axes__model_size": ["ftscale-tiny/llama", "ftscale-tiny/absent"]},
            FileNotFoundError,
            r"axes.model_size: 'ftscale-tiny/absent': not a local model directory, and not found on the Hugging Face",
        ),
        (
            {"axes__pretrain_tokens": {"step1": 10, "step9": 20}},
            ValueError,
            r"axes.pretrain_tokens: 'ftscale-tiny/gpt-neox' has no revision 'step9'",
        ),
        (
            {"default_revision": "step9"},
            ValueError,
            r"axes.model_size: 'ftscale-tiny/gpt-neox' has no revision 'step9'",
        ),
        (
            {"axes__pretrain_tokens": {"step1": 10, "step2": 0}},
            ValueError,
            r"axes.pretrain_tokens: expected a positive integer number of tokens per checkpoint, got \{'step2': 0\}",
        ),
        (
            {"axes__pretrain_tokens": {"step1": 10, "step2": -3}},
            ValueError,
            r"axes.pretrain_tokens: .*\{'step2': -3\}",
        ),
        ({"axes__model_size": ["ftscale-tiny/llama", "xs"]}, ValueError, "axes.model_size: expected ladder sizes"),
    ],
)
def test_bad_models_revisions_and_token_counts_fail_before_training(
    changes, error, message, tiny_hub, in_repo, tmp_path
):
    with pytest.raises(error, match=message):
        load(tmp_path, hub_spec(tiny_hub, **changes))


def test_a_local_directory_without_config_is_named(tiny_hub, in_repo, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    spec = hub_spec(tiny_hub, axes__model_size=["ftscale-tiny/llama", str(empty)])
    for resolve in (True, False):  # no hub needed to see it
        with pytest.raises(FileNotFoundError, match=rf"axes.model_size: '{empty}' is no Hugging Face model directory"):
            load(tmp_path, spec, resolve=resolve)


def test_mixing_the_ladder_and_hub_models_is_refused(tiny_hub, in_repo, tmp_path):
    spec = hub_spec(tiny_hub, axes__model_size=["ftscale-tiny/llama", "xs"], ladder="configs/pretrain/test.yaml")
    with pytest.raises(ValueError, match=r"axes\.model_size: expected ladder sizes only or hub ids"):
        load(tmp_path, spec)


def test_without_resolving_the_hub_is_not_asked(tiny_hub, in_repo, tmp_path):
    spec = load(tmp_path, hub_spec(tiny_hub, axes__model_size=["ftscale-tiny/absent", "other-org/gone"]), resolve=False)
    points = spec.points()
    assert {p.factors["model"] for p in points if p.axes == ("model_size",)} == {
        "ftscale-tiny/absent",
        "other-org/gone",
    }
    assert {p.factors["non_embedding_params"] for p in points} == {None}
    assert sweep_cost(spec).unknown == len(points)


def test_transfer_adds_one_untrained_point_per_backbone(tiny_hub, in_repo, tmp_path):
    transfer = {"data": "configs/eval/world_zero_shot.yaml", "shots": [0, 3]}
    spec = load(tmp_path, hub_spec(tiny_hub, transfer=transfer))
    points = spec.points()
    base = [p for p in points if p.method == "base"]
    finetuned = [p for p in points if p.method != "base"]
    backbones = {(p.factors["model"], p.factors["revision"]) for p in finetuned}
    assert len(backbones) == 5 and len(base) == len(backbones)
    assert {(p.factors["model"], p.factors["revision"]) for p in base} == backbones
    tail = ["--transfer.data", "configs/eval/world_zero_shot.yaml", "--transfer.shots", json.dumps([0, 3])]
    assert all(list(p.args[-4:]) == tail for p in points)
    for p in base:
        # The first method is prompt tuning, whose untrained prompt would change the model: FMT scores it.
        assert p.args[:4] == ("test", "--config", "configs/quickstart.yaml", "--model")
        assert p.args[4] == "configs/methods/fmt.yaml"
        assert p.axes == () and p.factors["train_size"] is None and p.factors["seed"] is None
        assert "--data.train_size" not in p.args and "--model.learning_rate" not in p.args
        assert (
            p.factors["non_embedding_params"]
            == parameter_counts(p.factors["model"], p.factors["revision"]).non_embedding
        )


def test_cost_of_a_hub_sweep(tiny_hub, in_repo, tmp_path):
    spec = load(tmp_path, hub_spec(tiny_hub, transfer={"data": "configs/eval/world_zero_shot.yaml"}))
    cost = sweep_cost(spec, mfu=0.5, peak_flops=1e12)
    rows = {r.point_id: r for r in cost.rows}
    points = {p.id: p for p in spec.points()}
    seq = 256 + 256  # the task's max source + target tokens (FinetuneDataModule's defaults)
    for point_id, row in rows.items():
        p = points[point_id]
        if p.method == "base":
            assert row.flops == 0
            continue
        counts = parameter_counts(p.factors["model"], p.factors["revision"])
        if p.method == "fmt":
            expected = 6 * counts.per_token * 5 * 4 * seq
        elif p.method == "lora":  # peft's own count of what LoRA trains on the loaded model
            model = AutoModelForCausalLM.from_pretrained(p.factors["model"], revision=p.factors["revision"])
            lora = get_peft_model(model, LoraConfig(r=p.factors["pet_size"], target_modules="all-linear"))
            expected = (4 * counts.per_token + 6 * lora.get_nb_trainable_parameters()[0]) * 5 * 4 * seq
        else:  # the soft prompt's positions run through the frozen model; the prompt itself is looked up
            n = p.factors["pet_size"]
            expected = 4 * counts.per_token * 5 * 4 * (seq + n)
        assert row.flops == pytest.approx(expected, rel=1e-12)
        assert row.gpu_hours == pytest.approx(expected / 0.5e12 / 3600, rel=1e-12)
    assert cost.unknown == 0
    assert cost.flops == pytest.approx(sum(r.flops for r in cost.rows), rel=1e-12)
    assert cost.gpu_hours == pytest.approx(cost.flops / 0.5e12 / 3600, rel=1e-9)
