"""Finetuning methods: one base LightningModule, one small subclass per method.

A new method is a subclass of `FinetuneModule` that overrides `adapt` (see docs/architecture.md);
LightningCLI's `class_path` is the registry.
"""

from ftscale.lightning_modules.base import FinetuneModule, load_method
from ftscale.lightning_modules.full import FullFinetune
from ftscale.lightning_modules.lora import LoRA
from ftscale.lightning_modules.prompt_tuning import PromptTuning

__all__ = ["FinetuneModule", "FullFinetune", "LoRA", "PromptTuning", "load_method"]
