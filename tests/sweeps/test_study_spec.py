"""What the study spec added: ladder checkpoints named by tokens per parameter, and a retention evaluation beside
the transfer one, each with its own options, metrics prefix and clear errors."""

import re
from pathlib import Path

import pytest
import yaml

from ftscale.ladder.pretrain import load_pretrain_config
from ftscale.sweeps.spec import load_spec
from tests.sweeps.test_spec import BASE, points_of, write_spec

STUDY = "configs/sweeps/study.yaml"
RETENTION = {"data": "configs/eval/world_retention.yaml", "shots": [0, 3]}


def flags_of(point) -> dict[str, str]:
    return dict(zip(point.args[1::2], point.args[2::2], strict=False))


def test_the_study_puts_every_size_at_20_tokens_per_parameter_and_s_from_2_to_40(in_repo):
    spec = load_spec(STUDY, resolve=False)
    ladder = load_pretrain_config(spec.ladder)
    size_axis = {b.model: b.pretrain_tokens for b in spec.size_axis}
    assert len(size_axis) >= 5
    for size, tokens in size_axis.items():
        assert tokens == ladder.tokens_at(size, 20) and tokens in ladder.budgets(size)
    assert [b.pretrain_tokens for b in spec.tokens_axis] == ladder.budgets("s")
    assert spec.default.pretrain_tokens == ladder.tokens_at("s", 20)
    assert len(spec.seeds) >= 3 and len(spec.train_sizes) >= 5
    points = spec.points()
    backbones = {flags_of(p)["--model.backbone"] for p in points if p.method != "base"}
    assert backbones == {flags_of(p)["--model.backbone"] for p in points if p.method == "base"}
    assert "ladder:ml@" + str(ladder.tokens_at("ml", 20)) in backbones


def test_tokens_per_parameter_must_name_a_checkpoint_of_the_size(in_repo, tmp_path):
    study = yaml.safe_load(Path(STUDY).read_text())
    bad_axis = study | {"axes": study["axes"] | {"pretrain_tokens": {"tokens_per_parameter": [2.5, 7]}}}
    with pytest.raises(ValueError, match=r"axes.pretrain_tokens: expected a checkpoint of s: 7 tokens per parameter"):
        load_spec(write_spec(tmp_path, bad_axis), resolve=False)
    # xxs (the first size) has a checkpoint at 20 tokens per parameter only.
    with pytest.raises(ValueError, match=r"default_tokens: expected a checkpoint of xxs: 40 tokens per parameter"):
        load_spec(write_spec(tmp_path, study | {"default_tokens": {"tokens_per_parameter": 40}}), resolve=False)
    with pytest.raises(ValueError, match=r"default_tokens: expected \{tokens_per_parameter: <a positive number>\}"):
        load_spec(write_spec(tmp_path, study | {"default_tokens": {"tokens_per_parameter": "x"}}), resolve=False)
    with pytest.raises(ValueError, match=r"default_tokens: expected a token budget of xxs"):
        load_spec(write_spec(tmp_path, study | {"default_tokens": 12345}), resolve=False)


def test_without_default_tokens_each_size_is_at_its_own_largest_budget(in_repo, tmp_path):
    study = yaml.safe_load(Path(STUDY).read_text())
    del study["default_tokens"]
    spec = load_spec(write_spec(tmp_path, study), resolve=False)
    ladder = load_pretrain_config(spec.ladder)
    assert {b.model: b.pretrain_tokens for b in spec.size_axis} == {s: ladder.budgets(s)[-1] for s in ladder.sizes}


def test_retention_is_an_evaluation_of_its_own_beside_transfer(in_repo, tmp_path):
    transfer = {"data": "configs/eval/world_zero_shot.yaml", "shots": [0]}
    points = points_of(tmp_path, BASE | {"transfer": transfer, "retention": RETENTION})
    assert {p.method for p in points} >= {"base", "fmt"}
    for point in points:
        flags = flags_of(point)
        assert flags["--retention.data"] == RETENTION["data"] and flags["--retention.shots"] == "[0, 3]"
        assert flags["--transfer.shots"] == "[0]"
    # A retention evaluation alone also scores each untrained backbone.
    alone = points_of(tmp_path, BASE | {"retention": RETENTION})
    assert any(p.method == "base" for p in alone) and not any("--transfer.data" in p.args for p in alone)
    # Specs without it keep their points' ids.
    with_transfer = points_of(tmp_path, BASE | {"transfer": transfer})
    assert not any("--retention.data" in p.args for p in with_transfer)


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"data": "configs/eval/nope.yaml"}, "retention.data: expected an existing file"),
        (
            {"data": "configs/methods/fmt.yaml"},
            "retention.data: expected a datamodule config whose class_path is a FinetuneDataModule",
        ),
        ({"data": "configs/eval/world_retention.yaml", "shots": [3, 3]}, "retention.shots"),
        ({"shots": [0]}, "retention.data: expected a datamodule config file (a required field)"),
    ],
)
def test_a_bad_retention_is_refused_naming_the_field(retention, message, in_repo, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_spec(write_spec(tmp_path, BASE | {"retention": retention}))
