"""Loading a Hugging Face causal LM (hub id or local directory) as a finetuning backbone."""

from pathlib import Path

import bitsandbytes as bnb
import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, PreTrainedModel

from ftscale.backbones.attention import choose_attn_implementation
from ftscale.errors import InputError, MissingFileError


def is_local_path(name_or_path: str) -> bool:
    """Whether `name_or_path` names a local directory rather than a hub id (absolute, `./`, `~` or existing)."""
    path = Path(name_or_path).expanduser()
    return path.is_absolute() or name_or_path.startswith(".") or path.exists()


def locate(name_or_path: str) -> str:
    """Return `name_or_path` as `from_pretrained` wants it; a local path must hold a model (config.json)."""
    path = Path(name_or_path).expanduser()
    if is_local_path(name_or_path):
        if not (path / "config.json").is_file():
            raise MissingFileError(
                f"model.backbone={name_or_path!r}: no Hugging Face model directory there (expected config.json)"
            )
        return str(path)
    return name_or_path  # a hub id


QUANTIZATIONS = ("nf4", "int8")


def quantization_config(quantization: str, compute_dtype: torch.dtype = torch.bfloat16) -> BitsAndBytesConfig:
    """bitsandbytes weights as in QLoRA: `nf4` (4-bit NormalFloat, double quantised) or `int8` (LLM.int8())."""
    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise InputError(f"model.quantization={quantization!r} is unknown; expected one of {QUANTIZATIONS} or null")


def load_backbone(
    name_or_path: str,
    attn_implementation: str | None = None,
    dtype: torch.dtype | None = None,
    quantization: BitsAndBytesConfig | None = None,
    revision: str | None = None,
) -> PreTrainedModel:
    """Load `name_or_path` at hub `revision` with `AutoModelForCausalLM`; one clear line when it cannot be found."""
    try:
        model = AutoModelForCausalLM.from_pretrained(
            locate(name_or_path),
            revision=revision,
            attn_implementation=choose_attn_implementation(attn_implementation),
            dtype=dtype,
            quantization_config=quantization,
        )
    except OSError as err:  # a hub id that is unknown, or a hub that cannot be reached
        at = f" at revision {revision!r}" if revision else ""
        raise MissingFileError(
            f"model.backbone={name_or_path!r}{at}: not a local model directory and not loadable from the "
            f"Hugging Face hub ({str(err).splitlines()[0]})"
        ) from err
    if quantization is not None and quantization.load_in_4bit:
        keep_4bit_layers_unpacked_on_cpu(model)
    return model


CPU_KERNEL_ROWS = 32  # bitsandbytes' `_convert_weight_packed_for_cpu` tiles output rows by 32


def keep_4bit_layers_unpacked_on_cpu(model: PreTrainedModel) -> None:
    """Make 4-bit layers that bitsandbytes' CPU kernel cannot repack dequantise in eval instead.

    bitsandbytes 0.50.2 repacks 4-bit weights for its AVX512-BF16 CPU kernel in eval mode and fails when the
    input width is not a multiple of the 64-wide quantisation block or the output width not a multiple of its
    32-row tiles (the ladder's 88, 176, 344); training already takes the dequantising path, which takes any width.
    """
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and (
            module.in_features % module.weight.blocksize or module.out_features % CPU_KERNEL_ROWS
        ):
            module.support_avx512bf16_for_cpu = False
