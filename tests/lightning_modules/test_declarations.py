"""What each method declares about itself (trainable parameters, FLOPs, prepended positions, untrained outputs)
holds for the model it really builds, on several architectures."""

import resource

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM, Qwen2Config

from ftscale.backbones.params import parameter_counts
from ftscale.callbacks.throughput import flops_per_token, matmul_parameters
from ftscale.lightning_modules import (
    IA3,
    DoRA,
    FinetuneModule,
    FullFinetune,
    LoRA,
    PeftMethod,
    PrefixTuning,
    PromptTuning,
)
from tests.helpers import make_batch

METHODS = {
    "fmt": (FullFinetune, {}),
    "prompt_tuning": (PromptTuning, {"num_virtual_tokens": 5}),
    "lora": (LoRA, {"rank": 3}),
    "ia3": (IA3, {}),
    "dora": (DoRA, {"rank": 3}),
    "prefix_tuning": (PrefixTuning, {"num_virtual_tokens": 5}),
}
ARCHITECTURES = ["gpt_neox", "qwen2", "llama"]  # untied head; grouped-query attention; tied, multi-head


def built(method: str, backbone: str, **options) -> FinetuneModule:
    cls, defaults = METHODS[method]
    module = cls(backbone=backbone, attn_implementation="eager", **(defaults | options))
    module.configure_model()
    return module.eval()


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_count_from_the_config_is_what_the_loaded_model_trains(method, arch, tiny_hub):
    model_id = tiny_hub.models[arch]
    module = built(method, model_id)
    counted = module.count_trainable_parameters(parameter_counts(model_id).config)
    assert counted == module.trainable_parameters > 0
    if isinstance(module, PeftMethod):  # and what peft itself reports
        assert counted == module.model.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_full_model_tuning_is_declared_exactly_by_the_methods_that_train_every_parameter(method, tiny_hub):
    model_id = tiny_hub.models["llama"]
    module = built(method, model_id)
    every = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model_id).parameters())
    assert (module.trainable_parameters == every) == type(module).full_model_tuning


@pytest.mark.parametrize("method", sorted(METHODS))
def test_untrained_outputs_are_the_backbones_exactly_when_declared(method, tiny_hub):
    model_id = tiny_hub.models["llama"]
    backbone = AutoModelForCausalLM.from_pretrained(model_id, attn_implementation="eager").eval()
    module = built(method, model_id)
    batch = make_batch(vocab=backbone.config.vocab_size)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        reference = backbone(**inputs).logits
        logits = module.model(**inputs).logits
    # The positions the method prepends come first; the input's own are the last ones.
    assert logits.size(1) == reference.size(1) + module.prepended_tokens
    same = torch.allclose(logits[:, -reference.size(1) :], reference, rtol=1e-5, atol=1e-5)
    assert same == type(module).preserves_backbone_untrained


@pytest.mark.parametrize("method", ["fmt", "prompt_tuning", "lora", "ia3", "dora"])
def test_flops_per_token_agree_with_the_throughput_monitors_model(method, tiny_hub):
    # Two FLOPs models of the code base, one from the config (the plan) and one from the built model (MFU), agree
    # for the methods whose trained tensors multiply the tokens or are looked up (attention over the context aside).
    for arch in ARCHITECTURES:
        module = built(method, tiny_hub.models[arch])
        counts = parameter_counts(tiny_hub.models[arch])
        declared = module.flops_per_token(counts, module.trainable_parameters)
        assert declared == flops_per_token(*matmul_parameters(module.model), layers=0, attention_width=0, context=0)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_prefix_costs_its_declared_flops_in_attention(arch, tiny_hub):
    # Forward FLOPs, counted by torch, with the prefix minus without it: attention to the prefix's keys and values,
    # a third of the declared 6 x (forward 2, backward 4); grouped-query attention repeats each for its heads.
    model_id = tiny_hub.models[arch]
    module = built("prefix_tuning", model_id)
    backbone = AutoModelForCausalLM.from_pretrained(model_id, attn_implementation="eager").eval()
    batch = make_batch(vocab=backbone.config.vocab_size)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    flops = {}
    for name, model in (("prefix", module.model), ("backbone", backbone)):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(**inputs)
        flops[name] = counter.get_total_flops()
    counts = parameter_counts(model_id)
    adapter = module.flops_per_token(counts, module.trainable_parameters) - 4 * counts.per_token
    assert (flops["prefix"] - flops["backbone"]) / batch["input_ids"].numel() == adapter / 3


def test_loras_count_is_linear_in_the_rank_and_counting_a_7b_model_allocates_nothing():
    config = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one, many = (LoRA(backbone="unused", rank=r).count_trainable_parameters(config) for r in (1, 128))
    assert many == 128 * one > 0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib < 2 * 1024**2


def test_a_text_initialised_prompt_counts_without_its_tokenizer():
    # A sweep's plan counts before a ladder backbone (and so its tokenizer) exists.
    config = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    text = PromptTuning(backbone="ladder:xs@0", num_virtual_tokens=7, init="text", init_text="Translate:")
    assert text.count_trainable_parameters(config) == 7 * 64
