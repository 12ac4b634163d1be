"""Parameter counts from a config on the meta device, and clear errors for models and revisions that are not there."""

import resource

import pytest
from transformers import AutoModelForCausalLM, GPTNeoXConfig, LlamaForCausalLM, Qwen2Config

from ftscale.backbones.checkpoints import checkpoint_tokens, pythia_checkpoints
from ftscale.backbones.params import parameter_counts
from ftscale.ladder.shapes import LADDER, ladder_config


def test_counts_match_the_published_pythia_and_qwen_numbers():
    # Pythia's model card: pythia-70m has 70,426,624 parameters, 18,915,328 of them non-embedding (embed_in and
    # the untied embed_out both left out).
    pythia_70m = GPTNeoXConfig(
        vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=2048,
        tie_word_embeddings=False,
    )  # fmt: skip
    counts = parameter_counts(pythia_70m)
    assert (counts.non_embedding, counts.total) == (18_915_328, 70_426_624)
    # Qwen2.5-0.5B's model card: 0.49B parameters, 0.36B non-embedding (tied embeddings counted once).
    qwen = Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip
    counts = parameter_counts(qwen)
    assert counts.total / 1e9 == pytest.approx(0.49, abs=0.005)
    assert counts.non_embedding / 1e9 == pytest.approx(0.36, abs=0.005)


@pytest.mark.parametrize("size", sorted(LADDER))
def test_ladder_counts_equal_the_built_model(size):
    model = LlamaForCausalLM(ladder_config(size, 1024, 512, 1, 2, 0))
    counts = parameter_counts(model.config)
    assert counts.non_embedding == model.num_parameters(exclude_embeddings=True)
    assert counts.total == model.num_parameters()


def test_counts_of_the_tiny_hub_models_equal_the_loaded_models(tiny_hub):
    seen = set()
    for model_id in tiny_hub.models.values():
        model = AutoModelForCausalLM.from_pretrained(model_id)
        counts = parameter_counts(model_id)
        embeddings = {model.get_input_embeddings().weight, model.get_output_embeddings().weight}  # one if tied
        assert counts.total == sum(p.numel() for p in model.parameters())
        assert counts.non_embedding == counts.total - sum(w.numel() for w in embeddings)
        assert counts.per_token == counts.non_embedding + model.get_output_embeddings().weight.numel()
        seen.add(counts.non_embedding)
        assert 1_000 < counts.total < 30_000  # a few thousand parameters
    assert len(seen) == len(tiny_hub.models)  # three distinct sizes for a model-size axis


def test_missing_hub_model_offline_is_named(tiny_hub):
    with pytest.raises(FileNotFoundError, match=r"'ftscale-tiny/absent': not a local model directory.*cache"):
        parameter_counts("ftscale-tiny/absent")


def test_missing_revision_is_named_apart_from_a_missing_model(tiny_hub):
    with pytest.raises(ValueError, match=r"'ftscale-tiny/gpt-neox' has no revision 'step9'"):
        parameter_counts(tiny_hub.models["gpt_neox"], revision="step9")


def test_local_directory_without_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"expected config\.json"):
        parameter_counts(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="is a local directory: it has no revision 'step1'"):
        parameter_counts(str(tmp_path), revision="step1")


def test_pythia_steps_are_revisions_with_their_token_counts():
    # The example: step1000, step36000 and step143000 of Pythia (2,097,152 tokens a step).
    expected = {"step1000": 2097152000, "step36000": 75497472000, "step143000": 299892736000}
    assert pythia_checkpoints([1000, 36000, 143000]) == expected
    assert checkpoint_tokens({"pythia_steps": [1000, 36000, 143000]}, "f") == expected
    assert checkpoint_tokens(expected, "f") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"step1": 0}, r"axes.pretrain_tokens: expected a positive integer number of tokens.*'step1': 0"),
        ({"step1": -5, "step2": 10}, r"'step1': -5"),
        ({"step1": 10, "step2": 10}, "distinct token counts"),
        ({"pythia_steps": [1000, 0]}, "pythia_steps"),
        ({"pythia_steps": [1000], "step9": 5}, "alone"),
        ([1000, 2000], "a mapping of hub revision or local checkpoint directory"),
    ],
)
def test_bad_checkpoint_mappings_are_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        checkpoint_tokens(raw, "axes.pretrain_tokens")


def test_counting_allocates_nothing():
    # Built on the meta device: a 7B-sized config (28 GB in fp32) counts without raising the peak memory.
    big = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert parameter_counts(big).total > 6e9
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib < 2 * 1024**2
