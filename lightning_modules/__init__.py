"""Finetuning methods: one base LightningModule, one small subclass per method.

A new method is a subclass of `FinetuneModule` that overrides `adapt` (a peft method: `PeftMethod.peft_config`)
and declares what differs from the base's defaults (see docs/architecture.md); LightningCLI's `class_path` is the
registry.
"""

from ftscale.lightning_modules.base import FinetuneModule, load_method
from ftscale.lightning_modules.dora import DoRA
from ftscale.lightning_modules.full import FullFinetune
from ftscale.lightning_modules.ia3 import IA3
from ftscale.lightning_modules.lora import LoRA
from ftscale.lightning_modules.peft_method import PeftMethod
from ftscale.lightning_modules.prefix_tuning import PrefixTuning
from ftscale.lightning_modules.prompt_tuning import PromptTuning

__all__ = [
    "IA3",
    "DoRA",
    "FinetuneModule",
    "FullFinetune",
    "LoRA",
    "PeftMethod",
    "PrefixTuning",
    "PromptTuning",
    "load_method",
]
