"""Backbone loading: attention choice and clear errors."""

import pytest
import torch

from backbones.attention import choose_attn_implementation
from backbones.loading import load_backbone


def test_sdpa_is_chosen_without_flash_attention_on_cuda():
    expected = "flash_attention_2" if torch.cuda.is_available() else "sdpa"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        expected = "sdpa"
    assert choose_attn_implementation() == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without CUDA")
def test_flash_attention_requested_without_it_says_how_to_get_it():
    with pytest.raises(ValueError, match=r"flash-attn on a CUDA GPU.*ftscale\[gpu\]"):
        choose_attn_implementation("flash_attention_2")


def test_unknown_attention_is_refused():
    with pytest.raises(ValueError, match="expected one of"):
        choose_attn_implementation("magic")


def test_missing_backbone_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Hugging Face model directory"):
        load_backbone(str(tmp_path / "nope"))


def test_backbone_loads_with_the_chosen_attention(make_backbone):
    model = load_backbone(str(make_backbone("xs")))
    assert model.config._attn_implementation == choose_attn_implementation()
