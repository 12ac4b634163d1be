"""Which attention kernel a backbone runs with."""

import importlib.util

import torch

from ftscale.errors import InputError

FLASH = "flash_attention_2"
CHOICES = (FLASH, "sdpa", "eager")


def flash_attention_unavailable() -> str | None:
    """Why flash-attn cannot run here (it needs CUDA and its wheel, the optional `gpu` extra); None if it can."""
    if not torch.cuda.is_available():
        return "no CUDA device"
    if importlib.util.find_spec("flash_attn") is None:
        return "flash-attn is not installed"
    return None


def choose_attn_implementation(requested: str | None = None) -> str:
    """Return `requested` if it can run here, else the best kernel: flash-attn on CUDA, otherwise SDPA."""
    if requested is None:
        return "sdpa" if flash_attention_unavailable() else FLASH
    if requested not in CHOICES:
        raise InputError(f"model.attn_implementation={requested!r} is unknown; expected one of {CHOICES}")
    if requested == FLASH and (why := flash_attention_unavailable()):
        raise InputError(
            f"model.attn_implementation={FLASH!r} needs flash-attn on a CUDA GPU ({why}); "
            "install it with `pip install 'ftscale[gpu]'` or leave attn_implementation unset to use sdpa"
        )
    return requested


def describe_attention(chosen: str, requested: str | None = None) -> str:
    """One line saying which kernel runs and, when flash-attn was passed over, why."""
    if requested is not None or chosen == FLASH:
        return f"attention: {chosen}"
    return f"attention: {chosen} (flash_attention_2 needs flash-attn on a CUDA GPU: {flash_attention_unavailable()})"
