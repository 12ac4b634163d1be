"""Ladder pretraining: config validation, caching, and that the ladder behaves like a ladder."""

import hashlib
import json
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from ftscale.ladder import pretrain
from ftscale.ladder.pretrain import PretrainConfig, load_pretrain_config, pretrain_ladder, pretraining_module
from ftscale.ladder.resolve import resolve_backbone
from tests.conftest import TEST_LADDER


def test_budgets_must_be_whole_steps():
    with pytest.raises(ValueError, match="multiple of seq_len \\* batch_size = 4096"):
        PretrainConfig(token_budgets=[5000], seq_len=128, batch_size=32)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="expected names from"):
        PretrainConfig(sizes=["huge"])


def test_cache_key_ignores_which_sizes_are_trained():
    assert PretrainConfig(sizes=["xs"]).key == PretrainConfig(sizes=["xs", "l"]).key
    assert PretrainConfig(seed=1).key != PretrainConfig(seed=2).key


def test_missing_ladder_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        resolve_backbone("ladder:xs", tmp_path / "nope.yaml")


def test_ladder_spec_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="sizes: \\['xs', 's', 'm'\\]"):
        resolve_backbone("ladder:xl", TEST_LADDER)
    with pytest.raises(ValueError, match="budgets are 0 and"):
        resolve_backbone("ladder:xs@123", TEST_LADDER)


@pytest.mark.slow
def test_held_out_loss_falls_with_pretraining_tokens_and_with_model_size(test_ladder):
    for size, manifest in test_ladder.items():
        losses = [c["val_loss"] for c in manifest["checkpoints"]]
        assert losses == sorted(losses, reverse=True), (size, losses)
        assert len(set(losses)) == len(losses)
    final = [test_ladder[s]["checkpoints"][-1]["val_loss"] for s in ("xs", "s", "m")]
    assert final == sorted(final, reverse=True), final
    params = [test_ladder[s]["non_embedding_params"] for s in ("xs", "s", "m")]
    assert params == sorted(params)


@pytest.mark.slow
def test_a_second_call_does_no_work_and_specs_resolve_to_the_checkpoints(test_ladder, monkeypatch):
    config = load_pretrain_config(TEST_LADDER)

    def train(*args):
        raise AssertionError(f"pretrained again: {args[1]}")

    monkeypatch.setattr(pretrain, "_pretrain_size", train)
    missing = {
        size: str(config.size_dir(size)) for size in config.sizes if pretrain.read_manifest(config, size) is None
    }
    assert not missing, (missing, {size: m["checkpoints"][-1]["path"] for size, m in test_ladder.items()})
    assert pretrain_ladder(config) == test_ladder
    path = resolve_backbone("ladder:s@65536", TEST_LADDER)
    assert path == str(config.checkpoint_dir("s", 65536))
    assert resolve_backbone("ladder:s", TEST_LADDER) == test_ladder["s"]["checkpoints"][-1]["path"]


def test_budgets_per_parameter_train_every_size_alike():
    config = PretrainConfig(sizes=["xxs", "s", "ml"], tokens_per_parameter=[2.5, 20], seq_len=128, batch_size=16)
    for size in config.sizes:
        params, budgets = config.non_embedding_params(size), config.budgets(size)
        assert len(budgets) == 2 and all(b % 2048 == 0 for b in budgets)
        # Rounded up to whole steps: at least the ratio, less than one step more.
        for ratio, budget in zip([2.5, 20], budgets, strict=True):
            assert ratio * params <= budget < ratio * params + 2048
        assert config.checkpoint_dir(size) == config.checkpoint_dir(size, budgets[-1])
    assert config.budgets("ml")[-1] > 20 * config.budgets("xxs")[-1]  # 22x the parameters, 22x the tokens


