"""Backbone loading: clear errors, the chosen attention, bitsandbytes quantisation."""

import bitsandbytes as bnb
import pytest
import torch

from ftscale.backbones.attention import choose_attn_implementation
from ftscale.backbones.loading import load_backbone, quantization_config
from tests.helpers import make_batch


def test_missing_backbone_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Hugging Face model directory"):
        load_backbone(str(tmp_path / "nope"))


def test_backbone_loads_with_the_chosen_attention(make_backbone):
    model = load_backbone(str(make_backbone("xs")))
    assert model.config._attn_implementation == choose_attn_implementation()


@pytest.mark.parametrize(("quantization", "linear"), [("nf4", bnb.nn.Linear4bit), ("int8", bnb.nn.Linear8bitLt)])
def test_quantised_backbones_load_with_bitsandbytes_linears(quantization, linear, make_backbone):
    model = load_backbone(str(make_backbone("xs")), quantization=quantization_config(quantization))
    projections = [m for name, m in model.named_modules() if name.endswith(("q_proj", "down_proj"))]
    assert projections and all(isinstance(m, linear) for m in projections)
    assert not isinstance(model.lm_head, linear)  # transformers keeps the (tied) head in full precision


@pytest.mark.parametrize("size", ["xs", "s", "m", "l", "xl"])
def test_4bit_backbones_of_every_ladder_width_evaluate_on_the_cpu(size, make_backbone):
    """In eval mode bitsandbytes repacks 4-bit weights for its CPU kernel, which rejects some widths."""
    model = load_backbone(str(make_backbone(size)), quantization=quantization_config("nf4")).eval()
    batch = make_batch(vocab=model.config.vocab_size)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.isfinite(logits).all()


def test_unknown_quantization_is_refused():
    with pytest.raises(ValueError, match=r"model\.quantization='fp3'.*'nf4', 'int8'"):
        quantization_config("fp3")
