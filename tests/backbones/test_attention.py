"""The attention kernel: what is chosen where, the line that says so, and prompt tuning under it."""

import logging

import pytest
import torch

from ftscale.backbones.attention import choose_attn_implementation, describe_attention, flash_attention_unavailable
from ftscale.lightning_modules import PromptTuning
from ftscale.lightning_modules.base import _info_once
from tests.helpers import make_batch


def test_sdpa_is_chosen_without_flash_attention_on_cuda():
    expected = "sdpa" if flash_attention_unavailable() else "flash_attention_2"
    assert choose_attn_implementation() == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without CUDA")
def test_flash_attention_requested_without_it_says_how_to_get_it():
    with pytest.raises(ValueError, match=r"flash-attn on a CUDA GPU.*ftscale\[gpu\]"):
        choose_attn_implementation("flash_attention_2")


def test_unknown_attention_is_refused():
    with pytest.raises(ValueError, match="expected one of"):
        choose_attn_implementation("magic")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the reason given on a machine without CUDA")
def test_the_log_line_says_why_flash_attention_was_passed_over():
    assert describe_attention("sdpa") == (
        "attention: sdpa (flash_attention_2 needs flash-attn on a CUDA GPU: no CUDA device)"
    )
    assert describe_attention("eager", requested="eager") == "attention: eager"


def test_the_choice_is_reported_once_when_the_model_is_built(make_backbone, caplog):
    module = PromptTuning(backbone=str(make_backbone("xs")), num_virtual_tokens=3)
    _info_once.cache_clear()  # said once per process: an earlier test that built a model may have said it already
    with caplog.at_level(logging.INFO):
        module.configure_model()
        module.configure_model()  # Lightning calls it again for test after fit; the model is built once
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attention:")]
    assert lines == [describe_attention(choose_attn_implementation())]


def test_prompt_tuning_gives_the_same_loss_with_the_chosen_kernel_as_with_eager(make_backbone):
    # peft prepends the soft prompt and extends the attention mask; the padded row checks the kernel honours it.
    batch = make_batch()
    losses = {}
    for kernel in (None, "eager"):
        torch.manual_seed(0)
        module = PromptTuning(backbone=str(make_backbone("xs")), num_virtual_tokens=3, attn_implementation=kernel)
        module.configure_model()
        module.eval()
        nll, count = module.token_nll(batch)
        losses[kernel] = nll / count
    torch.testing.assert_close(losses[None], losses["eager"])
