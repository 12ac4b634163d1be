"""`ftscale export`: a finetuned checkpoint as a directory `from_pretrained` loads."""

from __future__ import annotations

from pathlib import Path

from ftscale.lightning_modules import load_method


def export(checkpoint: Path, out_dir: Path) -> int:
    """Write a checkpoint of `ftscale fit` as a Hugging Face model (FMT) or peft adapter (PET) directory.

    The directory holds the tokenizer too: load it with AutoModelForCausalLM / PeftModel.from_pretrained.

    Args:
        checkpoint: a .ckpt written by `ftscale fit` (e.g. .../checkpoints/best.ckpt)
        out_dir: the directory to write
    """
    module = load_method(checkpoint, map_location="cpu")
    print(f"wrote {module.export(out_dir)}")
    return 0