def test_a_mapping_gives_each_size_its_own_checkpoints():
    config = PretrainConfig(sizes=["xs", "s"], tokens_per_parameter={"xs": [20], "s": [5, 20, 40]})
    assert len(config.budgets("xs")) == 1 and len(config.budgets("s")) == 3
    with pytest.raises(ValueError, match="its budgets are 0 and"):
        config.checkpoint_dir("xs", config.budgets("s")[0])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tokens_per_parameter": [20], "token_budgets": [4096]}, "token_budgets or tokens_per_parameter, not both"),
        ({"tokens_per_parameter": {"xs": [20]}}, r"missing \['s'\]"),
        ({"tokens_per_parameter": {"xs": [20], "s": [20], "huge": [1]}}, r"unknown \['huge'\]"),
        ({"tokens_per_parameter": [0, 20]}, "expected positive numbers"),
        ({"tokens_per_parameter": [20, 20.01]}, "not distinct after rounding up to whole steps of 4096 tokens"),
    ],
)
def test_bad_budgets_per_parameter_are_refused_naming_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        PretrainConfig(sizes=["xs", "s"], **fields)


def test_configs_with_fixed_budgets_keep_their_budgets_and_cache_key():
    config = load_pretrain_config(TEST_LADDER)
    assert all(config.budgets(size) == sorted(config.token_budgets) for size in config.sizes)
    # The key of the fields a fixed-budget ladder had before budgets per parameter existed: its cache is reused.
    before = {k: v for k, v in asdict(config).items() if k not in ("sizes", "tokens_per_parameter")}
    expected = hashlib.sha256(json.dumps(before | {"recipe": pretrain.RECIPE}, sort_keys=True).encode()).hexdigest()
    assert config.key == expected[:16]
    assert PretrainConfig().budgets("xs") == list(pretrain.DEFAULT_BUDGETS)


def test_the_study_ladder_trains_every_size_to_20_tokens_per_parameter_and_s_from_2_to_40():
    config = load_pretrain_config(TEST_LADDER.parent / "study.yaml")
    ratios = {s: [b / config.non_embedding_params(s) for b in config.budgets(s)] for s in config.sizes}
    assert len(config.sizes) >= 5
    assert all(20 <= r[-1] < 20.2 for size, r in ratios.items() if size != "s")
    assert ratios["s"][0] < 3 and ratios["s"][-1] >= 40 and any(20 <= r < 20.2 for r in ratios["s"])


def test_pretraining_holds_the_learning_rate_after_warmup(make_backbone):
    module = pretraining_module(PretrainConfig(warmup_ratio=0.1), make_backbone("xs"))
    module.configure_model()
    module.trainer = SimpleNamespace(estimated_stepping_batches=100)
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(100):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    assert rates[0] == 0 and rates[10:] == [module.hparams.learning_rate] * 90


@pytest.mark.slow
def test_sizes_pretrained_side_by_side_match_the_ones_pretrained_in_turn(tmp_path, monkeypatch):
    tiny = PretrainConfig(sizes=["xs", "s"], token_budgets=[2048, 4096], vocab_size=1024, seq_len=64,
                          batch_size=16, val_tokens=2048)  # fmt: skip
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "side-by-side"))
    side_by_side = pretrain_ladder(tiny, workers=2, threads=1)
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path / "in-turn"))
    in_turn = pretrain_ladder(tiny)
    for size in ("xs", "s"):
        ours, theirs = side_by_side[size]["checkpoints"], in_turn[size]["checkpoints"]
        assert [c["tokens"] for c in ours] == [0, 2048, 4096]
        # Same seed, same data: the same losses, up to the float reductions of a different thread count.
        assert [c["val_loss"] for c in ours] == pytest.approx([c["val_loss"] for c in theirs], rel=1e-3)


@pytest.mark.slow
def test_each_size_is_checkpointed_at_its_own_budgets(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCALE_CACHE", str(tmp_path))
    tiny = PretrainConfig(sizes=["xxs", "xs"], tokens_per_parameter={"xxs": [0.1], "xs": [0.05, 0.1]},
                          vocab_size=1024, seq_len=64, batch_size=16, val_tokens=1024)  # fmt: skip
    manifests = pretrain_ladder(tiny)
    for size, manifest in manifests.items():
        tokens = [c["tokens"] for c in manifest["checkpoints"]]
        assert tokens == [0, *tiny.budgets(size)]
        assert all(tiny.checkpoint_dir(size, t).is_dir() for t in tokens)
        ratios = [c["tokens_per_parameter"] for c in manifest["checkpoints"]]
        assert ratios == pytest.approx([t / tiny.non_embedding_params(size) for t in tokens], abs=1e-3)
    assert manifests["xs"]["non_embedding_params"] == 25_248
