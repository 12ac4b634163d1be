"""Ladder pretraining: config validation, caching, and that the ladder behaves like a ladder."""

import time
from types import SimpleNamespace

import pytest

from ftscale.backbones.pretrain import PretrainConfig, load_pretrain_config, pretrain_ladder, pretraining_module
from ftscale.backbones.spec import resolve_backbone
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
def test_a_second_call_does_no_work_and_specs_resolve_to_the_checkpoints(test_ladder):
    config = load_pretrain_config(TEST_LADDER)
    start = time.perf_counter()
    assert pretrain_ladder(config) == test_ladder
    assert time.perf_counter() - start < 5
    path = resolve_backbone("ladder:s@65536", TEST_LADDER)
    assert path == str(config.checkpoint_dir("s", 65536))
    assert resolve_backbone("ladder:s", TEST_LADDER) == test_ladder["s"]["checkpoints"][-1]["path"]


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
