"""Finetuning methods: one base LightningModule, one small subclass per method.

A new method is a subclass of `FinetuneModule` that overrides `adapt` (see docs/architecture.md);
LightningCLI's `class_path` is the registry.
"""

from lightning_modules.base import FinetuneModule, load_method
from lightning_modules.full import FullFinetune
from lightning_modules.lora import LoRA
from lightning_modules.prompt_tuning import PromptTuning

__all__ = ["FinetuneModule", "FullFinetune", "LoRA", "PromptTuning", "load_method"]
