"""Loading a Hugging Face causal LM (hub id or local directory) as a finetuning backbone."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel

from backbones.attention import choose_attn_implementation


def locate(name_or_path: str) -> str:
    """Return `name_or_path` as `from_pretrained` wants it; a local path must hold a model (config.json)."""
    path = Path(name_or_path).expanduser()
    if path.is_absolute() or name_or_path.startswith(".") or path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"model.backbone={name_or_path!r}: no Hugging Face model directory there (expected config.json)"
            )
        return str(path)
    return name_or_path  # a hub id


def load_backbone(
    name_or_path: str, attn_implementation: str | None = None, dtype: torch.dtype | None = None
) -> PreTrainedModel:
    """Load `name_or_path` with `AutoModelForCausalLM`, failing with one clear line when it cannot be found."""
    try:
        return AutoModelForCausalLM.from_pretrained(
            locate(name_or_path),
            attn_implementation=choose_attn_implementation(attn_implementation),
            dtype=dtype,
        )
    except OSError as err:  # a hub id that is unknown, or a hub that cannot be reached
        raise FileNotFoundError(
            f"model.backbone={name_or_path!r}: not a local model directory and not loadable from the "
            f"Hugging Face hub ({str(err).splitlines()[0]})"
        ) from err
