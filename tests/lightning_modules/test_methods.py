"""The methods: what trains, what the loss counts, what a checkpoint and an export hold."""

import lightning as L
import pytest
import torch
from peft import PeftModel
from torch import nn
from transformers import AutoModelForCausalLM

from ftscale.datamodules.batching import IGNORE_INDEX
from ftscale.lightning_modules import IA3, DoRA, FullFinetune, LoRA, PrefixTuning, PromptTuning
from tests.helpers import make_batch, train_on

METHODS = {
    "fmt": (FullFinetune, {}),
    "prompt_tuning": (PromptTuning, {"num_virtual_tokens": 7}),
    "lora": (LoRA, {"rank": 4}),
    "ia3": (IA3, {}),
    "dora": (DoRA, {"rank": 2}),
    "prefix_tuning": (PrefixTuning, {"num_virtual_tokens": 7}),
}
PET = sorted(set(METHODS) - {"fmt"})


def build(method: str, backbone, **overrides):
    cls, kwargs = METHODS[method]
    module = cls(backbone=str(backbone), **{**kwargs, **overrides})
    module.configure_model()
    return module


def test_trainable_parameters_follow_each_methods_formula(make_backbone):
    backbone = make_backbone("s")
    fmt = build("fmt", backbone)
    assert fmt.trainable_parameters == fmt.total_parameters

    prompt = build("prompt_tuning", backbone, num_virtual_tokens=13)
    hidden = prompt.model.config.hidden_size
    assert prompt.trainable_parameters == 13 * hidden

    lora = build("lora", backbone, rank=3)
    base = fmt.model
    linears = [m for name, m in base.named_modules() if isinstance(m, nn.Linear) and "lm_head" not in name]
    assert lora.trainable_parameters == sum(3 * (m.in_features + m.out_features) for m in linears)


def test_loss_counts_exactly_the_labelled_target_tokens(make_backbone):
    module = build("fmt", make_backbone("xs"))
    batch = make_batch()
    nll, count = module.token_nll(batch)
    # Hugging Face's own shifted, masked mean cross-entropy is the reference.
    reference = module.model(**batch).loss
    assert count == (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    torch.testing.assert_close(nll / count, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
def test_loss_ignores_the_virtual_token_positions(method, make_backbone):
    module = build(method, make_backbone("xs"))
    batch = make_batch()
    nll, count = module.token_nll(batch)
    assert count == (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    torch.testing.assert_close(nll / count, module.model(**batch).loss, rtol=1e-5, atol=1e-5)


def train_steps(module, tmp_path, steps: int = 2) -> L.Trainer:
    return train_on(module, [make_batch(vocab=module.model.config.vocab_size)] * steps, tmp_path)


@pytest.mark.parametrize("method", PET)
def test_training_changes_only_the_trainable_tensors(method, make_backbone, tmp_path):
    # Two steps: LoRA's B starts at zero, so A receives no gradient on the first step.
    module = build(method, make_backbone("xs"))
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    train_steps(module, tmp_path)
    for name, param in module.named_parameters():
        changed = not torch.equal(before[name], param.detach())
        assert changed == param.requires_grad, name


@pytest.mark.parametrize(
    ("method", "options"),
    [("prompt_tuning", {}), ("lora", {"rank": 2}), ("ia3", {}), ("dora", {"rank": 1}), ("prefix_tuning", {})],
)
def test_pet_checkpoints_hold_only_trained_weights_and_are_20x_smaller(method, options, make_backbone, tmp_path):
    # LoRA shrinks each projection by about hidden / (2 rank): at rank 4 the 96-wide `l` model gives ~16x,
    # a 4096-wide model ~500x. Rank 2 shows the 20x here.
    backbone = make_backbone("l")
    sizes = {}
    for name in ("fmt", method):
        module = build(name, backbone, **(options if name == method else {}))
        trainer = train_steps(module, tmp_path / name)
        path = tmp_path / f"{name}.ckpt"
        trainer.save_checkpoint(path)
        saved = torch.load(path, weights_only=False)["state_dict"]
        trained = module.trained_tensor_names()
        assert set(saved) == trained
        sizes[name] = path.stat().st_size
    assert sizes["fmt"] / sizes[method] >= 20


@pytest.mark.parametrize("method", sorted(METHODS))
def test_export_loads_back_with_identical_logits(method, make_backbone, tmp_path):
    backbone = make_backbone("xs")
    module = build(method, backbone).eval()
    with torch.no_grad():  # move the trained tensors away from their init so the export must carry them
        for p in module.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    out = module.export(tmp_path / "export")
    if method == "fmt":
        loaded = AutoModelForCausalLM.from_pretrained(out)
    else:
        loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(backbone), out)
    batch = make_batch(vocab=module.model.config.vocab_size)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**inputs).logits, module.model(**inputs).logits)


def test_prompt_tuning_text_init_needs_text():
    with pytest.raises(ValueError, match="init_text"):
        PromptTuning(backbone="unused", init="text")


def test_a_half_precision_checkpoint_trains_in_float32(make_backbone, tmp_path):
    """transformers 5 loads a checkpoint in its own dtype; mixed precision needs float32 master weights."""
    half = tmp_path / "fp16"
    AutoModelForCausalLM.from_pretrained(make_backbone("xs")).half().save_pretrained(half)
    for file in make_backbone("xs").glob("tokenizer*"):
        (half / file.name).write_bytes(file.read_bytes())
    assert AutoModelForCausalLM.from_pretrained(half).dtype == torch.float16  # what a plain load gives
    module = build("fmt", half)
    assert {p.dtype for p in module.model.parameters()} == {torch.float32}
