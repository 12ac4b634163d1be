"""DoRA: LoRA on the direction of each weight, with its magnitude trained apart."""

from dataclasses import replace

from peft import LoraConfig

from ftscale.lightning_modules.lora import LoRA


class DoRA(LoRA):
    """DoRA (Liu et al. 2024), weight-decomposed LoRA, through peft (`LoraConfig(use_dora=True)`): LoRA's
    arguments and rank axis, plus one trained magnitude per output feature of each adapted projection.

    Its FLOPs per token are LoRA's (`FinetuneModule.flops_per_token`); the weight norm DoRA computes once per
    step (about rank + 3 tokens' worth of each adapted layer) is left out.
    """

    def peft_config(self) -> LoraConfig:
        return replace(super().peft_config(), use_dora=True)
